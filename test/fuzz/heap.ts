/**
 * Heap readings for the fuzz tests. The test runner does not start node with --expose-gc, so the
 * flag is set at run time and `gc` taken from a fresh context (V8 installs it there once the
 * flag is on); readings are taken after a full collection, so what they compare is what is kept.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as (() => void) | undefined;

/** Whether readings follow a real collection (else they are raw and bounds should be generous). */
export const HAS_GC = typeof collect === "function";

/** heapUsed and arrayBuffers (bytes) after a full collection. */
export function heapAfterGc(): { heap: number; buffers: number } {
  collect?.();
  collect?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/** Bytes as MiB with one decimal, for messages. */
export const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
