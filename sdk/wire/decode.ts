/**
 * decodeFrame: one frame to a header and host tensors (docs/wire-format.md §2-§6). Every limit
 * and every offset is checked against the frame before anything sized by the frame is allocated;
 * fp32 and raw tensors come back as views into the frame's bytes.
 */
import { fail } from "../errors.js";
import type { HostTensor, TensorMap } from "../runtime/tensor.js";
import { decodeFp16, decodeInt8, sectionBytes } from "./codecs.js";
import { parseHeaderJson, readPrefix } from "./prefix.js";
import { parseFrameHeader, parseTensorEntry } from "./schema.js";
import { ALIGN, DEFAULT_LIMITS, type Frame, type TensorEntry, type WireLimits } from "./types.js";
import { assertLittleEndianHost, viewOrCopy } from "./typed.js";

/** DEFAULT_LIMITS with the given ones over them (an undefined value keeps the default). */
export function resolveLimits(limits: Partial<WireLimits> = {}): WireLimits {
  const out: WireLimits = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof WireLimits)[]) {
    const v = limits[k];
    if (v === undefined) continue;
    if (!(typeof v === "number" && v >= 0)) throw fail("E_USAGE", `limit ${k} is ${String(v)}; limits are non-negative numbers`);
    out[k] = v;
  }
  return out;
}

/** Elements of `dims` (§6): E_FRAME_LIMIT as soon as a dim or the running product passes `max`, so no product overflows. */
function countElements(e: TensorEntry, max: number): number {
  let n = 1;
  for (const d of e.dims) {
    if (d > max) throw fail("E_FRAME_LIMIT", `tensor "${e.name}" has a dim of ${d}, over the limit of ${max} elements`);
    n *= d;
    if (n > max) throw fail("E_FRAME_LIMIT", `tensor "${e.name}" [${e.dims.join(", ")}] has over ${max} elements (the limit)`);
  }
  return n;
}

/**
 * Checks the tensor table against the limits and the frame (§4, §6): count, rank, elements,
 * type/encoding pair, length = what the dims need, offsets aligned, after the header, inside the
 * frame and not overlapping, and the frame ending where its last section ends.
 */
function checkTable(raw: unknown[], frameBytes: number, dataStart: number, lim: WireLimits): { entries: TensorEntry[]; counts: number[] } {
  if (raw.length > lim.maxTensors) throw fail("E_FRAME_LIMIT", `the frame lists ${raw.length} tensors, over the limit of ${lim.maxTensors}`);
  const entries: TensorEntry[] = [];
  const counts: number[] = [];
  const names = new Set<string>();
  let total = 0;
  raw.forEach((value, i) => {
    const e = parseTensorEntry(value, i);
    if (names.has(e.name)) throw fail("E_FRAME", `tensor "${e.name}" is listed twice in the frame's table`);
    names.add(e.name);
    if (e.dims.length > lim.maxRank) throw fail("E_FRAME_LIMIT", `tensor "${e.name}" has rank ${e.dims.length}, over the limit of ${lim.maxRank}`);
    const n = countElements(e, lim.maxElements);
    total += n;
    if (total > lim.maxElements) throw fail("E_FRAME_LIMIT", `the frame's tensors hold over ${lim.maxElements} elements together (the limit)`);
    const want = sectionBytes(e.type, e.encoding, e.dims, n);
    if (want === undefined) {
      throw fail("E_FRAME", `tensor "${e.name}": encoding ${e.encoding} does not apply to type ${e.type} (fp32/fp16/int8-* are for float32, raw for the rest)`);
    }
    if (e.length !== want) {
      throw fail("E_FRAME", `tensor "${e.name}" ${e.type} [${e.dims.join(", ")}] as ${e.encoding} takes ${want} bytes, but its table entry says ${e.length}`);
    }
    if (e.offset % ALIGN !== 0) throw fail("E_FRAME", `tensor "${e.name}" starts at byte ${e.offset}, not a multiple of ${ALIGN}`);
    if (e.offset < dataStart) throw fail("E_FRAME", `tensor "${e.name}" starts at byte ${e.offset}, inside the frame's prefix or header (which end at ${dataStart})`);
    if (e.offset + e.length > frameBytes) {
      throw fail("E_FRAME", `tensor "${e.name}" spans bytes ${e.offset}..${e.offset + e.length}, past the end of the ${frameBytes}-byte frame: truncated or corrupt`);
    }
    entries.push(e);
    counts.push(n);
  });
  let end = dataStart;
  const order = entries.map((_, i) => i).sort((a, b) => entries[a]!.offset - entries[b]!.offset || entries[a]!.length - entries[b]!.length);
  for (const i of order) {
    const e = entries[i]!;
    if (e.offset < end) throw fail("E_FRAME", `tensor "${e.name}" at bytes ${e.offset}..${e.offset + e.length} overlaps the tensor before it (which ends at ${end})`);
    end = Math.max(end, e.offset + e.length);
  }
  if (end !== frameBytes) throw fail("E_FRAME", `the frame has ${frameBytes - end} bytes after its last section (which ends at ${end}): corrupt or not one frame`);
  return { entries, counts };
}

function decodeTensor(bytes: Uint8Array, e: TensorEntry, n: number): HostTensor {
  const dims = [...e.dims];
  switch (e.encoding) {
    case "raw":
      return { type: e.type, dims, data: viewOrCopy(e.type, bytes, e.offset, n) } as HostTensor;
    case "fp32":
      return { type: "float32", dims, data: viewOrCopy("float32", bytes, e.offset, n) as Float32Array };
    case "fp16":
      return { type: "float32", dims, data: decodeFp16(viewOrCopy("float16", bytes, e.offset, n) as Uint16Array) };
    case "int8-tensor":
    case "int8-row":
      return { type: "float32", dims, data: decodeInt8(e.name, bytes.subarray(e.offset, e.offset + e.length), e.dims, n, e.encoding === "int8-row") };
  }
}

/**
 * Decodes and validates a frame (§2-§6). Float tensors sent as fp16 or int8 come back as float32
 * (restored); fp32 and raw tensors are views into `bytes` when aligned, so keep `bytes` unchanged
 * while they are used. Throws EdgecutError only: E_FRAME (malformed), E_FRAME_LIMIT (over a
 * limit), E_PROTOCOL_VERSION (another version: peekHeader still gives its requestId) or E_FRAGMENT
 * (a fragment message, which belongs in a Reassembler).
 */
export function decodeFrame(bytes: Uint8Array, limits?: Partial<WireLimits>): Frame {
  assertLittleEndianHost();
  const lim = resolveLimits(limits);
  if (!(bytes instanceof Uint8Array)) throw fail("E_FRAME", "a frame must be a Uint8Array (or Buffer)");
  if (bytes.length > lim.maxFrameBytes) throw fail("E_FRAME_LIMIT", `the frame is ${bytes.length} bytes, over the limit of ${lim.maxFrameBytes}`);
  const p = readPrefix(bytes, lim.maxHeaderBytes);
  const { header, tensors: raw } = parseFrameHeader(parseHeaderJson(bytes, p));
  const { entries, counts } = checkTable(raw, bytes.length, p.headerStart + p.headerLength, lim);
  const tensors: TensorMap = {};
  entries.forEach((e, i) => {
    // defineProperty: a tensor named "__proto__" must be an own entry, not the map's prototype.
    Object.defineProperty(tensors, e.name, { value: decodeTensor(bytes, e, counts[i]!), enumerable: true, writable: true, configurable: true });
  });
  return { header, tensors };
}
