/**
 * ONNX element types <-> the type names edgecut uses in manifests and tensor files, without the
 * protobuf schema (dtypes.ts adds the schema's enum for the graph library).
 * Names follow onnxruntime-node's tensor types where one exists (float32, int64, bool, ...).
 */
/**
 * ONNX TensorProto.DataType codes (onnx.proto), kept here as numbers so that manifests, the wire
 * format and the agent can name types without loading the protobuf schema (a test checks them
 * against the generated enum).
 */
export const DTYPE_CODES = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;
const C = DTYPE_CODES;

/** Element type names used in manifests and tensor files. */
export type DTypeName =
  | "float32" | "float64" | "float16" | "bfloat16"
  | "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32" | "int64" | "uint64"
  | "bool" | "string" | "complex64" | "complex128"
  | "float8e4m3fn" | "float8e4m3fnuz" | "float8e5m2" | "float8e5m2fnuz" | "float8e8m0"
  | "uint4" | "int4" | "float4e2m1" | "uint2" | "int2";

interface DTypeInfo { name: DTypeName; bits: number }

const TABLE: ReadonlyMap<number, DTypeInfo> = new Map<number, DTypeInfo>([
  [C.FLOAT, { name: "float32", bits: 32 }],
  [C.UINT8, { name: "uint8", bits: 8 }],
  [C.INT8, { name: "int8", bits: 8 }],
  [C.UINT16, { name: "uint16", bits: 16 }],
  [C.INT16, { name: "int16", bits: 16 }],
  [C.INT32, { name: "int32", bits: 32 }],
  [C.INT64, { name: "int64", bits: 64 }],
  [C.STRING, { name: "string", bits: 0 }],
  [C.BOOL, { name: "bool", bits: 8 }],
  [C.FLOAT16, { name: "float16", bits: 16 }],
  [C.DOUBLE, { name: "float64", bits: 64 }],
  [C.UINT32, { name: "uint32", bits: 32 }],
  [C.UINT64, { name: "uint64", bits: 64 }],
  [C.COMPLEX64, { name: "complex64", bits: 64 }],
  [C.COMPLEX128, { name: "complex128", bits: 128 }],
  [C.BFLOAT16, { name: "bfloat16", bits: 16 }],
  [C.FLOAT8E4M3FN, { name: "float8e4m3fn", bits: 8 }],
  [C.FLOAT8E4M3FNUZ, { name: "float8e4m3fnuz", bits: 8 }],
  [C.FLOAT8E5M2, { name: "float8e5m2", bits: 8 }],
  [C.FLOAT8E5M2FNUZ, { name: "float8e5m2fnuz", bits: 8 }],
  [C.UINT4, { name: "uint4", bits: 4 }],
  [C.INT4, { name: "int4", bits: 4 }],
  [C.FLOAT4E2M1, { name: "float4e2m1", bits: 4 }],
  [C.FLOAT8E8M0, { name: "float8e8m0", bits: 8 }],
  [C.UINT2, { name: "uint2", bits: 2 }],
  [C.INT2, { name: "int2", bits: 2 }],
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
  return ([C.FLOAT, C.DOUBLE, C.FLOAT16, C.BFLOAT16] as number[]).includes(elemType);
}

