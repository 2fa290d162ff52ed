/**
 * Shape rules for ops that make shapes or constants (Shape, Size, Constant, ConstantOfShape,
 * Range, EyeLike, random generators) and for reductions (Reduce*, ArgMax/ArgMin, TopK).
 * Shape/Size/Constant/Range also publish their values, which is what lets Reshape and Expand
 * downstream know their target shapes.
 */
import { DT } from "./dtypes.js";
import { attr, attrInt, attrInts, VALUE_LIMIT, type OpCtx, type OpRule } from "./shape-ctx.js";
import { dimAdd, dimCeilDiv, dimMul, dimProduct, dimSub } from "./shape-sym.js";
import { normAxis, tt, typeOfSparse, typeOfTensor, type Dim, type TensorType } from "./shape-types.js";

const shape: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(DT.INT64, [null]);
  const r = x.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(attrInt(c.node, "start", 0));
  const end = clamp(attrInt(c.node, "end", r));
  const v = x.slice(start, Math.max(start, end));
  c.setVal(0, v);
  return tt(DT.INT64, [v.length]);
};

const size: OpRule = (c) => {
  const x = c.dims(0);
  if (x) c.setVal(0, [dimProduct(x)]);
  return tt(DT.INT64, []);
};

const constant: OpRule = (c) => {
  const a = c.node.attribute[0];
  if (!a) return undefined;
  switch (a.name) {
    case "value": {
      if (!a.t) return undefined;
      const v = c.tensorValues(a.t);
      if (v) c.setVal(0, v);
      return typeOfTensor(a.t);
    }
    case "value_float": c.setVal(0, [a.f]); return tt(DT.FLOAT, []);
    case "value_floats": c.setVal(0, [...a.floats]); return tt(DT.FLOAT, [a.floats.length]);
    case "value_int": c.setVal(0, [Number(a.i)]); return tt(DT.INT64, []);
    case "value_ints": c.setVal(0, a.ints.map((i) => Number(i))); return tt(DT.INT64, [a.ints.length]);
    case "value_string": return tt(DT.STRING, []);
    case "value_strings": return tt(DT.STRING, [a.strings.length]);
    case "sparse_value": return a.sparseTensor ? typeOfSparse(a.sparseTensor) : undefined;
    default: return undefined;
  }
};

const constantOfShape: OpRule = (c) => {
  const t = attr(c.node, "value")?.t;
  const elemType = t ? t.dataType : DT.FLOAT;
  const dims = c.val(0);
  if (!dims) {
    const sd = c.dims(0);
    return tt(elemType, sd && typeof sd[0] === "number" ? new Array<Dim>(sd[0]).fill(null) : null);
  }
  const fill = t ? c.tensorValues(t)?.[0] : 0;
  const n = dimProduct(dims);
  if (fill !== undefined && typeof n === "number" && n <= VALUE_LIMIT) c.setVal(0, new Array<Dim>(n).fill(fill));
  return tt(elemType, dims.map((d) => (typeof d === "number" && d < 0 ? null : d)));
};

const range: OpRule = (c) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => c.val(i)?.[0] ?? null) as [Dim, Dim, Dim];
  let len: Dim = null;
  if (typeof start === "number" && typeof limit === "number" && typeof delta === "number" && delta !== 0) {
    len = Math.max(0, Math.ceil((limit - start) / delta));
    if (len <= VALUE_LIMIT) c.setVal(0, Array.from({ length: len }, (_, i) => start + i * delta));
  } else if (delta === 1) len = dimSub(limit, start);
  else if (delta === -1) len = dimSub(start, limit);
  else if (typeof delta === "number" && delta > 0) len = dimCeilDiv(dimSub(limit, start), delta);
  return tt(c.elem(0), [len]);
};

/** Opset from which each reduction takes axes as an input instead of an attribute. */
const AXES_INPUT_FROM: Record<string, number> = { ReduceSum: 13 };

