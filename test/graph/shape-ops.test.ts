// Shape rules on hand-built graphs: elementwise/broadcasting, matrix products, conv and pools,
// normalization and quantization, and the "never throw" guarantees.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder, float, makeTensor, makeValueInfo } from "../../sdk/graph/builder.js";
import { DT } from "../../sdk/graph/dtypes.js";
import { inferShapes, type ShapeOptions, type ShapeResult } from "../../sdk/graph/shapes.js";

/** Builds a graph with `fn` at the given opset and infers it. */
function infer(opset: number, fn: (b: GraphBuilder) => void, opts?: ShapeOptions, opsets?: Record<string, number>): ShapeResult {
  const b = new GraphBuilder({ opset, opsets });
  fn(b);
  return inferShapes(Graph.fromModel(b.build(), "."), opts);
}
const D = (r: ShapeResult, n: string): unknown => r.types.get(n)?.dims;
const E = (r: ShapeResult, n: string): unknown => r.types.get(n)?.elemType;

test("broadcasting: numpy rules with symbols, bool comparisons, Where takes X's type", () => {
  const r = infer(17, (b) => {
    b.input("a", "float32", ["batch", 1, 4]);
    b.input("c", "float32", [3, 1]);
    b.input("m", "bool", [2, 1, 1, 1]);
    b.op("Add", ["a", "c"], {}, { output: "sum" });
    b.op("Less", ["a", "c"], {}, { output: "lt" });
    b.op("Where", ["m", "a", "c"], {}, { output: "w" });
    b.op("Sum", ["a", "c", "m"], {}, { output: "s3" });
    b.op("Cast", ["a"], { to: DT.INT64 }, { output: "ci" });
    b.op("CastLike", ["a", "ci"], {}, { output: "cl" });
    b.op("Not", ["m"], {}, { output: "not" });
    b.op("Sigmoid", ["c"], {}, { output: "sg" });
  });
  assert.deepEqual(D(r, "sum"), ["batch", 3, 4]);
  assert.equal(E(r, "sum"), DT.FLOAT);
  assert.deepEqual(D(r, "lt"), ["batch", 3, 4]);
  assert.equal(E(r, "lt"), DT.BOOL);
  assert.deepEqual(D(r, "w"), [2, "batch", 3, 4]);
  assert.equal(E(r, "w"), DT.FLOAT);
  assert.deepEqual(D(r, "s3"), [2, "batch", 3, 4]);
  assert.deepEqual(r.types.get("ci"), { elemType: DT.INT64, dims: ["batch", 1, 4] });
  assert.deepEqual(r.types.get("cl"), { elemType: DT.INT64, dims: ["batch", 1, 4] });
  assert.equal(E(r, "not"), DT.BOOL);
  assert.deepEqual(D(r, "sg"), [3, 1]);
});

test("a broken or unknown node leaves its outputs unknown, never throws", () => {
  const r = infer(17, (b) => {
    b.input("x", "float32", [3, 4]);
    b.input("y", "float32", [5, 6]);
    b.op("MatMul", ["x", "y"], {}, { output: "bad" });
    b.op("Add", ["x", "y"], {}, { output: "bad2" });
    b.op("Relu", ["bad"], {}, { output: "after" });
    b.op("FancyOp", ["x"], {}, { output: "custom", domain: "com.example" });
    b.op("NotAnOnnxOp", ["x"], {}, { output: "nope" });
    b.op("Reshape", ["x"], {}, { output: "noshape" }); // missing shape input
    b.node("Split", ["x"], { axis: 7 }, ["s0", "s1"]);
  });
  for (const n of ["bad", "bad2", "after", "custom", "nope", "s0", "s1"]) {
    assert.ok(r.unresolved.includes(n), n);
    assert.equal(r.types.has(n), false, n);
  }
  assert.ok(r.unresolved.includes("noshape"));
  assert.deepEqual(r.unresolved.filter((n) => n === "x"), []);
});

