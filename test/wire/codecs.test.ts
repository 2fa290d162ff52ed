/**
 * The lossy encodings' error bounds (docs/wire-format.md §5.2, §5.3), as properties over random
 * float32 data: fp16 rounds to nearest even (the same bits as sdk/runtime/tensor.ts floatToHalf),
 * so |x - y| <= |x|·2^-11 (2^-25 below half's normal range); int8 gives |x - y| <= s/2 with
 * s = max|x| / 127 over the tensor or the row (plus float32 rounding).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { floatToHalf, halfToFloat } from "../../sdk/runtime/tensor.js";
import { decodeFrame, encodeFrame, type Encoding, type RequestHeader } from "../../sdk/wire/index.js";

const req: RequestHeader = { kind: "request", requestId: "r", deviceId: "d", splitId: "s", segments: { from: 0, to: 1 }, ttlMs: 1 };

function through(data: Float32Array, dims: number[], encoding: Encoding): Float32Array {
  return decodeFrame(encodeFrame(req, { x: { type: "float32", dims, data } }, { encoding })).tensors.x!.data as Float32Array;
}

const HALF_MAX = 65504;
/** Float32 values fp16 can carry: |x| <= 65504 (and what rounds down to it), NaN and ±Infinity included. */
const halfable = fc.float({ min: -HALF_MAX, max: HALF_MAX });
const finite = fc.float({ noNaN: true, noDefaultInfinity: true });

test("fp16: every half value round-trips exactly, and float32 values round to the bits floatToHalf gives", () => {
  const all = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) all[h] = halfToFloat(h);
  const back = through(all, [65536], "fp16");
  for (let h = 0; h < 65536; h++) {
    if (Number.isNaN(all[h])) assert.ok(Number.isNaN(back[h]), `half ${h.toString(16)}`);
    else assert.ok(Object.is(back[h], all[h]), `half ${h.toString(16)}: ${all[h]} came back ${back[h]}`);
  }
  fc.assert(fc.property(fc.array(halfable, { maxLength: 64 }), (values) => {
    const y = through(Float32Array.from(values), [values.length], "fp16");
    values.forEach((x, i) => {
      const want = halfToFloat(floatToHalf(Math.fround(x)));
      assert.ok(Object.is(y[i], want) || (Number.isNaN(want) && Number.isNaN(y[i])), `${x} -> ${y[i]}, floatToHalf says ${want}`);
    });
  }), { numRuns: 2000 });
});

test("fp16: ties round to even, including into the subnormals and at the top of the range", () => {
  // Halfway between 1 and 1 + 2^-10 goes down to even 1; halfway above 1 + 2^-10 goes up to 1 + 2^-9.
  const x = Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -25, 65519, 65504 + 16 - 2 ** -8]);
  assert.deepEqual([...through(x, [x.length], "fp16")], [1, 1 + 2 ** -9, 0, 2 ** -23, 65504, 65504]);
});

test("fp16: |x - decode(encode(x))| <= max(|x|·2^-11, 2^-25) for every carried finite value", () => {
  fc.assert(fc.property(fc.array(fc.float({ min: -HALF_MAX, max: HALF_MAX, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 128 }), (values) => {
    const x = Float32Array.from(values);
    const y = through(x, [x.length], "fp16");
    for (let i = 0; i < x.length; i++) {
      const bound = Math.max(Math.abs(x[i]!) * 2 ** -11, 2 ** -25);
      assert.ok(Math.abs(x[i]! - y[i]!) <= bound, `${x[i]} -> ${y[i]} (bound ${bound})`);
    }
  }), { numRuns: 2000 });
});

/** The int8 bound: half a step of the scale, float32 rounding of the scale and of q·s, and the underflow floor. */
function int8Bound(maxAbs: number, x: number): number {
  return (Math.fround(maxAbs / 127) / 2) * (1 + 2 ** -20) + Math.abs(x) * 2 ** -22 + 127 * 2 ** -149;
}

test("int8-tensor: |x - decode(encode(x))| <= s/2 with s = max|x| / 127 over the tensor", () => {
  fc.assert(fc.property(fc.array(finite, { minLength: 1, maxLength: 200 }), (values) => {
    const x = Float32Array.from(values);
    const y = through(x, [x.length], "int8-tensor");
    const maxAbs = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= int8Bound(maxAbs, x[i]!), `${x[i]} -> ${y[i]} (max|x| ${maxAbs})`);
    // The largest magnitude comes back almost exactly: it is ±127 steps.
    const top = x.findIndex((v) => Math.abs(v) === maxAbs);
    assert.ok(Math.abs(x[top]! - y[top]!) <= maxAbs * 2 ** -20 + 2 ** -140);
  }), { numRuns: 2000 });
});

test("int8-row: the bound holds per row (the last axis), each row with its own scale", () => {
  const shape = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 12 }));
  fc.assert(fc.property(shape.chain(([a, b, c]) => fc.tuple(fc.constant([a, b, c] as number[]), fc.array(finite, { minLength: a * b * c, maxLength: a * b * c }))), ([dims, values]) => {
    const x = Float32Array.from(values);
    const y = through(x, dims, "int8-row");
    const k = dims[2]!;
    for (let r = 0; r * k < x.length; r++) {
      const row = x.subarray(r * k, (r + 1) * k);
      const maxAbs = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (let i = r * k; i < (r + 1) * k; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= int8Bound(maxAbs, x[i]!), `row ${r}: ${x[i]} -> ${y[i]}`);
    }
  }), { numRuns: 2000 });
});

test("int8-row beats int8-tensor when rows differ in scale; an all-zero row stays exactly zero", () => {
  const x = new Float32Array(2 * 100);
  for (let i = 0; i < 100; i++) {
    x[i] = Math.sin(i) * 1000;
    x[100 + i] = Math.cos(i) * 0.01;
  }
  const err = (y: Float32Array): number => y.subarray(100).reduce((m, v, i) => Math.max(m, Math.abs(v - x[100 + i]!)), 0);
  assert.ok(err(through(x, [2, 100], "int8-row")) * 100 < err(through(x, [2, 100], "int8-tensor")));
  const z = new Float32Array(6);
  z.set([1, -2, 3]);
  assert.deepEqual([...through(z, [2, 3], "int8-row")].slice(3), [0, 0, 0]);
});
