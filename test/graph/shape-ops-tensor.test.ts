// Shape rules on hand-built graphs: data movement with its opset-dependent forms, value
// propagation through Shape chains, reductions, control flow and model-local functions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder, makeTensor, makeValueInfo } from "../../sdk/graph/builder.js";
import { DT } from "../../sdk/graph/dtypes.js";
import { AttributeProtoSchema, AttributeProto_AttributeType, FunctionProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema } from "../../sdk/graph/onnx/onnx_pb.js";
import { inferShapes, type ShapeOptions, type ShapeResult } from "../../sdk/graph/shapes.js";

function infer(opset: number, fn: (b: GraphBuilder) => void, opts?: ShapeOptions, opsets?: Record<string, number>): ShapeResult {
  const b = new GraphBuilder({ opset, opsets });
  fn(b);
  return inferShapes(Graph.fromModel(b.build(), "."), opts);
}
const D = (r: ShapeResult, n: string): unknown => r.types.get(n)?.dims;
const V = (r: ShapeResult, n: string): unknown => r.values.get(n);
const INT64_MAX = 9223372036854775807n;

test("Reshape: 0 copies, -1 is inferred, symbolic sizes divide exactly", () => {
  const r = infer(17, (b) => {
    b.input("x", "float32", ["batch", "seq", 64]);
    b.op("Reshape", ["x", b.constInt64([0, 0, 4, -1])], {}, { output: "r1" });
    b.op("Reshape", ["x", b.constInt64([-1, 64])], {}, { output: "r2" });
    b.op("Reshape", ["x", b.constInt64([-1, 3])], {}, { output: "r3" });
    b.op("Reshape", ["x", b.constInt64([0, 0, 64])], { allowzero: 1 }, { output: "r4" });
    b.op("Flatten", ["x"], { axis: 2 }, { output: "fl" });
    b.op("Transpose", ["x"], {}, { output: "tr" });
  });
  assert.deepEqual(D(r, "r1"), ["batch", "seq", 4, 16]);
  assert.deepEqual(D(r, "r2"), ["batch*seq", 64]);
  assert.deepEqual(D(r, "r3"), [null, 3]);
  assert.ok(r.unresolved.includes("r3"));
  assert.deepEqual(D(r, "r4"), [0, 0, 64]);
  assert.deepEqual(D(r, "fl"), ["batch*seq", 64]);
  assert.deepEqual(D(r, "tr"), [64, "seq", "batch"]);
  const c = infer(17, (b) => {
    b.input("x", "float32", ["batch", "seq", 64]);
    b.op("Reshape", ["x", b.constInt64([-1, 64])], {}, { output: "r2" });
  }, { dims: { batch: 2, seq: 5 } });
  assert.deepEqual(D(c, "r2"), [10, 64]);
});

test("Unsqueeze/Squeeze/ReduceSum: axes as attribute before opset 13, as input from 13", () => {
  const build = (opset: number) => infer(opset, (b) => {
    b.input("x", "float32", [3, 1, 4]);
    const axIn = opset >= 13;
    b.op("Unsqueeze", axIn ? ["x", b.constInt64([0, -1])] : ["x"], axIn ? {} : { axes: [0, -1] }, { output: "u" });
    b.op("Squeeze", axIn ? ["x", b.constInt64([1])] : ["x"], axIn ? {} : { axes: [1] }, { output: "s" });
    b.op("Squeeze", ["x"], {}, { output: "sall" });
    b.op("ReduceSum", axIn ? ["x", b.constInt64([2])] : ["x"], axIn ? { keepdims: 0 } : { axes: [2], keepdims: 0 }, { output: "rs" });
    b.op("ReduceSum", ["x"], {}, { output: "rall" });
    b.op("Squeeze", axIn ? ["x", b.constInt64([0])] : ["x"], axIn ? {} : { axes: [0] }, { output: "sbad" });
  });
  for (const opset of [11, 13]) {
    const r = build(opset);
    assert.deepEqual(D(r, "u"), [1, 3, 1, 4, 1], `opset ${opset}`);
    assert.deepEqual(D(r, "s"), [3, 4]);
    assert.deepEqual(D(r, "sall"), [3, 4]);
    assert.deepEqual(D(r, "rs"), [3, 1]);
    assert.deepEqual(D(r, "rall"), [1, 1, 1]);
    assert.ok(r.unresolved.includes("sbad"), "squeezing a dim of 3 is a broken model");
  }
});

