/**
 * The float encodings of docs/wire-format.md §5: fp32 (bytes as they are), fp16 (IEEE half,
 * round to nearest even) and symmetric int8 with one float32 scale per tensor or per row.
 * Each encoder writes straight into the frame; each decoder restores a new Float32Array.
 * Loops here are per element by necessity (a conversion); fp32 and raw never come here.
 */
import { fail } from "../errors.js";
import type { Encoding, WireType } from "./types.js";
import { ELEMENT_BYTES } from "./types.js";

/** Rows of a tensor for int8-row: the product of all dims but the last (1 for a scalar) (§5.3). */
export function rowCount(dims: readonly number[]): number {
  let rows = 1;
  for (let i = 0; i < dims.length - 1; i++) rows *= dims[i]!;
  return rows;
}

/**
 * Bytes of a section holding `numel` elements of `type` encoded as `encoding` (§5.5), or
 * undefined when the pair is not allowed (encoded floats are float32; "raw" is for the rest).
 * Computed in doubles: a huge claim gives a huge number, never a wrapped small one.
 */
export function sectionBytes(type: WireType, encoding: Encoding, dims: readonly number[], numel: number): number | undefined {
  if (encoding === "raw") return type === "float32" ? undefined : numel * ELEMENT_BYTES[type];
  if (type !== "float32") return undefined;
  switch (encoding) {
    case "fp32": return numel * 4;
    case "fp16": return numel * 2;
    case "int8-tensor": return 4 + numel;
    case "int8-row": return numel === 0 ? 0 : 4 * rowCount(dims) + numel;
  }
}

// --- fp16 (§5.2) ------------------------------------------------------------------------------

/**
 * float32 bits to IEEE half bits, round to nearest even, integer arithmetic only (so no double
 * rounding through a float64 intermediate). Returns -1 for a finite value that overflows half
 * (|x| >= 65520), which the encoder refuses rather than silently sending Infinity.
 */
function halfBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const e = (bits >>> 23) & 0xff;
  const m = bits & 0x7fffff;
  if (e === 0xff) return sign | (m ? 0x7e00 : 0x7c00);
  const he = e - 112; // e - 127 + 15
  if (he <= 0) {
    // Half subnormal (or zero): drop 14 - he bits of the mantissa with its implicit bit.
    if (he < -10) return sign; // below 2^-25: rounds to zero (2^-25 itself ties to even zero, handled below)
    const full = m | 0x800000;
    const shift = 14 - he;
    let h = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++; // a carry into 0x400 is the smallest normal: still right
    return sign | h;
  }
  let h = (he << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry bumps the exponent
  if (h >= 0x7c00) return -1;
  return sign | h;
}

/** Encodes float32 values as half into `out` (a Uint16Array over the frame). E_FRAME when a finite value overflows half. */
export function encodeFp16(name: string, src: Float32Array, out: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const h = halfBits(bits[i]!);
    if (h < 0) throw fail("E_FRAME", `cannot encode tensor "${name}" as fp16: element ${i} is ${src[i]}, beyond half's range (±65504); send it as fp32 or int8`);
    out[i] = h;
  }
}

let halfTable: Float32Array | undefined;

/** Every half value as float32 (256 KiB, built on first use): decoding is one table lookup per element. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    t[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 0x1f ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** Restores half values to float32 (exact: every half is a float32). */
export function decodeFp16(src: Uint16Array): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return out;
}

// --- int8 (§5.3) ------------------------------------------------------------------------------

const FLT_MAX = 3.4028234663852886e38;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The largest float32 below a positive float32 `v`. */
function nextDownF32(v: number): number {
  f32[0] = v;
  u32[0]!--;
  return f32[0]!;
}

/**
 * Quantizes `src[start..end)` with one scale: s = fround(max|x| / 127), q = round(x / s)
 * clamped to ±127, so |x - q·s| <= s/2 (plus float32 rounding). Returns s.
 */
function quantizeRun(name: string, src: Float32Array, start: number, end: number, q: Int8Array): number {
  let maxAbs = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(src[i]!);
    if (!(a <= FLT_MAX)) {
      throw fail("E_FRAME", `cannot encode tensor "${name}" as int8: element ${i} is ${src[i]}; int8 carries finite values only, send it as fp32 or fp16`);
    }
    if (a > maxAbs) maxAbs = a;
  }
  let scale = Math.fround(maxAbs / 127);
  // Near float32's top, 127·s can round up past FLT_MAX and decode as Infinity: step s down one ulp.
  if (Math.fround(127 * scale) > FLT_MAX) scale = nextDownF32(scale);
  if (scale === 0) {
    q.fill(0, start, end); // all zeros, or so small that the scale underflows: the error is below 127 * 2^-149
    return 0;
  }
  const inv = 1 / scale;
  for (let i = start; i < end; i++) {
    const v = Math.round(src[i]! * inv);
    q[i] = v > 127 ? 127 : v < -127 ? -127 : v;
  }
  return scale;
}

/**
 * Writes the int8 section (§5.3): `scales` float32 scales (one, or one per row), then the int8
 * values. `section` is the section's bytes in the frame.
 */
export function encodeInt8(name: string, src: Float32Array, dims: readonly number[], perRow: boolean, section: Uint8Array): void {
  if (src.length === 0 && perRow) return;
  const rows = perRow ? rowCount(dims) : 1;
  const rowLen = rows === 0 ? 0 : src.length / rows;
  const view = new DataView(section.buffer, section.byteOffset, section.byteLength);
  const q = new Int8Array(section.buffer, section.byteOffset + 4 * rows, src.length);
  for (let r = 0; r < rows; r++) {
    const s = quantizeRun(name, src, r * rowLen, (r + 1) * rowLen, q);
    view.setFloat32(4 * r, s, true);
  }
}

/**
 * Restores an int8 section to float32. Scales are read with a DataView (little-endian, any
 * alignment); a non-finite or negative scale is E_FRAME, since no encoder writes one.
 */
export function decodeInt8(name: string, section: Uint8Array, dims: readonly number[], numel: number, perRow: boolean): Float32Array {
  const out = new Float32Array(numel);
  if (numel === 0) return out;
  const rows = perRow ? rowCount(dims) : 1;
  const rowLen = numel / rows;
  const view = new DataView(section.buffer, section.byteOffset, section.byteLength);
  const q = new Int8Array(section.buffer, section.byteOffset + 4 * rows, numel);
  for (let r = 0; r < rows; r++) {
    const s = view.getFloat32(4 * r, true);
    if (!(s >= 0 && s <= FLT_MAX)) throw fail("E_FRAME", `tensor "${name}": int8 scale ${r} is ${s}; scales are finite and non-negative`);
    const end = (r + 1) * rowLen;
    for (let i = r * rowLen; i < end; i++) out[i] = q[i]! * s;
  }
  return out;
}
