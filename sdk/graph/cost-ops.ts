/**
 * FLOP rules per op. A multiply-add counts as 2. Rules need concrete dims: when one they need
 * is symbolic or unknown they return null, as do ops without a rule.
 *
 * Per-element constants (documented guesses, not measurements):
 * - 1: arithmetic, comparisons, logic, Where, simple activations (Relu, Tanh, Erf, Exp, ...);
 *   variadic Sum/Max/Min/Mean: (inputs - 1) per element
 * - 3-9: compound activations (Sigmoid 4, Gelu 8, Softplus 3, Mish 6, ...)
 * - Softmax/LogSoftmax 5 (max, sub, exp, sum, div); LayerNormalization 8 (mean, sub, square,
 *   mean, rsqrt, mul, scale, shift); RMS/simplified norms 6; BatchNormalization 2 (inference:
 *   folded scale and shift); Instance/Group norm 8; SkipLayerNormalization 10
 * - DequantizeLinear 2, QuantizeLinear 3, DynamicQuantizeLinear 5
 * - reductions, ArgMax/ArgMin, TopK, global pools: 1 per input element (ReduceSumSquare/L2 2,
 *   ReduceLogSumExp 3); windowed pools: kernel size per output element
 * - Resize: nearest 0 (a gather), otherwise 8 per output element
 * - Cast and pure data movement (Reshape, Transpose, Gather, Slice, Concat, Pad, ...) 0
 * - attention ops: the two matmuls (Q.K^T and P.V) plus projections where the op has them;
 *   the softmax in between is not counted
 */
import { DT } from "./dtypes.js";
import type { GraphProto, NodeProto } from "./onnx/onnx_pb.js";
import { attrInt, attrInts, attrStr } from "./shape-ctx.js";
import { parseEinsum } from "./shape-ops-linalg.js";
import { tt, type Dim, type TensorType } from "./shape-types.js";

/** What a FLOP rule sees of one node. */
export interface CostCtx {
  readonly node: NodeProto;
  /** Dims of input i (null when unknown or omitted). */
  dims(i: number): Dim[] | null;
  /** Dims of output i. */
  outDims(i: number): Dim[] | null;
  has(i: number): boolean;
  /** Known values of input i. */
  val(i: number): Dim[] | undefined;
  /** Type of input i. */
  in(i: number): TensorType | undefined;
  /** FLOPs of one run of a subgraph given its input types (null when any node in it is unknown). */
  bodyFlops(g: GraphProto, inputs: readonly (TensorType | undefined)[]): number | null;
}

/** A FLOP rule. */
export type FlopRule = (c: CostCtx) => number | null;

/** Product of dims when all are numbers, else null. */
export function numel(d: readonly Dim[] | null): number | null {
  if (!d) return null;
  let n = 1;
  for (const x of d) {
    if (typeof x !== "number") return null;
    n *= x;
  }
  return n;
}

/** a * b * ... with nulls propagating. */
function mul(...xs: (number | null | undefined)[]): number | null {
  let p = 1;
  for (const x of xs) {
    if (x === null || x === undefined) return null;
    p *= x;
  }
  return p;
}

function add(...xs: (number | null)[]): number | null {
  let s = 0;
  for (const x of xs) {
    if (x === null) return null;
    s += x;
  }
  return s;
}

const last = (d: Dim[] | null, k = 1): number | null => {
  const v = d?.[d.length - k];
  return typeof v === "number" ? v : null;
};

const perOut = (k: number): FlopRule => (c) => mul(k, numel(c.outDims(0)));
const perIn = (k: number): FlopRule => (c) => mul(k, numel(c.dims(0)));
const variadic: FlopRule = (c) => mul(Math.max(1, c.node.input.filter((x) => x).length - 1), numel(c.outDims(0)));

/** 2*K per output element: MatMul-style products; `ai` is the A input, `transA` swaps its last dims. */
function matmulRule(ai: number, k?: (c: CostCtx) => number | null): FlopRule {
  return (c) => {
    const a = c.dims(ai);
    const kk = k ? k(c) : attrInt(c.node, "transA", 0) === 1 ? last(a, 2) : last(a);
    return mul(2, numel(c.outDims(0)), kk);
  };
}

