// The cost model: hand-computed FLOPs for products and convolutions, quantized forms, unknown
// ops and unknown dims as null, weight bytes, control flow, and the gpt2-tiny total.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { graphCost, nodeCost } from "../../sdk/graph/cost.js";
import { inferShapes, type ShapeOptions } from "../../sdk/graph/shapes.js";
import { buildModel } from "../../sdk/graph/models/index.js";

const FIX = new URL("../fixtures/torch/", import.meta.url).pathname;

/** FLOPs per output name (of the node producing it) for a builder graph. */
function costs(fn: (b: GraphBuilder) => void, opts: ShapeOptions = {}, opsets?: Record<string, number>) {
  const b = new GraphBuilder({ opset: 17, opsets });
  fn(b);
  const g = Graph.fromModel(b.build(), ".");
  const s = inferShapes(g, opts);
  const total = graphCost(g, s);
  const by = (out: string) => {
    const node = g.nodes[g.tensor(out).producer!]!;
    const c = nodeCost(g, node, s);
    assert.deepEqual(c, total.perNode[node.index], "nodeCost and graphCost agree");
    return c;
  };
  return { g, total, flops: (out: string) => by(out).flops, weights: (out: string) => by(out).weightBytes };
}

const f32 = (n: number): Float32Array => new Float32Array(n);

test("MatMul, Gemm (transB, bias) and 1-D MatMul, hand-computed", () => {
  const c = costs((b) => {
    b.input("x", "float32", [2, 3, 4]);
    b.initializer("w", "float32", [4, 5], f32(20));
    b.op("MatMul", ["x", "w"], {}, { output: "mm" });
    b.input("a", "float32", [3, 4]);
    b.initializer("wt", "float32", [5, 4], f32(20));
    b.initializer("bias", "float32", [5], f32(5));
    b.op("Gemm", ["a", "wt", "bias"], { transB: 1 }, { output: "gemm" });
    b.op("Gemm", ["a", "w"], {}, { output: "gemm_nobias" });
    b.input("v", "float32", [4]);
    b.op("MatMul", ["v", "w"], {}, { output: "vm" });
  });
  assert.equal(c.flops("mm"), 2 * (2 * 3) * 5 * 4);
  assert.equal(c.flops("gemm"), 2 * 3 * 5 * 4 + 3 * 5);
  assert.equal(c.flops("gemm_nobias"), 2 * 3 * 5 * 4);
  assert.equal(c.flops("vm"), 2 * 5 * 4);
  assert.equal(c.weights("gemm"), 20 * 4 + 5 * 4);
  assert.equal(c.total.flops, 240 + 135 + 120 + 40);
  assert.equal(c.total.unknownNodes, 0);
});

