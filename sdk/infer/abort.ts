/** Waiting that an AbortSignal can cut short, shared by both Inference implementations. */
import { fail, type EdgecutError } from "../errors.js";

/** The error of an aborted call (`what` says what may still finish elsewhere). */
export function abortedError(what: string): EdgecutError {
  return fail("E_ABORTED", `the call was aborted (AbortSignal); ${what}`);
}

/** Resolves after `ms`, or rejects with `aborted()` as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal | undefined, aborted: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const onAbort = (): void => {
      clearTimeout(t);
      reject(aborted());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
