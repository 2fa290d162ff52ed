/**
 * Ground truth: what a request at split point k really costs under the true conditions, with the
 * request's own random draws. Every policy's request i uses the same draws (common random numbers),
 * so two policies at the same k and time see the same latency, and the oracle's per-request
 * minimum is exact.
 *
 * The model (assumptions, in the spirit of the planner's cost model, which it deliberately does
 * not call: the planner predicts, this is what happens):
 * - Device: the idle profile of segments 0..k-1 stretched by processor sharing, 1 / (1 - load),
 *   load clamped at 0.95 (the planner clamps its prediction at maxCpuLoad, 0.9), times a
 *   log-normal compute noise (computeNoisePct).
 * - Codec: (bytes up + bytes down) x the planner's codecMsPerByte.
 * - Link: bytes / bandwidth each way, plus a one-way delay each way of rtt/2 + jitter x N(0, 1)
 *   (at least rtt/8), plus packet loss: a message of ceil(bytes / 1448) packets loses
 *   Poisson(packets x loss) of them, each repaired by fast retransmit (one RTT), and with
 *   probability `loss` its last packet, repaired only by the retransmission timeout (Linux's
 *   minimum, 200 ms, or 2 RTT when longer). Bytes are the manifest's plus a frame header each way
 *   (FRAME_OVERHEAD_BYTES), as the agent measures transport payloads.
 * - Cloud: the idle device profile of segments k..n-1 / cloudSpeedup, times its own compute
 *   noise, plus the scenario's queueing at the worker.
 */
import { memoryViolation } from "../../agent/planner/checks.js";
import type { PlannerConfig } from "../../agent/planner/config.js";
import type { ManifestGeometry } from "../../agent/planner/manifest.js";
import { poissonQuantile, type Rng } from "./rng.js";
import type { SimBreakdown } from "./types.js";
import type { TrueConditions } from "./timeline.js";

/** Frame and fragment headers around a message's tensors (bytes, each way; docs/wire-format.md: a few hundred). */
export const FRAME_OVERHEAD_BYTES = 300;
/** TCP payload per packet at a 1500-byte MTU (bytes). */
const MSS_BYTES = 1448;
/** Linux's minimum retransmission timeout (ms). */
const MIN_RTO_MS = 200;
/** Processor sharing is clamped here: other work never takes the whole CPU from inference. */
const MAX_TRUE_LOAD = 0.95;

/** One request's random draws (standard normals z*, uniforms u*). */
export interface RequestNoise {
  zUp: number;
  zDown: number;
  uLossUp: number;
  uLossDown: number;
  uTailUp: number;
  uTailDown: number;
  zDevice: number;
  zCloud: number;
}

/** Draws one request's noise (always the same number of draws, so streams stay aligned). */
export function drawNoise(rng: Rng): RequestNoise {
  return {
    zUp: rng.normal(), zDown: rng.normal(), uLossUp: rng.uniform(), uLossDown: rng.uniform(),
    uTailUp: rng.uniform(), uTailDown: rng.uniform(), zDevice: rng.normal(), zCloud: rng.normal(),
  };
}

/** What the simulator knows of the model on one board. */
export interface SimSetup {
  /** Idle device ms of each segment on this board. */
  idleMs: number[];
  /** Memory of each segment when loaded (bytes). */
  memBytes: number[];
  geometry: ManifestGeometry;
  planner: PlannerConfig;
  cloudSpeedup: number;
  cloudQueueMs: number;
  /** Std. dev. of the log of compute times (computeNoisePct / 100). */
  computeSigma: number;
}

/** One message exchange over the link (ms). */
export interface Exchange {
  /** Transfers, one-way delays and loss repairs, up and down together. */
  networkMs: number;
}

function lossRepairMs(bytes: number, lossPct: number, rttMs: number, uLoss: number, uTail: number): number {
  const p = lossPct / 100;
  if (p <= 0 || bytes <= 0) return 0;
  const packets = Math.max(1, Math.ceil(bytes / MSS_BYTES));
  const fast = poissonQuantile(uLoss, packets * p) * rttMs;
  return fast + (uTail < p ? Math.max(MIN_RTO_MS, 2 * rttMs) : 0);
}