test("declared value_info fills unknown dims; a conflicting declared dim loses to inference", () => {
  const r = infer(17, (b) => {
    b.input("x", "float32", [2, 3]);
    b.op("FancyOp", ["x"], {}, { output: "f", domain: "com.example" });
    b.op("Relu", ["x"], {}, { output: "r" });
    b.op("NonZero", ["x"], {}, { output: "nz" });
    b.valueInfo.push(makeValueInfo("f", "float32", ["batch", 7]));
    b.valueInfo.push(makeValueInfo("r", "float32", [9, 9]));
    b.valueInfo.push(makeValueInfo("nz", "int64", [2, "count"]));
  }, { dims: { batch: 4 } });
  assert.deepEqual(r.types.get("f"), { elemType: DT.FLOAT, dims: [4, 7] });
  assert.deepEqual(D(r, "r"), [2, 3]);
  assert.deepEqual(D(r, "nz"), [2, "count"]);
  assert.equal(r.unresolved.includes("f"), false);
});

test("MatMul: batched broadcasting and the 1-D cases; Gemm with transA/transB", () => {
  const r = infer(17, (b) => {
    b.input("v", "float32", [4]);
    b.input("m", "float32", [4, 5]);
    b.input("n", "float32", [3, 4]);
    b.input("a", "float32", [2, 1, 3, 4]);
    b.input("c", "float32", ["h", 4, 6]);
    b.op("MatMul", ["v", "m"], {}, { output: "vm" });
    b.op("MatMul", ["n", "v"], {}, { output: "nv" });
    b.op("MatMul", ["v", "v"], {}, { output: "vv" });
    b.op("MatMul", ["a", "c"], {}, { output: "ac" });
    b.input("ga", "float32", [4, 3]);
    b.input("gb", "float32", [5, 4]);
    b.op("Gemm", ["ga", "gb"], { transA: 1, transB: 1 }, { output: "g" });
    b.op("Gemm", ["n", "m"], {}, { output: "g2" });
    b.op("Gemm", ["n", "gb"], {}, { output: "gbad" });
  });
  assert.deepEqual(D(r, "vm"), [5]);
  assert.deepEqual(D(r, "nv"), [3]);
  assert.deepEqual(D(r, "vv"), []);
  assert.deepEqual(D(r, "ac"), [2, "h", 3, 6]);
  assert.deepEqual(D(r, "g"), [3, 5]);
  assert.deepEqual(D(r, "g2"), [3, 5]);
  assert.ok(r.unresolved.includes("gbad"));
});

test("quantized products and (de)quantization", () => {
  const r = infer(19, (b) => {
    b.input("x", "float32", [1, 7, 64]);
    b.initializer("wq", "int8", [64, 32], new Int8Array(64 * 32));
    b.initializer("s", "float32", [], Float32Array.from([0.1]));
    b.initializer("zp", "int8", [], new Int8Array(1));
    b.initializer("uzp", "uint8", [], new Uint8Array(1));
    b.op("DequantizeLinear", ["wq", "s", "zp"], {}, { output: "w" });
    b.op("MatMul", ["x", "w"], {}, { output: "y" });
    b.op("QuantizeLinear", ["x", "s", "uzp"], {}, { output: "xq" });
    b.op("QuantizeLinear", ["x", "s"], {}, { output: "xq8" });
    b.op("MatMulInteger", ["xq", "wq"], {}, { output: "mi" });
    b.op("QLinearMatMul", ["xq", "s", "uzp", "wq", "s", "zp", "s", "zp"], {}, { output: "ql" });
    b.node("DynamicQuantizeLinear", ["x"], {}, ["dq", "dqs", "dqz"]);
    b.initializer("packed", "uint8", [32, 2, 16], new Uint8Array(32 * 32));
    b.op("MatMulNBits", ["x", "packed", "s"], { K: 64, N: 32, bits: 4, block_size: 32 }, { output: "nb", domain: "com.microsoft" });
  }, {}, { "com.microsoft": 1 });
  assert.deepEqual(r.types.get("w"), { elemType: DT.FLOAT, dims: [64, 32] });
  assert.deepEqual(D(r, "y"), [1, 7, 32]);
  assert.deepEqual(r.types.get("xq"), { elemType: DT.UINT8, dims: [1, 7, 64] });
  assert.equal(E(r, "xq8"), DT.UINT8);
  assert.deepEqual(r.types.get("mi"), { elemType: DT.INT32, dims: [1, 7, 32] });
  assert.deepEqual(r.types.get("ql"), { elemType: DT.INT8, dims: [1, 7, 32] });
  assert.deepEqual(r.types.get("dqs"), { elemType: DT.FLOAT, dims: [] });
  assert.deepEqual(r.types.get("nb"), { elemType: DT.FLOAT, dims: [1, 7, 32] });
});

