/**
 * The types shape inference produces, and the helpers every op rule shares: converting declared
 * TypeProtos, numpy broadcasting, merging an inferred type with a declared one.
 */
import type { SparseTensorProto, TensorProto, TensorShapeProto, TypeProto } from "./onnx/onnx_pb.js";
import { dimEq, normDim, type DimBindings } from "./shape-sym.js";

/** A dim: a number, a symbolic name (dim_param), or null for unknown. */
export type Dim = number | string | null;

/** What kind of value a tensor name holds (tensor unless said otherwise). */
export type ValueKind = "tensor" | "sequence" | "optional" | "map" | "sparse";

/**
 * Type and shape of a value. For sequence/optional values, elemType and dims describe the
 * element; elemType 0 means the element type is unknown.
 */
export interface TensorType {
  /** ONNX element type code (TensorProto.DataType); 0 = unknown. */
  elemType: number;
  /** null = unknown rank. */
  dims: Dim[] | null;
  kind?: ValueKind;
}

/** Inputs to inferShapes beyond the model itself. */
export interface ShapeOptions {
  /** Concrete dims for named inputs, e.g. { input_ids: [1, 64] } (overrides the declared shape). */
  inputShapes?: Record<string, number[]>;
  /** Values for symbolic dims everywhere, e.g. { batch: 1, sequence: 64 }. */
  dims?: Record<string, number>;
}

/** What inferShapes found. */
export interface ShapeResult {
  /** Type and shape of every tensor of the top-level graph that inference reached. */
  types: Map<string, TensorType>;
  /**
   * Small integer tensors whose VALUES are known (Shape chains, Constant, small int64
   * initializers), for Reshape etc. Values may be symbolic Dims. Row-major, flattened.
   */
  values: Map<string, Dim[]>;
  /** Tensors left with unknown rank or dims after inference (candidates for a probe run). */
  unresolved: string[];
}

/** A tensor type. */
export function tt(elemType: number, dims: Dim[] | null): TensorType {
  return { elemType, dims };
}

/** True when every dim is a known number. */
export function isConcrete(dims: readonly Dim[] | null | undefined): dims is number[] {
  return !!dims && dims.every((d) => typeof d === "number");
}

/** True when the type is a tensor of unknown rank, unknown dims or unknown element type. */
export function isUnresolved(t: TensorType | undefined): boolean {
  if (!t) return true;
  if ((t.kind ?? "tensor") !== "tensor") return false;
  return t.elemType === 0 || t.dims === null || t.dims.some((d) => d === null);
}

/**
 * The dims a TensorShapeProto declares, as written: a dim_value, a dim_param name, or null for an
 * unknown dim (no value, an empty dim_param, or a negative dim_value: some converters write -1
 * for a dynamic dim). Null when there is no shape (rank unknown). The one place declared shapes
 * are read.
 */
export function protoDims(shape: TensorShapeProto | undefined): Dim[] | null {
  if (!shape) return null;
  return shape.dim.map((d) => {
    if (d.value.case === "dimValue") return d.value.value >= 0n ? Number(d.value.value) : null;
    if (d.value.case === "dimParam") return d.value.value === "" ? null : d.value.value;
    return null;
  });
}

/** protoDims of a declared tensor type; null unless it is a tensor type with a shape. */
export function tensorTypeDims(tp: TypeProto | undefined): Dim[] | null {
  const v = tp?.value;
  return v?.case === "tensorType" ? protoDims(v.value.shape) : null;
}

function shapeDims(shape: TensorShapeProto | undefined, b: DimBindings): Dim[] | null {
  return protoDims(shape)?.map((d) => normDim(d, b)) ?? null;
}

