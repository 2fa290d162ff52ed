import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { formatTensorFile, parseTensorFile, readTensorFile, writeTensorFile } from "../../sdk/runtime/tensor-file.js";
import { floatToHalf, halfToFloat, type TensorMap } from "../../sdk/runtime/tensor.js";
import { EdgecutError } from "../../sdk/errors.js";
import fc from "fast-check";

const tensorFileError = (...parts: (string | RegExp)[]) => (e: unknown): boolean => {
  if (!(e instanceof EdgecutError) || e.code !== "E_TENSOR_FILE") return false;
  for (const p of parts) if (typeof p === "string" ? !e.message.includes(p) : !p.test(e.message)) assert.fail(`message "${e.message}" lacks ${p}`);
  return true;
};

function bytesOf(t: { data: ArrayLike<unknown> | string[] }): unknown[] {
  return Array.from(t.data as ArrayLike<unknown>);
}

test("every type round-trips exactly, including NaN, ±Infinity, -0, big int64 and float16", () => {
  const f32 = Float32Array.from([0.1, -2.5, 1e-45, 3.4028234663852886e38, NaN, Infinity, -Infinity, -0, 1 / 3]);
  const f64 = Float64Array.from([0.1, Math.PI, Number.MIN_VALUE, -Number.MAX_VALUE, NaN, -Infinity, -0]);
  const f16 = Uint16Array.from([0x3c00, 0x3555, 0x0001, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x03ff]);
  const map: TensorMap = {
    f32: { type: "float32", dims: [3, 3], data: f32 },
    f64: { type: "float64", dims: [7], data: f64 },
    f16: { type: "float16", dims: [9], data: f16 },
    i64: { type: "int64", dims: [4], data: BigInt64Array.from([0n, -(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n]) },
    u64: { type: "uint64", dims: [2], data: BigUint64Array.from([2n ** 64n - 1n, 7n]) },
    i8: { type: "int8", dims: [2], data: Int8Array.from([-128, 127]) },
    u8: { type: "uint8", dims: [2], data: Uint8Array.from([0, 255]) },
    i16: { type: "int16", dims: [1], data: Int16Array.from([-32768]) },
    u16: { type: "uint16", dims: [1], data: Uint16Array.from([65535]) },
    i32: { type: "int32", dims: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) },
    u32: { type: "uint32", dims: [1], data: Uint32Array.from([2 ** 32 - 1]) },
    b: { type: "bool", dims: [2, 1], data: Uint8Array.from([1, 0]) },
    s: { type: "string", dims: [2], data: ["hi", 'quote " and \\'] },
    scalar: { type: "float32", dims: [], data: Float32Array.from([7]) },
    empty: { type: "int64", dims: [0, 3], data: new BigInt64Array(0) },
  };
  const text = formatTensorFile(map);
  const back = parseTensorFile(text, "mem");
  assert.deepEqual(Object.keys(back), Object.keys(map));
  for (const [name, t] of Object.entries(map)) {
    const b = back[name]!;
    assert.equal(b.type, t.type, name);
    assert.deepEqual(b.dims, t.dims, name);
    assert.equal(b.data.constructor, t.data.constructor, name);
    const want = bytesOf(t);
    const got = bytesOf(b);
    assert.equal(got.length, want.length, name);
    for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], want[i]), `${name}[${i}]: ${String(got[i])} vs ${String(want[i])}`);
  }
  // Readable: shortest float32 decimals, big int64 as strings, specials as strings.
  assert.match(text, /"data": \[0\.1, -2\.5, 1e-45,/);
  assert.ok(text.includes('"-9223372036854775808"') && text.includes('"9007199254740993"'));
  assert.ok(text.includes('"NaN", "Infinity", "-Infinity", -0'));
  assert.ok(text.includes('"f16": {"type": "float16", "dims": [9], "data": [1, 0.3333,'));
});