const REDUCE_VALUES: Record<string, (a: Dim, b: Dim) => Dim> = {
  ReduceSum: dimAdd,
  ReduceProd: dimMul,
  ReduceMax: (a, b) => (typeof a === "number" && typeof b === "number" ? Math.max(a, b) : null),
  ReduceMin: (a, b) => (typeof a === "number" && typeof b === "number" ? Math.min(a, b) : null),
};

const reduce: OpRule = (c) => {
  const x = c.dims(0);
  const keep = attrInt(c.node, "keepdims", 1) === 1;
  const fromInput = c.opset >= (AXES_INPUT_FROM[c.opType] ?? 18);
  let axes: number[] | undefined;
  if (fromInput) {
    if (c.has(1)) {
      axes = c.nums(1);
      if (!axes) return tt(c.elem(0), keep && x ? x.map(() => null) : null);
    }
  } else axes = attrInts(c.node, "axes");
  if (!x) return tt(c.elem(0), null);
  if (!axes || axes.length === 0) {
    if (attrInt(c.node, "noop_with_empty_axes", 0) === 1 && fromInput) return tt(c.elem(0), x);
    axes = x.map((_, i) => i);
  }
  const norm = axes.map((a) => normAxis(a, x.length));
  if (norm.some((a) => a === undefined)) return undefined;
  const f = REDUCE_VALUES[c.opType];
  const v = c.val(0);
  if (f && v && v.length > 0 && norm.length === x.length) c.setVal(0, [v.reduce((p, q) => f(p, q))]);
  const out = keep ? x.map((d, i) => (norm.includes(i) ? 1 : d)) : x.filter((_, i) => !norm.includes(i));
  return tt(c.elem(0), out);
};

const argReduce: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(DT.INT64, null);
  const a = normAxis(attrInt(c.node, "axis", 0), x.length);
  if (a === undefined) return undefined;
  const keep = attrInt(c.node, "keepdims", 1) === 1;
  return tt(DT.INT64, keep ? x.map((d, i) => (i === a ? 1 : d)) : x.filter((_, i) => i !== a));
};

const topK: OpRule = (c) => {
  const x = c.dims(0);
  const k: Dim = c.opset >= 10 ? (c.val(1)?.[0] ?? null) : (attrInt(c.node, "k") ?? null);
  if (!x) return [tt(c.elem(0), null), tt(DT.INT64, null)];
  const a = normAxis(attrInt(c.node, "axis", -1), x.length);
  if (a === undefined) return undefined;
  const dims = x.map((d, i) => (i === a ? k : d));
  return [tt(c.elem(0), dims), tt(DT.INT64, dims)];
};

/** Random generators and *Like ops: dtype attribute, shape from the attribute or the input. */
function generator(fromInput: boolean, defType: (c: OpCtx) => number): OpRule {
  return (c): TensorType => {
    const dtype = attrInt(c.node, "dtype", 0) || defType(c);
    return tt(dtype, fromInput ? c.dims(0) : (attrInts(c.node, "shape") ?? null));
  };
}

const multinomial: OpRule = (c) => {
  const x = c.dims(0);
  return tt(attrInt(c.node, "dtype", DT.INT32), [x?.[0] ?? null, attrInt(c.node, "sample_size", 1)]);
};

/** Rules keyed by op type. */
export const VALUE_RULES: Record<string, OpRule> = {
  Shape: shape,
  Size: size,
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  ...Object.fromEntries(
    ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]
      .map((op) => [op, reduce]),
  ),
  ArgMax: argReduce,
  ArgMin: argReduce,
  TopK: topK,
  EyeLike: generator(true, (c) => c.elem(0)),
  RandomNormal: generator(false, () => DT.FLOAT),
  RandomUniform: generator(false, () => DT.FLOAT),
  RandomNormalLike: generator(true, (c) => c.elem(0)),
  RandomUniformLike: generator(true, (c) => c.elem(0)),
  Bernoulli: generator(true, (c) => c.elem(0)),
  Multinomial: multinomial,
};