const gemm: FlopRule = (c) => {
  const a = c.dims(0);
  const k = attrInt(c.node, "transA", 0) === 1 ? a?.[0] : a?.[1];
  const out = numel(c.outDims(0));
  return add(mul(2, out, typeof k === "number" ? k : null), c.has(2) ? out : 0);
};

/** Conv: 2 * out elements * (Cin/group * kernel) (read off the weight's dims) + bias. */
function convRule(wi: number, bi?: number): FlopRule {
  return (c) => {
    const w = c.dims(wi);
    const out = numel(c.outDims(0));
    return add(mul(2, out, numel(w ? w.slice(1) : null)), bi !== undefined && c.has(bi) ? out : 0);
  };
}

/** ConvTranspose: every input element scatters into Cout/group * kernel outputs. */
const convTranspose: FlopRule = (c) => {
  const w = c.dims(1);
  return add(mul(2, numel(c.dims(0)), numel(w ? w.slice(1) : null)), c.has(2) ? numel(c.outDims(0)) : 0);
};

const pool: FlopRule = (c) => mul(numel(c.outDims(0)), numel(attrInts(c.node, "kernel_shape") ?? null));

const resize: FlopRule = (c) => (attrStr(c.node, "mode", "nearest") === "nearest" ? 0 : mul(8, numel(c.outDims(0))));

/** Einsum: product of every label's size, times 2 when something is summed over. */
const einsum: FlopRule = (c) => {
  const eq = parseEinsum(attrStr(c.node, "equation", ""));
  if (!eq) return null;
  const sizes = new Map<string, number>();
  const counts = new Map<string, number>();
  let ellipsis = 1;
  for (let i = 0; i < eq.inputs.length; i++) {
    const term = eq.inputs[i]!;
    const d = c.dims(i);
    if (!d) return null;
    const at = term.indexOf("...");
    const nEll = at < 0 ? 0 : d.length - (term.length - 3);
    if (nEll < 0) return null;
    const labels = at < 0 ? [...term] : [...term.slice(0, at), ...new Array<string>(nEll).fill("."), ...term.slice(at + 3)];
    for (let k = 0; k < labels.length; k++) {
      const l = labels[k]!;
      const dim = d[k];
      if (typeof dim !== "number") return null;
      if (l === ".") continue;
      sizes.set(l, Math.max(sizes.get(l) ?? 1, dim));
      counts.set(l, (counts.get(l) ?? 0) + 1);
    }
    if (nEll > 0) ellipsis = Math.max(ellipsis, numel(d.slice(at, at + nEll)) ?? 1);
  }
  const total = ellipsis * [...sizes.values()].reduce((p, q) => p * q, 1);
  const out = eq.output;
  const contracted = out !== null ? [...sizes.keys()].some((l) => !out.includes(l)) : [...counts.values()].some((n) => n > 1);
  return contracted ? 2 * total : total;
};

/** com.microsoft Attention: QKV projection, then the two attention matmuls. */
const msAttention: FlopRule = (c) => {
  const x = c.dims(0);
  const w = c.dims(1);
  const [b, s, hin] = [x?.[0], x?.[1], x?.[2]].map((d) => (typeof d === "number" ? d : null));
  const wn = last(w);
  const sizes = attrInts(c.node, "qkv_hidden_sizes");
  const hqk = sizes?.length === 3 ? sizes[0]! : wn === null ? null : wn / 3;
  const hv = sizes?.length === 3 ? sizes[2]! : hqk;
  const t = typeof c.outDims(1)?.[3] === "number" ? (c.outDims(1)![3] as number) : s;
  const proj = add(mul(2, b, s, hin, wn), c.has(2) ? mul(b, s, wn) : 0);
  return add(proj, mul(2, b, s, t, add(hqk, hv)));
};

