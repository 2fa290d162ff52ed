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

/** An IEEE half (raw 16 bits) as a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A number as IEEE half bits, rounded to nearest even (directly from the double: no double rounding). */
export function floatToHalf(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // 65520 is the tie between 65504 and 2^16: even rounds up to Infinity
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal; 1024 carries into the exponent
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // Scaling by a power of two is exact, so the mantissa is rounded exactly once; a carry of 1024 bumps the exponent.
  return sign | (((e + 15) << 10) + roundHalfEven((a / 2 ** e - 1) * 1024));
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}
