/**
 * Shape rules for matrix products: MatMul (batched, 1-D cases), Gemm, the quantized forms
 * (MatMulInteger, QLinearMatMul, com.microsoft MatMulNBits / MatMulIntegerToFloat / FusedMatMul),
 * Einsum, and the attention ops (com.microsoft Attention / MultiHeadAttention /
 * GroupQueryAttention, ai.onnx Attention-23).
 */
import { DT } from "./dtypes.js";
import { attrInt, attrInts, attrStr, type OpRule } from "./shape-ctx.js";
import { dimAdd, dimDivExact, dimMul } from "./shape-sym.js";
import { broadcastShapes, tt, unifyDim, type Dim } from "./shape-types.js";

/** numpy matmul shape; null for unknown rank, undefined for incompatible operands. */
export function matmulDims(a: readonly Dim[] | null, b: readonly Dim[] | null): Dim[] | null | undefined {
  if (!a || !b) return null;
  if (a.length === 0 || b.length === 0) return undefined;
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k = unifyDim(a2[a2.length - 1]!, b2[b2.length - 2]!);
  if (k === undefined) return undefined;
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  if (!batch) return batch;
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]!);
  if (b.length > 1) out.push(b2[b2.length - 1]!);
  return out;
}

/** Swaps the last two dims (for transA/transB). */
function swapLast(d: Dim[] | null, doIt: boolean): Dim[] | null {
  if (!d || !doIt || d.length < 2) return d;
  const out = [...d];
  [out[out.length - 2], out[out.length - 1]] = [out[out.length - 1]!, out[out.length - 2]!];
  return out;
}

const matmul: OpRule = (c) => {
  const d = matmulDims(c.dims(0), c.dims(1));
  return d === undefined ? undefined : tt(c.elem(0), d);
};

const fusedMatmul: OpRule = (c) => {
  const d = matmulDims(swapLast(c.dims(0), attrInt(c.node, "transA", 0) === 1), swapLast(c.dims(1), attrInt(c.node, "transB", 0) === 1));
  return d === undefined ? undefined : tt(c.elem(0), d);
};

const gemm: OpRule = (c) => {
  const a = swapLast(c.dims(0), attrInt(c.node, "transA", 0) === 1);
  const b = swapLast(c.dims(1), attrInt(c.node, "transB", 0) === 1);
  if (!a || !b) return tt(c.elem(0), [a?.[0] ?? null, b?.[1] ?? null]);
  if (a.length !== 2 || b.length !== 2 || unifyDim(a[1]!, b[0]!) === undefined) return undefined;
  return tt(c.elem(0), [a[0]!, b[1]!]);
};

const matmulInteger: OpRule = (c) => {
  const d = matmulDims(c.dims(0), c.dims(1));
  return d === undefined ? undefined : tt(DT.INT32, d);
};

/** QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp). */
const qlinearMatmul: OpRule = (c) => {
  const d = matmulDims(c.dims(0), c.dims(3));
  return d === undefined ? undefined : tt(c.elem(7) || c.elem(0), d);
};

/** MatMulIntegerToFloat(A, B, a_scale, b_scale, ...): float output typed like a_scale. */
const matmulIntToFloat: OpRule = (c) => {
  const d = matmulDims(c.dims(0), c.dims(1));
  return d === undefined ? undefined : tt(c.elem(2) || DT.FLOAT, d);
};

/** MatMulNBits(A[..., K], B packed): [..., N] with N from the attribute. */
const matmulNBits: OpRule = (c) => {
  const a = c.dims(0);
  const n = attrInt(c.node, "N");
  return tt(c.elem(0), a && n !== undefined ? [...a.slice(0, -1), n] : null);
};

/** Einsum labels per operand: letters, with "..." standing for broadcast dims. */
export function parseEinsum(eq: string): { inputs: string[]; output: string | null } | undefined {
  const s = eq.replace(/\s+/g, "");
  const [lhs, rhs] = s.split("->");
  if (lhs === undefined) return undefined;
  return { inputs: lhs.split(","), output: rhs ?? null };
}