/** Attention given Q and the output: 2*|Q|*L for Q.K^T plus 2*|out|*L for P.V. */
function attentionCore(q: number | null, out: number | null, l: number | null): number | null {
  return add(mul(2, q, l), mul(2, out, l));
}

const msMha: FlopRule = (c) => {
  const q = c.dims(0);
  const k = c.has(1) ? c.dims(1) : null;
  let l: number | null = q?.length === 5 || !c.has(1) ? (typeof q?.[1] === "number" ? q[1] : null) : k?.length === 4 ? last(k, 2) : typeof k?.[1] === "number" ? k[1] : null;
  if (c.has(6)) l = add(l, last(c.dims(6), 2));
  const qn = q?.length === 5 ? mul(numel(q), 1 / 3) : numel(q);
  return attentionCore(qn, numel(c.outDims(0)), l);
};

const msGqa: FlopRule = (c) => {
  const q = c.dims(0);
  const present = c.outDims(1);
  const total = typeof present?.[2] === "number" ? present[2] : typeof q?.[1] === "number" ? q[1] : null;
  const out = numel(c.outDims(0));
  return attentionCore(out, out, total);
};

const onnxAttention: FlopRule = (c) => {
  const k = c.dims(1);
  let l = k?.length === 4 ? last(k, 2) : typeof k?.[1] === "number" ? k[1] : null;
  if (c.has(4)) l = add(l, last(c.dims(4), 2));
  return attentionCore(numel(c.dims(0)), numel(c.outDims(0)), l);
};

const ifRule: FlopRule = (c) => {
  const branch = (name: string): GraphProto | undefined => c.node.attribute.find((a) => a.name === name)?.g;
  const thenG = branch("then_branch");
  const elseG = branch("else_branch");
  if (!thenG || !elseG) return null;
  const cond = c.val(0)?.[0];
  if (typeof cond === "number") return c.bodyFlops(cond !== 0 ? thenG : elseG, []);
  const a = c.bodyFlops(thenG, []);
  const b = c.bodyFlops(elseG, []);
  return a === null || b === null ? null : Math.max(a, b);
};

const loop: FlopRule = (c) => {
  const body = c.node.attribute.find((a) => a.name === "body")?.g;
  const m = c.has(0) ? c.val(0)?.[0] : undefined;
  if (!body || c.has(1) || typeof m !== "number") return null; // trip count unknown
  const carried = c.node.input.slice(2).map((_, i) => c.in(2 + i));
  return mul(m, c.bodyFlops(body, [tt(DT.INT64, []), tt(DT.BOOL, []), ...carried]));
};

const scan: FlopRule = (c) => {
  const body = c.node.attribute.find((a) => a.name === "body")?.g;
  const m = attrInt(c.node, "num_scan_inputs");
  if (!body || m === undefined) return null;
  const nState = c.node.input.length - m;
  const axes = attrInts(c.node, "scan_input_axes") ?? [];
  const inputs = c.node.input.map((_, i) => {
    const t = c.in(i);
    if (i < nState || !t?.dims) return t;
    const a = (axes[i - nState] ?? 0) + ((axes[i - nState] ?? 0) < 0 ? t.dims.length : 0);
    return tt(t.elemType, t.dims.filter((_, k) => k !== a));
  });
  const first = c.dims(nState);
  const a0 = (axes[0] ?? 0) + ((axes[0] ?? 0) < 0 ? (first?.length ?? 0) : 0);
  const len = first?.[a0];
  return mul(typeof len === "number" ? len : null, c.bodyFlops(body, inputs));
};

/** Ops that move or describe data and do no arithmetic. */
export const ZERO_FLOP_OPS = new Set([
  "Shape", "Size", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Transpose", "Gather", "GatherElements", "GatherND",
  "Slice", "Concat", "Split", "Expand", "Tile", "Constant", "ConstantOfShape", "Identity", "Dropout", "Cast", "CastLike",
  "Pad", "Range", "EyeLike", "NonZero", "OneHot", "Compress", "DepthToSpace", "SpaceToDepth", "ReverseSequence",
  "Scatter", "ScatterElements", "ScatterND", "Optional", "OptionalHasElement", "OptionalGetElement",
  "SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceErase", "SequenceAt", "SequenceLength",
  "SplitToSequence", "ConcatFromSequence", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
  "Bernoulli", "Multinomial", "Unique", "NonMaxSuppression",
]);

