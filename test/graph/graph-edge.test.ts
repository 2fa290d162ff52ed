/**
 * Graph-model edge cases the ONNX IR allows, each split end to end and verified in onnxruntime:
 * omitted optional inputs/outputs, model outputs that are inputs/weights/consumed intermediates,
 * constant subgraphs that must not cross a cut, sparse initializers, custom-domain opsets and
 * model-local functions, warnings about nondeterminism, and node names that identify nothing.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  FunctionProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, SparseTensorProtoSchema, TensorProtoSchema,
  TensorProto_DataType as DT,
  type FunctionProto, type ModelProto, type TensorProto,
} from "../../sdk/graph/onnx/onnx_pb.js";
import { Graph } from "../../sdk/graph/graph.js";
import { analyze, symbolicTypeOf, type ShapeBindings } from "../../sdk/graph/analyze.js";
import { constantInfo, frontOf, partition, type Partition } from "../../sdk/graph/partition.js";
import { assignmentFromFronts, segmentByBalance } from "../../sdk/graph/segmentation.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { writeSplit } from "../../sdk/graph/split.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import { loadModel, saveModel } from "../../sdk/graph/model-io.js";
import { GraphBuilder, float, makeTensor } from "../../sdk/graph/builder.js";
import { verifySplit } from "../../sdk/runtime/verify.js";

const GPT2 = path.resolve(import.meta.dirname, "../fixtures/torch/gpt2-tiny.onnx");

function tmpDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-edge-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Split {
  g: Graph;
  p: Partition;
  m: Manifest;
  out: string;
  /** The segment models as written. */
  segments: ModelProto[];
}

/**
 * Saves `model`, cuts it after each group of tensors in `cuts` (fronts as `frontOf` gives them),
 * writes the split, verifies it in onnxruntime at `at` and at each of `others`, and checks every
 * model output comes from exactly one segment.
 */