test("writeTensorFile / readTensorFile go through a file; unreadable files are named", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-tf-"));
  try {
    const file = path.join(dir, "x.json");
    writeTensorFile(file, { x: { type: "int32", dims: [2], data: Int32Array.from([1, -2]) } });
    const back = readTensorFile(file);
    assert.deepEqual(Array.from(back.x!.data as Int32Array), [1, -2]);
    assert.throws(() => readTensorFile(path.join(dir, "nope.json")), tensorFileError("nope.json", "ENOENT"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("hand-written files: numbers for safe int64, bool as true/false, scalars", () => {
  const m = parseTensorFile('{"ids": {"type": "int64", "dims": [1, 2], "data": [5, "-7"]}, "m": {"type": "bool", "dims": [], "data": [true]}}', "f");
  assert.deepEqual(Array.from(m.ids!.data as BigInt64Array), [5n, -7n]);
  assert.deepEqual(m.m!.dims, []);
  assert.deepEqual(Array.from(m.m!.data as Uint8Array), [1]);
  // float32 values are rounded to float32; float16 to the nearest half.
  const f = parseTensorFile('{"a": {"type": "float32", "dims": [1], "data": [0.1]}, "h": {"type": "float16", "dims": [1], "data": [0.1]}}', "f");
  assert.equal((f.a!.data as Float32Array)[0], Math.fround(0.1));
  assert.equal((f.h!.data as Uint16Array)[0], 0x2e66);
});

test("bad inputs are E_TENSOR_FILE errors naming the tensor and the problem", () => {
  const one = (body: string): string => `{"t": ${body}}`;
  const cases: [string, (string | RegExp)[]][] = [
    ["not json", ["not valid JSON"]],
    ["[1, 2]", ["top level must be an object"]],
    [one('{"type": "float", "dims": [1], "data": [1]}'), ['tensor "t"', '"float" is not a tensor type']],
    [one('{"type": "bfloat16", "dims": [1], "data": [1]}'), ['"bfloat16" is not a tensor type']],
    [one('{"type": "float32", "dims": [-1], "data": []}'), ['tensor "t"', "dims[0] = -1", "non-negative integer"]],
    [one('{"type": "float32", "dims": [1.5], "data": [1]}'), ["dims[0] = 1.5"]],
    [one('{"type": "float32", "dims": ["2"], "data": [1, 2]}'), ['dims[0] = "2"']],
    [one('{"type": "float32", "dims": [2, 2], "data": [1, 2, 3]}'), ['tensor "t"', "3 values", "need 4"]],
    [one('{"type": "float32", "dims": [], "data": [1, 2]}'), ["need 1", "scalar"]],
    [one('{"type": "uint8", "dims": [2], "data": [1, 300]}'), ['tensor "t"', "data[1] = 300", "out of range for uint8 (0..255)"]],
    [one('{"type": "int8", "dims": [1], "data": [-129]}'), ["out of range for int8"]],
    [one('{"type": "int32", "dims": [1], "data": [1.5]}'), ["data[0] = 1.5", "not an integer (int32)"]],
    [one('{"type": "int32", "dims": [1], "data": ["3"]}'), ['data[0] = "3"', "not an integer"]],
    [one('{"type": "uint32", "dims": [1], "data": [-1]}'), ["out of range for uint32"]],
    [one('{"type": "int64", "dims": [1], "data": [9007199254740993]}'), ["beyond 2^53", "decimal strings"]],
    [one('{"type": "int64", "dims": [1], "data": ["9223372036854775808"]}'), ["out of range for int64"]],
    [one('{"type": "uint64", "dims": [1], "data": ["-1"]}'), ["out of range for uint64"]],
    [one('{"type": "int64", "dims": [1], "data": ["12abc"]}'), ['"12abc"', "not an integer (int64)"]],
    [one('{"type": "int64", "dims": [1], "data": [2.5]}'), ["not an integer (int64)"]],
    [one('{"type": "float32", "dims": [1], "data": ["nan"]}'), ['"nan"', "not a float32 value"]],
    [one('{"type": "float32", "dims": [1], "data": [1e39]}'), ["out of range for float32"]],
    [one('{"type": "float16", "dims": [1], "data": [70000]}'), ["out of range for float16"]],
    [one('{"type": "bool", "dims": [1], "data": [1]}'), ["data[0] = 1", "use true or false"]],
    [one('{"type": "string", "dims": [1], "data": [1]}'), ["not a string"]],
    [one('{"type": "float32", "dims": [1], "data": [1], "layout": "nchw"}'), ['tensor "t"', 'unknown key(s) "layout"']],
    [one('{"type": "float32", "data": [1]}'), ['tensor "t"', '"dims" is wrong']],
    [one("[1]"), ['tensor "t"']],
    ['{"__proto__": {"type": "float32", "dims": [], "data": [1]}}', ['"__proto__" is not allowed']],
  ];
  for (const [text, parts] of cases) {
    assert.throws(() => parseTensorFile(text, "in.json"), tensorFileError("in.json", ...parts), text);
  }
});

test("formatTensorFile refuses a tensor whose data does not fit its dims", () => {
  assert.throws(() => formatTensorFile({ x: { type: "float32", dims: [3], data: new Float32Array(2) } }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && e.message.includes('"x"'));
  assert.equal(formatTensorFile({}), "{}\n");
});

test("half conversion rounds to nearest even, handles subnormals, overflow and -0", () => {
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(65519.99), 0x7bff);
  assert.equal(floatToHalf(65520), 0x7c00);
  assert.equal(floatToHalf(2 ** -24), 0x0001);
  assert.equal(floatToHalf(2 ** -25), 0x0000); // tie to even -> 0
  assert.equal(floatToHalf(3 * 2 ** -25), 0x0002); // tie 1.5 -> 2
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // tie -> even mantissa 0
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02); // tie -> even mantissa 2
  assert.equal(floatToHalf(2 ** -14 - 2 ** -25), 0x0400); // rounds up out of the subnormals
  assert.equal(floatToHalf(-0), 0x8000);
  assert.equal(floatToHalf(-Infinity), 0xfc00);
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  for (let bits = 0; bits < 0x10000; bits++) {
    if ((bits & 0x7c00) === 0x7c00 && bits & 0x3ff) continue; // NaNs
    assert.equal(floatToHalf(halfToFloat(bits)), bits, `bits ${bits.toString(16)}`);
  }
});

test("any float32 bit pattern and every float16 round-trips through the text", () => {
  fc.assert(fc.property(fc.uint32Array({ minLength: 1, maxLength: 64 }), (bits) => {
    const data = new Float32Array(bits.buffer);
    const back = parseTensorFile(formatTensorFile({ x: { type: "float32", dims: [data.length], data } }), "p").x!.data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      if (Number.isNaN(data[i])) assert.ok(Number.isNaN(back[i]));
      else assert.ok(Object.is(back[i], data[i]), `${data[i]} -> ${back[i]}`);
    }
  }), { numRuns: 300 });
  const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i).filter((b) => (b & 0x7c00) !== 0x7c00 || (b & 0x3ff) === 0);
  const back = parseTensorFile(formatTensorFile({ h: { type: "float16", dims: [all.length], data: all } }), "p").h!.data as Uint16Array;
  assert.deepEqual(back, all);
});