test("ReduceMean takes axes as an attribute up to opset 17 and as an input from 18; noop_with_empty_axes", () => {
  const r17 = infer(17, (b) => {
    b.input("x", "float32", [2, 3, 4]);
    b.op("ReduceMean", ["x"], { axes: [-1] }, { output: "m" });
  });
  assert.deepEqual(D(r17, "m"), [2, 3, 1]);
  const r18 = infer(18, (b) => {
    b.input("x", "float32", [2, 3, 4]);
    b.op("ReduceMean", ["x", b.constInt64([1])], { keepdims: 0 }, { output: "m" });
    b.op("ReduceMean", ["x"], { noop_with_empty_axes: 1 }, { output: "noop" });
    b.op("ReduceMax", ["x"], {}, { output: "mx" });
    b.op("ArgMax", ["x"], { axis: 1, keepdims: 0 }, { output: "am" });
  });
  assert.deepEqual(D(r18, "m"), [2, 4]);
  assert.deepEqual(D(r18, "noop"), [2, 3, 4]);
  assert.deepEqual(D(r18, "mx"), [1, 1, 1]);
  assert.deepEqual(r18.types.get("am"), { elemType: DT.INT64, dims: [2, 4] });
});

test("Split: attribute (opset 11), input (13), equal parts, num_outputs (18)", () => {
  const r11 = infer(11, (b) => {
    b.input("x", "float32", ["b", 8]);
    b.node("Split", ["x"], { axis: 1, split: [2, 6] }, ["a", "c"]);
  });
  assert.deepEqual([D(r11, "a"), D(r11, "c")], [["b", 2], ["b", 6]]);
  const r13 = infer(13, (b) => {
    b.input("x", "float32", ["b", 8]);
    b.node("Split", ["x", b.constInt64([3, 5])], { axis: -1 }, ["a", "c"]);
    b.node("Split", ["x"], { axis: 1 }, ["e", "f"]);
    b.input("shape", "int64", [6]);
    b.node("Split", ["shape", b.constInt64([2, 4])], {}, ["s1", "s2"]);
  });
  assert.deepEqual([D(r13, "a"), D(r13, "c"), D(r13, "e"), D(r13, "f")], [["b", 3], ["b", 5], ["b", 4], ["b", 4]]);
  const r18 = infer(18, (b) => {
    b.input("x", "float32", ["b", 8]);
    b.node("Split", ["x"], { axis: 1, num_outputs: 3 }, ["a", "c", "e"]);
  });
  assert.deepEqual([D(r18, "a"), D(r18, "c"), D(r18, "e")], [["b", 3], ["b", 3], ["b", 2]]);
});

