/**
 * Shape rules for elementwise ops (unary, broadcasting binary/variadic, comparisons, Where,
 * Cast), normalizations and (de)quantization, plus the value arithmetic they do on small
 * integer tensors (Shape chains: Add/Sub/Mul/Div on symbolic sizes, Equal/Where on shapes).
 */
import { DT } from "./dtypes.js";
import { attrInt, isIntType, type OpCtx, type OpRule } from "./shape-ctx.js";
import { dimAdd, dimDiv, dimDivExact, dimEq, dimMul, dimSub } from "./shape-sym.js";
import { broadcastShapes, isConcrete, normAxis, tt, type Dim } from "./shape-types.js";

type ValueFn = (args: Dim[], c: OpCtx) => Dim;

const num = (d: Dim): number | undefined => (typeof d === "number" ? d : undefined);
/** Applies f when every argument is a number; null otherwise. */
const numeric = (f: (...xs: number[]) => number): ValueFn => (args) => {
  const xs = args.map(num);
  return xs.every((x) => x !== undefined) ? f(...(xs as number[])) : null;
};
const bool = (b: boolean | undefined): Dim => (b === undefined ? null : b ? 1 : 0);

/** Value arithmetic per op (only for small tensors whose values are known). */
const VALUE_FNS: Record<string, ValueFn> = {
  Add: ([a, b]) => dimAdd(a!, b!),
  Sub: ([a, b]) => dimSub(a!, b!),
  Mul: ([a, b]) => dimMul(a!, b!),
  Div: ([a, b], c) => {
    if (isIntType(c.elem(0))) return dimDiv(a!, b!);
    if (typeof a === "number" && typeof b === "number") return b === 0 ? null : a / b;
    return dimDivExact(a!, b!);
  },
  Mod: numeric((a, b) => (b === 0 ? NaN : ((a % b) + b) % b)),
  Max: (xs, c) => (xs.every((x) => dimEq(x, xs[0]!) === true) ? xs[0]! : numeric(Math.max)(xs, c)),
  Min: (xs, c) => (xs.every((x) => dimEq(x, xs[0]!) === true) ? xs[0]! : numeric(Math.min)(xs, c)),
  Equal: ([a, b]) => bool(dimEq(a!, b!)),
  Less: numeric((a, b) => Number(a < b)),
  Greater: numeric((a, b) => Number(a > b)),
  LessOrEqual: numeric((a, b) => Number(a <= b)),
  GreaterOrEqual: numeric((a, b) => Number(a >= b)),
  And: numeric((a, b) => Number(a !== 0 && b !== 0)),
  Or: numeric((a, b) => Number(a !== 0 || b !== 0)),
  Xor: numeric((a, b) => Number((a !== 0) !== (b !== 0))),
  Not: numeric((a) => Number(a === 0)),
  Neg: ([a]) => dimMul(a!, -1),
  Abs: numeric(Math.abs),
  Sqrt: numeric(Math.sqrt),
  Identity: ([a]) => a!,
  Where: ([cond, x, y]) => (cond === null ? null : typeof cond === "number" ? (cond !== 0 ? x! : y!) : null),
  // sizes that reached float math stay integers: floor/ceil of a symbol is the symbol
  Floor: ([a]) => (typeof a === "number" ? Math.floor(a) : a!),
  Ceil: ([a]) => (typeof a === "number" ? Math.ceil(a) : a!),
  Round: ([a]) => (typeof a === "number" ? Math.round(a) : a!),
};

/** Elementwise values with broadcasting, when every input's values and dims are known. */
function computeValues(c: OpCtx, inputs: number[], outDims: readonly Dim[] | null, f: ValueFn): void {
  if (!isConcrete(outDims)) return;
  const n = outDims.reduce((a, b) => a * b, 1);
  const vals: Dim[][] = [];
  const shapes: number[][] = [];
  for (const i of inputs) {
    const v = c.val(i);
    const d = c.dims(i);
    if (!v || !isConcrete(d)) return;
    vals.push(v);
    shapes.push(d);
  }
  const rank = outDims.length;
  const out: Dim[] = [];
  const idx = new Array<number>(rank).fill(0);
  for (let k = 0; k < n; k++) {
    const args = vals.map((v, j) => {
      const s = shapes[j]!;
      let off = 0;
      for (let a = 0; a < s.length; a++) off = off * s[a]! + (s[a] === 1 ? 0 : idx[rank - s.length + a]!);
      return v[off] ?? null;
    });
    const r = f(args, c);
    out.push(typeof r === "number" && !Number.isFinite(r) ? null : r);
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a]! < outDims[a]!) break;
      idx[a] = 0;
    }
  }
  c.setVal(0, out);
}

function broadcastRule(typeFrom: number | "bool", inputs?: (c: OpCtx) => number[]): OpRule {
  return (c) => {
    const ins = inputs ? inputs(c) : Array.from({ length: c.node.input.length }, (_, i) => i).filter((i) => c.has(i));
    // the type comes from one input (X for Where); the others must agree, so any known one will do
    const elemType = typeFrom === "bool" ? DT.BOOL : c.elem(typeFrom) || (ins.map((i) => c.elem(i)).find((e, k) => e !== 0 && ins[k]! >= typeFrom) ?? 0);
    const dims = broadcastShapes(ins.map((i) => c.dims(i)));
    if (dims === undefined) return undefined; // incompatible shapes: a broken model
    const f = VALUE_FNS[c.opType];
    if (f) computeValues(c, ins, dims, f);
    return tt(elemType, dims);
  };
}

