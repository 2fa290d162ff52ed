/**
 * Host tensors: the plain in-memory form edgecut passes between the runtime, tensor files and
 * (later) the wire format. Dependency-free.
 */

/** Element types a host tensor may hold (the names onnxruntime-node uses). */
export type HostType =
  | "float32" | "float64" | "float16" | "int8" | "uint8" | "int16" | "uint16"
  | "int32" | "uint32" | "int64" | "uint64" | "bool" | "string";

/** Data array for each host type (float16 as raw IEEE half bits; bool as 0/1 bytes). */
export interface HostDataMap {
  float32: Float32Array; float64: Float64Array; float16: Uint16Array;
  int8: Int8Array; uint8: Uint8Array; int16: Int16Array; uint16: Uint16Array;
  int32: Int32Array; uint32: Uint32Array; int64: BigInt64Array; uint64: BigUint64Array;
  bool: Uint8Array; string: string[];
}

/** A dense tensor in host memory, row-major. */
export type HostTensor = { [T in HostType]: { type: T; dims: number[]; data: HostDataMap[T] } }[HostType];

/** Named tensors, e.g. a model's feeds or fetches. */
export type TensorMap = Record<string, HostTensor>;

/** Product of dims (1 for a scalar). */
export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