test("Slice: attributes before opset 10, inputs after; negative, open-ended, strided, reversed, symbolic", () => {
  const r9 = infer(9, (b) => {
    b.input("x", "float32", [10, 20]);
    b.op("Slice", ["x"], { starts: [2, -5], ends: [100, -1], axes: [0, 1] }, { output: "s" });
  });
  assert.deepEqual(D(r9, "s"), [8, 4]);
  const r = infer(13, (b) => {
    b.input("x", "float32", [10, 20]);
    b.input("y", "float32", ["n", 20]);
    b.initializer("big", "int64", [1], BigInt64Array.from([INT64_MAX]));
    b.op("Slice", ["x", b.constInt64([1]), b.constInt64([-1]), b.constInt64([1]), b.constInt64([3])], {}, { output: "st" });
    b.op("Slice", ["x", b.constInt64([-1]), b.constInt64([-11]), b.constInt64([0]), b.constInt64([-1])], {}, { output: "rev" });
    b.op("Slice", ["y", b.constInt64([2]), "big", b.constInt64([0])], {}, { output: "sy" });
    b.op("Slice", ["x", b.constInt64([2]), "big"], {}, { output: "sx" });
    b.op("Slice", ["y", b.constInt64([-3]), b.constInt64([2 ** 31 - 1]), b.constInt64([0])], {}, { output: "tail" });
  });
  assert.deepEqual(D(r, "st"), [10, 6]);
  assert.deepEqual(D(r, "rev"), [10, 20]);
  assert.deepEqual(D(r, "sy"), ["n - 2", 20]);
  assert.deepEqual(D(r, "sx"), [8, 20]);
  assert.deepEqual(D(r, "tail"), [3, 20]);
});

test("Shape chains: values flow through Shape(start/end), Gather, Slice, Concat, arithmetic and Cast", () => {
  const r = infer(15, (b) => {
    b.input("x", "float32", ["batch", "past", "seq", 16]);
    const sh = b.op("Shape", ["x"], {}, { output: "sh" });
    b.op("Shape", ["x"], { start: 1, end: -1 }, { output: "mid" });
    const past = b.op("Gather", [sh, b.constInt64([1], true)], { axis: 0 }, { output: "past" });
    const seq = b.op("Gather", [sh, b.constInt64([2], true)], { axis: 0 }, { output: "seq" });
    const total = b.op("Add", [past, seq], {}, { output: "total" });
    b.op("Sub", [total, seq], {}, { output: "back" });
    b.op("Mul", [seq, b.constInt64([4], true)], {}, { output: "four" });
    b.op("Div", ["four", b.constInt64([2], true)], {}, { output: "two" });
    b.op("Slice", [sh, b.constInt64([0]), b.constInt64([2])], {}, { output: "head" });
    b.op("Concat", ["head", b.constInt64([-1])], { axis: 0 }, { output: "cat" });
    b.op("Cast", [total], { to: DT.INT32 }, { output: "cast" });
    b.op("Size", ["x"], {}, { output: "size" });
    b.op("Equal", ["sh", b.constInt64([1, 1, 1, 16])], {}, { output: "eq" });
    b.op("Reshape", ["x", "cat"], {}, { output: "resh" });
    b.op("ConstantOfShape", ["head"], {}, { output: "zeros" });
    b.op("Range", [b.constInt64([0], true), total, b.constInt64([1], true)], {}, { output: "pos" });
    b.op("Expand", [b.constFloat([0], [1, 1]), "head"], {}, { output: "ex" });
    b.op("Tile", ["x", b.constInt64([1, 2, 1, 3])], {}, { output: "tile" });
    // the exporters' Expand idiom: Where(Equal(shape, -1), 1, shape)
    const neg = b.op("Mul", [b.op("ConstantOfShape", [b.constInt64([4])], { value: makeTensor("", "int64", [1], BigInt64Array.from([1n])) }), b.constInt64([-1], true)]);
    b.op("Where", [b.op("Equal", [sh, neg]), b.constInt64([1, 1, 1, 1]), sh], {}, { output: "target" });
    b.op("Expand", [b.constFloat([0], [1, 1, 1, 1]), "target"], {}, { output: "expanded" });
  });
  assert.deepEqual(V(r, "target"), ["batch", "past", "seq", 16]);
  assert.deepEqual(D(r, "expanded"), ["batch", "past", "seq", 16]);
  assert.deepEqual(V(r, "sh"), ["batch", "past", "seq", 16]);
  assert.deepEqual(V(r, "mid"), ["past", "seq"]);
  assert.deepEqual(D(r, "mid"), [2]);
  assert.deepEqual(V(r, "total"), ["past + seq"]);
  assert.deepEqual(D(r, "total"), []);
  assert.deepEqual(V(r, "back"), ["past"]);
  assert.deepEqual(V(r, "two"), ["2*seq"]);
  assert.deepEqual(V(r, "cat"), ["batch", "past", -1]);
  assert.deepEqual(V(r, "cast"), ["past + seq"]);
  assert.deepEqual(V(r, "size"), ["16*batch*past*seq"]);
  assert.deepEqual(V(r, "eq"), [null, null, null, 1]);
  assert.deepEqual(D(r, "resh"), ["batch", "past", "16*seq"]);
  assert.deepEqual(D(r, "zeros"), ["batch", "past"]);
  assert.deepEqual(D(r, "pos"), ["past + seq"]);
  assert.deepEqual(D(r, "ex"), ["batch", "past"]);
  assert.deepEqual(D(r, "tile"), ["batch", "2*past", "seq", 48]);
  const bound = infer(15, (b) => {
    b.input("x", "float32", ["batch", "past", "seq", 16]);
    const sh = b.op("Shape", ["x"]);
    const past = b.op("Gather", [sh, b.constInt64([1], true)]);
    const seq = b.op("Gather", [sh, b.constInt64([2], true)]);
    b.op("Range", [past, b.op("Add", [past, seq]), b.constInt64([1], true)], {}, { output: "pos" });
  }, { inputShapes: { x: [1, 3, 2, 16] } });
  assert.deepEqual(D(bound, "pos"), [2]);
  assert.deepEqual(V(bound, "pos"), [3, 4]);
});

