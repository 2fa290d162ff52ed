/**
 * The small statistics behind a profile: the median of timed runs, the load correction that turns
 * a latency measured under load into the idle figure the planner wants, and the check on RSS
 * deltas that look too small for the weights they loaded.
 */
import { fail } from "../../sdk/errors.js";
import type { SegmentProfile } from "../store/index.js";

/** The planner's default clamp on CPU load (agent/planner/config.ts maxCpuLoad). */
export const DEFAULT_MAX_CPU_LOAD = 0.9;

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw fail("E_INTERNAL", "median of no values");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Checks a CPU load fraction: finite and in 0..1. `what` names it in the error. */
export function checkLoad(load: number, what: string): number {
  if (typeof load !== "number" || !Number.isFinite(load) || load < 0 || load > 1) {
    throw fail("E_USAGE", `${what} must be a CPU load fraction from 0 to 1, got ${String(load)} (pass cpuLoadPercent / 100)`);
  }
  return load;
}

/**
 * A profile's latency as if measured at idle: latencyMs x (1 - load), load clamped to maxCpuLoad.
 * This inverts the planner's load factor 1 / (1 - load) (processor sharing, agent/planner/cost.ts),
 * so a profile taken under load is not stretched a second time when the planner applies the
 * current load to it.
 */
export function idleLatencyMs(p: Pick<SegmentProfile, "latencyMs" | "cpuLoad">, maxCpuLoad = DEFAULT_MAX_CPU_LOAD): number {
  const u = Math.min(Math.max(p.cpuLoad, 0), maxCpuLoad);
  return p.latencyMs * (1 - u);
}

/** Below this many weight bytes an RSS delta says little (page granularity, allocator arenas). */
const RSS_NOTE_MIN_WEIGHT_BYTES = 4 * 1024 * 1024;

/**
 * A note when a segment's measured RSS delta is under half its weight bytes, else undefined.
 * Such deltas are real measurements, not errors: external weights onnxruntime maps from the file
 * are page cache shared with the kernel and only count once touched; pages freed by earlier work
 * in this process (a released session, a previous profile) are reused without growing RSS; and
 * the kernel may not have faulted in every page yet. The profile stores the delta as measured.
 */
export function rssNote(deltaBytes: number, weightBytes: number): string | undefined {
  if (weightBytes < RSS_NOTE_MIN_WEIGHT_BYTES || deltaBytes >= weightBytes / 2) return undefined;
  return `RSS grew by ${deltaBytes} bytes loading a segment with ${weightBytes} weight bytes: ` +
    "weights mapped from the file or memory reused from earlier work do not show in the delta; the planner uses the weight bytes as a floor";
}
