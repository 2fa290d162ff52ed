/**
 * Shape rules for data-movement ops: Reshape (0, -1, symbolic sizes), Flatten, Transpose,
 * Concat, Split, Slice, Gather/GatherElements/GatherND, Unsqueeze/Squeeze, Expand, Tile, OneHot,
 * NonZero and friends. Where an op rearranges a small tensor of known values (a Shape chain),
 * the values follow.
 */
import { DT } from "./dtypes.js";
import { attrInt, attrInts, type OpCtx, type OpRule } from "./shape-ctx.js";
import { dimAdd, dimCeilDiv, dimDivExact, dimMul, dimProduct, dimSub } from "./shape-sym.js";
import { broadcastShapes, isConcrete, normAxis, tt, unifyDim, type Dim } from "./shape-types.js";

/** Slice bounds at or beyond these mean "to the end" / "from before the start". */
const BIG = 2 ** 31 - 1;

/** Passes input 0's values through unchanged (same element order). */
function keepValues(c: OpCtx): void {
  const v = c.val(0);
  if (v) c.setVal(0, v);
}

const reshape: OpRule = (c) => {
  const x = c.dims(0);
  const shape = c.opset >= 5 ? c.val(1) : attrInts(c.node, "shape");
  if (!shape) {
    const sd = c.dims(1);
    return tt(c.elem(0), sd && typeof sd[0] === "number" ? new Array<Dim>(sd[0]).fill(null) : null);
  }
  const allowZero = attrInt(c.node, "allowzero", 0) === 1;
  let inferAt = -1;
  const out: Dim[] = shape.map((s, i) => {
    if (s === 0 && !allowZero) return x ? (x[i] ?? null) : null;
    if (s === -1) {
      inferAt = i;
      return null;
    }
    return typeof s === "number" && s < 0 ? null : s;
  });
  if (inferAt >= 0 && x) out[inferAt] = dimDivExact(dimProduct(x), dimProduct(out.filter((_, i) => i !== inferAt)));
  keepValues(c);
  return tt(c.elem(0), out);
};

const flatten: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(c.elem(0), [null, null]);
  const axis = attrInt(c.node, "axis", 1);
  const a = axis < 0 ? axis + x.length : axis;
  if (a < 0 || a > x.length) return undefined;
  keepValues(c);
  return tt(c.elem(0), [dimProduct(x.slice(0, a)), dimProduct(x.slice(a))]);
};

const transpose: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(c.elem(0), null);
  const perm = attrInts(c.node, "perm") ?? x.map((_, i) => x.length - 1 - i);
  if (perm.length !== x.length || perm.some((p) => normAxis(p, x.length) === undefined)) return undefined;
  if (x.length <= 1) keepValues(c);
  return tt(c.elem(0), perm.map((p) => x[normAxis(p, x.length)!]!));
};

const concat: OpRule = (c) => {
  const ins = c.node.input.map((_, i) => i).filter((i) => c.has(i));
  const shapes = ins.map((i) => c.dims(i));
  const known = shapes.filter((s): s is Dim[] => s !== null);
  const elem = ins.map((i) => c.elem(i)).find((e) => e !== 0) ?? 0;
  if (known.length === 0) return tt(elem, null);
  const rank = known[0]!.length;
  if (known.some((s) => s.length !== rank)) return undefined;
  const a = normAxis(attrInt(c.node, "axis", 0), rank);
  if (a === undefined) return undefined;
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    if (i === a) {
      out.push(shapes.every((s) => s) ? shapes.reduce<Dim>((acc, s) => dimAdd(acc, s![i]!), 0) : null);
      continue;
    }
    let d: Dim | undefined = null;
    for (const s of known) {
      d = unifyDim(d, s[i]!);
      if (d === undefined) return undefined;
    }
    out.push(d);
  }
  const vals = ins.map((i) => c.val(i));
  if (rank === 1 && vals.every((v) => v)) c.setVal(0, vals.flatMap((v) => v!));
  return tt(elem, out);
};

const split: OpRule = (c) => {
  const x = c.dims(0);
  const n = c.nOut;
  if (!x) return new Array(n).fill(tt(c.elem(0), null));
  const a = normAxis(attrInt(c.node, "axis", 0), x.length);
  if (a === undefined) return undefined;
  const d = x[a]!;
  let sizes: Dim[] | undefined = c.opset >= 13 ? (c.has(1) ? c.val(1) : undefined) : attrInts(c.node, "split");
  if (c.opset >= 13 && c.has(1) && !sizes) sizes = new Array<Dim>(n).fill(null);
  if (!sizes) {
    const numOutputs = attrInt(c.node, "num_outputs");
    if (numOutputs !== undefined) {
      const chunk = dimCeilDiv(d, numOutputs);
      sizes = Array.from({ length: n }, (_, i) => (i < n - 1 ? chunk : dimSub(d, dimMul(chunk, n - 1))));
    } else sizes = new Array<Dim>(n).fill(dimDivExact(d, n));
  }
  if (sizes.length !== n) return undefined;
  const v = c.val(0);
  if (v && x.length === 1 && isConcrete(sizes)) {
    let off = 0;
    sizes.forEach((s, i) => {
      c.setVal(i, v.slice(off, off + s));
      off += s;
    });
  }
  return sizes.map((s) => tt(c.elem(0), x.map((dd, i) => (i === a ? s : dd))));
};