test("Conv: pads, strides, dilations, groups, auto_pad; ConvTranspose; symbolic spatial dims", () => {
  const r = infer(17, (b) => {
    b.input("x", "float32", [1, 8, 15, 15]);
    b.initializer("w", "float32", [16, 4, 3, 3], new Float32Array(16 * 4 * 9));
    b.op("Conv", ["x", "w"], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, { output: "c1" });
    b.op("Conv", ["x", "w"], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1], dilations: [2, 2] }, { output: "c2" });
    b.op("Conv", ["x", "w"], { group: 2, strides: [2, 2], auto_pad: "SAME_UPPER" }, { output: "c3" });
    b.op("Conv", ["x", "w"], { group: 2, strides: [2, 2], auto_pad: "VALID" }, { output: "c4" });
    b.op("Conv", ["x", "w"], { group: 2, kernel_shape: [3, 3], pads: [0, 1, 2, 1] }, { output: "c5" });
    b.input("s", "float32", ["n", 8, "h", "w"]);
    b.op("Conv", ["s", "w"], { group: 2, pads: [1, 1, 1, 1] }, { output: "cs" });
    b.input("t", "float32", [1, 4, 5, 5]);
    b.initializer("tw", "float32", [4, 3, 3, 3], new Float32Array(4 * 27));
    b.op("ConvTranspose", ["t", "tw"], { strides: [2, 2] }, { output: "ct1" });
    b.op("ConvTranspose", ["t", "tw"], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, { output: "ct2" });
    b.op("ConvTranspose", ["t", "tw"], { strides: [2, 2], output_shape: [12, 11] }, { output: "ct3" });
  });
  assert.deepEqual(D(r, "c1"), [1, 16, 8, 8]);
  assert.deepEqual(D(r, "c2"), [1, 16, 7, 7]);
  assert.deepEqual(D(r, "c3"), [1, 16, 8, 8]);
  assert.deepEqual(D(r, "c4"), [1, 16, 7, 7]);
  assert.deepEqual(D(r, "c5"), [1, 16, 15, 15]);
  assert.deepEqual(D(r, "cs"), ["n", 16, "h", "w"]);
  assert.deepEqual(D(r, "ct1"), [1, 3, 11, 11]);
  assert.deepEqual(D(r, "ct2"), [1, 3, 10, 10]);
  assert.deepEqual(D(r, "ct3"), [1, 3, 12, 11]);
});

