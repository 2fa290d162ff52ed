import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  FunctionProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, SparseTensorProtoSchema, StringStringEntryProtoSchema,
  ValueInfoProtoSchema,
  type FunctionProto, type ModelProto, type ValueInfoProto,
} from "../../sdk/graph/onnx/onnx_pb.js";
import { Graph } from "../../sdk/graph/graph.js";
import { constantInfo, frontOf, partition, type Partition, type SegmentIO } from "../../sdk/graph/partition.js";
import { extractSegment } from "../../sdk/graph/segment.js";
import { usedFunctions } from "../../sdk/graph/functions.js";
import { saveModel } from "../../sdk/graph/model-io.js";
import { GraphBuilder, makeTensor, makeValueInfo, type Dim } from "../../sdk/graph/builder.js";
import { EdgecutError } from "../../sdk/errors.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";

const FN = "custom.fn";
const noTypes = (): ValueInfoProto | undefined => undefined;

function splitAfter(g: Graph, tensor: string): Partition {
  const c = constantInfo(g);
  const front = frontOf(g, [tensor], c);
  return partition(g, 2, (i) => (front.has(i) ? 0 : 1), c);
}

function fn(name: string, nodes: { op: string; domain?: string; input: string[]; output: string[] }[]): FunctionProto {
  return create(FunctionProtoSchema, {
    name, domain: FN, input: ["X"], output: ["Y"],
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n }), create(OperatorSetIdProtoSchema, { domain: FN, version: 1n })],
    node: nodes.map((n) => create(NodeProtoSchema, { opType: n.op, domain: n.domain ?? "", input: n.input, output: n.output })),
  });
}

/**
 * x -> Negate (function) -> a -> Sigmoid -> b -> DoubleRelu (function calling Double) -> y.
 * Functions are declared [Double, Negate, DoubleRelu, Unused]; com.microsoft is imported but unused.
 */
function functionModel(): ModelProto {
  const b = new GraphBuilder({ name: "fns", opsets: { [FN]: 1, "com.microsoft": 1 } });
  const x = b.input("x", "float32", ["batch", 4]);
  const a = b.op("Negate", [x], {}, { domain: FN, output: "a" });
  const s = b.op("Sigmoid", [a], {}, { output: "b" });
  b.op("DoubleRelu", [s], {}, { domain: FN, output: "y" });
  b.output("y", "float32", ["batch", 4]);
  b.functions.push(
    fn("Double", [{ op: "Add", input: ["X", "X"], output: ["Y"] }]),
    fn("Negate", [{ op: "Neg", input: ["X"], output: ["Y"] }]),
    fn("DoubleRelu", [{ op: "Double", domain: FN, input: ["X"], output: ["T"] }, { op: "Relu", input: ["T"], output: ["Y"] }]),
    fn("Unused", [{ op: "Abs", input: ["X"], output: ["Y"] }]),
  );
  const m = b.build();
  m.metadataProps.push(create(StringStringEntryProtoSchema, { key: "author", value: "test" }));
  m.docString = "doc";
  m.domain = "org.example";
  m.modelVersion = 7n;
  return m;
}

async function run(file: string, feeds: TensorMap): Promise<TensorMap> {
  const s = await OrtSession.create(file);
  const r = await s.run(feeds);
  await s.release();
  return r;
}

function symbolic(name: string, dims: Dim[]): (n: string) => ValueInfoProto | undefined {
  return (n) => (n === name ? makeValueInfo(n, "float32", dims) : undefined);
}

test("a segment carries only the model-local functions it calls, following calls between functions", async (t) => {
  const g = Graph.fromModel(functionModel(), ".");
  const p = splitAfter(g, "b");
  const typeOf = symbolic("b", ["batch", 4]);
  const [m0, m1] = p.segments.map((s) => extractSegment(g, s, typeOf)) as [ModelProto, ModelProto];
  assert.deepEqual(m0.functions.map((f) => f.name), ["Negate"]);
  assert.deepEqual(m1.functions.map((f) => f.name), ["Double", "DoubleRelu"], "model order, callee included");
  assert.equal(m1.functions[0], g.model.functions[0], "the FunctionProto itself, not a copy");
  assert.deepEqual(usedFunctions(g, []), []);
  assert.deepEqual(usedFunctions(g, g.order).map((f) => f.name), ["Double", "Negate", "DoubleRelu"]);

  for (const m of [m0, m1]) {
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, o.version]), [["", 17n], [FN, 1n], ["com.microsoft", 1n]]);
    assert.equal(m.irVersion, 8n);
    assert.deepEqual([m.producerName, m.producerVersion, m.docString, m.domain, m.modelVersion], ["edgecut", "0.1.0", "doc", "org.example", 7n]);
    assert.deepEqual(m.metadataProps.map((e) => [e.key, e.value]), [["author", "test"]]);
  }
  assert.deepEqual([m0.graph!.name, m1.graph!.name], ["fns_seg0", "fns_seg1"]);

  // Both segments load and run on their own in onnxruntime, and chain to the whole model.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-seg-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = [m0, m1].map((m, i) => {
    const f = path.join(dir, `s${i}.onnx`);
    saveModel(m, f, { sourceDir: "." });
    return f;
  });
  const whole = path.join(dir, "whole.onnx");
  saveModel(g.model, whole, { sourceDir: "." });
  const x: HostTensor = { type: "float32", dims: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 3 - 2) };
  const expected = (await run(whole, { x })).y!.data as Float32Array;
  const mid = await run(files[0]!, { x });
  const got = (await run(files[1]!, { b: mid.b! })).y!.data as Float32Array;
  assert.ok(expected.some((v) => v > 0));
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(expected[i]! - got[i]!) < 1e-6);
});