/** Network time of sending `up` bytes and receiving `down` bytes under `c` (ms). */
export function exchangeMs(c: TrueConditions, up: number, down: number, noise: RequestNoise): Exchange {
  const half = c.rttMs / 2;
  const oneWay = (z: number): number => Math.max(half / 4, half + c.jitterMs * z);
  const transfer = (bytes: number, mbit: number): number => (bytes * 8) / (mbit * 1e3);
  const networkMs = transfer(up, c.upMbit) + transfer(down, c.downMbit) + oneWay(noise.zUp) + oneWay(noise.zDown)
    + lossRepairMs(up, c.lossPct, c.rttMs, noise.uLossUp, noise.uTailUp) + lossRepairMs(down, c.lossPct, c.rttMs, noise.uLossDown, noise.uTailDown);
  return { networkMs };
}

/** A run at split k, as it happens. */
export interface TruthRun {
  k: number;
  /** Front segments on the device (ms). */
  localMs: number;
  /** Device-side encoding and decoding (ms). */
  encodeMs: number;
  /** The link's part of the round trip (ms). */
  networkMs: number;
  cloudComputeMs: number;
  cloudQueueMs: number;
  /** First publish to last reply: network + worker (ms); 0 for k = n. */
  roundTripMs: number;
  totalMs: number;
  /** Bytes on the wire (frame headers included); 0 for k = n. */
  bytesUp: number;
  bytesDown: number;
  breakdown: SimBreakdown;
}

/** Memory of the front at split k (bytes). */
export function frontMem(setup: SimSetup, k: number): number {
  let m = 0;
  for (let i = 0; i < k; i++) m += setup.memBytes[i]!;
  return m;
}

/** Why split k cannot run under `c` (the planner's memory rule, the cloud), or null when it can. */
export function infeasible(setup: SimSetup, c: TrueConditions, k: number): "E_NO_SPLIT" | "E_TIMEOUT" | null {
  if (memoryViolation({ device: { ramAvailableBytes: c.ramAvailableBytes, cpuLoadPercent: c.cpuLoadPercent, flopsPerMs: 1 } }, setup.planner, frontMem(setup, k)) !== null) return "E_NO_SPLIT";
  if (k < setup.idleMs.length && !c.cloudUp) return "E_TIMEOUT";
  return null;
}

/** Wire bytes at split k (0 both ways for k = n). */
export function wireBytes(setup: SimSetup, k: number): { up: number; down: number } {
  const n = setup.idleMs.length;
  if (k >= n) return { up: 0, down: 0 };
  const g = setup.geometry;
  return { up: (k === 0 ? g.inputBytes : g.cuts[k - 1]!.bytes) + FRAME_OVERHEAD_BYTES, down: g.outputBytes + FRAME_OVERHEAD_BYTES };
}

/** The device time of segments 0..k-1 under `c` with the request's noise (ms). */
export function deviceMs(setup: SimSetup, c: TrueConditions, k: number, noise: RequestNoise): number {
  const u = Math.min(Math.max(c.cpuLoadPercent / 100, 0), MAX_TRUE_LOAD);
  let idle = 0;
  for (let i = 0; i < k; i++) idle += setup.idleMs[i]!;
  return (idle / (1 - u)) * Math.exp(setup.computeSigma * noise.zDevice);
}

/** What split k costs under `c` with the request's noise (feasibility is the caller's: see infeasible()). */
export function runAt(setup: SimSetup, c: TrueConditions, k: number, noise: RequestNoise): TruthRun {
  const n = setup.idleMs.length;
  const localMs = deviceMs(setup, c, k, noise);
  if (k >= n) {
    return {
      k, localMs, encodeMs: 0, networkMs: 0, cloudComputeMs: 0, cloudQueueMs: 0, roundTripMs: 0, totalMs: localMs, bytesUp: 0, bytesDown: 0,
      breakdown: { deviceMs: localMs, transferMs: 0, cloudMs: 0 },
    };
  }
  const { up, down } = wireBytes(setup, k);
  const encodeMs = (up + down) * setup.planner.codecMsPerByte;
  const { networkMs } = exchangeMs(c, up, down, noise);
  let back = 0;
  for (let i = k; i < n; i++) back += setup.idleMs[i]!;
  const cloudComputeMs = (back / setup.cloudSpeedup) * Math.exp(setup.computeSigma * noise.zCloud);
  const cloudQueueMs = setup.cloudQueueMs;
  const roundTripMs = networkMs + cloudComputeMs + cloudQueueMs;
  const totalMs = localMs + encodeMs + roundTripMs;
  return {
    k, localMs, encodeMs, networkMs, cloudComputeMs, cloudQueueMs, roundTripMs, totalMs, bytesUp: up, bytesDown: down,
    breakdown: { deviceMs: localMs, transferMs: encodeMs + networkMs, cloudMs: cloudComputeMs + cloudQueueMs },
  };
}