test("Gather, GatherElements, GatherND, OneHot, TopK, CumSum, Trilu, NonZero", () => {
  const r = infer(17, (b) => {
    b.input("d", "float32", [2, 5, 7]);
    b.input("i", "int64", [3, 4]);
    b.op("Gather", ["d", "i"], { axis: 1 }, { output: "g" });
    b.op("Gather", ["d", b.constInt64([-1], true)], { axis: -1 }, { output: "gs" });
    b.op("GatherElements", ["d", b.op("Cast", [b.op("Shape", ["d"])], { to: DT.INT64 })], {}, { output: "ge" });
    b.input("nd", "int64", [2, 3, 2]);
    b.op("GatherND", ["d", "nd"], {}, { output: "gnd" });
    b.op("OneHot", ["i", b.constInt64([10], true), b.constFloat([0, 1])], { axis: -1 }, { output: "oh" });
    b.node("TopK", ["d", b.constInt64([3])], { axis: 1 }, ["tv", "ti"]);
    b.op("CumSum", ["d", b.constInt64([0], true)], {}, { output: "cs" });
    b.op("Trilu", ["d"], {}, { output: "tri" });
    b.op("NonZero", ["d"], {}, { output: "nz" });
  });
  assert.deepEqual(D(r, "g"), [2, 3, 4, 7]);
  assert.deepEqual(D(r, "gs"), [2, 5]);
  assert.deepEqual(D(r, "ge"), [3]);
  assert.deepEqual(D(r, "gnd"), [2, 3, 7]);
  assert.deepEqual(D(r, "oh"), [3, 4, 10]);
  assert.deepEqual([D(r, "tv"), r.types.get("ti")?.elemType], [[2, 3, 7], DT.INT64]);
  assert.deepEqual(D(r, "cs"), [2, 5, 7]);
  assert.deepEqual(D(r, "tri"), [2, 5, 7]);
  assert.deepEqual(D(r, "nz"), [3, null]);
  assert.ok(r.unresolved.includes("nz"));
});

