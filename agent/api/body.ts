/**
 * Request bodies: read with a byte limit (refused from Content-Length alone when it is declared
 * over the limit, else stopped at the first chunk past it, so an oversized body is never held in
 * memory), media types, and the JSON text helpers the tensor payloads need.
 */
import type { IncomingMessage } from "node:http";
import { fail } from "../../sdk/errors.js";
import { HttpError } from "./errors.js";

/** Default api.maxBodyBytes: 64 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 2 ** 20;

function tooLarge(maxBytes: number, what: string): HttpError {
  return new HttpError(413, "E_BODY_TOO_LARGE",
    `the request body ${what} is over the API's limit of ${maxBytes} bytes; send fewer or smaller tensors, or raise api.maxBodyBytes in the agent's config`,
    // The rest of the body is not read: close the connection rather than drain it.
    { Connection: "close" });
}

/** Reads the whole body, or rejects with E_BODY_TOO_LARGE (413) as soon as it passes `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(tooLarge(maxBytes, `(Content-Length ${declared})`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        chunks.length = 0;
        reject(tooLarge(maxBytes, `(over ${size} bytes so far)`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(fail("E_USAGE", `reading the request body failed: ${e.message}`, e));
    };
    const onClose = (): void => {
      if (req.complete) return;
      cleanup();
      reject(fail("E_USAGE", "the client closed the connection before the request body was complete"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** The media type of a Content-Type or Accept entry, lower case and without parameters ("" when absent). */
export function mediaType(value: string | undefined): string {
  return (value ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Whether the client asked for a binary reply: `application/octet-stream` appears in Accept
 * before any `application/json` (q-values are not weighed; JSON is the default).
 */
export function wantsOctetStream(accept: string | undefined): boolean {
  for (const part of (accept ?? "").split(",")) {
    const t = mediaType(part);
    if (t === "application/octet-stream") return true;
    if (t === "application/json") return false;
  }
  return false;
}

/** Splices JSON text produced elsewhere (a formatted tensor file) into {@link jsonText} output unchanged. */
export class RawJson {
  constructor(readonly text: string) {}
}

/**
 * JSON text of a parsed JSON value, keeping -0 (JSON.stringify writes 0) and splicing RawJson.
 * Tensor payloads go through JSON.parse and then parseTensorFile, which takes text: this
 * rebuilds that text without changing any value (every double prints as a number that reads back
 * as itself).
 */
export function jsonText(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : jsonText(x))).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) if (x !== undefined) parts.push(`${JSON.stringify(k)}:${jsonText(x)}`);
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