test("pools: floor and ceil mode, indices output, global pools", () => {
  const r = infer(17, (b) => {
    b.input("x", "float32", [2, 3, 8, 8]);
    b.node("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [2, 2] }, ["p1", "i1"]);
    b.op("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, { output: "p2" });
    b.op("AveragePool", ["x"], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, { output: "p3" });
    b.op("AveragePool", ["x"], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, { output: "p4" });
    b.op("GlobalAveragePool", ["x"], {}, { output: "g" });
  });
  assert.deepEqual(D(r, "p1"), [2, 3, 3, 3]);
  assert.deepEqual(r.types.get("i1"), { elemType: DT.INT64, dims: [2, 3, 3, 3] });
  assert.deepEqual(D(r, "p2"), [2, 3, 4, 4]);
  assert.deepEqual(D(r, "p3"), [2, 3, 5, 5]);
  assert.deepEqual(D(r, "p4"), [2, 3, 4, 4]);
  assert.deepEqual(D(r, "g"), [2, 3, 1, 1]);
});

test("normalizations: LayerNormalization's 3 outputs, BatchNormalization, Softmax, Dropout mask", () => {
  const r = infer(17, (b) => {
    b.input("x", "float32", [2, 5, 8]);
    b.initializer("g", "float32", [8], new Float32Array(8));
    b.node("LayerNormalization", ["x", "g", "g"], { axis: -1, epsilon: float(1e-5) }, ["ln", "mean", "istd"]);
    b.node("LayerNormalization", ["x", "g"], { axis: 1 }, ["ln1", "mean1"]);
    b.input("img", "float32", [2, 4, 6, 6]);
    b.initializer("c", "float32", [4], new Float32Array(4));
    b.op("BatchNormalization", ["img", "c", "c", "c", "c"], {}, { output: "bn" });
    b.op("Softmax", ["x"], { axis: -1 }, { output: "sm" });
    b.node("Dropout", ["x"], {}, ["do", "mask"]);
  });
  assert.deepEqual(D(r, "ln"), [2, 5, 8]);
  assert.deepEqual(r.types.get("mean"), { elemType: DT.FLOAT, dims: [2, 5, 1] });
  assert.deepEqual(D(r, "istd"), [2, 5, 1]);
  assert.deepEqual(D(r, "mean1"), [2, 1, 1]);
  assert.deepEqual(D(r, "bn"), [2, 4, 6, 6]);
  assert.deepEqual(D(r, "sm"), [2, 5, 8]);
  assert.deepEqual(r.types.get("mask"), { elemType: DT.BOOL, dims: [2, 5, 8] });
});

test("Pad (attribute and input forms), Resize (scales, sizes, symbolic), Clip, DepthToSpace", () => {
  const r2 = infer(2, (b) => {
    b.input("x", "float32", [1, 3, 5, 5]);
    b.op("Pad", ["x"], { pads: [0, 0, 1, 2, 0, 0, 3, 4] }, { output: "p" });
  });
  assert.deepEqual(D(r2, "p"), [1, 3, 9, 11]);
  const r = infer(13, (b) => {
    b.input("x", "float32", [1, 3, 5, 5]);
    b.input("s", "float32", ["n", 3, "h", "w"]);
    b.op("Pad", ["x", b.constInt64([0, 0, 1, 2, 0, 0, 3, 4])], {}, { output: "p" });
    const scales = b.constFloat([1, 1, 2, 2]);
    b.op("Resize", ["x", "", scales], { mode: "linear" }, { output: "rs" });
    b.op("Resize", ["x", "", "", b.constInt64([1, 3, 7, 9])], {}, { output: "rz" });
    b.op("Resize", ["s", "", scales], {}, { output: "rsym" });
    b.op("Resize", ["x", "", b.constFloat([1, 1, 0.5, 0.5])], {}, { output: "rdown" });
    b.op("Clip", ["x", b.constFloat([0], []), b.constFloat([6], [])], {}, { output: "clip" });
    b.op("DepthToSpace", ["x"], { blocksize: 1 }, { output: "d2s" });
  });
  assert.deepEqual(D(r, "p"), [1, 3, 9, 11]);
  assert.deepEqual(D(r, "rs"), [1, 3, 10, 10]);
  assert.deepEqual(D(r, "rz"), [1, 3, 7, 9]);
  assert.deepEqual(D(r, "rsym"), ["n", 3, "2*h", "2*w"]);
  assert.deepEqual(D(r, "rdown"), [1, 3, 2, 2]);
  assert.deepEqual(D(r, "clip"), [1, 3, 5, 5]);
  assert.deepEqual(D(r, "d2s"), [1, 3, 5, 5]);
});

test("Einsum: explicit, implicit and ellipsis forms", () => {
  const r = infer(17, (b) => {
    b.input("a", "float32", [2, 3, 4]);
    b.input("c", "float32", [2, 4, 5]);
    b.input("m", "float32", [3, 4]);
    b.input("n", "float32", [4, 6]);
    b.op("Einsum", ["a", "c"], { equation: "bij,bjk->bik" }, { output: "e1" });
    b.op("Einsum", ["m", "n"], { equation: "ij,jk" }, { output: "e2" });
    b.op("Einsum", ["a", "c"], { equation: "...ij,...jk->...ik" }, { output: "e3" });
    b.op("Einsum", ["m"], { equation: "ij->ji" }, { output: "e4" });
    b.op("Einsum", ["m", "n"], { equation: "ij,kk->ij" }, { output: "ebad" });
  });
  assert.deepEqual(D(r, "e1"), [2, 3, 5]);
  assert.deepEqual(D(r, "e2"), [3, 6]);
  assert.deepEqual(D(r, "e3"), [2, 3, 5]);
  assert.deepEqual(D(r, "e4"), [4, 3]);
  assert.ok(r.unresolved.includes("ebad"));
});

test("com.microsoft attention ops and SkipLayerNormalization", () => {
  const r = infer(17, (b) => {
    b.input("x", "float32", [2, 7, 64]);
    b.initializer("w", "float32", [64, 192], new Float32Array(64 * 192));
    b.initializer("g", "float32", [64], new Float32Array(64));
    b.node("Attention", ["x", "w"], { num_heads: 4 }, ["att", "present"], { domain: "com.microsoft" });
    b.op("MultiHeadAttention", ["x", "x", "x"], { num_heads: 4 }, { output: "mha", domain: "com.microsoft" });
    b.node("SkipLayerNormalization", ["x", "x", "g", "g"], {}, ["sln", "m", "v", "sum"], { domain: "com.microsoft" });
  }, {}, { "com.microsoft": 1 });
  assert.deepEqual(D(r, "att"), [2, 7, 64]);
  assert.deepEqual(D(r, "present"), [2, 2, 4, 7, 16]);
  assert.deepEqual(D(r, "mha"), [2, 7, 64]);
  assert.deepEqual(D(r, "sln"), [2, 7, 64]);
  assert.deepEqual(D(r, "sum"), [2, 7, 64]);
});

test("Constant in every value_* form", () => {
  const r = infer(17, (b) => {
    b.op("Constant", [], { value_float: float(1.5) }, { output: "f" });
    b.op("Constant", [], { value_floats: [1.5, 2.5] }, { output: "fs" });
    b.op("Constant", [], { value_int: 4 }, { output: "i" });
    b.op("Constant", [], { value_ints: [1, 2, 3] }, { output: "is" });
    b.op("Constant", [], { value_string: "hi" }, { output: "s" });
    b.op("Constant", [], { value: makeTensor("", "int32", [2, 2], Int32Array.from([1, 2, 3, 4])) }, { output: "t" });
  });
  assert.deepEqual(r.types.get("f"), { elemType: DT.FLOAT, dims: [] });
  assert.deepEqual(r.types.get("fs"), { elemType: DT.FLOAT, dims: [2] });
  assert.deepEqual(r.types.get("i"), { elemType: DT.INT64, dims: [] });
  assert.deepEqual(r.values.get("i"), [4]);
  assert.deepEqual(r.values.get("is"), [1, 2, 3]);
  assert.deepEqual(r.types.get("s"), { elemType: DT.STRING, dims: [] });
  assert.deepEqual(r.values.get("t"), [1, 2, 3, 4]);
  assert.equal(r.values.has("f"), false, "float values are not published");
});
