import { test } from "node:test";
import assert from "node:assert/strict";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { Graph } from "../../sdk/graph/graph.js";
import { EdgecutError } from "../../sdk/errors.js";
import { create } from "@bufbuild/protobuf";
import { NodeProtoSchema } from "../../sdk/graph/onnx/onnx_pb.js";

function chain(): GraphBuilder {
  const b = new GraphBuilder();
  const x = b.input("x", "float32", ["batch", 4]);
  const w = b.initializer("w", "float32", [4, 4], new Float32Array(16));
  const y = b.op("MatMul", [x, w], {}, { output: "y" });
  const z = b.op("Relu", [y], {}, { output: "z" });
  b.output(z, "float32", ["batch", 4]);
  return b;
}

test("indexes producers, consumers, inputs and weights", () => {
  const g = Graph.fromModel(chain().build(), ".");
  assert.deepEqual(g.inputs, ["x"]);
  assert.deepEqual(g.outputs, ["z"]);
  assert.equal(g.tensor("w").origin, "initializer");
  assert.equal(g.tensor("y").producer, 0);
  assert.deepEqual(g.tensor("y").consumers, [1]);
  assert.deepEqual(g.order, [0, 1]);
});

test("an initializer listed in graph.input is a weight, not an input", () => {
  const b = chain();
  b.input("w", "float32", [4, 4]);
  const g = Graph.fromModel(b.build(), ".");
  assert.deepEqual(g.inputs, ["x"]);
});

test("file order that is not topological is reordered", () => {
  const b = chain();
  b.nodes.reverse();
  const g = Graph.fromModel(b.build(), ".");
  assert.deepEqual(g.order, [1, 0]);
});

test("a cycle is an E_GRAPH_CYCLE error naming a tensor", () => {
  const b = chain();
  b.nodes[0]!.input[0] = "z";
  assert.throws(() => Graph.fromModel(b.build(), "."), (e: unknown) => e instanceof EdgecutError && e.code === "E_GRAPH_CYCLE" && /"[yz]"/.test(e.message));
});

test("two producers of one tensor, duplicate initializers and dangling reads are named", () => {
  const b1 = chain();
  b1.nodes.push(create(NodeProtoSchema, { opType: "Relu", input: ["x"], output: ["y"] }));
  assert.throws(() => Graph.fromModel(b1.build(), "."), (e: unknown) => e instanceof EdgecutError && e.code === "E_DUPLICATE_PRODUCER" && e.message.includes('"y"'));
  const b2 = chain();
  b2.initializer("w", "float32", [1], new Float32Array(1));
  assert.throws(() => Graph.fromModel(b2.build(), "."), (e: unknown) => e instanceof EdgecutError && e.code === "E_DUPLICATE_INITIALIZER");
  const b3 = chain();
  b3.nodes[1]!.input[0] = "nope";
  assert.throws(() => Graph.fromModel(b3.build(), "."), (e: unknown) => e instanceof EdgecutError && e.code === "E_DANGLING_INPUT" && e.message.includes('"nope"'));
});

test("subgraph reads of outer tensors are implicit inputs of the If node", () => {
  const g = Graph.load("test/fixtures/torch/control-flow.onnx");
  const iff = g.nodes.find((n) => n.opType === "If");
  assert.ok(iff);
  assert.ok(iff.implicitInputs.length >= 1);
  for (const name of iff.implicitInputs) assert.ok(g.tensor(name).consumers.includes(iff.index));
});
