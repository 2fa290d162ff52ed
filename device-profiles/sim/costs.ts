/**
 * Segment costs the simulators run on: measured on this machine (by `edgecut calibrate`, or the
 * agent's profiler) and scaled to a device profile. Shared by the calibration (which writes them)
 * and the simulators (which read them), so they agree on one format.
 */

import { fail } from "../../sdk/errors.js";

/** This machine measured on the reference kernels and, optionally, on a split's segments. Format 1. */
export interface Calibration {
  format: 1;
  /** When and where it was measured (hostname, cpu model, cores, node version). */
  machine: { host: string; cpuModel: string; cores: number; node: string; measuredAt: string };
  /**
   * FLOPs per ms on the reference kernels here, and this machine's speed relative to the
   * reference board (Raspberry Pi 4 Model B = 1.0, device-profiles' relativeSpeed scale).
   */
  flopsPerMs: number;
  relativeSpeed: number;
  /** The reference kernels measured (name, FLOPs per ms here), when the calibration records them. */
  kernels?: { name: string; flopsPerMs: number }[];
  /** Per-segment medians (ms, one thread) of a split, when measured with --manifest. */
  model?: { splitId: string; manifest: string; shapeBucket: string; segmentMs: number[]; segmentRssBytes: number[] };
}

/** Idle device time of each segment on a board of `relativeSpeed` (ms): measured here, scaled. */
export function scaleSegmentMs(cal: Calibration, relativeSpeed: number): number[] {
  if (cal.model === undefined) throw fail("E_USAGE", "the calibration has no per-segment times; run edgecut calibrate --manifest <split>/manifest.json");
  return cal.model.segmentMs.map((ms) => (ms * cal.relativeSpeed) / relativeSpeed);
}