test("functions called from inside an If branch are found", () => {
  const then = new GraphBuilder({ name: "then" });
  then.op("Negate", ["x"], {}, { domain: FN, output: "t" });
  then.output("t", "float32", null);
  const els = new GraphBuilder({ name: "else" });
  els.op("Identity", ["x"], {}, { output: "e" });
  els.output("e", "float32", null);
  const b = new GraphBuilder({ opsets: { [FN]: 1 } });
  b.input("x", "float32", [4]);
  b.input("c", "bool", []);
  b.op("If", ["c"], { then_branch: then.graph(), else_branch: els.graph() }, { output: "y" });
  b.output("y", "float32", null);
  b.functions.push(fn("Negate", [{ op: "Neg", input: ["X"], output: ["Y"] }]), fn("Other", [{ op: "Abs", input: ["X"], output: ["Y"] }]));
  const g = Graph.fromModel(b.build(), ".");
  assert.deepEqual(usedFunctions(g, [0]).map((f) => f.name), ["Negate"]);
});

/** x -> Relu(a) -> MatMul W (b) -> Sigmoid (c) -> Abs (y), with value_info for a, b, c and a stale "ghost". */
function chainModel(): ModelProto {
  const b = new GraphBuilder({ name: "chain" });
  b.input("x", "float32", ["batch", 4]);
  b.initializer("W", "float32", [4, 4], Float32Array.from({ length: 16 }, (_, i) => (i % 5) - 2));
  b.initializer("V", "float32", [4], Float32Array.from([1, 2, 3, 4]));
  b.op("Relu", ["x"], {}, { output: "a" });
  b.op("MatMul", ["a", "W"], {}, { output: "b" });
  b.op("Sigmoid", ["b"], {}, { output: "c" });
  b.op("Add", ["c", "V"], {}, { output: "y" });
  b.output("y", "float32", ["batch", 4]);
  for (const n of ["a", "b", "c", "ghost"]) b.valueInfo.push(makeValueInfo(n, "float32", [2, 4]));
  return b.build();
}

test("value_info keeps only tensors inside the segment that are not its inputs or outputs", () => {
  const g = Graph.fromModel(chainModel(), ".");
  const p = splitAfter(g, "b");
  const [m0, m1] = p.segments.map((s) => extractSegment(g, s, noTypes)) as [ModelProto, ModelProto];
  assert.deepEqual(m0.graph!.valueInfo.map((v) => v.name), ["a"]);
  assert.deepEqual(m1.graph!.valueInfo.map((v) => v.name), ["c"]);
  // Nodes and weights are the source's own messages (a shared data-file writer dedupes by identity).
  assert.deepEqual(m0.graph!.node.map((n) => n.opType), ["Relu", "MatMul"]);
  assert.equal(m0.graph!.node[1], g.nodes[1]!.proto);
  assert.deepEqual(m0.graph!.initializer, [g.initializers.get("W")]);
  assert.equal(m0.graph!.initializer[0], g.initializers.get("W"));
  assert.deepEqual(m1.graph!.initializer.map((t) => t.name), ["V"]);
  assert.deepEqual(m1.graph!.input.map((v) => v.name), ["b"]);
  assert.deepEqual(m1.graph!.output.map((v) => v.name), ["y"]);
  assert.equal(g.model.graph!.valueInfo.length, 4, "the source is not modified");
});

function dimsOf(v: ValueInfoProto): (string | bigint | undefined)[] | null {
  const t = v.type?.value;
  if (t?.case !== "tensorType") return null;
  return t.value.shape ? t.value.shape.dim.map((d) => d.value.value) : null;
}

