/**
 * tiny-gpt: a GPT-2-like decoder shaped like a torch.onnx.export (opset 17).
 *
 * - Positions come from a Shape/Gather/Range/Unsqueeze/Concat/Reshape side chain on the input
 *   (starting at past_sequence, read from Shape of past_key_values.0.key, in the KV variant).
 * - Pre-LN blocks (LayerNormalization), fused QKV MatMul+Add+Split, heads via Reshape/Transpose
 *   with Shape-derived dims, causal triangle Sliced to [total - sequence, total) x [0, total),
 *   Where against float32 min, Softmax, tanh-GELU spelled out with primitive ops, residual Adds.
 * - Every block derives the shapes it needs from its OWN input hidden state (and, for the key
 *   length, from its own keys), so a cut between blocks carries exactly the hidden state; in the
 *   KV variant also the additive mask computed once from attention_mask.
 * - The LM head is tied: `wte.weight` [vocab, dModel] feeds both the embedding Gather at the
 *   front and a Gemm(transB=1) at the back (no transposed copy, no constant-only Transpose node).
 * - int8 weights: the four block matrices (c_attn, attn.c_proj, c_fc, mlp.c_proj) are per-column
 *   int8 + DequantizeLinear; the embeddings (and hence the tied LM head) stay float32.
 *
 * The non-KV variant has one input, `input_ids`; the KV variant adds `attention_mask`
 * [batch, past_sequence + sequence] and past_key_values.N.key/value, and outputs present.N.*.
 */
import type { ModelProto } from "../onnx/onnx_pb.js";
import { TensorProto_DataType as DT } from "../onnx/onnx_pb.js";
import type { ModelOptions } from "./options.js";
import { FLOAT32_MIN, ModelWriter } from "./writer.js";

const TOTAL = "past_sequence + sequence";

interface Dims {
  d: number;
  heads: number;
  hd: number;
  layers: number;
}

/** Builds tiny-gpt from resolved options. */
export function buildTinyGpt(o: Required<ModelOptions>): ModelProto {
  const w = new ModelWriter(o.kvCache ? "tiny-gpt-kv" : "tiny-gpt", o.seed, o.int8Weights);
  const dims: Dims = { d: o.dModel, heads: o.heads, hd: o.dModel / o.heads, layers: o.layers };
  const { d, heads, hd } = dims;

  const ids = w.b.input("input_ids", "int64", ["batch", "sequence"]);
  let attentionMask: string | undefined;
  const past: { key: string; value: string }[] = [];
  if (o.kvCache) {
    attentionMask = w.b.input("attention_mask", "int64", ["batch", TOTAL]);
    for (let i = 0; i < o.layers; i++) {
      past.push({
        key: w.b.input(`past_key_values.${i}.key`, "float32", ["batch", heads, "past_sequence", hd]),
        value: w.b.input(`past_key_values.${i}.value`, "float32", ["batch", heads, "past_sequence", hd]),
      });
    }
  }

  // Weights shared across the graph: the tied embedding and the causal triangle buffer.
  const wte = w.param("wte.weight", [o.vocab, d], 0.02);
  const wpe = w.param("wpe.weight", [o.maxPositions, d], 0.01);
  const tri = causalTriangle(w, o.maxPositions);

  // Positions: arange(past, past + sequence).view(-1, sequence), as Hugging Face GPT-2 does.
  const seq = w.dim(w.op("Shape", [ids]), 1);
  let start: string;
  let end: string;
  if (past[0]) {
    start = w.dim(w.op("Shape", [past[0].key]), 2);
    end = w.op("Add", [start, seq]);
  } else {
    start = w.i64([0], true);
    end = seq;
  }
  const range = w.op("Range", [start, end, w.i64([1], true)]);
  const posShape = w.op("Concat", [w.i64([-1]), w.unsqueeze(seq, [0])], { axis: 0 });
  const positions = w.op("Reshape", [w.unsqueeze(range, [0]), posShape]);
  const tok = w.scoped("wte", () => w.op("Gather", [wte, ids]));
  const pos = w.scoped("wpe", () => w.op("Gather", [wpe, positions]));
  let h = w.op("Add", [tok, pos]);

  // Additive key mask [batch, 1, 1, total]: 0 where attention_mask is 1, float32 min where 0.
  let addMask: string | undefined;
  if (attentionMask) {
    const m = w.op("Cast", [w.unsqueeze(attentionMask, [1, 2])], { to: DT.FLOAT });
    addMask = w.op("Mul", [w.op("Sub", [w.f32(1), m]), w.f32(FLOAT32_MIN)]);
  }

  for (let i = 0; i < o.layers; i++) {
    h = w.scoped(`h.${i}`, () => block(w, dims, i, h, tri, addMask, past[i]));
  }

  // Final LayerNorm and the tied LM head: Gemm(hidden [b*s, d], wte [vocab, d], transB=1).
  const lnf = w.scoped("ln_f", () => layerNorm(w, "ln_f", h, d));
  w.scoped("lm_head", () => {
    const shape = w.op("Shape", [lnf]);
    const flat = w.op("Reshape", [lnf, w.i64([-1, d])]);
    const g = w.op("Gemm", [flat, wte], { transB: 1 });
    const outShape = w.op("Concat", [w.unsqueeze(w.dim(shape, 0), [0]), w.unsqueeze(w.dim(shape, 1), [0]), w.i64([o.vocab])], { axis: 0 });
    w.op("Reshape", [g, outShape], {}, "logits");
  });
  w.b.output("logits", "float32", ["batch", "sequence", o.vocab]);
  if (o.kvCache) {
    for (let i = 0; i < o.layers; i++) {
      for (const kv of ["key", "value"]) w.b.output(`present.${i}.${kv}`, "float32", ["batch", heads, TOTAL, hd]);
    }
  }
  return w.b.build();
}