async function splitAndVerify(t: TestContext, model: ModelProto | string, cuts: readonly (readonly string[])[], at: ShapeBindings, others: ShapeBindings[] = []): Promise<Split> {
  const dir = tmpDir(t);
  let file: string;
  if (typeof model === "string") file = model;
  else {
    file = path.join(dir, "model.onnx");
    saveModel(model, file, { sourceDir: dir });
  }
  const g = Graph.load(file);
  const a = analyze(g, at);
  const fronts = cuts.map((c) => frontOf(g, c, a.constants));
  const p = partition(g, cuts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const out = path.join(dir, "split");
  const m = await writeSplit(g, p, out, {
    modelPath: file, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  assert.equal(m.segments.length, cuts.length + 1);
  checkOutputsOnce(m);
  const manifest = path.join(out, "manifest.json");
  for (const b of [at, ...others]) {
    const r = await verifySplit(manifest, { ...(b.shapes ? { shapes: b.shapes } : {}), ...(b.dims ? { dims: b.dims } : {}) });
    assert.ok(r.ok, `verify at ${JSON.stringify(b)}: ${JSON.stringify(r.outputs)}`);
    assert.deepEqual(r.outputs.map((o) => o.name).sort(), [...g.outputs].sort());
  }
  const segments = m.segments.map((s) => loadModel(path.join(out, s.file)).proto);
  return { g, p, m, out, segments };
}

/** Each model output is a modelOutput of exactly one segment; nothing else is marked one. */
function checkOutputsOnce(m: Manifest): void {
  const from = new Map<string, number[]>();
  for (const s of m.segments) for (const o of s.outputs) if (o.modelOutput) from.set(o.name, [...(from.get(o.name) ?? []), s.index]);
  for (const o of m.model.outputs) assert.equal(from.get(o.name)?.length, 1, `model output ${o.name} comes from segments ${JSON.stringify(from.get(o.name) ?? [])}`);
  assert.equal(from.size, m.model.outputs.length);
}

const ramp = (n: number, scale = 1, shift = 0): Float32Array => Float32Array.from({ length: n }, (_, i) => ((i * 7) % 11) * scale + shift);

// ---------------------------------------------------------------------------------------------

/**
 * Omitted optional inputs and outputs, as exporters write them:
 * Clip(x, "", max) -> LayerNormalization(.., outputs [ln, "", ""]) -> Dropout(ln, "", "") [d, ""]
 * -> Clip(d, min, "") -> MatMul W -> y, and y also through Dropout(y) with mask output omitted.
 */
function optionalModel(): ModelProto {
  const b = new GraphBuilder({ name: "optional", opset: 17 });
  b.input("x", "float32", ["n", 8]);
  b.initializer("max", "float32", [], Float32Array.from([0.5]));
  b.initializer("min", "float32", [], Float32Array.from([-0.25]));
  b.initializer("scale", "float32", [8], ramp(8, 0.1, 0.5));
  b.initializer("bias", "float32", [8], ramp(8, -0.05));
  b.initializer("W", "float32", [8, 8], ramp(64, 0.1, -0.5));
  b.node("Clip", ["x", "", "max"], {}, ["c"]);
  b.node("LayerNormalization", ["c", "scale", "bias"], { axis: -1, epsilon: float(1e-5) }, ["ln", "", ""]);
  b.node("Dropout", ["ln", "", ""], {}, ["d", ""]);
  b.node("Clip", ["d", "min", ""], {}, ["c2"]);
  b.node("MatMul", ["c2", "W"], {}, ["h"]);
  b.node("Dropout", ["h"], {}, ["y", ""]);
  b.output("y", "float32", ["n", 8]);
  return b.build();
}

test("empty-string optional inputs and outputs are not tensors, and a model using them splits and verifies", async (t) => {
  const g = Graph.fromModel(optionalModel(), ".");
  assert.equal(g.tensors.has(""), false, "the empty name is never a tensor");
  assert.deepEqual(g.nodes[0]!.inputs, ["x", "max"]);
  assert.deepEqual(g.nodes[1]!.outputs, ["ln"]);
  assert.deepEqual(g.nodes[2]!.inputs, ["ln"]);
  assert.deepEqual(g.nodes[2]!.outputs, ["d"]);
  assert.deepEqual(g.nodes[3]!.inputs, ["d", "min"]);
  assert.deepEqual(g.order, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(g.warnings, [], "Dropout without training_mode runs in inference mode");
  assert.deepEqual(g.tensor("max").consumers, [0]);

  for (const cut of [["c"], ["ln"], ["d"], ["c2"]]) {
    const s = await splitAndVerify(t, optionalModel(), [cut], { shapes: { x: [2, 8] } }, [{ shapes: { x: [5, 8] } }]);
    assert.deepEqual(s.m.cuts[0]!.tensors.map((x) => x.name), cut);
    for (const seg of s.m.segments) {
      for (const io of [...seg.inputs, ...seg.outputs]) assert.notEqual(io.name, "");
    }
    // Positional empty names are kept in the segment's NodeProtos (Clip's max stays input 2).
    const clip = s.segments.flatMap((m) => m.graph!.node).filter((n) => n.opType === "Clip");
    assert.deepEqual(clip.map((n) => [...n.input]), [["x", "", "max"], ["d", "min", ""]]);
    const ln = s.segments.flatMap((m) => m.graph!.node).find((n) => n.opType === "LayerNormalization")!;
    assert.deepEqual([...ln.output], ["ln", "", ""]);
  }
});

// ---------------------------------------------------------------------------------------------

/**
 * Outputs that are not plain node results: "x" (a model input, passed through), "w" (an initializer,
 * also read by both MatMuls), "k" (a Constant node's output, also read inside), "h" (an intermediate
 * that a later node also reads), "y" (ordinary).
 * a = MatMul(x, w); h = Tanh(a); y = MatMul(h, w) + k.
 */
function awkwardOutputsModel(): ModelProto {
  const b = new GraphBuilder({ name: "awkward" });
  b.input("x", "float32", ["n", 4]);
  b.initializer("w", "float32", [4, 4], ramp(16, 0.2, -1));
  b.node("Constant", [], { value: makeTensor("", "float32", [4], Float32Array.from([1, -1, 2, -2])) }, ["k"]);
  b.node("MatMul", ["x", "w"], {}, ["a"]);
  b.node("Tanh", ["a"], {}, ["h"]);
  b.node("MatMul", ["h", "w"], {}, ["hw"]);
  b.node("Add", ["hw", "k"], {}, ["y"]);
  b.output("x", "float32", ["n", 4]);
  b.output("w", "float32", [4, 4]);
  b.output("h", "float32", ["n", 4]);
  b.output("k", "float32", [4]);
  b.output("y", "float32", ["n", 4]);
  return b.build();
}

test("model outputs that are inputs, initializers, constants or consumed intermediates come from exactly one segment", async (t) => {
  const g = Graph.fromModel(awkwardOutputsModel(), ".");
  assert.deepEqual(g.outputs, ["x", "w", "h", "k", "y"]);
  assert.deepEqual(["x", "w", "h", "k", "y"].map((n) => [g.tensor(n).origin, g.tensor(n).isOutput]),
    [["input", true], ["initializer", true], ["node", true], ["node", true], ["node", true]]);
  assert.deepEqual(g.tensor("h").consumers, [3]);

  // Cut after a: h is made and consumed in segment 1. Cut after h: h crosses and is a model output of segment 0.
  for (const [cut, hFrom] of [["a", 1], ["h", 0]] as const) {
    const s = await splitAndVerify(t, awkwardOutputsModel(), [[cut]], { shapes: { x: [3, 4] } }, [{ shapes: { x: [1, 4] } }]);
    const outs = s.m.segments.map((seg) => seg.outputs.filter((o) => o.modelOutput).map((o) => o.name));
    assert.ok(outs[0]!.includes("x") && outs[0]!.includes("w") && outs[0]!.includes("k"), `segment 0 passes out x, w and k: ${JSON.stringify(outs)}`);
    assert.ok(outs[hFrom]!.includes("h"));
    assert.ok(outs[1]!.includes("y"));
    assert.deepEqual(s.m.cuts[0]!.tensors.map((x) => x.name), [cut]);
    assert.deepEqual(s.m.sharedWeights.map((w) => [w.name, w.segments]), [["w", [0, 1]]]);
    if (cut === "h") {
      const h0 = s.m.segments[0]!.outputs.find((o) => o.name === "h")!;
      assert.equal(h0.modelOutput, true, "h crosses the cut and is also the model's output, marked once");
      assert.ok(s.m.segments[1]!.inputs.some((i) => i.name === "h"));
      assert.ok(!s.m.segments[1]!.outputs.some((o) => o.name === "h"));
    }
  }
});

// ---------------------------------------------------------------------------------------------

/**
 * Constant subgraphs on both sides of a cut: Constant c, Shape(W) -> ConstantOfShape -> Trilu (a mask),
 * all placed first in the file. W is tied (read by both segments).
 * a = x + c; h = (a @ W) @ mask  |cut|  y = ((h @ mask) @ W) + c
 */
function constantsModel(): ModelProto {
  const b = new GraphBuilder({ name: "consts" });
  b.input("x", "float32", ["n", 8]);
  b.initializer("W", "float32", [8, 8], ramp(64, 0.05, -0.2));
  b.node("Constant", [], { value: makeTensor("", "float32", [8], ramp(8, 0.5)) }, ["c"]);
  b.node("Shape", ["W"], {}, ["shp"]);
  b.node("ConstantOfShape", ["shp"], { value: makeTensor("", "float32", [1], Float32Array.from([1])) }, ["ones"]);
  b.node("Trilu", ["ones"], { upper: 0 }, ["mask"]);
  b.node("Add", ["x", "c"], {}, ["a"]);
  b.node("MatMul", ["a", "W"], {}, ["aw"]);
  b.node("MatMul", ["aw", "mask"], {}, ["h"]);
  b.node("MatMul", ["h", "mask"], {}, ["hm"]);
  b.node("MatMul", ["hm", "W"], {}, ["hw"]);
  b.node("Add", ["hw", "c"], {}, ["y"]);
  b.output("y", "float32", ["n", 8]);
  return b.build();
}

test("Constant, Shape-of-weight, ConstantOfShape and Trilu masks never cross a cut; a tied weight is a shared weight", async (t) => {
  const g = Graph.fromModel(constantsModel(), ".");
  const c = constantInfo(g);
  assert.deepEqual([...c.nodes].sort(), [0, 1, 2, 3]);
  for (const name of ["c", "shp", "ones", "mask", "W"]) assert.ok(c.tensors.has(name), name);
  assert.ok(!c.tensors.has("a"));

  // [cuts, how many segments read the mask]
  for (const [cuts, maskReaders] of [[[["h"]], 2], [[["aw"]], 1], [[["a"], ["hm"]], 1]] as const) {
    const s = await splitAndVerify(t, constantsModel(), cuts, { shapes: { x: [2, 8] } }, [{ shapes: { x: [4, 8] } }]);
    assert.deepEqual(s.m.cuts.map((k) => k.tensors.map((x) => x.name)), cuts, "only the named activations cross");
    for (const k of s.m.cuts) assert.deepEqual(k.modelInputs, []);
    assert.deepEqual([...s.p.segmentOf].slice(0, 4), [-1, -1, -1, -1], "constant nodes belong to no segment");
    assert.deepEqual(s.m.sharedWeights.map((w) => [w.name, w.bytes]), [["W", 256]]);
    // a @ W is in segment 0 for the 2-way cuts, in segment 1 when segment 0 is only the Add.
    assert.deepEqual(s.m.sharedWeights[0]!.segments, cuts.length === 1 ? [0, 1] : [1, 2]);
    // Every segment that reads the mask or c makes it itself (cut at h, the mask is read on both sides).
    const readers = (name: string): number => s.segments.filter((seg) => seg.graph!.node.some((n) => n.input.includes(name))).length;
    assert.deepEqual([readers("mask"), readers("c")], [maskReaders, 2]);
    for (const [i, seg] of s.segments.entries()) {
      const ops = seg.graph!.node.map((n) => n.opType);
      const reads = new Set(seg.graph!.node.flatMap((n) => n.input));
      if (reads.has("mask")) for (const op of ["Shape", "ConstantOfShape", "Trilu"]) assert.ok(ops.includes(op), `segment ${i} makes its mask (${op})`);
      if (reads.has("c")) assert.ok(ops.includes("Constant"), `segment ${i} makes c`);
      const names = new Set(s.m.segments[i]!.inputs.map((x) => x.name));
      for (const k of ["c", "shp", "ones", "mask", "W"]) assert.ok(!names.has(k), `segment ${i} does not read ${k} from outside`);
    }
  }
});

// ---------------------------------------------------------------------------------------------

/** x -> Relu (r) -> MatMul S (sparse 4x4, three non-zeros) -> Add (sparse bias B) -> y. */
function sparseModel(): ModelProto {
  const b = new GraphBuilder({ name: "sparse" });
  b.input("x", "float32", ["n", 4]);
  b.node("Relu", ["x"], {}, ["r"]);
  b.node("MatMul", ["r", "S"], {}, ["m"]);
  b.node("Add", ["m", "B"], {}, ["y"]);
  b.output("y", "float32", ["n", 4]);
  const m = b.build();
  m.graph!.sparseInitializer.push(
    create(SparseTensorProtoSchema, {
      values: makeTensor("S", "float32", [3], Float32Array.from([2, -1, 0.5])),
      indices: makeTensor("S_idx", "int64", [3], BigInt64Array.from([0n, 5n, 14n])), // linear positions
      dims: [4n, 4n],
    }),
    create(SparseTensorProtoSchema, {
      values: makeTensor("B", "float32", [1], Float32Array.from([3])),
      indices: makeTensor("B_idx", "int64", [1, 1], BigInt64Array.from([2n])), // [NNZ, rank] form
      dims: [4n],
    }),
  );
  return m;
}

test("sparse initializers are indexed, go to the segment that reads them, and the split runs in onnxruntime", async (t) => {
  const g = Graph.fromModel(sparseModel(), ".");
  assert.deepEqual([...g.sparseInitializers.keys()], ["S", "B"]);
  assert.equal(g.tensor("S").origin, "sparse-initializer");
  assert.deepEqual(g.tensor("S").consumers, [1]);
  assert.deepEqual(g.tensor("B").consumers, [2]);
  assert.equal(g.initializers.size, 0);
  assert.ok(constantInfo(g).tensors.has("S"));

  const early = await splitAndVerify(t, sparseModel(), [["r"]], { shapes: { x: [2, 4] } }, [{ shapes: { x: [3, 4] } }]);
  assert.deepEqual(early.p.segments.map((s) => s.weights), [[], ["B", "S"]]);
  assert.deepEqual(early.segments.map((m) => m.graph!.sparseInitializer.map((s) => s.values!.name)), [[], ["B", "S"]]);
  assert.deepEqual(early.segments.map((m) => m.graph!.initializer.length), [0, 0], "kept sparse, not densified");
  assert.deepEqual(early.m.segments.map((s) => s.weightBytes), [0, 3 * 4 + 3 * 8 + 4 + 8]);

  const late = await splitAndVerify(t, sparseModel(), [["m"]], { shapes: { x: [2, 4] } });
  assert.deepEqual(late.p.segments.map((s) => s.weights), [["S"], ["B"]]);
  assert.deepEqual(late.segments.map((m) => m.graph!.sparseInitializer.map((s) => s.values!.name)), [["S"], ["B"]]);
});

// ---------------------------------------------------------------------------------------------

const FN = "custom.fn";

function fn(name: string, nodes: { op: string; domain?: string; input: string[]; output: string[] }[]): FunctionProto {
  return create(FunctionProtoSchema, {
    name, domain: FN, input: ["X"], output: ["Y"],
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n }), create(OperatorSetIdProtoSchema, { domain: FN, version: 1n })],
    node: nodes.map((n) => create(NodeProtoSchema, { opType: n.op, domain: n.domain ?? "", input: n.input, output: n.output })),
  });
}

/**
 * x -> com.microsoft Gelu (g) -> Negate (function, a) -> Sigmoid (b) -> DoubleRelu (function calling Double) -> y.
 * Only segment 0 uses com.microsoft; only segment 1 calls DoubleRelu/Double.
 */
function domainsModel(): ModelProto {
  const b = new GraphBuilder({ name: "domains", opsets: { "com.microsoft": 1, [FN]: 1 } });
  b.input("x", "float32", ["n", 4]);
  b.node("Gelu", ["x"], {}, ["g"], { domain: "com.microsoft" });
  b.node("Negate", ["g"], {}, ["a"], { domain: FN });
  b.node("Sigmoid", ["a"], {}, ["b"]);
  b.node("DoubleRelu", ["b"], {}, ["y"], { domain: FN });
  b.output("y", "float32", ["n", 4]);
  b.functions.push(
    fn("Double", [{ op: "Add", input: ["X", "X"], output: ["Y"] }]),
    fn("Negate", [{ op: "Neg", input: ["X"], output: ["Y"] }]),
    fn("DoubleRelu", [{ op: "Double", domain: FN, input: ["X"], output: ["T"] }, { op: "Relu", input: ["T"], output: ["Y"] }]),
    fn("Unused", [{ op: "Abs", input: ["X"], output: ["Y"] }]),
  );
  return b.build();
}

test("written segments keep every opset import (com.microsoft included) and only the functions they call; the chain runs", async (t) => {
  const s = await splitAndVerify(t, domainsModel(), [["a"]], { shapes: { x: [2, 4] } }, [{ shapes: { x: [5, 4] } }]);
  for (const m of s.segments) {
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, o.version]), [["", 17n], ["com.microsoft", 1n], [FN, 1n]]);
  }
  assert.deepEqual(s.segments.map((m) => m.graph!.node.map((n) => `${n.domain}:${n.opType}`)), [["com.microsoft:Gelu", `${FN}:Negate`], [":Sigmoid", `${FN}:DoubleRelu`]]);
  assert.deepEqual(s.segments.map((m) => m.functions.map((f) => f.name)), [["Negate"], ["Double", "DoubleRelu"]]);
  // A three-way split puts Negate alone in the middle segment.
  const s3 = await splitAndVerify(t, domainsModel(), [["g"], ["b"]], { shapes: { x: [2, 4] } });
  assert.deepEqual(s3.segments.map((m) => m.functions.map((f) => f.name)), [[], ["Negate"], ["Double", "DoubleRelu"]]);
  for (const m of s3.segments) assert.equal(m.opsetImport.length, 3);
});