test("segment I/O types: typeOf first, then the model's declaration, then the tensor's own type; unknown is an error", () => {
  const g = Graph.fromModel(chainModel(), ".");
  const p = splitAfter(g, "b");
  // typeOf's symbolic shape wins over the model's stale concrete value_info [2,4].
  const m1 = extractSegment(g, p.segments[1]!, symbolic("b", ["batch", 4]));
  assert.deepEqual(dimsOf(m1.graph!.input[0]!), ["batch", 4n]);
  assert.deepEqual(dimsOf(m1.graph!.output[0]!), ["batch", 4n], "model output: declared type");
  const fallback = extractSegment(g, p.segments[1]!, noTypes);
  assert.deepEqual(dimsOf(fallback.graph!.input[0]!), [2n, 4n]);

  // A model output that is a weight: typed from the initializer, shape left open.
  const b = new GraphBuilder();
  b.input("x", "float32", [4]);
  b.initializer("K", "float32", [4], new Float32Array(4));
  b.op("Relu", ["x"], {}, { output: "r" });
  b.op("Neg", ["r"], {}, { output: "n" });
  b.output("n", "float32", [4]);
  b.outputs.push(create(ValueInfoProtoSchema, { name: "K" }));
  const g2 = Graph.fromModel(b.build(), ".");
  const p2 = splitAfter(g2, "r");
  const s0 = extractSegment(g2, p2.segments[0]!, symbolic("r", [4]));
  const k = s0.graph!.output.find((v) => v.name === "K")!;
  assert.equal(k.type?.value.case === "tensorType" ? k.type.value.value.elemType : -1, 1);
  assert.equal(dimsOf(k), null);
  // "r" has no declaration anywhere.
  assert.throws(() => extractSegment(g2, p2.segments[1]!, noTypes), (e: unknown) => e instanceof EdgecutError && e.code === "E_SHAPE_INFERENCE" && e.message.includes('"r"'));
});

test("sparse initializers ride along with the segment that uses them", () => {
  const b = new GraphBuilder();
  b.input("x", "float32", [2, 4]);
  b.op("Relu", ["x"], {}, { output: "r" });
  b.op("MatMul", ["r", "S"], {}, { output: "y" });
  b.output("y", "float32", [2, 4]);
  const m = b.build();
  m.graph!.sparseInitializer.push(create(SparseTensorProtoSchema, {
    values: makeTensor("S", "float32", [2], Float32Array.from([1, 2])),
    indices: makeTensor("", "int64", [2], BigInt64Array.from([0n, 5n])),
    dims: [4n, 4n],
  }));
  const g = Graph.fromModel(m, ".");
  const p = splitAfter(g, "r");
  const [m0, m1] = p.segments.map((s) => extractSegment(g, s, symbolic("r", [2, 4]))) as [ModelProto, ModelProto];
  assert.deepEqual(m0.graph!.sparseInitializer, []);
  assert.equal(m1.graph!.sparseInitializer[0], m.graph!.sparseInitializer[0]);
  assert.deepEqual(m1.graph!.initializer, []);
});

test("a segment naming a node or weight the graph lacks is an internal error", () => {
  const g = Graph.fromModel(chainModel(), ".");
  const seg = splitAfter(g, "b").segments[0]!;
  const bad = (patch: Partial<SegmentIO>): void => {
    assert.throws(() => extractSegment(g, { ...seg, ...patch }, noTypes), (e: unknown) => e instanceof EdgecutError && e.code === "E_INTERNAL");
  };
  bad({ nodes: [0, 99] });
  bad({ weights: ["W", "nope"] });
});

test('a function declared in domain "ai.onnx" is the one a "" node calls (and the other way round): one key for both spellings', () => {
  const b = new GraphBuilder();
  b.input("x", "float32", [4]);
  b.op("MyNeg", ["x"], {}, { output: "a" });
  b.op("MyAbs", ["a"], {}, { domain: "ai.onnx", output: "y" });
  b.output("y", "float32", [4]);
  const neg = fn("MyNeg", [{ op: "Neg", input: ["X"], output: ["Y"] }]);
  const abs = fn("MyAbs", [{ op: "Abs", input: ["X"], output: ["Y"] }]);
  neg.domain = "ai.onnx";
  abs.domain = "";
  b.functions.push(neg, abs);
  const g = Graph.fromModel(b.build(), ".");
  assert.equal(g.nodes[0]!.fn, neg);
  assert.equal(g.nodes[1]!.fn, abs);
  assert.deepEqual(usedFunctions(g, [0]), [neg]);
  assert.deepEqual(usedFunctions(g, [1]), [abs]);
});