const ONE = [
  "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Abs", "Neg", "Relu", "LeakyRelu", "PRelu", "Sqrt", "Exp", "Log", "Tanh",
  "Erf", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
  "Asinh", "Acosh", "Atanh", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not",
  "Where", "Clip", "IsNaN", "IsInf", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "Trilu",
  "CumSum", "ThresholdedRelu", "Shrink",
];
const PER_ELEMENT: Record<string, number> = {
  Sigmoid: 4, HardSigmoid: 3, HardSwish: 4, Softplus: 3, Softsign: 3, Elu: 3, Selu: 4, Celu: 4, Mish: 6, Gelu: 8, Swish: 5,
  Softmax: 5, LogSoftmax: 5, Hardmax: 2, LayerNormalization: 8, RMSNormalization: 6, SimplifiedLayerNormalization: 6,
  BatchNormalization: 2, InstanceNormalization: 8, GroupNormalization: 8, MeanVarianceNormalization: 8,
  LpNormalization: 3, LRN: 5, DequantizeLinear: 2, QuantizeLinear: 3, DynamicQuantizeLinear: 5,
};
const MS_PER_ELEMENT: Record<string, number> = {
  Gelu: 8, FastGelu: 8, QuickGelu: 5, BiasGelu: 9, BiasAdd: 2, SkipLayerNormalization: 10,
  SkipSimplifiedLayerNormalization: 8, SimplifiedLayerNormalization: 6, LayerNormalization: 8, RotaryEmbedding: 3,
  DequantizeLinear: 2, QuantizeLinear: 3,
};
const REDUCE: Record<string, number> = {
  ReduceMean: 1, ReduceSum: 1, ReduceMax: 1, ReduceMin: 1, ReduceProd: 1, ReduceL1: 1, ReduceL2: 2,
  ReduceLogSum: 1, ReduceLogSumExp: 3, ReduceSumSquare: 2, ArgMax: 1, ArgMin: 1, TopK: 1,
  GlobalAveragePool: 1, GlobalMaxPool: 1, GlobalLpPool: 2,
};

/** FLOP rules keyed by op type ("domain:op" outside ai.onnx). */
export const FLOP_RULES: Record<string, FlopRule> = {
  ...Object.fromEntries(ONE.map((op) => [op, perOut(1)])),
  ...Object.fromEntries(Object.entries(PER_ELEMENT).map(([op, k]) => [op, perOut(k)])),
  ...Object.fromEntries(Object.entries(MS_PER_ELEMENT).map(([op, k]) => [`com.microsoft:${op}`, perOut(k)])),
  ...Object.fromEntries(Object.entries(REDUCE).map(([op, k]) => [op, perIn(k)])),
  Sum: variadic, Max: variadic, Min: variadic, Mean: variadic,
  MatMul: matmulRule(0),
  MatMulInteger: matmulRule(0),
  QLinearMatMul: matmulRule(0),
  "com.microsoft:FusedMatMul": matmulRule(0),
  "com.microsoft:MatMulIntegerToFloat": matmulRule(0),
  "com.microsoft:MatMulNBits": matmulRule(0, (c) => attrInt(c.node, "K") ?? null),
  Gemm: gemm,
  Conv: convRule(1, 2),
  ConvInteger: convRule(1),
  QLinearConv: convRule(3, 8),
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  Resize: resize,
  Upsample: resize,
  GridSample: perOut(8),
  Einsum: einsum,
  Attention: onnxAttention,
  "com.microsoft:Attention": msAttention,
  "com.microsoft:MultiHeadAttention": msMha,
  "com.microsoft:GroupQueryAttention": msGqa,
  If: ifRule,
  Loop: loop,
  Scan: scan,
};
