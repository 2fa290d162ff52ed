/**
 * ONNX element types <-> the type names edgecut uses in manifests and tensor files.
 * Names follow onnxruntime-node's tensor types where one exists (float32, int64, bool, ...).
 */
import { TensorProto_DataType as DT } from "./onnx/onnx_pb.js";

/** Element type names used in manifests and tensor files. */
export type DTypeName =
  | "float32" | "float64" | "float16" | "bfloat16"
  | "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "uint64"
  | "bool" | "string" | "complex64" | "complex128"
  | "float8e4m3fn" | "float8e4m3fnuz" | "float8e5m2" | "float8e5m2fnuz" | "float8e8m0"
  | "uint4" | "int4" | "float4e2m1" | "uint2" | "int2";

interface DTypeInfo { name: DTypeName; bits: number }

const TABLE: ReadonlyMap<number, DTypeInfo> = new Map<number, DTypeInfo>([
  [DT.FLOAT, { name: "float32", bits: 32 }],
  [DT.UINT8, { name: "uint8", bits: 8 }],
  [DT.INT8, { name: "int8", bits: 8 }],
  [DT.UINT16, { name: "uint16", bits: 16 }],
  [DT.INT16, { name: "int16", bits: 16 }],
  [DT.INT32, { name: "int32", bits: 32 }],
  [DT.INT64, { name: "int64", bits: 64 }],
  [DT.STRING, { name: "string", bits: 0 }],
  [DT.BOOL, { name: "bool", bits: 8 }],
  [DT.FLOAT16, { name: "float16", bits: 16 }],
  [DT.DOUBLE, { name: "float64", bits: 64 }],
  [DT.UINT32, { name: "uint32", bits: 32 }],
  [DT.UINT64, { name: "uint64", bits: 64 }],
  [DT.COMPLEX64, { name: "complex64", bits: 64 }],
  [DT.COMPLEX128, { name: "complex128", bits: 128 }],
  [DT.BFLOAT16, { name: "bfloat16", bits: 16 }],
  [DT.FLOAT8E4M3FN, { name: "float8e4m3fn", bits: 8 }],
  [DT.FLOAT8E4M3FNUZ, { name: "float8e4m3fnuz", bits: 8 }],
  [DT.FLOAT8E5M2, { name: "float8e5m2", bits: 8 }],
  [DT.FLOAT8E5M2FNUZ, { name: "float8e5m2fnuz", bits: 8 }],
  [DT.UINT4, { name: "uint4", bits: 4 }],
  [DT.INT4, { name: "int4", bits: 4 }],
  [DT.FLOAT4E2M1, { name: "float4e2m1", bits: 4 }],
  [DT.FLOAT8E8M0, { name: "float8e8m0", bits: 8 }],
  [DT.UINT2, { name: "uint2", bits: 2 }],
  [DT.INT2, { name: "int2", bits: 2 }],
]);

const BY_NAME: ReadonlyMap<string, number> = new Map([...TABLE].map(([k, v]) => [v.name, k]));

/** Type name for an ONNX element type, or undefined for UNDEFINED/unknown codes. */
export function dtypeName(elemType: number): DTypeName | undefined {
  return TABLE.get(elemType)?.name;
}

/** ONNX element type code for a type name, or undefined. */
export function dtypeCode(name: string): number | undefined {
  return BY_NAME.get(name);
}

/** Bits per element (0 for string: variable). */
export function dtypeBits(elemType: number): number | undefined {
  return TABLE.get(elemType)?.bits;
}

/** Bytes needed for `count` elements of this type (sub-byte types round up), or undefined for string/unknown. */
export function byteLength(elemType: number, count: number): number | undefined {
  const bits = dtypeBits(elemType);
  if (bits === undefined || bits === 0) return undefined;
  return Math.ceil((bits * count) / 8);
}

/** True for floating-point element types (the ones compared with atol/rtol). */
export function isFloat(elemType: number): boolean {
  return [DT.FLOAT, DT.DOUBLE, DT.FLOAT16, DT.BFLOAT16].includes(elemType);
}

export { DT };
