/**
 * Shape rules for convolutional-network ops: Conv (pads/strides/dilations/auto_pad/group),
 * ConvTranspose, ConvInteger, QLinearConv, pools (MaxPool/AveragePool/LpPool, global pools),
 * Resize/Upsample, Pad, DepthToSpace/SpaceToDepth, GridSample.
 */
import { DT } from "./dtypes.js";
import { attrFloats, attrInt, attrInts, attrStr, type OpCtx, type OpRule } from "./shape-ctx.js";
import { dimAdd, dimCeilDiv, dimDiv, dimDivExact, dimMul, dimSub } from "./shape-sym.js";
import { normAxis, tt, type Dim } from "./shape-types.js";

/** Geometry attributes of a conv/pool node for `n` spatial dims. */
export interface ConvGeometry {
  kernel: Dim[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

/** Reads kernel_shape (or the weight's trailing dims), strides, dilations, pads and auto_pad. */
export function convGeometry(c: OpCtx, n: number, weight?: Dim[] | null): ConvGeometry {
  const node = c.node;
  const ones = new Array<number>(n).fill(1);
  const kernel: Dim[] = attrInts(node, "kernel_shape") ?? (weight ? weight.slice(2) : new Array<Dim>(n).fill(null));
  return {
    kernel,
    strides: attrInts(node, "strides") ?? ones,
    dilations: attrInts(node, "dilations") ?? ones,
    pads: attrInts(node, "pads") ?? new Array<number>(2 * n).fill(0),
    autoPad: attrStr(node, "auto_pad", "NOTSET"),
  };
}

/** Output size of one spatial dim of a conv/pool: floor((in + pads - d*(k-1) - 1)/s) + 1 (or ceil). */
export function convOutDim(input: Dim, k: Dim, s: number, d: number, pb: number, pe: number, autoPad: string, ceilMode = false): Dim {
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return dimCeilDiv(input, s);
  const [b, e] = autoPad === "VALID" ? [0, 0] : [pb, pe];
  const span = dimSub(dimAdd(input, b + e), dimAdd(dimMul(d, dimSub(k, 1)), 1));
  if (typeof span === "number") {
    if (span < 0) return null;
    let out = (ceilMode ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    // ceil mode: the last window must start inside the input or left padding (PyTorch/onnxruntime)
    if (ceilMode && typeof input === "number" && (out - 1) * s >= input + b) out--;
    return out;
  }
  return s === 1 ? dimAdd(span, 1) : dimAdd(dimDivExact(span, s), 1);
}

function spatialOut(c: OpCtx, x: Dim[], g: ConvGeometry, ceilMode = false): Dim[] {
  const n = x.length - 2;
  return Array.from({ length: n }, (_, i) =>
    convOutDim(x[2 + i]!, g.kernel[i] ?? null, g.strides[i] ?? 1, g.dilations[i] ?? 1, g.pads[i] ?? 0, g.pads[i + n] ?? 0, g.autoPad, ceilMode));
}

/** Conv / ConvInteger / QLinearConv: data at `xi`, weight at `wi`. */
function convRule(xi: number, wi: number, elemType: (c: OpCtx) => number): OpRule {
  return (c) => {
    const x = c.dims(xi);
    const w = c.dims(wi);
    if (!x) return tt(elemType(c), w ? [null, w[0]!, ...w.slice(2).map(() => null)] : null);
    if (x.length < 3 || (w && w.length !== x.length)) return undefined;
    return tt(elemType(c), [x[0]!, w ? w[0]! : null, ...spatialOut(c, x, convGeometry(c, x.length - 2, w))]);
  };
}

const convTranspose: OpRule = (c) => {
  const x = c.dims(0);
  const w = c.dims(1);
  if (!x || x.length < 3) return tt(c.elem(0), null);
  const n = x.length - 2;
  const group = attrInt(c.node, "group", 1);
  const g = convGeometry(c, n, w);
  const outPad = attrInts(c.node, "output_padding") ?? new Array<number>(n).fill(0);
  const outShape = attrInts(c.node, "output_shape");
  const spatial = Array.from({ length: n }, (_, i): Dim => {
    if (outShape) return outShape[outShape.length - n + i] ?? null;
    const s = g.strides[i] ?? 1;
    if (g.autoPad === "SAME_UPPER" || g.autoPad === "SAME_LOWER") return dimMul(x[2 + i]!, s);
    const k = g.kernel[i] ?? null;
    const full = dimAdd(dimMul(s, dimSub(x[2 + i]!, 1)), dimAdd(dimMul(g.dilations[i] ?? 1, dimSub(k, 1)), 1 + (outPad[i] ?? 0)));
    return g.autoPad === "VALID" ? full : dimSub(full, (g.pads[i] ?? 0) + (g.pads[i + n] ?? 0));
  });
  return tt(c.elem(0), [x[0]!, w ? dimMul(w[1]!, group) : null, ...spatial]);
};

function poolRule(withIndices: boolean): OpRule {
  return (c) => {
    const x = c.dims(0);
    const t = x && x.length >= 3 ? tt(c.elem(0), [x[0]!, x[1]!, ...spatialOut(c, x, convGeometry(c, x.length - 2), attrInt(c.node, "ceil_mode", 0) === 1)]) : tt(c.elem(0), null);
    return withIndices ? [t, tt(DT.INT64, t.dims)] : [t];
  };
}

const globalPool: OpRule = (c) => {
  const x = c.dims(0);
  return tt(c.elem(0), x ? x.map((d, i) => (i < 2 ? d : 1)) : null);
};

/** Applies sizes or scales (possibly on a subset of axes) to X's dims. */
function resized(x: Dim[], axes: number[] | undefined, sizes: Dim[] | undefined, scales: Dim[] | undefined): Dim[] | null {
  const ax = axes ?? x.map((_, i) => i);
  const out = [...x];
  const src = sizes ?? scales;
  if (!src || src.length !== ax.length) return null;
  for (let j = 0; j < ax.length; j++) {
    const a = normAxis(ax[j]!, x.length);
    if (a === undefined) return null;
    if (sizes) out[a] = sizes[j]!;
    else {
      const s = scales![j]!;
      const d = x[a]!;
      if (typeof s !== "number") out[a] = null;
      else if (typeof d === "number") out[a] = Math.floor(d * s + 1e-9);
      else out[a] = Number.isInteger(s) ? dimMul(d, s) : s > 0 && Number.isInteger(1 / s) ? dimDiv(d, 1 / s) : null;
    }
  }
  return out;
}

const resize: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(c.elem(0), null);
  const axes = attrInts(c.node, "axes");
  const valOf = (i: number): Dim[] | undefined => (c.has(i) ? c.val(i) : undefined);
  const sizes = c.opset >= 11 ? valOf(3) : undefined;
  const scales = c.opset >= 11 ? valOf(2) : valOf(1);
  const sz = sizes && sizes.length ? sizes : undefined;
  const sc = scales && scales.length ? scales : undefined;
  const out = sz || sc ? resized(x, axes, sz, sc) : null;
  return tt(c.elem(0), out ?? x.map(() => null));
};

const upsample: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(c.elem(0), null);
  const scales = attrFloats(c.node, "scales") ?? c.val(1);
  return tt(c.elem(0), (scales && resized(x, undefined, undefined, scales)) ?? x.map(() => null));
};

const pad: OpRule = (c) => {
  const x = c.dims(0);
  if (!x) return tt(c.elem(0), null);
  const pads = c.opset >= 11 ? c.val(1) : (attrInts(c.node, "pads") ?? attrInts(c.node, "paddings"));
  const axes = c.opset >= 18 && c.has(3) ? c.nums(3) : undefined;
  if (!pads) return tt(c.elem(0), x.map(() => null));
  const ax = axes ?? x.map((_, i) => i);
  if (pads.length !== 2 * ax.length) return undefined;
  const out = [...x];
  for (let j = 0; j < ax.length; j++) {
    const a = normAxis(ax[j]!, x.length);
    if (a === undefined) return undefined;
    out[a] = dimAdd(dimAdd(out[a]!, pads[j]!), pads[j + ax.length]!);
  }
  return tt(c.elem(0), out);
};

function depthSpace(toSpace: boolean): OpRule {
  return (c) => {
    const x = c.dims(0);
    const b = attrInt(c.node, "blocksize", 1);
    if (!x || x.length !== 4) return tt(c.elem(0), null);
    return toSpace
      ? tt(c.elem(0), [x[0]!, dimDivExact(x[1]!, b * b), dimMul(x[2]!, b), dimMul(x[3]!, b)])
      : tt(c.elem(0), [x[0]!, dimMul(x[1]!, b * b), dimDivExact(x[2]!, b), dimDivExact(x[3]!, b)]);
  };
}

const gridSample: OpRule = (c) => {
  const x = c.dims(0);
  const g = c.dims(1);
  if (!x || !g) return tt(c.elem(0), null);
  return tt(c.elem(0), [x[0]!, x[1]!, ...g.slice(1, -1)]);
};

/** Rules keyed by op type. */
export const CONV_RULES: Record<string, OpRule> = {
  Conv: convRule(0, 1, (c) => c.elem(0)),
  ConvInteger: convRule(0, 1, () => DT.INT32),
  QLinearConv: convRule(0, 3, (c) => c.elem(7) || c.elem(0)),
  ConvTranspose: convTranspose,
  MaxPool: poolRule(true),
  AveragePool: poolRule(false),
  LpPool: poolRule(false),
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  GlobalLpPool: globalPool,
  Resize: resize,
  Upsample: upsample,
  Pad: pad,
  DepthToSpace: depthSpace(true),
  SpaceToDepth: depthSpace(false),
  GridSample: gridSample,
};
