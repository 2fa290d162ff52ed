/**
 * The fixed prefix every frame and fragment starts with (docs/wire-format.md §2) and the cheap
 * peek a worker uses to route an error about a frame it cannot decode (§8).
 */
import { fail } from "../errors.js";
import { DEFAULT_LIMITS, MAGIC, MAX_ID_CHARS, PREFIX_BYTES, PROTOCOL_VERSION, type FragmentHeader, type FrameHeader, type RequestHeader } from "./types.js";

/** What the prefix says: the version and where the JSON header sits. */
export interface Prefix {
  version: number;
  headerStart: number;
  headerLength: number;
}

function hasMagic(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && bytes[0] === MAGIC[0] && bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2] && bytes[3] === MAGIC[3];
}

/** Reads the version and header length (u16 and u32, little-endian) without checking the version. */
export function rawPrefix(bytes: Uint8Array): Prefix | undefined {
  if (bytes.length < PREFIX_BYTES || !hasMagic(bytes)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, PREFIX_BYTES);
  return { version: view.getUint16(4, true), headerStart: PREFIX_BYTES, headerLength: view.getUint32(6, true) };
}

/**
 * Reads and checks the prefix (§2), in the order that keeps every version's error exact: E_FRAME
 * without the magic; E_PROTOCOL_VERSION for another version (its offset and width are fixed for
 * all versions, so only they are read first); then E_FRAME when the prefix or header is cut
 * short and E_FRAME_LIMIT when the header is over `maxHeaderBytes`.
 */
export function readPrefix(bytes: Uint8Array, maxHeaderBytes: number): Prefix {
  if (!hasMagic(bytes)) {
    throw fail("E_FRAME", bytes.length < MAGIC.length
      ? `a ${bytes.length}-byte message is too short to be a frame (${PREFIX_BYTES} bytes at least)`
      : "the message does not start with the magic bytes \"ECUT\": it is not an edgecut frame");
  }
  if (bytes.length < 6) throw fail("E_FRAME", `a ${bytes.length}-byte message is too short to be a frame (${PREFIX_BYTES} bytes at least)`);
  const version = bytes[4]! | (bytes[5]! << 8);
  if (version !== PROTOCOL_VERSION) {
    const requestId = peekHeader(bytes)?.header?.requestId;
    throw fail("E_PROTOCOL_VERSION", `the frame speaks protocol version ${version}; this peer speaks version ${PROTOCOL_VERSION}` +
      (requestId === undefined ? "" : ` (request ${JSON.stringify(requestId)})`) + "; upgrade the older side");
  }
  const p = rawPrefix(bytes);
  if (!p) throw fail("E_FRAME", `a ${bytes.length}-byte message is too short to be a frame (${PREFIX_BYTES} bytes at least)`);
  if (p.headerLength > maxHeaderBytes) {
    throw fail("E_FRAME_LIMIT", `the frame's header is ${p.headerLength} bytes, over the limit of ${maxHeaderBytes}`);
  }
  if (p.headerStart + p.headerLength > bytes.length) {
    throw fail("E_FRAME", `the header length (${p.headerLength} bytes) runs past the end of the ${bytes.length}-byte frame: truncated or corrupt`);
  }
  return p;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** The header's JSON value; E_FRAME when it is not UTF-8 JSON. */
export function parseHeaderJson(bytes: Uint8Array, p: Prefix): unknown {
  try {
    return JSON.parse(decoder.decode(bytes.subarray(p.headerStart, p.headerStart + p.headerLength)));
  } catch {
    throw fail("E_FRAME", "the frame header is not valid UTF-8 JSON");
  }
}

/** What peekHeader can tell: the kind and the ids, each only when present with the right type. */
export type PeekedHeader = Partial<FrameHeader> | Partial<FragmentHeader>;

const ID_FIELDS = ["requestId", "deviceId", "splitId", "sessionId"] as const;

/**
 * Cheap peek for routing errors (§8): the version, and the header's kind and ids when the JSON
 * header parses — even when the version is not ours or the tensor table is bad, so a worker can
 * still address an E_PROTOCOL_VERSION or E_FRAME reply. Undefined without the magic and prefix.
 * Never throws; reads at most DEFAULT_LIMITS.maxHeaderBytes of header.
 */
export function peekHeader(bytes: Uint8Array): { version: number; header?: PeekedHeader } | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined;
  const p = rawPrefix(bytes);
  if (!p) return undefined;
  if (p.headerLength > DEFAULT_LIMITS.maxHeaderBytes || p.headerStart + p.headerLength > bytes.length) return { version: p.version };
  let value: unknown;
  try {
    value = parseHeaderJson(bytes, p);
  } catch {
    return { version: p.version };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { version: p.version };
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (src.kind === "request" || src.kind === "reply" || src.kind === "fragment") out.kind = src.kind;
  for (const k of ID_FIELDS) {
    const v = src[k];
    if (typeof v === "string" && v.length > 0 && v.length <= MAX_ID_CHARS) out[k] = v;
  }
  return { version: p.version, header: out as Partial<RequestHeader> };
}
