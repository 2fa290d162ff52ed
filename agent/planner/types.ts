/**
 * The planner's inputs and its plan table (what GET /v1/status shows). Split point k: segments
 * 0..k-1 run on the device, k..n-1 in the cloud (k = 0 all cloud, k = n all local), as in
 * sdk/offload/plan.ts.
 */
import type { NetworkEstimate } from "../network/estimator.js";
import type { Objective } from "./config.js";

/** One segment's cost on this device. */
export interface SegmentProfile {
  /** Profiled run time at idle (ms); null when not profiled yet: predicted from flops / device.flopsPerMs. */
  localMs: number | null;
  /** FLOPs (the manifest's); null when unknown. */
  flops: number | null;
  /** Memory the segment takes when loaded (measured; the manifest's weightBytes before that). */
  memBytes: number;
}

/** The cut after segment i (cuts[i]), what split point k = i + 1 sends. */
export interface CutProfile {
  /** Bytes uploaded: the crossing tensors plus the model inputs the back reads. */
  bytes: number;
  /** Crossing tensors (computed in front). */
  tensors: string[];
  /** Model inputs the back reads, sent along. */
  modelInputs: string[];
}

/** The device right now. */
export interface DeviceState {
  /** CPU busy with other work, 0..100. */
  cpuLoadPercent: number;
  ramAvailableBytes: number;
  /** Calibration: FLOPs per ms at idle, for unprofiled segments. */
  flopsPerMs: number;
}

/** The cloud worker's costs. */
export interface CloudProfile {
  /** Worker compute per segment (ms) from its reports; null or missing entries use the speedup. */
  msPerSegment?: (number | null)[];
  /** Cloud speed over the device's idle profile (default: the config's defaultCloudSpeedup). */
  speedup?: number;
  /** Expected queueing at the worker (ms), from its reports. */
  queueMs: number;
}

/** Everything plan() needs. */
export interface PlanInputs {
  segments: SegmentProfile[];
  /** n - 1 cuts: cuts[i] follows segment i. */
  cuts: CutProfile[];
  /** Bytes of all model inputs (what k = 0 sends). */
  inputBytes: number;
  /** Bytes of the model outputs the cloud returns (any k < n). */
  outputBytes: number;
  /** Model input names (what k = 0 sends); when absent, k = 0 counts as sending every private input. */
  inputNames?: string[];
  device: DeviceState;
  network: NetworkEstimate;
  cloud: CloudProfile;
  /** Highest split point whose front segments this device holds (a pack, `edgecut pack`); default n. */
  maxLocalSplit?: number;
}

/** Predicted costs of one split point (ms, except throughput). */
export interface Prediction {
  /** Segments 0..k-1 on the device, scaled by CPU load. */
  localMs: number;
  /** Encoding the request and decoding the reply. */
  encodeMs: number;
  upMs: number;
  downMs: number;
  /** One round trip's fixed cost (0 for k = n). */
  rttMs: number;
  /** Segments k..n-1 on the worker. */
  cloudMs: number;
  queueMs: number;
  /** Latency of one request: the sum of the above. */
  totalMs: number;
  /** Requests/s when requests are pipelined: 1000 / the slowest stage (device, link, cloud). */
  throughputPerSec: number;
}

/** One row of the plan table. */
export interface PlanRow {
  k: number;
  feasible: boolean;
  /** Why the split is infeasible (every reason, "; "-separated). */
  reason?: string;
  predicted: Prediction;
  /** Memory of the front segments 0..k-1. */
  memBytes: number;
  upBytes: number;
  downBytes: number;
}

/**
 * What to do: "offload" (run at best, k < n), "local" (best = n), "queue" (the cloud is
 * unreachable and all-local does not fit: hold requests, best is the split to resume at),
 * "fail" (no split can run: fail requests fast; best is null).
 */
export type PlanAction = "offload" | "local" | "queue" | "fail";

/** The plan table and the choice. */
export interface Plan {
  rows: PlanRow[];
  /** The chosen split point, or null when action is "fail". */
  best: number | null;
  objective: Objective;
  action: PlanAction;
  /** Why the action is "queue" or "fail". */
  reason?: string;
}
