import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { constantInfo, partition } from "../../sdk/graph/partition.js";
import { assertCuttable, candidateCuts, frontForTensors, type CandidateCut, type CutMetrics } from "../../sdk/graph/cuts.js";
import { inferShapes, tensorBytes } from "../../sdk/graph/shapes.js";
import { tensorByteSize } from "../../sdk/graph/model-io.js";
import { buildModel } from "../../sdk/graph/models/index.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

const FIX = path.resolve(import.meta.dirname, "../fixtures/torch");
const load = (name: string): Graph => Graph.load(path.join(FIX, `${name}.onnx`));
const DIMS = { batch: 1, sequence: 8, past_sequence: 0 };

/** Bytes from shape inference at DIMS; FLOPs as output elements (the tests only need a proxy). */
function metricsFor(g: Graph, dims: Record<string, number> = DIMS): CutMetrics {
  const types = inferShapes(g, { dims }).types;
  const bytes = (n: string): number | null => tensorBytes(types.get(n)) ?? null;
  return {
    tensorBytes: bytes,
    nodeFlops: (i) => g.nodes[i]!.outputs.reduce((s, o) => s + (bytes(o) ?? 0) / 4, 0),
    weightBytes: (w) => tensorByteSize(g.initializers.get(w)!) ?? 0,
  };
}