test("If: the constant branch, or the dims both branches agree on; Loop and Scan from their bodies", () => {
  const branch = (dims: (number | string)[], name: string): ReturnType<GraphBuilder["graph"]> => {
    const g = new GraphBuilder({ name });
    g.op("Relu", ["x"], {}, { output: `${name}_y` });
    g.op("Reshape", [`${name}_y`, g.constInt64(dims.map((d) => (typeof d === "number" ? d : 0)))], {}, { output: `${name}_out` });
    g.output(`${name}_out`, "float32", null);
    return g.graph();
  };
  const r = infer(17, (b) => {
    b.input("x", "float32", [4, 6]);
    b.input("c", "bool", []);
    b.op("If", ["c"], { then_branch: branch([0, 6], "t1"), else_branch: branch([0, 6], "e1") }, { output: "same" });
    b.op("If", ["c"], { then_branch: branch([4, 6], "t2"), else_branch: branch([8, 3], "e2") }, { output: "diff" });
    b.op("If", [b.op("Constant", [], { value_int: 0 })], { then_branch: branch([4, 6], "t3"), else_branch: branch([8, 3], "e3") }, { output: "const" });
    // Loop: M = 5, no condition; one carried value and one scan output
    const body = new GraphBuilder({ name: "body" });
    body.input("iter", "int64", []);
    body.input("cond", "bool", []);
    body.inputs.push(makeValueInfo("acc", "float32", null));
    body.op("Identity", ["cond"], {}, { output: "cond_out" });
    body.op("Add", ["acc", "x"], {}, { output: "acc_out" });
    body.op("ReduceSum", ["acc_out"], { keepdims: 0 }, { output: "scan_out" });
    body.output("cond_out", "bool", []);
    body.output("acc_out", "float32", null);
    body.output("scan_out", "float32", null);
    b.node("Loop", [b.constInt64([5], true), "", "x"], { body: body.graph() }, ["acc_final", "scans"]);
    // Scan over the first axis of x with one state variable
    const sb = new GraphBuilder({ name: "sbody" });
    sb.input("st", "float32", [6]);
    sb.input("row", "float32", [6]);
    sb.op("Add", ["st", "row"], {}, { output: "st2" });
    sb.op("Mul", ["row", "row"], {}, { output: "sq" });
    sb.output("st2", "float32", [6]);
    sb.output("sq", "float32", [6]);
    b.node("Scan", [b.constFloat([0, 0, 0, 0, 0, 0]), "x"], { body: sb.graph(), num_scan_inputs: 1 }, ["st_final", "sqs"]);
  });
  assert.deepEqual(D(r, "same"), [4, 6]);
  assert.deepEqual(D(r, "diff"), [null, null]);
  assert.ok(r.unresolved.includes("diff"));
  assert.deepEqual(D(r, "const"), [8, 3]);
  assert.deepEqual(D(r, "acc_final"), [4, 6]);
  assert.deepEqual(D(r, "scans"), [5]);
  assert.deepEqual(D(r, "st_final"), [6]);
  assert.deepEqual(D(r, "sqs"), [4, 6]);
});

test("model-local functions are inferred from their bodies, attribute references included", () => {
  const b = new GraphBuilder({ opset: 17, opsets: { "local": 1 } });
  b.input("x", "float32", ["n", 8]);
  const ref = create(AttributeProtoSchema, { name: "axes", refAttrName: "ax", type: AttributeProto_AttributeType.INTS });
  b.functions.push(create(FunctionProtoSchema, {
    name: "AddUnsq", domain: "local", input: ["a"], output: ["o"], attribute: ["ax"],
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 11n })],
    node: [
      create(NodeProtoSchema, { opType: "Add", input: ["a", "a"], output: ["t"] }),
      create(NodeProtoSchema, { opType: "Unsqueeze", input: ["t"], output: ["o"], attribute: [ref] }),
    ],
  }));
  b.op("AddUnsq", ["x"], { ax: [0] }, { output: "y", domain: "local" });
  const r = inferShapes(Graph.fromModel(b.build(), "."));
  assert.deepEqual(r.types.get("y"), { elemType: DT.FLOAT, dims: [1, "n", 8] });
});