function unaryRule(elemType?: number): OpRule {
  return (c) => {
    const t = c.in(0);
    if (!t) return elemType === undefined ? undefined : tt(elemType, null);
    const f = VALUE_FNS[c.opType];
    if (f) computeValues(c, [0], t.dims, f);
    return tt(elemType ?? t.elemType, t.dims);
  };
}

const same = unaryRule();

/** Cast: values survive (integers through float and back), truncated when cast to an integer type. */
const cast: OpRule = (c) => {
  const to = attrInt(c.node, "to", 0);
  const v = c.val(0);
  if (v) {
    c.setVal(0, v.map((x) => {
      if (typeof x !== "number") return x;
      if (to === DT.BOOL) return x !== 0 ? 1 : 0;
      return isIntType(to) ? Math.trunc(x) : x;
    }));
  }
  return tt(to, c.dims(0));
};

const castLike: OpRule = (c) => {
  const v = c.val(0);
  if (v) c.setVal(0, v);
  return tt(c.elem(1), c.dims(0));
};

/** Mean/InvStdDev of LayerNormalization: X's shape with the normalized axes set to 1. */
function statsShape(dims: Dim[] | null, axis: number): Dim[] | null {
  if (!dims) return null;
  const a = normAxis(axis, dims.length);
  return a === undefined ? null : dims.map((d, i) => (i >= a ? 1 : d));
}

const layerNorm: OpRule = (c) => {
  const x = c.in(0);
  const stash = attrInt(c.node, "stash_type", DT.FLOAT);
  const stats = tt(stash, statsShape(c.dims(0), attrInt(c.node, "axis", -1)));
  return [x && tt(x.elemType, x.dims), stats, stats];
};

/** com.microsoft SkipLayerNormalization: output, mean, inv_std_var, input+skip+bias. */
const skipLayerNorm: OpRule = (c) => {
  const x = c.in(0);
  const stats = tt(DT.FLOAT, statsShape(c.dims(0), -1));
  return [x, stats, stats, x];
};

const batchNorm: OpRule = (c) => {
  const x = c.in(0);
  const ch = c.dims(0)?.[1] ?? null;
  const stat = tt(c.elem(3) || c.elem(0), [ch]);
  return [x, stat, stat];
};

const dropout: OpRule = (c) => {
  const x = c.in(0);
  if (x) computeValues(c, [0], x.dims, VALUE_FNS.Identity!);
  return [x, tt(DT.BOOL, c.dims(0))];
};

const dequantize: OpRule = (c) => {
  const out = attrInt(c.node, "output_dtype", 0);
  return tt(out || c.elem(1) || DT.FLOAT, c.dims(0));
};

const quantize: OpRule = (c) => {
  const out = attrInt(c.node, "output_dtype", 0);
  return tt((c.has(2) ? c.elem(2) : 0) || out || DT.UINT8, c.dims(0));
};

const dynQuantize: OpRule = (c) => [tt(DT.UINT8, c.dims(0)), tt(DT.FLOAT, []), tt(DT.UINT8, [])];

const UNARY = [
  "Identity", "Neg", "Abs", "Reciprocal", "Sqrt", "Exp", "Log", "Tanh", "Erf", "Relu", "Sigmoid", "Gelu",
  "Softmax", "LogSoftmax", "Hardmax", "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus",
  "Softsign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Floor", "Ceil",
  "Round", "Sign", "Mish", "Shrink", "ThresholdedRelu", "BitwiseNot", "LRN", "InstanceNormalization",
  "LpNormalization", "MeanVarianceNormalization", "Trilu", "CumSum", "Clip", "GroupNormalization",
  "RMSNormalization", "SimplifiedLayerNormalization", "RotaryEmbedding", "ReverseSequence", "Scatter",
  "ScatterElements", "ScatterND", "Swish",
];
const BROADCAST = ["Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "PRelu", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"];
const COMPARE = ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"];
const MS_UNARY = ["Gelu", "FastGelu", "QuickGelu", "RotaryEmbedding", "SimplifiedLayerNormalization"];

/** Rules keyed by op type ("domain:op" outside ai.onnx). */
export const ELEMENTWISE_RULES: Record<string, OpRule> = {
  ...Object.fromEntries(UNARY.map((op) => [op, same])),
  ...Object.fromEntries(MS_UNARY.map((op) => [`com.microsoft:${op}`, same])),
  // FastGelu may carry a bias input; BiasGelu/BiasAdd broadcast their inputs
  "com.microsoft:FastGelu": broadcastRule(0),
  "com.microsoft:BiasGelu": broadcastRule(0),
  "com.microsoft:BiasAdd": broadcastRule(0),
  ...Object.fromEntries(BROADCAST.map((op) => [op, broadcastRule(0)])),
  ...Object.fromEntries(COMPARE.map((op) => [op, broadcastRule("bool")])),
  Where: broadcastRule(1),
  Not: unaryRule(DT.BOOL),
  IsNaN: unaryRule(DT.BOOL),
  IsInf: unaryRule(DT.BOOL),
  Cast: cast,
  CastLike: castLike,
  Dropout: dropout,
  LayerNormalization: layerNorm,
  "com.microsoft:LayerNormalization": layerNorm,
  "com.microsoft:SkipLayerNormalization": skipLayerNorm,
  "com.microsoft:SkipSimplifiedLayerNormalization": skipLayerNorm,
  BatchNormalization: batchNorm,
  DequantizeLinear: dequantize,
  QuantizeLinear: quantize,
  "com.microsoft:DequantizeLinear": dequantize,
  "com.microsoft:QuantizeLinear": quantize,
  DynamicQuantizeLinear: dynQuantize,
};
