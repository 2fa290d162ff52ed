import { test } from "node:test";
import assert from "node:assert/strict";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { floatToHalf, type HostTensor } from "../../sdk/runtime/tensor.js";
import { EdgecutError } from "../../sdk/errors.js";

const f32 = (...v: number[]): HostTensor => ({ type: "float32", dims: [v.length], data: Float32Array.from(v) });
const tol = { atol: 1e-5, rtol: 1e-4 };

test("floats pass within atol + rtol*|e| and fail just outside it", () => {
  const r = compareOutputs({ y: f32(1, 100, 0) }, { y: f32(1.00001, 100.005, 5e-6) }, tol);
  assert.equal(r.ok, true);
  const o = r.outputs[0]!;
  assert.equal(o.name, "y");
  assert.ok(Math.abs(o.maxAbsDiff - 0.005) < 1e-5, String(o.maxAbsDiff));
  assert.ok(Math.abs(o.maxRelDiff - 5e-5) < 1e-6, String(o.maxRelDiff));
  const bad = compareOutputs({ y: f32(1, 100, 0) }, { y: f32(1, 100.02, 0) }, tol);
  assert.equal(bad.ok, false);
  assert.equal(bad.outputs[0]!.mismatches, 1);
  assert.ok(bad.outputs[0]!.maxAbsDiff > 0.019);
  // Elements with expected 0 only count through atol.
  assert.equal(compareOutputs({ y: f32(0) }, { y: f32(2e-5) }, tol).ok, false);
});

test("NaN matches only NaN in the same place; Infinity only itself", () => {
  assert.equal(compareOutputs({ y: f32(NaN, 1) }, { y: f32(NaN, 1) }, tol).ok, true);
  const a = compareOutputs({ y: f32(NaN, 1) }, { y: f32(1, NaN) }, tol);
  assert.equal(a.ok, false);
  assert.equal(a.outputs[0]!.mismatches, 2);
  assert.equal(a.outputs[0]!.maxAbsDiff, Infinity);
  assert.equal(compareOutputs({ y: f32(Infinity) }, { y: f32(Infinity) }, tol).ok, true);
  assert.equal(compareOutputs({ y: f32(Infinity) }, { y: f32(-Infinity) }, tol).ok, false);
  assert.equal(compareOutputs({ y: f32(3e38) }, { y: f32(Infinity) }, tol).ok, false);
});

test("integer and bool outputs must match exactly, whatever the tolerance", () => {
  const i64 = (...v: bigint[]): HostTensor => ({ type: "int64", dims: [v.length], data: BigInt64Array.from(v) });
  const loose = { atol: 10, rtol: 1 };
  assert.equal(compareOutputs({ k: i64(1n, 2n) }, { k: i64(1n, 2n) }, loose).ok, true);
  const r = compareOutputs({ k: i64(1n, 2n) }, { k: i64(1n, 3n) }, loose);
  assert.equal(r.ok, false);
  assert.equal(r.outputs[0]!.maxAbsDiff, 1);
  const i32 = (...v: number[]): HostTensor => ({ type: "int32", dims: [v.length], data: Int32Array.from(v) });
  assert.equal(compareOutputs({ k: i32(5) }, { k: i32(6) }, loose).ok, false);
  const b = (...v: number[]): HostTensor => ({ type: "bool", dims: [v.length], data: Uint8Array.from(v) });
  assert.equal(compareOutputs({ m: b(1, 0) }, { m: b(1, 1) }, loose).ok, false);
  assert.equal(compareOutputs({ m: b(1, 0) }, { m: b(1, 0) }, loose).ok, true);
});

test("float16 compares by value", () => {
  const h = (...v: number[]): HostTensor => ({ type: "float16", dims: [v.length], data: Uint16Array.from(v, floatToHalf) });
  assert.equal(compareOutputs({ y: h(1, 2) }, { y: h(1, 2) }, tol).ok, true);
  const r = compareOutputs({ y: h(1, 2) }, { y: h(1, 2.001953125) }, tol);
  assert.equal(r.ok, false);
  assert.equal(r.outputs[0]!.maxAbsDiff, 0.001953125);
});

test("missing outputs, wrong dims and wrong types fail with a reason; extra outputs are ignored", () => {
  const r = compareOutputs(
    { a: f32(1), b: f32(1, 2), c: f32(1), d: f32(1) },
    { b: { type: "float32", dims: [1, 2], data: Float32Array.from([1, 2]) }, c: { type: "float64", dims: [1], data: Float64Array.from([1]) }, d: f32(1), extra: f32(9) },
    tol,
  );
  assert.equal(r.ok, false);
  assert.deepEqual(r.outputs.map((o) => [o.name, o.ok]), [["a", false], ["b", false], ["c", false], ["d", true]]);
  assert.match(r.outputs[0]!.reason ?? "", /missing/);
  assert.match(r.outputs[1]!.reason ?? "", /dims \[1, 2\], expected \[2\]/);
  assert.match(r.outputs[2]!.reason ?? "", /type float64, expected float32/);
});

test("negative or non-finite tolerances are E_USAGE", () => {
  assert.throws(() => compareOutputs({}, {}, { atol: -1, rtol: 0 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && e.message.includes("atol"));
  assert.throws(() => compareOutputs({}, {}, { atol: 0, rtol: NaN }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && e.message.includes("rtol"));
});
