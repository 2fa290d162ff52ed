/**
 * Typed-array plumbing for the wire: the data class of each type, zero-copy views over a frame,
 * and the single copy taken when the transport's buffer breaks alignment (docs/wire-format.md §4.2).
 */
import { fail } from "../errors.js";
import type { HostDataMap } from "../runtime/tensor.js";
import { ELEMENT_BYTES, type WireType } from "./types.js";

type Data = HostDataMap[WireType];
type DataConstructor = {
  new (length: number): Data;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): Data;
  readonly name: string;
};

/** The typed-array class holding each wire type (float16 as raw half bits, bool as 0/1 bytes). */
export const DATA_CONSTRUCTORS: Readonly<Record<WireType, DataConstructor>> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array,
  uint64: BigUint64Array, bool: Uint8Array,
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Frames are little-endian (§2) and tensors are read as typed-array views, which use the host's
 * byte order; every platform Node ships for is little-endian, and a big-endian host is refused
 * rather than decoding garbage.
 */
export function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN) throw fail("E_UNSUPPORTED", "the wire format needs a little-endian host");
}

/**
 * `count` elements of `type` at `bytes[offset..]`: a view when the absolute byte offset is a
 * multiple of the element size, else one copy into a fresh (aligned) array. Frame offsets are
 * multiples of 64, so only a transport handing over a misaligned Uint8Array takes the copy.
 */
export function viewOrCopy(type: WireType, bytes: Uint8Array, offset: number, count: number): Data {
  const Ctor = DATA_CONSTRUCTORS[type];
  const size = ELEMENT_BYTES[type];
  const at = bytes.byteOffset + offset;
  if (at % size === 0) return new Ctor(bytes.buffer, at, count);
  const out = new Ctor(count);
  new Uint8Array(out.buffer, 0, count * size).set(bytes.subarray(offset, offset + count * size));
  return out;
}