// ---------------------------------------------------------------------------------------------

/** A bool scalar, in raw_data or (typed) in int32_data. */
function boolTensor(name: string, v: boolean, typed = false): TensorProto {
  return typed
    ? create(TensorProtoSchema, { name, dataType: DT.BOOL, dims: [], int32Data: [v ? 1 : 0] })
    : create(TensorProtoSchema, { name, dataType: DT.BOOL, dims: [], rawData: Uint8Array.from([v ? 1 : 0]) });
}

/** One Dropout (or random op) node over x, with the given inputs and extra initializers/nodes. */
function dropoutGraph(inputs: string[], setup: (b: GraphBuilder) => void = () => {}): Graph {
  const b = new GraphBuilder({ name: "drop" });
  b.input("x", "float32", [2, 4]);
  b.initializer("ratio", "float32", [], Float32Array.from([0.5]));
  setup(b);
  b.node("Dropout", inputs, {}, ["y", ""]);
  b.output("y", "float32", [2, 4]);
  return Graph.fromModel(b.build(), ".");
}

test("warnings: training-mode Dropout and random ops warn; inference-mode Dropout does not", () => {
  const warnsTraining = (g: Graph): boolean => g.warnings.some((w) => w.includes("Dropout") && w.includes("training mode"));
  // Inference mode: no training_mode input, omitted, or a constant false (raw or typed field, initializer or Constant).
  for (const [label, g] of [
    ["x only", dropoutGraph(["x"])],
    ["x, ratio", dropoutGraph(["x", "ratio"])],
    ["x, '', ''", dropoutGraph(["x", "", ""])],
    ["x, ratio, ''", dropoutGraph(["x", "ratio", ""])],
    ["false initializer", dropoutGraph(["x", "ratio", "tm"], (b) => b.initializers.push(boolTensor("tm", false)))],
    ["false initializer, ratio omitted", dropoutGraph(["x", "", "tm"], (b) => b.initializers.push(boolTensor("tm", false)))],
    ["false in int32_data", dropoutGraph(["x", "ratio", "tm"], (b) => b.initializers.push(boolTensor("tm", false, true)))],
    ["false Constant node", dropoutGraph(["x", "ratio", "tm"], (b) => { b.node("Constant", [], { value: boolTensor("", false) }, ["tm"]); })],
  ] as const) {
    assert.deepEqual(g.warnings, [], `${label}: ${JSON.stringify(g.warnings)}`);
  }
  // Training mode (or maybe): true, a model input, true with the ratio omitted.
  for (const [label, g] of [
    ["true initializer", dropoutGraph(["x", "ratio", "tm"], (b) => b.initializers.push(boolTensor("tm", true)))],
    ["true in int32_data", dropoutGraph(["x", "ratio", "tm"], (b) => b.initializers.push(boolTensor("tm", true, true)))],
    ["true Constant node", dropoutGraph(["x", "ratio", "tm"], (b) => { b.node("Constant", [], { value: boolTensor("", true) }, ["tm"]); })],
    ["model input", dropoutGraph(["x", "ratio", "tm"], (b) => { b.input("tm", "bool", []); })],
    ["true, ratio omitted", dropoutGraph(["x", "", "tm"], (b) => b.initializers.push(boolTensor("tm", true)))],
    ["model input, ratio omitted", dropoutGraph(["x", "", "tm"], (b) => { b.input("tm", "bool", []); })],
  ] as const) {
    assert.ok(warnsTraining(g), `${label} should warn: ${JSON.stringify(g.warnings)}`);
    const w = g.warnings.find((x) => x.includes("Dropout"))!;
    assert.match(w, /node #\d+ \(Dropout\)/);
  }

  const b = new GraphBuilder({ name: "random" });
  b.input("x", "float32", [2, 4]);
  b.node("RandomNormal", [], { shape: [2, 4] }, ["rn"]);
  b.node("RandomUniformLike", ["x"], {}, ["ru"]);
  b.node("Add", ["rn", "ru"], {}, ["s"]);
  b.node("Add", ["s", "x"], {}, ["y"]);
  b.output("y", "float32", [2, 4]);
  const g = Graph.fromModel(b.build(), ".");
  assert.equal(g.warnings.length, 2, JSON.stringify(g.warnings));
  assert.match(g.warnings[0]!, /node #0 \(RandomNormal\)/);
  assert.match(g.warnings[1]!, /node #1 \(RandomUniformLike\)/);
  // RandomNormal has no inputs but is not a constant: its output may not be folded into segments.
  assert.ok(!constantInfo(g).tensors.has("rn"));
});

// ---------------------------------------------------------------------------------------------

function renamed(file: string, label: string, dir: string): string {
  const m = loadModel(file);
  for (const n of m.proto.graph!.node) n.name = label;
  const out = path.join(dir, `renamed-${label || "empty"}.onnx`);
  saveModel(m.proto, out, { sourceDir: m.dir });
  return out;
}

/** A segment model's bytes with its node names blanked (everything else as written). */
function withoutNames(m: ModelProto): Uint8Array {
  const copy = create(ModelProtoSchema, { ...m, graph: create(GraphProtoSchema, { ...m.graph!, node: m.graph!.node.map((n) => create(NodeProtoSchema, { ...n, name: "" })) }) });
  return toBinary(ModelProtoSchema, copy);
}

test("node names identify nothing: gpt2-tiny with every node named \"n\", or unnamed, splits 3-way exactly like the original", async (t) => {
  const dir = tmpDir(t);
  const at = { shapes: { input_ids: [1, 8], attention_mask: [1, 8] } };
  const other = { shapes: { input_ids: [2, 5], attention_mask: [2, 5] } };
  const plan = (file: string): string[][] => {
    const g = Graph.load(file);
    const a = analyze(g, at);
    const cands = candidateCuts(g, a.metrics, { constants: a.constants });
    return segmentByBalance(g, a.metrics, 3, "flops", cands).map((i) => cands[i]!.tensors.map((x) => x.name));
  };
  const original = plan(GPT2);
  assert.equal(original.length, 2);
  const layout = (m: Manifest): unknown => ({ cuts: m.cuts, segments: m.segments.map((s) => ({ ...s, sha256: "" })), sharedWeights: m.sharedWeights });
  const ref = await splitAndVerify(t, GPT2, original, at, [other]);
  assert.ok(new Set(ref.g.nodes.map((n) => n.proto.name)).size === ref.g.nodes.length, "the fixture's own names are unique");

  // Unnamed nodes: a valid model; it splits the same way and verifies in onnxruntime.
  const unnamed = renamed(GPT2, "", dir);
  assert.deepEqual(plan(unnamed), original, "unnamed: the same cuts are found");
  const s = await splitAndVerify(t, unnamed, original, at, [other]);
  assert.deepEqual(layout(s.m), layout(ref.m));
  s.segments.forEach((m, i) => {
    assert.ok(m.graph!.node.every((n) => n.name === ""));
    assert.ok(Buffer.from(withoutNames(m)).equals(Buffer.from(withoutNames(ref.segments[i]!))), `unnamed: segment ${i} equals the original's but for names`);
  });

  // Every node named "n": onnxruntime refuses the model itself ("two nodes with same node name"; the ONNX IR
  // wants unique node names), so it cannot be run. edgecut must still split it exactly like the original:
  // segments identical to the verified ones but for the names, which are written as they were.
  const dup = renamed(GPT2, "n", dir);
  const g = Graph.load(dup);
  assert.equal(g.nodes.length, ref.g.nodes.length);
  assert.deepEqual(g.order, ref.g.order);
  assert.deepEqual(plan(dup), original, "all \"n\": the same cuts are found");
  const a = analyze(g, at);
  const p = partition(g, 3, assignmentFromFronts(g, original.map((c) => frontOf(g, c, a.constants)), a.constants), a.constants);
  assert.deepEqual(p.segments, ref.p.segments);
  const out = path.join(dir, "split-n");
  const m = await writeSplit(g, p, out, {
    modelPath: dup, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  checkOutputsOnce(m);
  assert.deepEqual(layout(m), layout(ref.m));
  m.segments.forEach((seg, i) => {
    const sm = loadModel(path.join(out, seg.file)).proto;
    assert.ok(sm.graph!.node.every((n) => n.name === "n"));
    assert.ok(Buffer.from(withoutNames(sm)).equals(Buffer.from(withoutNames(ref.segments[i]!))), `all "n": segment ${i} equals the original's but for names`);
  });
});

/** A small model whose three nodes are all named "n" and would collide in any name-keyed map. */
test("a hand-built graph with duplicate node names indexes and partitions by position", () => {
  const b = new GraphBuilder({ name: "dups" });
  b.input("x", "float32", [2, 4]);
  b.node("Relu", ["x"], {}, ["a"], { name: "n" });
  b.node("Neg", ["a"], {}, ["b"], { name: "n" });
  b.node("Abs", ["b"], {}, ["y"], { name: "n" });
  b.output("y", "float32", [2, 4]);
  const g = Graph.fromModel(b.build(), ".");
  assert.deepEqual(g.nodes.map((n) => [n.index, n.opType]), [[0, "Relu"], [1, "Neg"], [2, "Abs"]]);
  assert.deepEqual(g.tensor("b").consumers, [2]);
  const c = constantInfo(g);
  const p = partition(g, 3, (i) => i, c);
  assert.deepEqual(p.segments.map((s) => [s.nodes, s.inputs, s.outputs]), [[[0], ["x"], ["a"]], [[1], ["a"], ["b"]], [[2], ["b"], ["y"]]]);
  assert.deepEqual([...frontOf(g, ["b"], c)].sort(), [0, 1]);
});
