/**
 * encodeFrame: a header and host tensors to one frame (docs/wire-format.md §2-§5). fp32 and raw
 * sections are copied with one TypedArray.set each (a memcpy); only fp16 and int8 convert per element.
 */
import { fail } from "../errors.js";
import type { HostTensor, TensorMap } from "../runtime/tensor.js";
import { encodeFp16, encodeInt8, sectionBytes } from "./codecs.js";
import { checkOutgoingHeader } from "./schema.js";
import { ALIGN, ELEMENT_BYTES, ENCODINGS, MAGIC, PREFIX_BYTES, PROTOCOL_VERSION, type Encoding, type FrameHeader, type TensorEntry, type WireType } from "./types.js";
import { assertLittleEndianHost, DATA_CONSTRUCTORS } from "./typed.js";

/** Options of encodeFrame: the float32 encoding for every tensor, and per-tensor overrides. */
export interface EncodeOptions {
  /** Encoding of float32 tensors (default "fp32"); other types are always sent raw. */
  encoding?: Encoding;
  /** Per-tensor encoding by name, over `encoding`. Only "raw" (or nothing) is allowed for non-float32 tensors. */
  encodings?: Record<string, Encoding>;
}

const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

interface Planned {
  entry: TensorEntry;
  tensor: HostTensor;
}

/** `e` as an Encoding; E_USAGE naming `where` (the option) when it is not one of ENCODINGS. */
export function checkEncoding(e: unknown, where = "encoding"): Encoding {
  if (!ENCODINGS.includes(e as Encoding)) throw fail("E_USAGE", `${where} is ${JSON.stringify(e)}; expected one of ${ENCODINGS.join(", ")}`);
  return e as Encoding;
}

/** The encoding a tensor travels with (§5.1): float32 follows the options ("raw" means fp32); other types go raw. */
function encodingFor(name: string, type: WireType, opts: EncodeOptions): Encoding {
  const own = opts.encodings && Object.hasOwn(opts.encodings, name) ? checkEncoding(opts.encodings[name], `encodings["${name}"]`) : undefined;
  if (type !== "float32") {
    if (own !== undefined && own !== "raw") {
      throw fail("E_USAGE", `encoding ${own} applies to float32 tensors only; "${name}" is ${type}, which travels raw`);
    }
    return "raw";
  }
  const e = own ?? (opts.encoding === undefined ? "fp32" : checkEncoding(opts.encoding, "encoding"));
  return e === "raw" ? "fp32" : e;
}

/** Checks a host tensor can travel (§4): a wire type, safe-integer dims, data of the right class and length. */
function checkTensor(name: string, t: HostTensor): number {
  if (name.length < 1 || name.length > 1024) throw fail("E_FRAME", `cannot encode a tensor named ${JSON.stringify(name.slice(0, 40))}: names are 1 to 1024 characters`);
  if (t.type === "string") throw fail("E_FRAME", `cannot encode tensor "${name}": string tensors are not supported on the wire`);
  if (!Object.hasOwn(ELEMENT_BYTES, t.type)) throw fail("E_FRAME", `cannot encode tensor "${name}": unknown type ${JSON.stringify(t.type)}`);
  if (!Array.isArray(t.dims) || !t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail("E_FRAME", `cannot encode tensor "${name}": dims ${JSON.stringify(t.dims)} are not non-negative integers`);
  }
  if (!(t.data instanceof DATA_CONSTRUCTORS[t.type])) {
    throw fail("E_FRAME", `cannot encode tensor "${name}": ${t.type} data must be a ${DATA_CONSTRUCTORS[t.type].name}`);
  }
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw fail("E_FRAME", `cannot encode tensor "${name}": dims [${t.dims.join(", ")}] hold ${n} elements but the data has ${t.data.length}`);
  return n;
}

/**
 * Offsets depend on the header's length and the header lists the offsets, so the layout is
 * found by fixed point (§2): data starts at the aligned end of the header; if writing the real
 * offsets makes the header spill past that, start the data one alignment later and retry.
 * Offsets only grow, so the header only grows, and it converges in a few rounds.
 */
function layout(header: FrameHeader, plan: Planned[]): { json: Uint8Array; total: number } {
  let dataStart = align(PREFIX_BYTES);
  for (;;) {
    let cursor = dataStart;
    for (const p of plan) {
      p.entry.offset = cursor;
      cursor = align(cursor + p.entry.length);
    }
    const json = new TextEncoder().encode(JSON.stringify({ ...header, tensors: plan.map((p) => p.entry) }));
    const need = PREFIX_BYTES + json.length;
    if (plan.length === 0) return { json, total: need };
    if (need <= dataStart) {
      const last = plan[plan.length - 1]!.entry;
      return { json, total: last.offset + last.length };
    }
    dataStart = align(need);
  }
}

function writeSection(frame: Uint8Array, p: Planned): void {
  const { entry, tensor } = p;
  const data = tensor.data as Exclude<HostTensor["data"], string[]>;
  switch (entry.encoding) {
    case "raw":
    case "fp32":
      frame.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), entry.offset);
      return;
    case "fp16":
      encodeFp16(entry.name, data as Float32Array, new Uint16Array(frame.buffer, frame.byteOffset + entry.offset, data.length));
      return;
    case "int8-tensor":
    case "int8-row":
      encodeInt8(entry.name, data as Float32Array, entry.dims, entry.encoding === "int8-row", frame.subarray(entry.offset, entry.offset + entry.length));
  }
}

/**
 * Encodes a frame (§2): magic, version, header length, the JSON header with its tensor table,
 * then each tensor at a 64-byte-aligned offset; padding is zero. float32 tensors are encoded with
 * `opts.encoding` (default fp32) or `opts.encodings[name]`; other types travel raw.
 * Throws E_FRAME for what cannot make a valid frame (a header failing the schema, string tensors,
 * data not matching dims, NaN/Infinity for int8, values beyond half's range for fp16) and
 * E_USAGE for bad options.
 */
export function encodeFrame(header: FrameHeader, tensors: TensorMap, opts: EncodeOptions = {}): Uint8Array {
  const { json, total, plan } = planFrame(header, tensors, opts);
  // Zero-filled, so padding never leaks memory onto the wire; a fresh ArrayBuffer is calloc'd, not written twice.
  const frame = new Uint8Array(total);
  frame.set(MAGIC, 0);
  const view = new DataView(frame.buffer);
  view.setUint16(4, PROTOCOL_VERSION, true);
  view.setUint32(6, json.length, true);
  frame.set(json, PREFIX_BYTES);
  for (const p of plan) writeSection(frame, p);
  return frame;
}

/**
 * The exact byte length encodeFrame would return for these arguments, without converting or
 * copying any tensor data (e.g. to pick an encoding or decide on fragmenting before encoding).
 * Throws what encodeFrame throws, except the value checks of fp16 and int8.
 */
export function encodedByteLength(header: FrameHeader, tensors: TensorMap, opts: EncodeOptions = {}): number {
  return planFrame(header, tensors, opts).total;
}

function planFrame(header: FrameHeader, tensors: TensorMap, opts: EncodeOptions): { json: Uint8Array; total: number; plan: Planned[] } {
  assertLittleEndianHost();
  const checked = checkOutgoingHeader(header);
  const plan: Planned[] = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    const n = checkTensor(name, tensor);
    const type = tensor.type as WireType;
    const encoding = encodingFor(name, type, opts);
    const length = sectionBytes(type, encoding, tensor.dims, n)!;
    plan.push({ entry: { name, type, dims: [...tensor.dims], encoding, offset: 0, length }, tensor });
  }
  return { ...layout(checked, plan), plan };
}
