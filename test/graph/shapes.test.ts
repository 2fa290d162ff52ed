// inferShapes on the real torch exports (symbolic and concrete), checked against onnxruntime
// through exposeTensors/probeShapes; option errors; tensorBytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { dtypeCode, DT } from "../../sdk/graph/dtypes.js";
import { exposeTensors, inferShapes, probeShapes, tensorBytes, type ProbeRunner } from "../../sdk/graph/shapes.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

const FIX = new URL("../fixtures/torch/", import.meta.url).pathname;
const gpt2 = Graph.load(`${FIX}gpt2-tiny.onnx`);
const gpt2kv = Graph.load(`${FIX}gpt2-tiny-kv.onnx`);
const resnet = Graph.load(`${FIX}resnet-tiny.onnx`);
const control = Graph.load(`${FIX}control-flow.onnx`);

const dimsOf = (r: ReturnType<typeof inferShapes>, name: string): unknown => r.types.get(name)?.dims;
const code = (c: ErrorCode, ...parts: string[]) => (e: unknown): boolean => {
  if (!(e instanceof EdgecutError) || e.code !== c) return false;
  for (const p of parts) if (!e.message.includes(p)) assert.fail(`message "${e.message}" lacks "${p}"`);
  return true;
};

/** A ProbeRunner over onnxruntime: writes the probe model to a temp folder and runs it once. */
function ortRunner(feeds: TensorMap): ProbeRunner {
  return async (model, exposed) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-probe-"));
    try {
      const file = path.join(dir, "probe.onnx");
      fs.writeFileSync(file, serializeModel(model, { sourceDir: dir }));
      const s = await OrtSession.create(file);
      try {
        const out = await s.run(feeds, exposed);
        return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { elemType: dtypeCode(v.type) ?? 0, dims: v.dims }]));
      } finally {
        await s.release();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

const ids = (b: number, s: number): TensorMap => ({
  input_ids: { type: "int64", dims: [b, s], data: BigInt64Array.from({ length: b * s }, (_, i) => BigInt((i * 37) % 256)) },
  attention_mask: { type: "int64", dims: [b, s], data: new BigInt64Array(b * s).fill(1n) },
});

test("gpt2-tiny at [1, 64]: every tensor resolved, logits [1, 64, 256], Shape-chain values known", () => {
  const r = inferShapes(gpt2, { inputShapes: { input_ids: [1, 64], attention_mask: [1, 64] } });
  assert.deepEqual(r.unresolved, []);
  assert.equal(r.types.size, gpt2.tensors.size);
  assert.deepEqual(r.types.get("logits"), { elemType: DT.FLOAT, dims: [1, 64, 256] });
  assert.deepEqual(dimsOf(r, "/h.0/attn/MatMul_output_0"), [1, 4, 64, 64]); // attention scores
  assert.deepEqual(dimsOf(r, "/h.0/attn/Slice_1_output_0"), [1, 1, 64, 64]); // causal triangle slice
  assert.deepEqual(dimsOf(r, "/h.0/mlp/c_fc/MatMul_output_0"), [1, 64, 256]);
  assert.deepEqual(r.values.get("/h.0/attn/Concat_output_0"), [1, 64, 4, 16]);
  assert.deepEqual(r.values.get("/Shape_output_0"), [1, 64]);
  // float constants are not published as values; the bool triangle is too big
  assert.equal(r.values.has("/h.0/attn/Constant_10_output_0"), false);
  assert.equal(r.values.has("onnx::Slice_110"), false);
});

test("gpt2-tiny without shapes keeps the symbolic names through Shape/Gather/Concat/Reshape", () => {
  const r = inferShapes(gpt2);
  assert.deepEqual(dimsOf(r, "logits"), ["batch", "sequence", 256]);
  assert.deepEqual(r.values.get("/h.0/attn/Concat_output_0"), ["batch", "sequence", 4, 16]);
  assert.deepEqual(dimsOf(r, "/h.0/attn/Where_output_0"), ["batch", 4, "sequence", "sequence"]);
  assert.deepEqual(r.values.get("/h.0/attn/Sub_output_0"), [0]); // total - sequence with no cache
  assert.deepEqual(r.unresolved, []);
});

test("gpt2-tiny-kv: dims bind every expression; without them present is past_sequence + sequence", () => {
  const r = inferShapes(gpt2kv, { dims: { batch: 2, sequence: 3, past_sequence: 5 } });
  assert.deepEqual(dimsOf(r, "present.0.key"), [2, 4, 8, 16]);
  assert.deepEqual(dimsOf(r, "logits"), [2, 3, 256]);
  assert.deepEqual(dimsOf(r, "attention_mask"), [2, 8]);
  assert.deepEqual(r.unresolved, []);
  const sym = inferShapes(gpt2kv);
  assert.deepEqual(dimsOf(sym, "present.1.value"), ["batch", 4, "past_sequence + sequence", 16]);
  assert.deepEqual(sym.values.get("/h.0/attn/Sub_output_0"), ["past_sequence"]);
  assert.deepEqual(dimsOf(sym, "/h.0/attn/Slice_1_output_0"), [1, 1, "sequence", "past_sequence + sequence"]);
  assert.deepEqual(dimsOf(sym, "/Range_output_0"), ["sequence"]);
});

test("inputShapes bind the declared names, solving past_sequence from the mask's expression", () => {
  const r = inferShapes(gpt2kv, { inputShapes: { input_ids: [2, 3], attention_mask: [2, 8] } });
  assert.deepEqual(dimsOf(r, "past_key_values.0.key"), [2, 4, 5, 16]);
  assert.deepEqual(dimsOf(r, "present.0.key"), [2, 4, 8, 16]);
  assert.deepEqual(r.unresolved, []);
});

test("bad shape options are errors naming the problem", () => {
  assert.throws(() => inferShapes(gpt2, { inputShapes: { nope: [1] } }), code("E_UNKNOWN_TENSOR", "nope"));
  assert.throws(() => inferShapes(gpt2, { inputShapes: { "core.wte.weight": [256, 64] } }), code("E_USAGE", "not a model input"));
  assert.throws(() => inferShapes(gpt2, { inputShapes: { input_ids: [1, 64, 1] } }), code("E_USAGE", "rank 2"));
  assert.throws(() => inferShapes(gpt2, { inputShapes: { input_ids: [1, -4] } }), code("E_USAGE", "non-negative"));
  assert.throws(() => inferShapes(gpt2, { dims: { batch: 1.5 } }), code("E_USAGE", "dim batch"));
  assert.throws(() => inferShapes(gpt2, { dims: { batch: 2 }, inputShapes: { input_ids: [1, 64] } }), code("E_USAGE", "input_ids", '"batch" = 2'));
  assert.throws(() => inferShapes(gpt2kv, { inputShapes: { input_ids: [1, 3], attention_mask: [1, 8], "past_key_values.0.key": [1, 4, 2, 16] } }), code("E_USAGE", "past_key_values.0.key"));
  assert.throws(() => inferShapes(resnet, { inputShapes: { pixels: [1, 4, 32, 32] } }), code("E_USAGE", "pixels", "dim 1"));
});

test("resnet-tiny at [2, 3, 32, 32]: strided convs halve the maps, logits [2, 10]", () => {
  const r = inferShapes(resnet, { inputShapes: { pixels: [2, 3, 32, 32] } });
  assert.deepEqual(dimsOf(r, "logits"), [2, 10]);
  assert.deepEqual(dimsOf(r, "/conv1/Conv_output_0"), [2, 16, 32, 32]);
  assert.deepEqual(dimsOf(r, "/layer2/conv1/Conv_output_0"), [2, 32, 16, 16]);
  assert.deepEqual(dimsOf(r, "/layer3/downsample/downsample.0/Conv_output_0"), [2, 64, 8, 8]);
  assert.deepEqual(dimsOf(r, "/pool/GlobalAveragePool_output_0"), [2, 64, 1, 1]);
  assert.deepEqual(r.unresolved, []);
  assert.equal(tensorBytes(r.types.get("/layer2/conv1/Conv_output_0")), 2 * 32 * 16 * 16 * 4);
  assert.deepEqual(dimsOf(inferShapes(resnet), "/Flatten_output_0"), ["batch", 64]);
});

test("control-flow: the If output comes from its branches (which read outer-scope values)", () => {
  const r = inferShapes(control);
  assert.deepEqual(r.types.get("y.7"), { elemType: DT.FLOAT, dims: ["batch", 32] });
  assert.deepEqual(dimsOf(r, "y"), ["batch", 8]);
  assert.deepEqual(dimsOf(inferShapes(control, { dims: { batch: 3 } }), "y.7"), [3, 32]);
  assert.deepEqual(r.unresolved, []);
});

test("tensorBytes: concrete tensors only", () => {
  assert.equal(tensorBytes({ elemType: DT.FLOAT, dims: [2, 3] }), 24);
  assert.equal(tensorBytes({ elemType: DT.INT64, dims: [] }), 8);
  assert.equal(tensorBytes({ elemType: DT.FLOAT16, dims: [0, 5] }), 0);
  assert.equal(tensorBytes({ elemType: DT.FLOAT, dims: ["batch", 3] }), undefined);
  assert.equal(tensorBytes({ elemType: DT.FLOAT, dims: null }), undefined);
  assert.equal(tensorBytes({ elemType: DT.STRING, dims: [2] }), undefined);
  assert.equal(tensorBytes({ elemType: DT.FLOAT, dims: [2], kind: "sequence" }), undefined);
  assert.equal(tensorBytes(undefined), undefined);
});

test("exposeTensors adds outputs with elem types, keeps the original, rejects unknown names", () => {
  const r = inferShapes(gpt2);
  const m = exposeTensors(gpt2, ["/h.0/attn/Softmax_output_0", "logits", "/Shape_output_0"], r.types);
  assert.deepEqual(m.graph!.output.map((o) => o.name), ["logits", "/h.0/attn/Softmax_output_0", "/Shape_output_0"]);
  const t = m.graph!.output[2]!.type!.value;
  assert.equal(t.case === "tensorType" ? t.value.elemType : -1, DT.INT64);
  assert.equal(gpt2.graph.output.length, 1, "the source model is not modified");
  assert.throws(() => exposeTensors(gpt2, ["no/such"], r.types), code("E_UNKNOWN_TENSOR", "no/such"));
});

/** Exposes every tensor a node makes and compares onnxruntime's dims and types with inference. */
async function crossCheck(g: Graph, r: ReturnType<typeof inferShapes>, feeds: TensorMap): Promise<number> {
  const names = [...g.tensors.values()].filter((t) => t.origin === "node").map((t) => t.name);
  const got = await ortRunner(feeds)(exposeTensors(g, names, r.types), names);
  for (const n of names) {
    assert.deepEqual(r.types.get(n)?.dims, got[n]?.dims, n);
    assert.equal(r.types.get(n)?.elemType, got[n]?.elemType, n);
  }
  return names.length;
}

test("gpt2-tiny and gpt2-tiny-kv: every inferred intermediate matches onnxruntime", async () => {
  const r = inferShapes(gpt2, { inputShapes: { input_ids: [2, 7], attention_mask: [2, 7] } });
  assert.ok(await crossCheck(gpt2, r, ids(2, 7)) > 200);
  const past = (n: number): TensorMap[string] => ({ type: "float32", dims: [2, 4, n, 16], data: Float32Array.from({ length: 2 * 4 * n * 16 }, (_, i) => Math.sin(i)) });
  const kvFeeds: TensorMap = {
    input_ids: ids(2, 3).input_ids!, attention_mask: ids(2, 8).attention_mask!,
    "past_key_values.0.key": past(5), "past_key_values.0.value": past(5), "past_key_values.1.key": past(5), "past_key_values.1.value": past(5),
  };
  const rk = inferShapes(gpt2kv, { dims: { batch: 2, sequence: 3, past_sequence: 5 } });
  assert.ok(await crossCheck(gpt2kv, rk, kvFeeds) > 200);
});

test("resnet-tiny and control-flow: every inferred intermediate matches onnxruntime", async () => {
  const px: TensorMap = { pixels: { type: "float32", dims: [2, 3, 32, 32], data: Float32Array.from({ length: 6144 }, (_, i) => Math.cos(i)) } };
  await crossCheck(resnet, inferShapes(resnet, { inputShapes: { pixels: [2, 3, 32, 32] } }), px);
  const x: TensorMap = { x: { type: "float32", dims: [3, 16], data: Float32Array.from({ length: 48 }, (_, i) => Math.sin(i)) } };
  await crossCheck(control, inferShapes(control, { dims: { batch: 3 } }), x);
});

test("conv/pool/resize/slice/split/pad/einsum edge cases match onnxruntime", async () => {
  const b = new GraphBuilder({ opset: 18 });
  b.input("x", "float32", [1, 8, 15, 15]);
  b.input("t", "float32", [1, 4, 5, 5]);
  b.input("p", "float32", [2, 3, 8, 8]);
  b.initializer("w", "float32", [16, 4, 3, 3], new Float32Array(16 * 4 * 9));
  b.initializer("tw", "float32", [4, 3, 3, 3], new Float32Array(4 * 27));
  b.op("Conv", ["x", "w"], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1], dilations: [2, 2] });
  b.op("Conv", ["x", "w"], { group: 2, strides: [2, 2], auto_pad: "SAME_UPPER" });
  b.op("Conv", ["x", "w"], { group: 2, kernel_shape: [3, 3], pads: [0, 1, 2, 1] });
  b.op("ConvTranspose", ["t", "tw"], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] });
  b.op("ConvTranspose", ["t", "tw"], { strides: [2, 2], output_shape: [12, 11] });
  b.node("MaxPool", ["p"], { kernel_shape: [3, 3], strides: [2, 2] }, 2);
  b.op("AveragePool", ["p"], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 });
  b.op("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [3, 3], pads: [1, 1, 1, 1], ceil_mode: 1, dilations: [2, 2] });
  b.op("Resize", ["x", "", b.constFloat([1, 1, 1.5, 0.7])]);
  b.op("Slice", ["x", b.constInt64([-1]), b.constInt64([-100]), b.constInt64([2]), b.constInt64([-2])]);
  b.op("Slice", ["x", b.constInt64([1, 3]), b.constInt64([100, -1]), b.constInt64([3, 2]), b.constInt64([4, 3])]);
  b.node("Split", ["p"], { axis: 2, num_outputs: 3 }, 3);
  b.op("Pad", ["p", b.constInt64([1, 2, 3, 4]), "", b.constInt64([2, 3])]);
  b.op("SpaceToDepth", ["p"], { blocksize: 2 });
  b.op("Einsum", ["x"], { equation: "...ii->...i" });
  b.node("TopK", ["x", b.constInt64([4])], { axis: 2 }, 2);
  const g = Graph.fromModel(b.build(), ".");
  const r = inferShapes(g);
  assert.deepEqual(r.unresolved, []);
  const zeros = (dims: number[]): TensorMap[string] => ({ type: "float32", dims, data: new Float32Array(dims.reduce((a, c) => a * c, 1)) });
  assert.ok(await crossCheck(g, r, { x: zeros([1, 8, 15, 15]), t: zeros([1, 4, 5, 5]), p: zeros([2, 3, 8, 8]) }) > 25);
});