/** A declared TypeProto as a TensorType, with bound dim names replaced by sizes. */
export function typeFromProto(tp: TypeProto | undefined, b: DimBindings): TensorType | undefined {
  const v = tp?.value;
  if (!v || v.case === undefined) return undefined;
  switch (v.case) {
    case "tensorType": return { elemType: v.value.elemType, dims: shapeDims(v.value.shape, b) };
    case "sparseTensorType": return { elemType: v.value.elemType, dims: shapeDims(v.value.shape, b), kind: "sparse" };
    case "sequenceType": {
      const e = typeFromProto(v.value.elemType, b);
      return { elemType: e?.elemType ?? 0, dims: e?.dims ?? null, kind: "sequence" };
    }
    case "optionalType": {
      const e = typeFromProto(v.value.elemType, b);
      return { elemType: e?.elemType ?? 0, dims: e?.dims ?? null, kind: "optional" };
    }
    case "mapType": return { elemType: 0, dims: null, kind: "map" };
  }
}

/** The type of an initializer (or Constant value). */
export function typeOfTensor(t: TensorProto): TensorType {
  return { elemType: t.dataType, dims: t.dims.map((d) => Number(d)) };
}

/** The type of a sparse initializer. */
export function typeOfSparse(s: SparseTensorProto): TensorType {
  return { elemType: s.values?.dataType ?? 0, dims: s.dims.map((d) => Number(d)), kind: "sparse" };
}

/** Sentinel: the two dims cannot broadcast. */
export const MISMATCH = Symbol("mismatch");

/**
 * numpy broadcasting of one dim pair. A symbol against a number other than 1 is assumed to be
 * that number (the model would not run otherwise); two different symbols give null.
 */
export function broadcastDim(a: Dim, b: Dim): Dim | typeof MISMATCH {
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === "number" && typeof b === "number") return a === b ? a : MISMATCH;
  if (a === null) return typeof b === "number" ? b : null;
  if (b === null) return typeof a === "number" ? a : null;
  if (typeof a === "number") return a;
  if (typeof b === "number") return b;
  return dimEq(a, b) === true ? a : null;
}

/** Broadcast shape of several inputs; undefined when they cannot broadcast, null for unknown rank. */
export function broadcastShapes(shapes: readonly (readonly Dim[] | null)[]): Dim[] | null | undefined {
  if (shapes.some((s) => s === null)) return null;
  const rank = Math.max(0, ...shapes.map((s) => s!.length));
  const out: Dim[] = new Array<Dim>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s!.length;
    for (let i = 0; i < s!.length; i++) {
      const d = broadcastDim(out[off + i]!, s![i]!);
      if (d === MISMATCH) return undefined;
      out[off + i] = d;
    }
  }
  return out;
}

/** Two dims that must be the same size: the better-known one, or undefined when they conflict. */
export function unifyDim(a: Dim, b: Dim): Dim | undefined {
  if (a === null) return b;
  if (b === null) return a;
  const eq = dimEq(a, b);
  if (eq === false) return undefined;
  if (eq === true) return a;
  return typeof a === "number" ? a : typeof b === "number" ? b : a;
}

/** Declared types fill what inference left unknown; on a conflict, inference wins. */
export function mergeDeclared(inferred: TensorType | undefined, declared: TensorType | undefined): TensorType | undefined {
  if (!inferred) return declared;
  if (!declared) return inferred;
  const elemType = inferred.elemType || declared.elemType;
  let dims = inferred.dims;
  if (dims === null) dims = declared.dims;
  else if (declared.dims && declared.dims.length === dims.length) dims = dims.map((d, i) => d ?? declared.dims![i]!);
  const out: TensorType = { elemType, dims };
  const kind = inferred.kind ?? declared.kind;
  if (kind && kind !== "tensor") out.kind = kind;
  return out;
}

/** What two branches (If) agree on: equal dims kept, others unknown. */
export function joinTypes(a: TensorType | undefined, b: TensorType | undefined): TensorType | undefined {
  if (!a || !b) return undefined;
  const elemType = a.elemType === b.elemType ? a.elemType : 0;
  let dims: Dim[] | null = null;
  if (a.dims && b.dims && a.dims.length === b.dims.length) dims = a.dims.map((d, i) => (dimEq(d, b.dims![i]!) === true ? d : null));
  const out: TensorType = { elemType, dims };
  if (a.kind && a.kind !== "tensor" && a.kind === b.kind) out.kind = a.kind;
  return out;
}

/** A possibly negative axis as an index into `rank` dims, or undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}
