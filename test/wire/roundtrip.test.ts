/**
 * Round trips through encodeFrame/decodeFrame (docs/wire-format.md §2-§5): every wire type and
 * shape edge case, headers, zero-copy views and the one copy for a misaligned buffer, and the
 * encoder's refusals.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import {
  ALIGN, decodeFrame, encodedByteLength, encodeFrame, peekHeader, PROTOCOL_VERSION,
  type Encoding, type FrameHeader, type ReplyHeader, type RequestHeader,
} from "../../sdk/wire/index.js";

const req: RequestHeader = { kind: "request", requestId: "req-1", deviceId: "pi-7", splitId: "a".repeat(64), segments: { from: 1, to: 3 }, ttlMs: 2500 };

function roundTrip(tensors: TensorMap, header: FrameHeader = req, opts?: Parameters<typeof encodeFrame>[2]): { frame: Uint8Array; tensors: TensorMap; header: FrameHeader } {
  const frame = encodeFrame(header, tensors, opts);
  assert.equal(frame.length, encodedByteLength(header, tensors, opts));
  const d = decodeFrame(frame);
  return { frame, ...d };
}

/** Same bytes: NaN payloads, -0 and Infinity must survive fp32 and raw exactly. */
function sameBytes(a: HostTensor, b: HostTensor): void {
  assert.equal(b.type, a.type);
  assert.deepEqual(b.dims, a.dims);
  const x = a.data as Exclude<HostTensor["data"], string[]>;
  const y = b.data as Exclude<HostTensor["data"], string[]>;
  assert.equal(y.constructor, x.constructor);
  assert.deepEqual(Buffer.from(y.buffer, y.byteOffset, y.byteLength), Buffer.from(x.buffer, x.byteOffset, x.byteLength));
}

const EVERY_TYPE: TensorMap = {
  f32: { type: "float32", dims: [2, 2], data: Float32Array.from([1.5, -2, 3.25e-30, 1e30]) },
  f64: { type: "float64", dims: [3], data: Float64Array.from([Math.PI, -0, Number.MAX_VALUE]) },
  f16: { type: "float16", dims: [2], data: Uint16Array.from([0x3c00, 0xfbff]) },
  i8: { type: "int8", dims: [3], data: Int8Array.from([-128, 0, 127]) },
  u8: { type: "uint8", dims: [2], data: Uint8Array.from([0, 255]) },
  i16: { type: "int16", dims: [2], data: Int16Array.from([-32768, 32767]) },
  u16: { type: "uint16", dims: [2], data: Uint16Array.from([0, 65535]) },
  i32: { type: "int32", dims: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) },
  u32: { type: "uint32", dims: [2], data: Uint32Array.from([0, 2 ** 32 - 1]) },
  i64: { type: "int64", dims: [4], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]) },
  u64: { type: "uint64", dims: [2], data: BigUint64Array.from([0n, 2n ** 64n - 1n]) },
  flag: { type: "bool", dims: [1, 3], data: Uint8Array.from([1, 0, 1]) },
};

test("every wire type round-trips bit for bit, int64/uint64 extremes included; sections sit at 64-byte offsets", () => {
  const { frame, tensors, header } = roundTrip(EVERY_TYPE);
  assert.deepEqual(header, req);
  assert.deepEqual(Object.keys(tensors), Object.keys(EVERY_TYPE));
  for (const [name, t] of Object.entries(EVERY_TYPE)) sameBytes(t, tensors[name]!);
  const view = new DataView(frame.buffer, frame.byteOffset);
  assert.equal(Buffer.from(frame.subarray(0, 4)).toString("latin1"), "ECUT");
  assert.equal(view.getUint16(4, true), PROTOCOL_VERSION);
  const table = (JSON.parse(Buffer.from(frame.subarray(10, 10 + view.getUint32(6, true))).toString("utf8")) as { tensors: { offset: number; encoding: string }[] }).tensors;
  for (const e of table) assert.equal(e.offset % ALIGN, 0);
  assert.ok(table.every((e) => e.encoding === (e === table[0] ? "fp32" : "raw")));
});

test("scalars, zero-size tensors and size-1 dims round-trip in every encoding", () => {
  const shapes: number[][] = [[], [0], [0, 5], [5, 0], [1], [1, 1, 1], [3, 1]];
  for (const enc of ["fp32", "fp16", "int8-tensor", "int8-row"] as Encoding[]) {
    const tensors: TensorMap = {};
    shapes.forEach((dims, i) => {
      const n = dims.reduce((a, b) => a * b, 1);
      tensors[`f${i}`] = { type: "float32", dims, data: Float32Array.from({ length: n }, (_, k) => k - 1) };
      tensors[`i${i}`] = { type: "int64", dims, data: BigInt64Array.from({ length: n }, (_, k) => BigInt(k)) };
    });
    const got = roundTrip(tensors, req, { encoding: enc }).tensors;
    for (const [name, t] of Object.entries(tensors)) {
      assert.deepEqual(got[name]!.dims, t.dims, `${enc} ${name}`);
      assert.equal(got[name]!.data.length, t.data.length, `${enc} ${name}`);
      // Small integers are exact in every encoding (int8: max |x| <= 127 gives scale <= 1, q = x / s).
      if (t.type === "float32" && enc !== "int8-tensor" && enc !== "int8-row") assert.deepEqual([...got[name]!.data as Float32Array], [...t.data]);
    }
  }
});

