/** Messages between `npm run bench load` (bench/load.ts) and its device processes (bench/load-devices.ts), over the fork IPC channel. */
import type { TensorMap } from "../sdk/runtime/tensor.js";

/** What a device process is told at start (forked with serialization "advanced": typed arrays cross intact). */
export interface DevicesConfig {
  brokerUrl: string;
  deviceIds: string[];
  splitId: string;
  segments: { from: number; to: number };
  /** The tensors at the cut, computed once by the parent (the devices run no model). */
  tensors: TensorMap;
  wantOutputs: string[];
  /** The model outputs the worker must return, to check each reply against. */
  expected: TensorMap;
  timeoutMs: number;
  retries: number;
}

/**
 * One measured phase. "closed": every device keeps one request in flight (the next is sent when the
 * reply arrives) until the phase ends; "open": each device sends at `perDeviceRate` requests/s
 * (exponential gaps), whatever the replies do.
 */
export interface PhaseSpec {
  name: string;
  mode: "closed" | "open";
  /** Epoch ms the phase starts at (every process starts together). */
  startAt: number;
  durationMs: number;
  /** Requests started in the first warmMs are run but not measured. */
  warmMs: number;
  perDeviceRate?: number;
}

/** What one device process measured in one phase. */
export interface PhaseReport {
  name: string;
  /** Requests sent in the phase. */
  sent: number;
  /** Requests that got a result / an error / nothing at all by the drain deadline. */
  ok: number;
  errors: Record<string, number>;
  lost: number;
  /** Requests settled more than once (a result delivered twice). */
  duplicated: number;
  /** Results whose outputs differ from the expected ones. */
  wrong: number;
  /** Round trips (ms) of requests started after the warm-up that got a result. */
  latencies: number[];
  /** Results that arrived inside [startAt + warmMs, startAt + durationMs]. */
  completedInWindow: number;
  /** Request ids that got a result, as "deviceId/requestId". */
  okIds: string[];
}

/** Counters of the device processes' OffloadClients and transports, summed. */
export interface ClientTotals {
  attempts: number;
  retries: number;
  timeouts: number;
  busyReplies: number;
  duplicateReplies: number;
  unknownReplies: number;
  /** Reply messages beyond one per request id that reached the devices. */
  extraReplyMessages: number;
}

export type ToDevices = { type: "config"; config: DevicesConfig } | { type: "phase"; phase: PhaseSpec } | { type: "stop" };
export type FromDevices =
  | { type: "ready"; devices: number }
  | { type: "report"; report: PhaseReport }
  | { type: "stopped"; totals: ClientTotals }
  | { type: "error"; message: string };

/** Nearest-rank percentile (p in 0..1) of a non-empty list. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))] ?? Number.NaN;
}
