// analyze(): declared dims that are not plain names (-1, names with "-" or "/"), and weight bytes
// of sparse initializers in the cut metrics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder, makeTensor, type Dim } from "../../sdk/graph/builder.js";
import { analyze } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { initializerBytes, weightByteSize } from "../../sdk/graph/model-io.js";
import { SparseTensorProtoSchema, TensorProtoSchema } from "../../sdk/graph/onnx/onnx_pb.js";
import { DT } from "../../sdk/graph/dtypes.js";
import { EdgecutError } from "../../sdk/errors.js";

/** x [first, 8] -> MatMul w [8, 8] -> Relu -> y [first, 8]. */
function mlp(first: Dim): Graph {
  const b = new GraphBuilder();
  b.input("x", "float32", [first, 8]);
  b.initializer("w", "float32", [8, 8], new Float32Array(64));
  b.op("Relu", [b.op("MatMul", ["x", "w"])], {}, { output: "y" });
  b.output("y", "float32", [first, 8]);
  return Graph.fromModel(b.build(), ".");
}

const badShape = (text: string) => (e: unknown): boolean => e instanceof EdgecutError && e.code === "E_BAD_SHAPE_FLAG" && e.message.includes(text);

test("a dim declared -1 is unknown: it counts as 1 unless --shape gives it; the fixed dims are still checked", () => {
  const g = mlp(-1);
  const a = analyze(g);
  assert.deepEqual(a.inputShapes, { x: [1, 8] });
  assert.deepEqual(a.assumedDims, [], "an unnamed dim has no name to report or bind with --dim");
  assert.deepEqual(a.symbolic.types.get("x")?.dims, [null, 8]);
  assert.deepEqual(a.concrete.types.get("y")?.dims, [1, 8]);
  const b = analyze(g, { shapes: { x: [2, 8] } });
  assert.deepEqual(b.inputShapes, { x: [2, 8] });
  assert.deepEqual(b.concrete.types.get("y")?.dims, [2, 8]);
  assert.equal(b.metrics.tensorBytes("y"), 64);
  assert.throws(() => analyze(g, { shapes: { x: [2, 9] } }), badShape("dim 1 is fixed at 8"));
  assert.throws(() => analyze(g, { shapes: { x: [2] } }), badShape("rank 2 (?x8)"));
});

test('a dim_param with "-" or "/" is one name, not arithmetic', () => {
  const a = analyze(mlp("batch-size"));
  assert.deepEqual(a.inputShapes, { x: [1, 8] });
  assert.deepEqual(a.assumedDims, ["batch-size"]);
  assert.deepEqual(a.dims, { "batch-size": 1 });
  assert.deepEqual(a.symbolic.types.get("y")?.dims, ["batch-size", 8]);
  assert.deepEqual(analyze(mlp("batch-size"), { dims: { "batch-size": 3 } }).inputShapes, { x: [3, 8] });
  const s = analyze(mlp("seq/len"), { shapes: { x: [5, 8] } });
  assert.deepEqual(s.dims, { "seq/len": 5 });
  assert.deepEqual(s.assumedDims, []);
  assert.deepEqual(s.concrete.types.get("y")?.dims, [5, 8]);
  assert.throws(() => analyze(mlp("batch-size"), { dims: { batch: 2 } }), badShape('its dims are batch-size'));
});

test("sparse initializers count in weight bytes: cost totals, cut metrics and front weights", () => {
  const b = new GraphBuilder();
  b.input("x", "float32", [2, 4]);
  b.initializer("w", "float32", [4, 4], new Float32Array(16));
  b.op("Relu", [b.op("MatMul", ["x", "S"])], {}, { output: "h" });
  b.op("Relu", [b.op("MatMul", ["h", "w"])], {}, { output: "y" });
  b.output("y", "float32", [2, 4]);
  const m = b.build();
  const sparse = create(SparseTensorProtoSchema, {
    values: makeTensor("S", "float32", [2], Float32Array.from([1, 2])),
    indices: makeTensor("", "int64", [2], BigInt64Array.from([0n, 5n])),
    dims: [4n, 4n],
  });
  m.graph!.sparseInitializer.push(sparse);
  const g = Graph.fromModel(m, ".");
  assert.equal(weightByteSize(sparse), 8 + 16, "values plus indices");
  assert.equal(weightByteSize(g.initializers.get("w")!), 64);
  const text = create(TensorProtoSchema, { name: "s", dataType: DT.STRING, dims: [2n], stringData: [new TextEncoder().encode("ab"), new TextEncoder().encode("cde")] });
  assert.equal(weightByteSize(text), 5, "a string tensor: its strings' bytes");
  assert.equal(initializerBytes(g, "S"), 24);
  assert.equal(initializerBytes(g, "nope"), 0);
  const a = analyze(g);
  assert.equal(a.metrics.weightBytes("S"), 24);
  assert.equal(a.cost.weightBytes, 64 + 24);
  // The sparse weight is in the front of the cut at h (analyze used to count it as 0 there).
  const afterH = candidateCuts(g, a.metrics, { constants: a.constants }).find((c) => c.tensors.some((t) => t.name === "h"));
  assert.ok(afterH);
  assert.equal(afterH.frontWeightBytes, 24);
});