test("probeShapes resolves data-dependent shapes (NonZero) with a real runtime; a failing runner is E_SHAPE_INFERENCE", async () => {
  const b = new GraphBuilder();
  b.input("x", "float32", [2, 3]);
  const nz = b.op("NonZero", ["x"], {}, { output: "nz" });
  const t = b.op("Transpose", [nz], {}, { output: "t" });
  b.op("Relu", ["x"], {}, { output: "y" });
  b.output(t, "int64", null);
  b.output("y", "float32", [2, 3]);
  const g = Graph.fromModel(b.build(), ".");
  const r = inferShapes(g);
  assert.deepEqual(r.unresolved, ["nz", "t"]);
  assert.deepEqual(dimsOf(r, "nz"), [2, null]);
  const x: TensorMap = { x: { type: "float32", dims: [2, 3], data: Float32Array.from([0, 1, 2, 0, 0, 5]) } };
  const out = await probeShapes(g, r, ortRunner(x));
  assert.equal(out, r);
  assert.deepEqual(r.unresolved, []);
  assert.deepEqual(dimsOf(r, "nz"), [2, 3]);
  assert.deepEqual(r.types.get("t"), { elemType: DT.INT64, dims: [3, 2] });
  // nothing left to probe: the runner is not called
  await probeShapes(g, r, () => Promise.reject(new Error("must not run")));
  const again = inferShapes(g);
  await assert.rejects(probeShapes(g, again, () => Promise.reject(new Error("boom"))), code("E_SHAPE_INFERENCE", "boom"));
  // a runner that leaves a tensor out leaves it unresolved
  const partial = await probeShapes(g, inferShapes(g), () => Promise.resolve({ nz: { elemType: DT.INT64, dims: [2, 4] } }));
  assert.deepEqual(partial.unresolved, ["t"]);
});
