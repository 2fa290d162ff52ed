/**
 * Fragmentation (docs/wire-format.md §7): a frame larger than the transport's message cap (some
 * MQTT brokers stop at 128 KB) travels as fragment messages, each itself a small frame whose
 * header says which piece it carries, so peekHeader can route an error about any of them.
 */
import { randomUUID } from "node:crypto";
import { fail } from "../errors.js";
import { MAGIC, MAX_ID_CHARS, PREFIX_BYTES, PROTOCOL_VERSION, type FragmentHeader } from "./types.js";

/** A fragment message: prefix, JSON header, then the payload right after the header (no padding: payloads are bytes). */
export function encodeFragment(h: FragmentHeader, payload: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h));
  const msg = new Uint8Array(PREFIX_BYTES + json.length + payload.length);
  msg.set(MAGIC, 0);
  const view = new DataView(msg.buffer);
  view.setUint16(4, PROTOCOL_VERSION, true);
  view.setUint32(6, json.length, true);
  msg.set(json, PREFIX_BYTES);
  msg.set(payload, PREFIX_BYTES + json.length);
  return msg;
}

function checkId(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length < 1 || v.length > MAX_ID_CHARS) throw fail("E_USAGE", `${what} must be a string of 1 to ${MAX_ID_CHARS} characters`);
  return v;
}

/**
 * Splits an encoded frame into transport messages of at most `maxMessageBytes` each (§7); a
 * frame that fits is returned alone, unchanged. Every fragment but the last carries the same
 * number of payload bytes (`chunkBytes`); a fresh `frameId` tells a retry from a duplicate.
 * E_USAGE when `maxMessageBytes` cannot hold a fragment header plus one byte.
 */
export function fragmentFrame(frame: Uint8Array, maxMessageBytes: number, ids: { requestId: string; deviceId: string }): Uint8Array[] {
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) throw fail("E_USAGE", `maxMessageBytes is ${maxMessageBytes}; it must be a positive integer`);
  if (frame.length <= maxMessageBytes) return [frame];
  const base = { kind: "fragment" as const, requestId: checkId(ids.requestId, "requestId"), deviceId: checkId(ids.deviceId, "deviceId"), frameId: randomUUID() };
  const total = frame.length;
  // Every number in a fragment header is at most `total`, so a header with all of them set to
  // `total` is the longest any fragment of this frame can have.
  const longest = utf8Length(JSON.stringify({ ...base, fragment: { index: total, count: total }, chunkBytes: total, totalBytes: total }));
  const chunk = maxMessageBytes - PREFIX_BYTES - longest;
  if (chunk < 1) {
    throw fail("E_USAGE", `maxMessageBytes ${maxMessageBytes} cannot hold a fragment: its prefix and header alone take up to ${PREFIX_BYTES + longest} bytes`);
  }
  const count = Math.ceil(total / chunk);
  const out: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const h: FragmentHeader = { ...base, fragment: { index, count }, chunkBytes: chunk, totalBytes: total };
    out.push(encodeFragment(h, frame.subarray(index * chunk, Math.min(total, (index + 1) * chunk))));
  }
  return out;
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** A fragment header checked for internal consistency: `count` pieces of `chunkBytes`, the last one shorter or equal. */
export function fragmentPayloadBytes(h: FragmentHeader): number | undefined {
  if (h.fragment.count !== Math.ceil(h.totalBytes / h.chunkBytes)) return undefined;
  return h.fragment.index < h.fragment.count - 1 ? h.chunkBytes : h.totalBytes - (h.fragment.count - 1) * h.chunkBytes;
}