/** [start, length] of a slice of a dim of size d, or null parts when unknown. */
export function sliceRange(d: Dim, s: Dim, e: Dim, step: Dim): { start: Dim; len: Dim } {
  if (typeof step !== "number" || step === 0) return { start: null, len: null };
  if (typeof d === "number" && typeof s === "number" && typeof e === "number") {
    if (step > 0) {
      const st = Math.min(Math.max(s < 0 ? s + d : s, 0), d);
      const en = Math.min(Math.max(e < 0 ? e + d : e, 0), d);
      return { start: st, len: Math.max(0, Math.ceil((en - st) / step)) };
    }
    const st = Math.min(Math.max(s < 0 ? s + d : s, 0), d - 1);
    const en = Math.min(Math.max(e < 0 ? e + d : e, -1), d - 1);
    return { start: st, len: Math.max(0, Math.ceil((st - en) / -step)) };
  }
  if (step < 0) {
    // only the full reversal x[::-1] is understood symbolically
    const full = (s === -1 || (typeof s === "number" && s >= BIG)) && typeof e === "number" && e <= -BIG;
    return { start: full ? dimSub(d, 1) : null, len: full ? d : null };
  }
  // symbolic: assume symbolic bounds are in range
  const st: Dim = typeof s === "number" ? (s < 0 ? dimAdd(d, s) : s >= BIG ? d : typeof d === "number" ? Math.min(s, d) : s) : s;
  const en: Dim = typeof e === "number" ? (e >= BIG ? d : e < 0 ? (e <= -BIG ? 0 : dimAdd(d, e)) : typeof d === "number" ? Math.min(e, d) : e) : e;
  let len = dimSub(en, st);
  if (typeof len === "number") len = Math.max(0, typeof d === "number" ? Math.min(len, d) : len);
  return { start: st, len: step === 1 ? len : dimCeilDiv(len, step) };
}

const slice: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(c.elem(0), null);
  const old = c.opset < 10;
  const starts = old ? attrInts(c.node, "starts") : c.val(1);
  const ends = old ? attrInts(c.node, "ends") : c.val(2);
  const axes: Dim[] | undefined = old ? attrInts(c.node, "axes") : c.has(3) ? c.val(3) : undefined;
  const steps: Dim[] | undefined = !old && c.has(4) ? c.val(4) : undefined;
  const count = starts?.length ?? ends?.length ?? axes?.length;
  if (axes && !axes.every((a) => typeof a === "number")) return tt(c.elem(0), x.map(() => null));
  const ax = (axes as number[] | undefined) ?? (count !== undefined ? Array.from({ length: count }, (_, i) => i) : undefined);
  if (!ax) return tt(c.elem(0), x.map(() => null));
  const out = [...x];
  const ranges: { start: Dim; len: Dim }[] = [];
  for (let j = 0; j < ax.length; j++) {
    const a = normAxis(ax[j]!, x.length);
    if (a === undefined) return undefined;
    const r = starts && ends ? sliceRange(x[a]!, starts[j] ?? null, ends[j] ?? null, steps ? (steps[j] ?? null) : 1) : { start: null, len: null };
    out[a] = r.len;
    ranges.push(r);
  }
  const v = c.val(0);
  const r = ranges[0];
  if (v && x.length === 1 && r && typeof r.start === "number" && typeof r.len === "number") {
    const step = (steps?.[0] ?? 1) as number;
    c.setVal(0, Array.from({ length: r.len }, (_, i) => v[(r.start as number) + i * step] ?? null));
  }
  return tt(c.elem(0), out);
};

/** Gathers values along an axis when data dims and indices are concrete. */
function gatherValues(c: OpCtx, data: number[], a: number): void {
  const v = c.val(0);
  const idx = c.nums(1);
  if (!v || !idx) return;
  const outer = data.slice(0, a).reduce((p, q) => p * q, 1);
  const inner = data.slice(a + 1).reduce((p, q) => p * q, 1);
  const n = data[a]!;
  const out: Dim[] = [];
  for (let o = 0; o < outer; o++) {
    for (const raw of idx) {
      const i = raw < 0 ? raw + n : raw;
      if (i < 0 || i >= n) return;
      for (let k = 0; k < inner; k++) out.push(v[(o * n + i) * inner + k] ?? null);
    }
  }
  c.setVal(0, out);
}