test("NaN, ±Infinity and -0 survive fp32 bit for bit, and fp16 as NaN, ±Infinity and -0", () => {
  const bits = Uint32Array.from([0x7fc00000, 0x7f800001, 0xffc00123, 0x7f800000, 0xff800000, 0x80000000, 0x00000001]);
  const data = new Float32Array(bits.buffer);
  const t: HostTensor = { type: "float32", dims: [7], data };
  sameBytes(t, roundTrip({ t }).tensors.t!);
  const h = roundTrip({ t }, req, { encoding: "fp16" }).tensors.t!.data as Float32Array;
  assert.ok(Number.isNaN(h[0]) && Number.isNaN(h[1]) && Number.isNaN(h[2]));
  assert.equal(h[3], Infinity);
  assert.equal(h[4], -Infinity);
  assert.ok(Object.is(h[5], -0));
  assert.equal(h[6], 0); // 2^-149 is far below half's smallest subnormal (2^-24)
});

test("a 16 MiB fp32 tensor decodes as a view into the frame; int8/fp16 restore to new float32 arrays", () => {
  const n = 4 * 2 ** 20;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 100;
  const t: HostTensor = { type: "float32", dims: [1024, 4096], data };
  const { frame, tensors } = roundTrip({ t });
  const got = tensors.t!.data as Float32Array;
  assert.equal(got.buffer, frame.buffer, "fp32 decodes to a view, no copy");
  assert.deepEqual(Buffer.from(got.buffer, got.byteOffset, got.byteLength), Buffer.from(data.buffer));
  for (const enc of ["fp16", "int8-row"] as Encoding[]) {
    const r = roundTrip({ t }, req, { encoding: enc });
    assert.ok(r.frame.length < frame.length / 1.9);
    assert.notEqual((r.tensors.t!.data as Float32Array).buffer, r.frame.buffer);
    assert.equal(r.tensors.t!.type, "float32");
    assert.equal(r.tensors.t!.data.length, n);
  }
});

test("a frame handed over at a misaligned byteOffset decodes by copying only the sections that need it", () => {
  const tensors: TensorMap = {
    f: { type: "float32", dims: [3], data: Float32Array.from([1, 2, 3]) },
    d: { type: "float64", dims: [2], data: Float64Array.from([0.5, -0.25]) },
    q: { type: "int64", dims: [1], data: BigInt64Array.from([-5n]) },
    h: { type: "float16", dims: [1], data: Uint16Array.from([0x3c00]) },
    b: { type: "uint8", dims: [2], data: Uint8Array.from([7, 9]) },
  };
  const frame = encodeFrame(req, tensors, { encodings: { f: "fp32" } });
  for (const shift of [1, 2, 3, 4, 6, 8]) {
    const host = new Uint8Array(frame.length + 16);
    host.set(frame, shift);
    const moved = host.subarray(shift, shift + frame.length);
    const got = decodeFrame(moved).tensors;
    for (const [name, t] of Object.entries(tensors)) {
      sameBytes(t, got[name]!);
      const size = (t.data as Exclude<HostTensor["data"], string[]>).BYTES_PER_ELEMENT;
      assert.equal((got[name]!.data as Exclude<HostTensor["data"], string[]>).buffer === host.buffer, shift % size === 0, `${name} at shift ${shift}: view iff aligned`);
    }
  }
  // A Buffer from Node's pool (byteOffset not a multiple of 8) works the same way.
  const pooled = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(frame)]).subarray(3);
  for (const [name, t] of Object.entries(tensors)) sameBytes(t, decodeFrame(pooled).tensors[name]!);
});