const byAfter = (cs: CandidateCut[], after: string): CandidateCut => {
  const c = cs.find((x) => x.after === after);
  assert.ok(c, `no candidate after ${after}; got ${cs.map((x) => x.after).join(", ")}`);
  return c;
};
const names = (c: CandidateCut): string[] => c.tensors.map((t) => t.name);
const isError = (code: ErrorCode, re?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof EdgecutError, `expected EdgecutError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

/** Every candidate is a valid split whose crossing matches partition() and holds no constant. */
function checkAgainstPartition(g: Graph, cs: CandidateCut[]): void {
  const constants = constantInfo(g);
  for (const c of cs) {
    const p = partition(g, 2, (i) => (c.front.has(i) ? 0 : 1), constants);
    assert.deepEqual(names(c), p.cuts[0]!.tensors, `candidate after ${c.after}`);
    assert.deepEqual(c.modelInputs, p.cuts[0]!.modelInputs);
    for (const t of names(c)) assert.ok(!constants.tensors.has(t), `${t} is constant but crosses`);
    const sum = c.tensors.reduce((s, t) => s + t.bytes!, 0);
    assert.equal(c.bytes, sum);
  }
  cs.forEach((c, i) => assert.equal(c.index, i));
  // The list is a chain: each front strictly inside the next, so any increasing pick is valid.
  for (let i = 1; i < cs.length; i++) {
    const [a, b] = [cs[i - 1]!.front, cs[i]!.front];
    assert.ok(a.size < b.size && [...a].every((x) => b.has(x)), `front ${i - 1} is not inside front ${i}`);
  }
}

test("gpt2-tiny: candidates after the embedding, between and inside blocks, before the LM head", () => {
  const g = load("gpt2-tiny");
  const cs = candidateCuts(g, metricsFor(g));
  checkAgainstPartition(g, cs);
  assert.deepEqual(names(byAfter(cs, "/Add_output_0")), ["/Add_output_0"]);
  // Token and position embeddings are parallel branches: one candidate where they meet, not two.
  assert.deepEqual(names(cs[0]!), ["/wte/Gather_output_0", "/wpe/Gather_output_0"]);
  // Between blocks: the hidden state plus the mask derived from attention_mask, nothing else.
  const between = byAfter(cs, "/h.0/Add_1_output_0");
  assert.deepEqual(names(between), ["/Unsqueeze_2_output_0", "/h.0/Add_1_output_0"]);
  assert.equal(between.bytes, 8 * 64 * 4 + 8);
  assert.deepEqual(between.modelInputs, []);
  assert.deepEqual(names(byAfter(cs, "/h.1/Add_1_output_0")), ["/h.1/Add_1_output_0"]);
  assert.deepEqual(names(byAfter(cs, "/ln_f/LayerNormalization_output_0")), ["/ln_f/LayerNormalization_output_0"]);
  // Not inside the MLP (the residual crosses there too) and not in the position/mask side chains.
  for (const bad of ["/h.0/mlp/c_fc/Add_output_0", "/h.0/ln_2/LayerNormalization_output_0", "/Range_output_0", "/Unsqueeze_2_output_0"]) {
    assert.ok(!cs.some((c) => c.after === bad), `unexpected candidate after ${bad}`);
  }
  assert.ok(cs.length <= 2 * 4 + 4, `${cs.length} candidates for 2 blocks`);
  // Weights and FLOPs grow along the list.
  const last = cs[cs.length - 1]!;
  assert.ok(last.frontWeightBytes > between.frontWeightBytes && last.frontFlops! > between.frontFlops!);
});

test("gpt2-tiny-kv: block boundary carries hidden state + mask; later past_key_values stay model inputs", () => {
  const g = load("gpt2-tiny-kv");
  const cs = candidateCuts(g, metricsFor(g));
  checkAgainstPartition(g, cs);
  const between = byAfter(cs, "/h.0/Add_1_output_0");
  assert.deepEqual(names(between), ["/Unsqueeze_2_output_0", "/h.0/Add_1_output_0"]);
  assert.deepEqual(between.modelInputs, ["past_key_values.1.key", "past_key_values.1.value"]);
});

test("generated tiny-gpt: a candidate at every block boundary carrying exactly the hidden state", () => {
  for (const kvCache of [false, true]) {
    const g = Graph.fromModel(buildModel("tiny-gpt", { layers: 4, kvCache }), ".");
    const cs = candidateCuts(g, metricsFor(g));
    checkAgainstPartition(g, cs);
    const ln1 = g.nodes.find((n) => n.opType === "LayerNormalization" && n.outputs[0]!.startsWith("/h.0/"))!;
    assert.deepEqual(names(byAfter(cs, ln1.inputs[0]!)), [ln1.inputs[0]]); // the embedding output
    byAfter(cs, "/ln_f/LayerNormalization_output_0");
    for (let i = 0; i < 3; i++) {
      const c = byAfter(cs, `/h.${i}/Add_1_output_0`);
      const main = c.tensors.find((t) => t.name === c.after)!;
      assert.ok(c.tensors.length <= (kvCache ? 2 : 1), `${c.after}: ${names(c).join(", ")}`);
      for (const t of c.tensors) if (t !== main) assert.ok(t.bytes! * 16 <= main.bytes!, `${t.name} is not a small side tensor`);
    }
    assert.ok(cs.length <= 4 * 4, `${cs.length} candidates for 4 blocks`);
  }
});

test("resnet-tiny: candidates after each block's final Relu, none inside a block; localMin flags", () => {
  const g = load("resnet-tiny");
  const cs = candidateCuts(g, metricsFor(g));
  checkAgainstPartition(g, cs);
  assert.deepEqual(cs.map((c) => c.after), [
    "/Relu_output_0", "/layer1/Relu_1_output_0", "/layer2/Relu_1_output_0", "/layer3/Relu_1_output_0",
    "/layer4/Relu_1_output_0", "/Flatten_output_0",
  ]);
  for (const c of cs) assert.equal(c.tensors.length, 1);
  assert.deepEqual(cs.map((c) => c.bytes), [65536, 65536, 32768, 16384, 16384, 256]);
  assert.deepEqual(cs.map((c) => c.localMin), [true, false, false, true, false, true]);
});

test("control-flow: candidates before and after the If, none inside it", () => {
  const g = load("control-flow");
  const cs = candidateCuts(g, metricsFor(g));
  checkAgainstPartition(g, cs);
  const iff = g.nodes.find((n) => n.opType === "If")!;
  assert.ok(cs.some((c) => !c.front.has(iff.index)), "no candidate before the If");
  assert.deepEqual(names(cs[0]!), ["/pre/Gemm_output_0", "/Sigmoid_output_0"]);
  assert.ok(cs.some((c) => c.front.has(iff.index)), "no candidate after the If");
  const inner = new Set(iff.subgraphs.flatMap((sg) => sg.node.flatMap((n) => n.output)));
  for (const c of cs) for (const t of names(c)) assert.ok(!inner.has(t) && g.tensors.has(t));
});

test("candidates stay O(blocks) and fast on a 12-block graph", (t) => {
  const g = Graph.fromModel(buildModel("tiny-gpt", { layers: 12, dModel: 64, vocab: 256 }), ".");
  const m = metricsFor(g);
  const constants = constantInfo(g);
  const t0 = performance.now();
  const cs = candidateCuts(g, m, { constants });
  const ms = performance.now() - t0;
  t.diagnostic(`12 blocks, ${g.nodes.length} nodes: ${cs.length} candidates in ${ms.toFixed(1)} ms`);
  for (let i = 0; i < 11; i++) byAfter(cs, `/h.${i}/Add_1_output_0`);
  assert.ok(cs.length <= 12 * 3 + 4, `${cs.length} candidates`);
  assert.ok(ms < 2000, `${ms} ms`);
});

test("unknown sizes: block boundaries are still found from structure", () => {
  const g = Graph.fromModel(buildModel("tiny-gpt", { layers: 3, kvCache: true }), ".");
  const m = metricsFor(g);
  const cs = candidateCuts(g, { ...m, tensorBytes: () => null });
  for (let i = 0; i < 2; i++) assert.equal(byAfter(cs, `/h.${i}/Add_1_output_0`).bytes, null);
  assert.ok(cs.every((c) => !c.localMin));
});

test("frontForTensors: a named cut gives the candidate's front; bad names are explained", () => {
  const g = load("gpt2-tiny");
  const constants = constantInfo(g);
  const cs = candidateCuts(g, metricsFor(g), { constants });
  const front = frontForTensors(g, ["/h.0/Add_1_output_0", "/Unsqueeze_2_output_0"], constants);
  assert.deepEqual([...front].sort((a, b) => a - b), [...byAfter(cs, "/h.0/Add_1_output_0").front].sort((a, b) => a - b));
  assert.throws(() => frontForTensors(g, ["/h.0/Add_1_output_0"], constants), isError("E_CUT_NOT_SEPARATING", /"\/Unsqueeze_2_output_0"/));
  assert.throws(() => frontForTensors(g, ["nope"], constants), isError("E_UNKNOWN_TENSOR", /"nope"/));
  assert.throws(() => frontForTensors(g, ["core.wte.weight"], constants), isError("E_CUT_NOT_SEPARATING", /weight/));
  assert.throws(() => frontForTensors(g, ["input_ids"], constants), isError("E_CUT_NOT_SEPARATING", /model input/));
  assert.throws(() => frontForTensors(g, ["onnx::Slice_110"], constants), isError("E_CUT_NOT_SEPARATING", /weights and constants/));
  assert.throws(() => frontForTensors(g, ["logits"], constants), isError("E_CUT_NOT_SEPARATING", /nothing after it/));
  assert.throws(() => frontForTensors(g, ["/h.0/Add_1_output_0", "/Unsqueeze_2_output_0", "/h.0/Add_output_0"], constants),
    isError("E_CUT_NOT_SEPARATING", /"\/h.0\/Add_output_0" would not cross/));
  assert.throws(() => frontForTensors(g, [], constants), isError("E_USAGE"));

  const cf = load("control-flow");
  assert.throws(() => frontForTensors(cf, ["y.1"], constantInfo(cf)), isError("E_CUT_INSIDE_SUBGRAPH", /node #7 \(If/));
});

function loopModel(withCast: boolean): Graph {
  const body = new GraphBuilder({ name: "body" });
  body.input("i", "int64", []);
  body.input("c", "bool", []);
  const v = body.input("v", "float32", [4]);
  body.op("Identity", ["c"], {}, { output: "c_out" });
  const w = body.constFloat([1, 2, 3, 4]);
  const m1 = body.op("Mul", [v, w]);
  body.op("Relu", [m1], {}, { output: "v_out" });
  body.output("c_out", "bool", []);
  body.output("v_out", "float32", [4]);
  const b = new GraphBuilder();
  let x = b.input("x", "float32", [4]);
  b.initializer("M", "int64", [], BigInt64Array.from([3n]));
  b.initializer("cond", "bool", [], Uint8Array.from([1]));
  if (withCast) x = b.op("Cast", [x], { to: 1 });
  b.op("Loop", ["M", "cond", x], { body: body.graph() }, { output: "y" });
  b.output("y", "float32", [4]);
  return Graph.fromModel(b.build(), ".");
}

test("a model whose work sits in one Loop: no candidates, E_CUT_CONTROL_FLOW_ONLY", () => {
  const g = loopModel(false);
  const constants = constantInfo(g);
  const m: CutMetrics = { tensorBytes: () => 16, nodeFlops: () => 1, weightBytes: () => 8 };
  assert.deepEqual(candidateCuts(g, m), []);
  assert.throws(() => assertCuttable(g, constants), isError("E_CUT_CONTROL_FLOW_ONLY", /node #0 \(Loop.*4 nodes.*no cut exists/));
  const g2 = loopModel(true);
  assert.throws(() => assertCuttable(g2, constantInfo(g2)), isError("E_CUT_CONTROL_FLOW_ONLY", /only cuts are before it.*Cast/));
  const gpt = load("gpt2-tiny");
  assertCuttable(gpt, constantInfo(gpt));
  const cf = load("control-flow");
  assertCuttable(cf, constantInfo(cf));
});

test("a sequence value never crosses: no candidate there, E_CUT_NON_TENSOR when named", () => {
  const b = new GraphBuilder();
  const x = b.input("x", "float32", [2, 4]);
  const w = b.initializer("w", "float32", [4, 4], new Float32Array(16));
  const a = b.op("MatMul", [x, w], {}, { output: "a" });
  const seq = b.op("SequenceConstruct", [a, a], {}, { output: "seq" });
  const zero = b.initializer("zero", "int64", [], BigInt64Array.from([0n]));
  const e = b.op("SequenceAt", [seq, zero], {}, { output: "e" });
  const y = b.op("MatMul", [e, w], {}, { output: "y" });
  b.output(y, "float32", [2, 4]);
  const g = Graph.fromModel(b.build(), ".");
  const m: CutMetrics = { tensorBytes: () => 32, nodeFlops: () => 1, weightBytes: () => 64 };
  const cs = candidateCuts(g, m);
  assert.deepEqual(cs.map((c) => c.after), ["a", "e"]);
  assert.throws(() => frontForTensors(g, ["seq"], constantInfo(g)), isError("E_CUT_NON_TENSOR", /"seq"/));
});

test("parallel towers: candidates become nested unions, the cut across both towers", () => {
  const b = new GraphBuilder();
  const x = b.input("x", "float32", [1, 16]);
  for (const tower of ["a", "b"]) {
    let t = x;
    for (let i = 0; i < 3; i++) t = b.op("MatMul", [t, b.initializer(`${tower}w${i}`, "float32", [16, 16], new Float32Array(256))], {}, { output: `${tower}${i}` });
    b.output(t, "float32", [1, 16]);
  }
  const g = Graph.fromModel(b.build(), ".");
  const cs = candidateCuts(g, { tensorBytes: () => 64, nodeFlops: () => 1, weightBytes: () => 1024 });
  checkAgainstPartition(g, cs);
  assert.deepEqual(cs.map(names), [["a0", "b0"], ["a1", "b1"]]);
  assert.deepEqual(cs.map((c) => c.bytes), [128, 128]);
  assert.deepEqual(cs.map((c) => c.modelInputs), [[], []]);
});

test("opset-14 export with LayerNorm spelled out op by op: the same block boundaries, found structurally", () => {
  const g = load("gpt2-tiny-opset14");
  assert.ok(!g.nodes.some((n) => n.opType === "LayerNormalization"), "the fixture spells LayerNorm out");
  const cs = candidateCuts(g, metricsFor(g));
  checkAgainstPartition(g, cs);
  // After block 0 the mask derived from attention_mask crosses beside the hidden state; after block 1 the hidden state alone.
  assert.deepEqual(names(byAfter(cs, "/h.0/Add_1_output_0")).sort(), ["/Unsqueeze_2_output_0", "/h.0/Add_1_output_0"]);
  assert.deepEqual(names(byAfter(cs, "/h.1/Add_1_output_0")), ["/h.1/Add_1_output_0"]);
  assert.ok(byAfter(cs, "/h.1/Add_1_output_0").localMin);
});
