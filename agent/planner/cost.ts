/**
 * The cost model of one split point, after Neurosurgeon (Kang et al., ASPLOS 2017): predicted
 * latency = device time of the front + transfer of what crosses + cloud time of the back, with
 * each part predicted from per-segment profiles and the current network estimate.
 *
 * - Device: the profiled idle ms of segments 0..k-1 (or FLOPs / calibration when unprofiled),
 *   times the load factor 1 / (1 - load), load = cpuLoadPercent / 100 clamped to maxCpuLoad.
 *   Why: under processor sharing, other work holding a fraction u of the CPU leaves 1 - u for
 *   inference, so a job stretches by 1/(1 - u). It overestimates when the other work and
 *   inference sit on different cores; the clamp (10x at 0.9) keeps a saturated CPU finite so
 *   the cloud still wins rather than every row becoming Infinity.
 * - Codec: (bytes up + bytes down) x codecMsPerByte.
 * - Link: one RTT plus bytes up / up bandwidth plus bytes down / down bandwidth.
 * - Cloud: per-segment worker reports, or the idle device profile / speedup for segments the
 *   worker has not reported; plus the worker's reported queueing.
 * - Throughput (DADS, Hu et al., INFOCOM 2019, heavy-load mode): requests pipeline through three
 *   stages, the device (front + codec), the link (up + down; the RTT is propagation, which
 *   overlaps between requests, so it is not occupancy) and the cloud (compute; queueing is
 *   waiting, not occupancy). Steady-state rate = 1000 / the slowest stage. Up and down are added,
 *   not overlapped, which is right for half-duplex Wi-Fi and conservative for a duplex link.
 */
import type { PlannerConfig } from "./config.js";
import type { PlanInputs, Prediction } from "./types.js";

/** Load factor applied to idle device times: 1 / (1 - clamp(load, 0, maxCpuLoad)). */
export function loadFactor(cpuLoadPercent: number, maxCpuLoad: number): number {
  const u = Math.min(Math.max(cpuLoadPercent / 100, 0), maxCpuLoad);
  return 1 / (1 - u);
}

/** A segment's idle device time (ms): profiled, else FLOPs / calibration, else null (unknown). */
export function idleSegmentMs(inputs: PlanInputs, i: number): number | null {
  const s = inputs.segments[i]!;
  if (s.localMs !== null) return s.localMs;
  if (s.flops !== null && inputs.device.flopsPerMs > 0) return s.flops / inputs.device.flopsPerMs;
  return null;
}

/** A segment's cloud time (ms): the worker's report, else the idle device time / speedup, else null. */
export function cloudSegmentMs(inputs: PlanInputs, i: number, config: PlannerConfig): number | null {
  const reported = inputs.cloud.msPerSegment?.[i];
  if (reported !== undefined && reported !== null) return reported;
  const idle = idleSegmentMs(inputs, i);
  return idle === null ? null : idle / (inputs.cloud.speedup ?? config.defaultCloudSpeedup);
}

/** Bytes up and down at split point k. */
export function transferBytes(inputs: PlanInputs, k: number): { up: number; down: number } {
  const n = inputs.segments.length;
  if (k === n) return { up: 0, down: 0 };
  return { up: k === 0 ? inputs.inputBytes : inputs.cuts[k - 1]!.bytes, down: inputs.outputBytes };
}

/**
 * Predicted costs at split point k, and the segments whose cost is unknown (which make the row
 * infeasible; their time counts as Infinity).
 */
export function predict(inputs: PlanInputs, k: number, config: PlannerConfig): { predicted: Prediction; unknown: number[] } {
  const n = inputs.segments.length;
  const unknown: number[] = [];
  const factor = loadFactor(inputs.device.cpuLoadPercent, config.maxCpuLoad);
  let localMs = 0;
  for (let i = 0; i < k; i++) {
    const ms = idleSegmentMs(inputs, i);
    if (ms === null) unknown.push(i);
    localMs += ms === null ? Number.POSITIVE_INFINITY : ms * factor;
  }
  let cloudMs = 0;
  for (let i = k; i < n; i++) {
    const ms = cloudSegmentMs(inputs, i, config);
    if (ms === null) unknown.push(i);
    cloudMs += ms === null ? Number.POSITIVE_INFINITY : ms;
  }
  const { up, down } = transferBytes(inputs, k);
  const net = inputs.network;
  const offloads = k < n;
  const encodeMs = (up + down) * config.codecMsPerByte;
  const upMs = up === 0 ? 0 : (up / net.upBytesPerSec) * 1000;
  const downMs = down === 0 ? 0 : (down / net.downBytesPerSec) * 1000;
  const rttMs = offloads ? net.rttMs : 0;
  const queueMs = offloads ? inputs.cloud.queueMs : 0;
  const totalMs = localMs + encodeMs + upMs + rttMs + cloudMs + queueMs + downMs;
  const slowestStage = Math.max(localMs + encodeMs, upMs + downMs, cloudMs);
  const throughputPerSec = slowestStage > 0 ? 1000 / slowestStage : Number.POSITIVE_INFINITY;
  return { predicted: { localMs, encodeMs, upMs, downMs, rttMs, cloudMs, queueMs, totalMs, throughputPerSec }, unknown };
}
