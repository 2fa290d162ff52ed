/**
 * Shape rules for control flow (If, Loop, Scan: inferred from their bodies) and for sequence
 * and optional values.
 */
import { DT } from "./dtypes.js";
import { attr, attrGraph, attrInt, attrInts, type OpRule } from "./shape-ctx.js";
import { joinTypes, normAxis, tt, type Dim, type TensorType } from "./shape-types.js";

/** If: the branch whose condition is known, else what both branches agree on. */
const ifRule: OpRule = (c) => {
  const thenG = attrGraph(c.node, "then_branch");
  const elseG = attrGraph(c.node, "else_branch");
  if (!thenG || !elseG) return undefined;
  const cond = c.val(0)?.[0];
  if (typeof cond === "number") return c.inferBody(cond !== 0 ? thenG : elseG, []);
  const a = c.inferBody(thenG, []);
  const b = c.inferBody(elseG, []);
  return Array.from({ length: c.nOut }, (_, i) => joinTypes(a[i], b[i]));
};

/** Stacks per-iteration outputs along `axis` (a new dim of size `n`). */
function stacked(t: TensorType | undefined, n: Dim, axis = 0): TensorType | undefined {
  if (!t) return undefined;
  if (!t.dims) return tt(t.elemType, null);
  const a = normAxis(axis, t.dims.length + 1);
  if (a === undefined) return tt(t.elemType, null);
  const dims = [...t.dims];
  dims.splice(a, 0, n);
  return tt(t.elemType, dims);
}

/** Loop(M, cond, v_initial...): carried values from the body, scan outputs stacked by trip count. */
const loop: OpRule = (c) => {
  const body = attrGraph(c.node, "body");
  if (!body) return undefined;
  const nCarried = Math.max(0, c.node.input.length - 2);
  const carried = Array.from({ length: nCarried }, (_, i) => c.in(2 + i));
  const outs = c.inferBody(body, [tt(DT.INT64, []), tt(DT.BOOL, []), ...carried]);
  const m = c.has(0) ? c.val(0)?.[0] : undefined;
  const trips: Dim = !c.has(1) && typeof m === "number" ? m : null;
  return Array.from({ length: c.nOut }, (_, i) =>
    i < nCarried ? joinTypes(carried[i], outs[1 + i]) : stacked(outs[1 + i], trips));
};

/** Scan (opset 9+): state variables, then scan outputs stacked along scan_output_axes. */
const scan: OpRule = (c) => {
  const body = attrGraph(c.node, "body");
  const m = attrInt(c.node, "num_scan_inputs");
  if (!body || m === undefined || c.opset < 9) return undefined;
  const nIn = c.node.input.length;
  const nState = nIn - m;
  const inAxes = attrInts(c.node, "scan_input_axes") ?? new Array<number>(m).fill(0);
  const outAxes = attrInts(c.node, "scan_output_axes") ?? [];
  let seqLen: Dim = null;
  const bodyIn: (TensorType | undefined)[] = [];
  for (let i = 0; i < nIn; i++) {
    const t = c.in(i);
    if (i < nState || !t?.dims) {
      bodyIn.push(i < nState ? t : t && tt(t.elemType, null));
      continue;
    }
    const a = normAxis(inAxes[i - nState] ?? 0, t.dims.length);
    if (a === undefined) return undefined;
    if (i === nState) seqLen = t.dims[a]!;
    bodyIn.push(tt(t.elemType, t.dims.filter((_, k) => k !== a)));
  }
  const outs = c.inferBody(body, bodyIn);
  return Array.from({ length: c.nOut }, (_, i) =>
    i < nState ? joinTypes(c.in(i), outs[i]) : stacked(outs[i], seqLen, outAxes[i - nState] ?? 0));
};

const seq = (t: TensorType | undefined): TensorType => ({ elemType: t?.elemType ?? 0, dims: t?.dims ?? null, kind: "sequence" });

const sequenceConstruct: OpRule = (c) => {
  let t = c.in(0);
  for (let i = 1; i < c.node.input.length; i++) t = joinTypes(t, c.in(i));
  return seq(t && { elemType: t.elemType || c.elem(0), dims: t.dims });
};

const sequenceInsert: OpRule = (c) => {
  const s = c.in(0);
  const t = c.in(1);
  return seq(joinTypes(s && tt(s.elemType, s.dims), t) ?? (s && tt(s.elemType, null)));
};

const optional: OpRule = (c) => {
  const t = c.in(0);
  const declared = attr(c.node, "type")?.tp;
  const elemType = t?.elemType ?? (declared?.value.case === "tensorType" ? declared.value.value.elemType : 0);
  return { elemType, dims: t?.dims ?? null, kind: "optional" };
};

/** Rules keyed by op type. */
export const CONTROL_RULES: Record<string, OpRule> = {
  If: ifRule,
  Loop: loop,
  Scan: scan,
  SequenceConstruct: sequenceConstruct,
  SequenceEmpty: (c) => ({ elemType: attrInt(c.node, "dtype", DT.FLOAT), dims: null, kind: "sequence" }),
  SequenceInsert: sequenceInsert,
  SequenceErase: (c) => c.in(0),
  SequenceAt: (c) => tt(c.elem(0), c.dims(0)),
  SequenceLength: () => tt(DT.INT64, []),
  SplitToSequence: (c) => seq(tt(c.elem(0), null)),
  ConcatFromSequence: (c) => tt(c.elem(0), null),
  Optional: optional,
  OptionalHasElement: () => tt(DT.BOOL, []),
  OptionalGetElement: (c) => tt(c.elem(0), c.dims(0)),
};
