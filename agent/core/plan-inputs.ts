/**
 * Assembles the planner's inputs from what the agent knows right now: the manifest's geometry, the
 * segment costs (profiles or FLOPs), the device sample, the network estimate, and what its own
 * requests taught it (agent/core/observed.ts). Kept apart from the agent so the same assembly can
 * be tested on fakes and reused by the simulator.
 */
import type { NetworkEstimate } from "../network/estimator.js";
import type { DeviceSample } from "../monitor/types.js";
import type { ManifestGeometry } from "../planner/manifest.js";
import type { PlanInputs, SegmentProfile } from "../planner/types.js";
import type { Observed } from "./observed.js";

/** Where segment costs come from (the profiler, or the manifest's FLOPs with a calibration). */
export interface CostSource {
  /** Per-segment idle costs on this device (localMs null where not profiled). */
  segments(): SegmentProfile[];
  /** This device's FLOPs per ms at idle, for unprofiled segments. */
  flopsPerMs(): number;
}

/** What buildPlanInputs reads. */
export interface PlanState {
  geometry: ManifestGeometry;
  costs: CostSource;
  /** The latest device sample (null before the first: RAM taken as unlimited, load 0). */
  sample: DeviceSample | null;
  network: NetworkEstimate;
  observed: Observed;
  /** Memory the sessions loaded now already take (their RAM is not "available" any more, yet is the front's). */
  loadedMemBytes: number;
  /** The planner's default cloud speedup, until the worker's reports give one. */
  defaultCloudSpeedup: number;
  /** Highest split point this device holds the segments for (a pack); absent: all. */
  maxLocalSplit?: number;
}

/**
 * PlanInputs for now. Figures the agent measured win over the manifest's: bytes each split point
 * really sent and received (frames with headers), the worker's speed from its reported compute
 * time, and a correction of the device profiles by how far measured fronts were from them.
 */
export function buildPlanInputs(s: PlanState): PlanInputs {
  const ratio = s.observed.localRatio;
  const segments = s.costs.segments().map((seg) => ({ ...seg, localMs: seg.localMs === null ? null : seg.localMs * ratio }));
  const flopsPerMs = s.costs.flopsPerMs() / ratio;
  const n = segments.length;
  const cuts = s.geometry.cuts.map((c, i) => ({ ...c, bytes: s.observed.bytesUp(i + 1) ?? c.bytes }));
  let down: number | undefined;
  for (let k = 0; k < n && down === undefined; k++) down = s.observed.bytesDown(k);
  return {
    segments,
    cuts,
    inputBytes: s.observed.bytesUp(0) ?? s.geometry.inputBytes,
    outputBytes: down ?? s.geometry.outputBytes,
    ...(s.geometry.inputNames !== undefined ? { inputNames: s.geometry.inputNames } : {}),
    device: {
      cpuLoadPercent: s.sample?.cpuLoadPercent ?? 0,
      ramAvailableBytes: s.sample === null ? Number.MAX_SAFE_INTEGER : s.sample.ramAvailableBytes + s.loadedMemBytes,
      flopsPerMs,
    },
    network: s.network,
    cloud: { speedup: s.observed.speedup ?? s.defaultCloudSpeedup, queueMs: s.observed.queueMs },
    ...(s.maxLocalSplit !== undefined ? { maxLocalSplit: s.maxLocalSplit } : {}),
  };
}