test("Conv with groups and stride, ConvTranspose, pools", () => {
  const c = costs((b) => {
    b.input("x", "float32", [1, 8, 15, 15]);
    b.initializer("w", "float32", [16, 4, 3, 3], f32(16 * 4 * 9));
    b.initializer("cb", "float32", [16], f32(16));
    // out [1, 16, 8, 8]: each output element is a 4-channel 3x3 dot product
    b.op("Conv", ["x", "w", "cb"], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, { output: "conv" });
    b.op("Conv", ["x", "w"], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, { output: "conv_nb" });
    b.input("t", "float32", [1, 4, 5, 5]);
    b.initializer("tw", "float32", [4, 3, 3, 3], f32(4 * 27));
    b.op("ConvTranspose", ["t", "tw"], { strides: [2, 2] }, { output: "convt" });
    b.op("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [2, 2] }, { output: "pool" });
    b.op("GlobalAveragePool", ["x"], {}, { output: "gap" });
  });
  assert.equal(c.flops("conv"), 2 * 16 * 8 * 8 * (8 / 2) * 3 * 3 + 16 * 8 * 8);
  assert.equal(c.flops("conv_nb"), 73728);
  assert.equal(c.flops("convt"), 2 * (4 * 5 * 5) * 3 * 3 * 3);
  assert.equal(c.flops("pool"), 8 * 7 * 7 * 9);
  assert.equal(c.flops("gap"), 8 * 15 * 15);
  assert.equal(c.weights("conv"), (16 * 36 + 16) * 4);
});

test("elementwise costs are per output element; shape-only ops are 0; unknown ops and dims are null", () => {
  const c = costs((b) => {
    b.input("x", "float32", [2, 3]);
    b.input("s", "float32", ["batch", 3]);
    b.initializer("g", "float32", [3], f32(3));
    b.op("Add", ["x", "g"], {}, { output: "add" });
    b.op("Softmax", ["x"], {}, { output: "sm" });
    b.op("LayerNormalization", ["x", "g", "g"], {}, { output: "ln" });
    b.op("Sum", ["x", "x", "x"], {}, { output: "sum3" });
    b.op("Reshape", ["x", b.constInt64([3, 2])], {}, { output: "rs" });
    b.op("Transpose", ["x"], {}, { output: "tr" });
    b.op("Shape", ["s"], {}, { output: "sh" });
    b.op("Relu", ["s"], {}, { output: "relu_sym" });
    b.op("Mystery", ["x"], {}, { output: "mystery", domain: "com.example" });
    b.op("Relu", ["mystery"], {}, { output: "after" });
  });
  assert.equal(c.flops("add"), 6);
  assert.equal(c.flops("sm"), 30);
  assert.equal(c.flops("ln"), 48);
  assert.equal(c.flops("sum3"), 12);
  assert.equal(c.flops("rs"), 0);
  assert.equal(c.flops("tr"), 0);
  assert.equal(c.flops("sh"), 0, "Shape is known and free even for symbolic input");
  assert.equal(c.flops("relu_sym"), null, "a symbolic dim leaves the count unknown, not 0");
  assert.equal(c.flops("mystery"), null);
  assert.equal(c.flops("after"), null);
  assert.equal(c.total.unknownNodes, 3);
  assert.equal(c.total.flops, 6 + 30 + 48 + 12);
  // with batch bound the Relu is known
  assert.equal(costs((b) => {
    b.input("s", "float32", ["batch", 3]);
    b.op("Relu", ["s"], {}, { output: "r" });
  }, { dims: { batch: 4 } }).flops("r"), 12);
});

test("quantized forms: DequantizeLinear + MatMul, MatMulInteger, QLinearMatMul, MatMulNBits", () => {
  const c = costs((b) => {
    b.input("x", "float32", [1, 7, 64]);
    b.initializer("wq", "int8", [64, 32], new Int8Array(64 * 32));
    b.initializer("s", "float32", [], Float32Array.from([0.1]));
    b.initializer("zp", "int8", [], new Int8Array(1));
    b.initializer("uzp", "uint8", [], new Uint8Array(1));
    b.op("DequantizeLinear", ["wq", "s", "zp"], {}, { output: "w" });
    b.op("MatMul", ["x", "w"], {}, { output: "y" });
    b.op("QuantizeLinear", ["x", "s", "uzp"], {}, { output: "xq" });
    b.op("MatMulInteger", ["xq", "wq"], {}, { output: "mi" });
    b.op("QLinearMatMul", ["xq", "s", "uzp", "wq", "s", "zp", "s", "zp"], {}, { output: "ql" });
    b.initializer("packed", "uint8", [32, 2, 16], new Uint8Array(32 * 32));
    b.op("MatMulNBits", ["x", "packed", "s"], { K: 64, N: 32, bits: 4, block_size: 32 }, { output: "nb", domain: "com.microsoft" });
  }, {}, { "com.microsoft": 1 });
  const mm = 2 * 7 * 32 * 64;
  assert.equal(c.flops("y"), mm);
  assert.equal(c.flops("w"), 2 * 64 * 32);
  assert.equal(c.weights("w"), 64 * 32 + 4 + 1);
  assert.equal(c.weights("y"), 0, "the MatMul reads the dequantized tensor, not a weight");
  assert.equal(c.flops("mi"), mm);
  assert.equal(c.flops("ql"), mm);
  assert.equal(c.weights("ql"), 64 * 32 + 4 + 1 + 1, "s, zp read twice count once");
  assert.equal(c.flops("nb"), mm);
  assert.equal(c.weights("nb"), 32 * 32 + 4);
});

test("weight bytes: once per node, and a shared weight once in the graph total", () => {
  const c = costs((b) => {
    b.input("x", "float32", [4, 4]);
    b.initializer("w", "float32", [4, 4], f32(16));
    b.op("MatMul", ["w", "w"], {}, { output: "ww" });
    b.op("MatMul", ["x", "w"], {}, { output: "xw" });
  });
  assert.equal(c.weights("ww"), 64);
  assert.equal(c.weights("xw"), 64);
  assert.equal(c.total.weightBytes, 64);
});

test("com.microsoft Attention and Einsum when shapes are known", () => {
  const c = costs((b) => {
    b.input("x", "float32", [2, 7, 64]);
    b.initializer("w", "float32", [64, 192], f32(64 * 192));
    b.initializer("bqkv", "float32", [192], f32(192));
    b.op("Attention", ["x", "w", "bqkv"], { num_heads: 4 }, { output: "att", domain: "com.microsoft" });
    b.input("p", "float32", [3, 4]);
    b.input("q", "float32", [4, 5]);
    b.op("Einsum", ["p", "q"], { equation: "ij,jk->ik" }, { output: "ein" });
    b.op("Einsum", ["p"], { equation: "ij->ji" }, { output: "eint" });
  }, {}, { "com.microsoft": 1 });
  const proj = 2 * 2 * 7 * 64 * 192 + 2 * 7 * 192;
  const attn = 2 * 2 * 7 * 7 * (64 + 64);
  assert.equal(c.flops("att"), proj + attn);
  assert.equal(c.flops("ein"), 2 * 3 * 4 * 5);
  assert.equal(c.flops("eint"), 12);
});

test("If costs its more expensive branch (control-flow fixture); Loop counts trips", () => {
  const g = Graph.load(`${FIX}control-flow.onnx`);
  const s = inferShapes(g, { dims: { batch: 4 } });
  const node = g.nodes.find((n) => n.opType === "If")!;
  // then: Relu, Mul, Add on [4, 32]; else: Tanh, Sub
  assert.equal(nodeCost(g, node, s).flops, 3 * 4 * 32);
  assert.equal(nodeCost(g, node, inferShapes(g)).flops, null, "symbolic batch");
  const total = graphCost(g, s);
  assert.equal(total.unknownNodes, 0);
  const gemm = (k: number, n: number): number => 2 * 4 * n * k + 4 * n;
  assert.equal(total.flops, gemm(16, 32) * 2 + 4 * 4 * 32 + 4 * 32 + 1 + 0 + 384 + 4 * 32 + gemm(32, 8));

  const body = new GraphBuilder({ name: "body" });
  body.input("i", "int64", []);
  body.input("cond", "bool", []);
  body.input("acc", "float32", [3]);
  body.op("Identity", ["cond"], {}, { output: "c2" });
  body.op("Add", ["acc", "acc"], {}, { output: "acc2" });
  body.output("c2", "bool", []);
  body.output("acc2", "float32", [3]);
  const c = costs((b) => {
    b.input("x", "float32", [3]);
    b.input("m", "int64", []);
    b.node("Loop", [b.constInt64([5], true), "", "x"], { body: body.graph() }, ["fixed"]);
    b.node("Loop", ["m", "", "x"], { body: body.graph() }, ["open"]);
  });
  assert.equal(c.flops("fixed"), 5 * 3);
  assert.equal(c.flops("open"), null, "trip count unknown");
});

test("gpt2-tiny at [1, 64]: every node costed, total near 2 x matmul params x tokens", () => {
  const g = Graph.load(`${FIX}gpt2-tiny.onnx`);
  const s = inferShapes(g, { inputShapes: { input_ids: [1, 64], attention_mask: [1, 64] } });
  const c = graphCost(g, s);
  assert.equal(c.unknownNodes, 0);
  let params = 0;
  for (const n of g.nodes) {
    if (n.opType !== "MatMul") continue;
    const w = g.initializers.get(n.inputs[1]!);
    if (w) params += w.dims.reduce((a, d) => a * Number(d), 1);
  }
  assert.equal(params, 2 * (64 * 192 + 64 * 64 + 64 * 256 + 256 * 64) + 64 * 256);
  const ratio = c.flops / (2 * params * 64);
  assert.ok(ratio > 1.05 && ratio < 1.5, `ratio ${ratio}: attention and elementwise add a little on top`);
  let init = 0;
  for (const t of g.initializers.values()) init += t.rawData.length;
  assert.equal(c.weightBytes, init, "every initializer is read by some node");
  assert.equal(c.perNode.length, g.nodes.length);
});

test("generated int8 tiny-gpt: the QDQ MatMuls are counted like float ones", () => {
  const plain = Graph.fromModel(buildModel("tiny-gpt", {}), ".");
  const q = Graph.fromModel(buildModel("tiny-gpt", { int8Weights: true }), ".");
  const opts = { dims: { batch: 1, sequence: 16 } };
  const mm = (g: Graph): number => {
    const s = inferShapes(g, opts);
    return g.nodes.filter((n) => n.opType === "MatMul").reduce((a, n) => a + nodeCost(g, n, s).flops!, 0);
  };
  assert.ok(mm(plain) > 0);
  assert.equal(mm(q), mm(plain));
  const cq = graphCost(q, inferShapes(q, opts));
  assert.equal(cq.unknownNodes, 0);
  assert.ok(cq.flops > graphCost(plain, inferShapes(plain, opts)).flops, "dequantization adds work");
});