test("request headers with the reserved LLM fields, and both reply forms, round-trip; peekHeader gives kind and ids", () => {
  const full: RequestHeader = { ...req, sessionId: "chat-9", step: 12, wantOutputs: ["logits", "present.0.key"] };
  assert.deepEqual(roundTrip({}, full).header, full);
  const ok: ReplyHeader = { kind: "reply", requestId: "req-1", deviceId: "pi-7", computeMs: 3.5, queueMs: 0, ok: true };
  const bad: ReplyHeader = { kind: "reply", requestId: "req-1", deviceId: "pi-7", computeMs: 0, queueMs: 12, ok: false, error: { code: "E_EXPIRED", message: "ttl ran out" } };
  const r = roundTrip({ logits: { type: "float32", dims: [1, 2], data: Float32Array.from([0.25, 0.75]) } }, ok);
  assert.deepEqual(r.header, ok);
  const e = roundTrip({}, bad);
  assert.deepEqual(e.header, bad);
  assert.deepEqual(e.tensors, {});
  assert.deepEqual(peekHeader(e.frame), { version: 1, header: { kind: "reply", requestId: "req-1", deviceId: "pi-7" } });
  assert.deepEqual(peekHeader(encodeFrame(full, {})), { version: 1, header: { kind: "request", requestId: "req-1", deviceId: "pi-7", splitId: full.splitId, sessionId: "chat-9" } });
});

test("tensor names are data: '__proto__', unicode and long names stay own entries", () => {
  const tensors: TensorMap = {};
  for (const name of ["__proto__", "constructor", "größe/ü", "x".repeat(1024), "a b.c:0"]) {
    Object.defineProperty(tensors, name, { value: { type: "int32", dims: [1], data: Int32Array.from([name.length]) }, enumerable: true });
  }
  const got = roundTrip(tensors).tensors;
  assert.deepEqual(Object.keys(got), Object.keys(tensors));
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.equal((Object.getOwnPropertyDescriptor(got, "__proto__")!.value as HostTensor).data[0], 9);
});

test("per-tensor encodings override the frame's; non-float32 tensors always travel raw", () => {
  const a: HostTensor = { type: "float32", dims: [4], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) };
  const ids: HostTensor = { type: "int64", dims: [1], data: BigInt64Array.from([3n]) };
  const frame = encodeFrame(req, { a, b: a, c: a, ids }, { encoding: "fp16", encodings: { b: "int8-row", c: "raw", ids: "raw" } });
  const table = (JSON.parse(Buffer.from(frame.subarray(10, 10 + new DataView(frame.buffer).getUint32(6, true))).toString()) as { tensors: { name: string; encoding: string }[] }).tensors;
  assert.deepEqual(table.map((e) => [e.name, e.encoding]), [["a", "fp16"], ["b", "int8-row"], ["c", "fp32"], ["ids", "raw"]]);
  assert.throws(() => encodeFrame(req, { ids }, { encodings: { ids: "fp16" } }), { code: "E_USAGE" });
  assert.throws(() => encodeFrame(req, { a }, { encoding: "bf16" as Encoding }), { code: "E_USAGE" });
  assert.throws(() => encodeFrame(req, { a }, { encodings: { a: "int4" as Encoding } }), { code: "E_USAGE" });
  // Option keys are looked up as own properties: a tensor named "toString" is not confused with Object.prototype.
  assert.equal(decodeFrame(encodeFrame(req, { toString: a }, { encodings: {} })).tensors["toString"]?.type, "float32");
});

test("the encoder refuses what cannot make a valid frame, with E_FRAME", () => {
  const f = (data: Float32Array, dims = [data.length]): TensorMap => ({ x: { type: "float32", dims, data } });
  const cases: [string, () => unknown][] = [
    ["string tensor", () => encodeFrame(req, { s: { type: "string", dims: [1], data: ["hi"] } })],
    ["data shorter than dims", () => encodeFrame(req, f(new Float32Array(3), [2, 2]))],
    ["negative dim", () => encodeFrame(req, f(new Float32Array(0), [-1]))],
    ["wrong data class", () => encodeFrame(req, { x: { type: "int64", dims: [1], data: Int32Array.from([1]) } as unknown as HostTensor })],
    ["NaN as int8", () => encodeFrame(req, f(Float32Array.from([1, NaN])), { encoding: "int8-tensor" })],
    ["Infinity as int8-row", () => encodeFrame(req, f(Float32Array.from([1, Infinity]), [1, 2]), { encoding: "int8-row" })],
    ["beyond half's range", () => encodeFrame(req, f(Float32Array.from([1, 70000])), { encoding: "fp16" })],
    ["header missing splitId", () => encodeFrame({ ...req, splitId: undefined } as unknown as RequestHeader, {})],
    ["reversed segment range", () => encodeFrame({ ...req, segments: { from: 3, to: 2 } }, {})],
    ["unknown kind", () => encodeFrame({ ...req, kind: "ping" } as unknown as RequestHeader, {})],
    ["empty name", () => encodeFrame(req, { "": { type: "uint8", dims: [0], data: new Uint8Array(0) } })],
  ];
  for (const [what, run] of cases) assert.throws(run, { code: "E_FRAME" }, what);
  // 65504 (half's largest) and values that round down to it still encode.
  const edge = roundTrip(f(Float32Array.from([65504, 65519.99, -65504])), req, { encoding: "fp16" }).tensors.x!.data;
  assert.deepEqual([...edge], [65504, 65504, -65504]);
});
