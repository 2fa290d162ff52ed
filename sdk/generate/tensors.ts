/**
 * Tensor plumbing that both sides of a generation session share: growing a tensor by the slice
 * a step added along one axis, finding that slice again (so a growing attention mask travels as
 * its new element only), zeros of a shape, and sizes.
 */
import { fail } from "../errors.js";
import { numel, type HostTensor, type HostType } from "../runtime/tensor.js";
import { DATA_CONSTRUCTORS } from "../wire/typed.js";
import type { WireType } from "../wire/types.js";

type Numeric = Exclude<HostType, "string">;

/** Bytes a tensor's data occupies (string tensors count their UTF-16 length, a rough bound). */
export function tensorBytes(t: HostTensor): number {
  if (t.type === "string") return t.data.reduce((n, s) => n + 2 * s.length, 0);
  return (t.data as ArrayBufferView).byteLength;
}

/** A zero-filled tensor of `type` and `dims`. */
export function zeros(type: WireType, dims: readonly number[]): HostTensor {
  return { type, dims: [...dims], data: new DATA_CONSTRUCTORS[type](numel(dims)) } as HostTensor;
}

/** Elements per index of `axis` and the number of blocks before it, for [outer, axis, inner] views. */
function strides(dims: readonly number[], axis: number): { outer: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= dims[i]!;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i]!;
  return { outer, inner };
}

type Typed = { length: number; subarray(a: number, b: number): Typed; set(src: Typed, at: number): void };

/** `a` followed by `b` along `axis` (every other dim equal). Throws E_FRAME when they do not fit. */
export function concatAlong(a: HostTensor, b: HostTensor, axis: number): HostTensor {
  if (a.type === "string" || a.type !== b.type) throw fail("E_FRAME", `cannot append a ${b.type} slice to a ${a.type} tensor`);
  if (a.dims.length !== b.dims.length || axis >= a.dims.length || a.dims.some((d, i) => i !== axis && d !== b.dims[i])) {
    throw fail("E_FRAME", `cannot append a [${b.dims.join(", ")}] slice to a [${a.dims.join(", ")}] tensor along axis ${axis}`);
  }
  const dims = a.dims.map((d, i) => (i === axis ? d + b.dims[i]! : d));
  const { outer, inner } = strides(a.dims, axis);
  const ra = a.dims[axis]! * inner;
  const rb = b.dims[axis]! * inner;
  const out = new DATA_CONSTRUCTORS[a.type as Numeric](numel(dims)) as unknown as Typed;
  const da = a.data as unknown as Typed;
  const db = b.data as unknown as Typed;
  for (let o = 0; o < outer; o++) {
    out.set(da.subarray(o * ra, (o + 1) * ra), o * (ra + rb));
    out.set(db.subarray(o * rb, (o + 1) * rb), o * (ra + rb) + ra);
  }
  return { type: a.type, dims, data: out } as unknown as HostTensor;
}

/**
 * When `next` is `prev` grown along exactly one axis with `prev` unchanged as its prefix there,
 * returns that axis and the new slice; else undefined (the tensor travels whole).
 */
export function appendedSlice(prev: HostTensor | undefined, next: HostTensor): { axis: number; slice: HostTensor } | undefined {
  if (prev === undefined || prev.type !== next.type || prev.type === "string" || prev.dims.length !== next.dims.length) return undefined;
  let axis = -1;
  for (let i = 0; i < next.dims.length; i++) {
    if (prev.dims[i] === next.dims[i]) continue;
    if (axis >= 0 || next.dims[i]! < prev.dims[i]!) return undefined;
    axis = i;
  }
  if (axis < 0) return undefined;
  const { outer, inner } = strides(next.dims, axis);
  const rp = prev.dims[axis]! * inner;
  const rn = next.dims[axis]! * inner;
  const dp = prev.data as unknown as ArrayLike<number | bigint> & Typed;
  const dn = next.data as unknown as ArrayLike<number | bigint> & Typed;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < rp; i++) if (!Object.is(dp[o * rp + i], dn[o * rn + i])) return undefined;
  }
  const sliceDims = next.dims.map((d, i) => (i === axis ? d - prev.dims[i]! : d));
  const out = new DATA_CONSTRUCTORS[next.type as Numeric](numel(sliceDims)) as unknown as Typed;
  const rs = rn - rp;
  for (let o = 0; o < outer; o++) out.set(dn.subarray(o * rn + rp, (o + 1) * rn), o * rs);
  return { axis, slice: { type: next.type, dims: sliceDims, data: out } as unknown as HostTensor };
}
