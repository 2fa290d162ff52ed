/**
 * How the local API reports errors: `{ "error": { "code", "message" } }` with an HTTP status
 * derived from the stable code, so a client maps the body back to the same EdgecutError.
 */
import type { ServerResponse } from "node:http";
import { EdgecutError, fail, type ErrorCode } from "../../sdk/errors.js";

/** Seconds a client should wait before retrying a 503 (E_NOT_READY, E_BUSY). */
export const RETRY_AFTER_SECONDS = 1;

/** Codes that say the request itself was wrong (400). */
const BAD_REQUEST = new Set<string>([
  "E_USAGE", "E_INPUT_MISSING", "E_TENSOR_FILE", "E_TENSOR_DATA", "E_BAD_SHAPE_FLAG", "E_UNKNOWN_TENSOR",
  "E_FRAME", "E_FRAME_LIMIT", "E_FRAGMENT", "E_PROTOCOL_VERSION", "E_NOT_GENERATIVE",
]);

/** The HTTP status an error code is answered with (500 for any code not listed). */
export function statusForCode(code: string): number {
  if (BAD_REQUEST.has(code)) return 400;
  switch (code) {
    case "E_NOT_FOUND": return 404;
    case "E_BODY_TOO_LARGE": return 413;
    case "E_NOT_READY": case "E_NO_SPLIT": case "E_BUSY": return 503;
    case "E_TIMEOUT": return 504;
    // The cloud side could not take the request now (broker gone, worker's deadline passed): retryable.
    case "E_BROKER": case "E_EXPIRED": return 503;
    // nginx's "client closed request": the caller went away (its AbortSignal); nobody reads this status.
    case "E_ABORTED": return 499;
    // RFC 4918 §11.5: the server cannot store what the request needs (the agent's store is full).
    case "E_STORE_FULL": return 507;
    default: return 500;
  }
}

/**
 * An error answered with a status its code alone does not give (415 for a content type, 405 for
 * a method), plus headers such as `Allow`.
 */
export class HttpError extends EdgecutError {
  constructor(readonly status: number, code: ErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(code, message);
  }
}

/** The error any thrown value is answered with: EdgecutErrors keep their code, anything else is E_INTERNAL. */
export function toEdgecutError(e: unknown): EdgecutError {
  if (e instanceof EdgecutError) return e;
  return fail("E_INTERNAL", `the agent API failed unexpectedly: ${(e as Error)?.message ?? String(e)}`, e);
}

/** Writes the JSON error body for `e`; a no-op when the response has already started. */
export function sendError(res: ServerResponse, e: EdgecutError): void {
  if (res.headersSent || res.destroyed) return;
  const status = e instanceof HttpError ? e.status : statusForCode(e.code);
  const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8" };
  if (e instanceof HttpError) Object.assign(headers, e.headers);
  if (e.code === "E_NOT_READY" || e.code === "E_BUSY") headers["Retry-After"] = String(RETRY_AFTER_SECONDS);
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  res.writeHead(status, { ...headers, "Content-Length": String(Buffer.byteLength(body)) });
  res.end(body);
}
