/**
 * Error replies as errors on the device. A worker's `error.code` is a stable name, but a newer
 * worker may send one this device does not know (docs/wire-format.md §3.2), so the code the
 * caller sees is the reply's when it is in the catalogue, else E_RUNTIME; the original code
 * always stays readable as `remoteCode`.
 */
import { EdgecutError, ERRORS, type ErrorCode } from "../errors.js";

/** A request that a worker answered with `ok: false`. */
export class ReplyError extends EdgecutError {
  /** The code exactly as the worker sent it (possibly one outside this device's catalogue). */
  readonly remoteCode: string;
  /** The request the reply answered. */
  readonly requestId: string;

  constructor(remoteCode: string, remoteMessage: string, requestId: string) {
    const known = isErrorCode(remoteCode);
    const code: ErrorCode = known ? remoteCode : "E_RUNTIME";
    const what = known ? "" : ` with ${remoteCode}, a code this device does not know,`;
    super(code, `the worker answered request ${requestId}${what}: ${remoteMessage}`);
    this.name = "ReplyError";
    this.remoteCode = remoteCode;
    this.requestId = requestId;
  }
}

/** Whether a string is a code of this build's catalogue (own keys only: "toString" is no code). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}
