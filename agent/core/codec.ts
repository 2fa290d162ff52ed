/**
 * Bytes of the durable queue: a queued request's inputs and a finished request's result, as stored
 * in the agent's SQLite outbox. Both are wire frames (docs/wire-format.md) so tensors keep their
 * exact bits (fp32, "raw" for every other type) and decoding is a view, not a parse.
 *
 * - request bytes: a request frame whose header names the split and the whole segment range.
 * - result bytes: a reply frame with the outputs, prefixed by a u32 length and a JSON record of the
 *   split point and breakdown (the reply header has no room for them).
 */
import { fail } from "../../sdk/errors.js";
import type { InferBreakdown } from "../../sdk/infer/types.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { decodeFrame, encodeFrame } from "../../sdk/wire/index.js";

/** Encodes a queued request's model inputs (E_USAGE for a string tensor: the wire format has none). */
export function encodeInputs(requestId: string, deviceId: string, splitId: string, segments: number, inputs: TensorMap): Uint8Array {
  for (const [name, t] of Object.entries(inputs)) {
    if (t.type === "string") throw fail("E_USAGE", `input "${name}" is a string tensor; queued requests carry numeric tensors only`);
  }
  return encodeFrame({ kind: "request", requestId, deviceId, splitId, segments: { from: 0, to: segments }, ttlMs: 1 }, inputs, { encoding: "fp32" });
}

/** Decodes what encodeInputs wrote (tensors are views into `bytes`). */
export function decodeInputs(bytes: Uint8Array): TensorMap {
  const frame = decodeFrame(bytes);
  if (frame.header.kind !== "request") throw fail("E_STORE", "a queued request's bytes hold a reply frame; the store is corrupt");
  return frame.tensors;
}

/** What a finished queued request keeps besides its outputs. */
export interface StoredResultMeta {
  split: number;
  breakdown: InferBreakdown;
}

/** Encodes a finished request's outputs and meta. */
export function encodeResult(requestId: string, deviceId: string, outputs: TensorMap, meta: StoredResultMeta): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const frame = encodeFrame({ kind: "reply", requestId, deviceId, computeMs: 0, queueMs: 0, ok: true }, outputs, { encoding: "fp32" });
  const out = new Uint8Array(4 + json.length + frame.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(frame, 4 + json.length);
  return out;
}

/** Decodes what encodeResult wrote. E_STORE when the bytes are not such a record. */
export function decodeResult(bytes: Uint8Array): { outputs: TensorMap; meta: StoredResultMeta } {
  if (bytes.length < 4) throw fail("E_STORE", "a stored result is shorter than its length prefix; the store is corrupt");
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + n > bytes.length) throw fail("E_STORE", "a stored result's meta runs past its end; the store is corrupt");
  let meta: StoredResultMeta;
  try {
    meta = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n))) as StoredResultMeta;
  } catch (e) {
    throw fail("E_STORE", `a stored result's meta is not JSON (${(e as Error).message}); the store is corrupt`, e);
  }
  // decodeFrame copies a tensor whose section is not aligned in memory (SQLite's buffers need not be).
  const frame = decodeFrame(bytes.subarray(4 + n));
  return { outputs: frame.tensors, meta };
}