/** The [1, 1, P, P] bool lower triangle (torch's registered `bias` buffer), one initializer. */
function causalTriangle(w: ModelWriter, p: number): string {
  const data = new Uint8Array(p * p);
  for (let r = 0; r < p; r++) data.fill(1, r * p, r * p + r + 1);
  return w.b.initializer("attn.causal_mask", "bool", [1, 1, p, p], data);
}

/** LayerNormalization over the last axis; weight 1 + noise so the graph is not trivially constant. */
function layerNorm(w: ModelWriter, name: string, x: string, width: number): string {
  const g = w.param(`${name}.weight`, [width], 0.02, 1);
  const b = w.param(`${name}.bias`, [width], 0.02);
  return w.op("LayerNormalization", [x, g, b], { axis: -1, epsilon: 1e-5 });
}

/** Linear layer on a 3-D input: MatMul(x, W [in, out]) + bias, as torch exports it. */
function linear(w: ModelWriter, name: string, x: string, fanIn: number, fanOut: number, std: number): string {
  const weight = w.weight(`${name}.weight`, [fanIn, fanOut], std, 1);
  const bias = w.param(`${name}.bias`, [fanOut], 0.02);
  const mm = w.op("MatMul", [x, weight]);
  return w.op("Add", [bias, mm]);
}

/** One pre-LN transformer block; returns the new hidden state. */
function block(w: ModelWriter, dm: Dims, i: number, x: string, tri: string, addMask: string | undefined, past: { key: string; value: string } | undefined): string {
  const { d, heads, hd, layers } = dm;
  const p = `h.${i}`;
  // Shapes from this block's own input, so nothing but the hidden state crosses a block cut.
  const shape = w.op("Shape", [x]);
  const batch = w.unsqueeze(w.dim(shape, 0), [0]);
  const seqScalar = w.dim(shape, 1);
  const seq = w.unsqueeze(seqScalar, [0]);
  const std = 1 / Math.sqrt(d);
  const projStd = std / Math.sqrt(2 * layers); // GPT-2's scaled init of residual projections

  const ln1 = w.scoped("ln_1", () => layerNorm(w, `${p}.ln_1`, x, d));
  const attn = w.scoped("attn", () => {
    const qkv = w.scoped("c_attn", () => linear(w, `${p}.attn.c_attn`, ln1, d, 3 * d, std));
    const [q, k, v] = w.ops("Split", [qkv, w.i64([d, d, d])], { axis: 2 }, 3) as [string, string, string];
    const headShape = w.op("Concat", [batch, seq, w.i64([heads]), w.i64([hd])], { axis: 0 });
    const toHeads = (t: string): string => w.op("Transpose", [w.op("Reshape", [t, headShape])], { perm: [0, 2, 1, 3] });
    let kh = toHeads(k);
    let vh = toHeads(v);
    const qh = toHeads(q);
    if (past) {
      kh = w.op("Concat", [past.key, kh], { axis: 2 }, `present.${i}.key`);
      vh = w.op("Concat", [past.value, vh], { axis: 2 }, `present.${i}.value`);
    }
    const total = w.dim(w.op("Shape", [kh]), 2);
    let scores = w.op("MatMul", [qh, w.op("Transpose", [kh], { perm: [0, 1, 3, 2] })]);
    scores = w.op("Div", [scores, w.f32(Math.sqrt(hd))]);
    // causal[..., total - seq : total, :total]: queries sit at the end of the key range.
    const rows = w.op("Slice", [tri, w.unsqueeze(w.op("Sub", [total, seqScalar]), [0]), w.unsqueeze(total, [0]), w.i64([2]), w.i64([1])]);
    const causal = w.op("Slice", [rows, w.i64([0]), w.unsqueeze(total, [0]), w.i64([3]), w.i64([1])]);
    if (addMask) scores = w.op("Add", [scores, addMask]);
    scores = w.op("Where", [causal, scores, w.f32(FLOAT32_MIN)]);
    const probs = w.op("Softmax", [scores], { axis: -1 });
    const ctx = w.op("Transpose", [w.op("MatMul", [probs, vh])], { perm: [0, 2, 1, 3] });
    const merged = w.op("Reshape", [ctx, w.op("Concat", [batch, seq, w.i64([d])], { axis: 0 })]);
    return w.scoped("c_proj", () => linear(w, `${p}.attn.c_proj`, merged, d, d, projStd));
  });
  const x1 = w.op("Add", [x, attn]);

  const ln2 = w.scoped("ln_2", () => layerNorm(w, `${p}.ln_2`, x1, d));
  const mlp = w.scoped("mlp", () => {
    const fc = w.scoped("c_fc", () => linear(w, `${p}.mlp.c_fc`, ln2, d, 4 * d, std));
    const act = w.scoped("act", () => geluTanh(w, fc));
    return w.scoped("c_proj", () => linear(w, `${p}.mlp.c_proj`, act, 4 * d, d, projStd / 2));
  });
  return w.op("Add", [x1, mlp]);
}

/** 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), op by op as torch decomposes it. */
function geluTanh(w: ModelWriter, x: string): string {
  const x3 = w.op("Mul", [w.op("Mul", [x, x]), x]);
  const inner = w.op("Add", [x, w.op("Mul", [x3, w.f32(0.044715)])]);
  const t = w.op("Tanh", [w.op("Mul", [inner, w.f32(Math.sqrt(2 / Math.PI))])]);
  return w.op("Mul", [w.op("Mul", [x, w.op("Add", [t, w.f32(1)])]), w.f32(0.5)]);
}