const gather: OpRule = (c) => {
  const data = c.dims(0);
  const idx = c.dims(1);
  if (!data || !idx) return tt(c.elem(0), null);
  const a = normAxis(attrInt(c.node, "axis", 0), data.length);
  if (a === undefined) return undefined;
  if (isConcrete(data)) gatherValues(c, data, a);
  return tt(c.elem(0), [...data.slice(0, a), ...idx, ...data.slice(a + 1)]);
};

const gatherElements: OpRule = (c) => tt(c.elem(0), c.dims(1));

const gatherND: OpRule = (c) => {
  const data = c.dims(0);
  const idx = c.dims(1);
  const b = attrInt(c.node, "batch_dims", 0);
  const k = idx?.[idx.length - 1];
  if (!data || !idx || typeof k !== "number") return tt(c.elem(0), null);
  return tt(c.elem(0), [...idx.slice(0, -1), ...data.slice(b + k)]);
};

const unsqueeze: OpRule = (c) => {
  const x = c.dims(0);
  const axes = c.opset >= 13 ? c.nums(1) : attrInts(c.node, "axes");
  if (!x || !axes) return tt(c.elem(0), null);
  const rank = x.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank));
  if (norm.some((a) => a === undefined) || new Set(norm).size !== norm.length) return undefined;
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : x[k++]!);
  keepValues(c);
  return tt(c.elem(0), out);
};

const squeeze: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(c.elem(0), null);
  const axes = c.opset >= 13 ? (c.has(1) ? c.nums(1) : undefined) : attrInts(c.node, "axes");
  if (c.opset >= 13 && c.has(1) && !axes) return tt(c.elem(0), null);
  let out: Dim[];
  if (axes) {
    const norm = axes.map((a) => normAxis(a, x.length));
    if (norm.some((a) => a === undefined || (typeof x[a] === "number" && x[a] !== 1))) return undefined;
    out = x.filter((_, i) => !norm.includes(i));
  } else {
    // no axes: drop every 1; a dim of unknown size might be 1, so the rank is unknown then
    if (x.some((d) => d === null)) return tt(c.elem(0), null);
    out = x.filter((d) => d !== 1);
  }
  keepValues(c);
  return tt(c.elem(0), out);
};

const expand: OpRule = (c) => {
  const x = c.dims(0);
  let shape: Dim[] | undefined | null = c.val(1);
  if (!shape) {
    const sd = c.dims(1);
    shape = sd && typeof sd[0] === "number" ? new Array<Dim>(sd[0]).fill(null) : null;
  }
  const out = broadcastShapes([x, shape]);
  return out === undefined ? undefined : tt(c.elem(0), out);
};

const tile: OpRule = (c) => {
  const x = c.dims(0);
  const r = c.val(1);
  if (!x) return tt(c.elem(0), null);
  if (!r) return tt(c.elem(0), x.map(() => null));
  if (r.length !== x.length) return undefined;
  return tt(c.elem(0), x.map((d, i) => dimMul(d, r[i]!)));
};

const oneHot: OpRule = (c) => {
  const idx = c.dims(0);
  if (!idx) return tt(c.elem(2), null);
  const depth = c.val(1)?.[0] ?? null;
  const a = normAxis(attrInt(c.node, "axis", -1), idx.length + 1);
  if (a === undefined) return undefined;
  const out = [...idx];
  out.splice(a, 0, typeof depth === "number" ? Math.trunc(depth) : depth);
  return tt(c.elem(2), out);
};

const nonZero: OpRule = (c) => {
  const x = c.dims(0);
  return tt(DT.INT64, [x ? x.length : null, null]);
};

const compress: OpRule = (c) => {
  const x = c.dims(0);
  const axis = attrInt(c.node, "axis");
  if (!x || axis === undefined) return tt(c.elem(0), x && axis === undefined ? [null] : null);
  const a = normAxis(axis, x.length);
  return a === undefined ? undefined : tt(c.elem(0), x.map((d, i) => (i === a ? null : d)));
};

const unique: OpRule = (c) => {
  const axis = attrInt(c.node, "axis");
  const x = c.dims(0);
  const y = axis === undefined || !x ? [null] : x.map((d, i) => (i === normAxis(axis, x.length) ? null : d));
  return [tt(c.elem(0), axis === undefined ? [null] : y), tt(DT.INT64, [null]), tt(DT.INT64, [null]), tt(DT.INT64, [null])];
};

/** Rules keyed by op type. */
export const TENSOR_RULES: Record<string, OpRule> = {
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  GatherND: gatherND,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Expand: expand,
  Tile: tile,
  OneHot: oneHot,
  NonZero: nonZero,
  Compress: compress,
  Unique: unique,
  NonMaxSuppression: () => tt(DT.INT64, [null, 3]),
};