const einsum: OpRule = (c) => {
  const eq = parseEinsum(attrStr(c.node, "equation", ""));
  if (!eq || eq.inputs.length !== c.node.input.length) return undefined;
  const sizes = new Map<string, Dim>();
  const counts = new Map<string, number>();
  const ellipses: Dim[][] = [];
  for (let i = 0; i < eq.inputs.length; i++) {
    const term = eq.inputs[i]!;
    const dims = c.dims(i);
    if (!dims) return tt(c.elem(0), null);
    const letters = term.replace("...", "");
    const ell = term.includes("...") ? dims.length - letters.length : 0;
    if (ell < 0 || (!term.includes("...") && letters.length !== dims.length)) return undefined;
    const at = term.indexOf("...");
    let k = 0;
    for (let p = 0; p < term.length; p++) {
      if (p === at) {
        ellipses.push(dims.slice(k, k + ell));
        k += ell;
        p += 2;
        continue;
      }
      const l = term[p]!;
      const prev = sizes.get(l);
      const d = prev === undefined ? dims[k]! : unifyDim(prev, dims[k]!);
      if (d === undefined) return undefined;
      sizes.set(l, d);
      counts.set(l, (counts.get(l) ?? 0) + 1);
      k++;
    }
  }
  const ell = broadcastShapes(ellipses);
  if (!ell) return ell === null ? tt(c.elem(0), null) : undefined;
  const out = eq.output ?? `${ellipses.length ? "..." : ""}${[...counts].filter(([, n]) => n === 1).map(([l]) => l).sort().join("")}`;
  const dims: Dim[] = [];
  for (let p = 0; p < out.length; p++) {
    if (out.startsWith("...", p)) {
      dims.push(...ell);
      p += 2;
    } else dims.push(sizes.get(out[p]!) ?? null);
  }
  return tt(c.elem(0), dims);
};

/** com.microsoft Attention(input[B,S,Hin], weights[Hin, q+k+v], bias, mask, past[2,B,N,P,H]). */
const msAttention: OpRule = (c) => {
  const x = c.dims(0);
  const w = c.dims(1);
  const heads = attrInt(c.node, "num_heads", 1);
  const sizes = attrInts(c.node, "qkv_hidden_sizes");
  const v: Dim = sizes && sizes.length === 3 ? sizes[2]! : w ? dimDivExact(w[1]!, 3) : null;
  if (!x || x.length !== 3) return tt(c.elem(0), null);
  const out = tt(c.elem(0), [x[0]!, x[1]!, v]);
  const past = c.has(4) ? c.dims(4) : [2, x[0]!, heads, 0, null];
  const total = past && past.length === 5 ? dimAdd(past[3]!, x[1]!) : null;
  return [out, tt(c.elem(0), [2, x[0]!, heads, total, dimDivExact(v, heads)])];
};

/** com.microsoft MultiHeadAttention(query, key, value, bias, mask, bias2, past_key, past_value). */
const msMha: OpRule = (c) => {
  const q = c.dims(0);
  const v = c.has(2) ? c.dims(2) : null;
  if (!q) return tt(c.elem(0), null);
  let dv: Dim = null;
  if (q.length === 5) dv = dimMul(q[2]!, q[4]!); // packed QKV [B,S,N,3,H]
  else if (v?.length === 3) dv = v[2]!;
  else if (v?.length === 4) dv = dimMul(v[1]!, v[3]!);
  else if (!c.has(2) && q.length === 3) dv = q[2]!;
  return [tt(c.elem(0), [q[0]!, q[1]!, dv])];
};

/** com.microsoft GroupQueryAttention: output [B, S, num_heads * head_size]. */
const msGqa: OpRule = (c) => {
  const q = c.dims(0);
  const heads = attrInt(c.node, "num_heads", 1);
  const kvHeads = attrInt(c.node, "kv_num_heads", heads);
  if (!q || q.length !== 3) return tt(c.elem(0), null);
  const head = c.has(1) ? dimDivExact(q[2]!, heads) : dimDivExact(q[2]!, heads + 2 * kvHeads);
  return [tt(c.elem(0), [q[0]!, q[1]!, dimMul(head, heads)])];
};

/** ai.onnx Attention (opset 23): output in Q's layout (3-D or 4-D) with V's head size. */
const onnxAttention: OpRule = (c) => {
  const q = c.dims(0);
  const v = c.dims(2);
  if (!q) return tt(c.elem(0), null);
  const qHeads = attrInt(c.node, "q_num_heads", 0);
  const kvHeads = attrInt(c.node, "kv_num_heads", 0);
  const hv: Dim = !v ? null : v.length === 4 ? v[3]! : kvHeads ? dimDivExact(v[2]!, kvHeads) : null;
  if (q.length === 4) return [tt(c.elem(0), [q[0]!, q[1]!, q[2]!, hv])];
  if (q.length === 3) return [tt(c.elem(0), [q[0]!, q[1]!, qHeads ? dimMul(hv, qHeads) : null])];
  return undefined;
};

/** Rules keyed by op type ("domain:op" outside ai.onnx). */
export const LINALG_RULES: Record<string, OpRule> = {
  MatMul: matmul,
  Gemm: gemm,
  MatMulInteger: matmulInteger,
  QLinearMatMul: qlinearMatmul,
  Einsum: einsum,
  Attention: onnxAttention,
  "com.microsoft:FusedMatMul": fusedMatmul,
  "com.microsoft:MatMulNBits": matmulNBits,
  "com.microsoft:MatMulIntegerToFloat": matmulIntToFloat,
  "com.microsoft:Attention": msAttention,
  "com.microsoft:MultiHeadAttention": msMha,
  "com.microsoft:GroupQueryAttention": msGqa,
};
