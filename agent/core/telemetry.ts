/**
 * Telemetry: every finished request becomes a sample in the store, written in batches (each write
 * on an SD card wears it, and one transaction per request would be one fsync per request), and a
 * periodic fleet summary is published to `<prefix>/v1/telemetry/<deviceId>`, because /metrics
 * on 127.0.0.1 cannot be scraped from a central place.
 *
 * Telemetry is best effort: a full store or a failed publish is logged and counted, never fails a
 * request. The summary carries no tensor data, no inputs and no secrets.
 */
import type { TelemetrySample } from "../store/index.js";
import type { AgentStore } from "../store/index.js";
import type { Clock, TimerHandle } from "../clock.js";
import type { AgentLog } from "./log.js";

/** The fleet summary's JSON (format 1). */
export interface FleetSummary {
  format: 1;
  deviceId: string;
  version: string;
  /** Wall-clock ms since the epoch. */
  at: number;
  /** The window the counts cover (ms). */
  windowMs: number;
  split: number | null;
  action: string;
  health: string;
  requests: { ok: number; error: number; errors: Record<string, number> };
  /** Latency of the window's successful requests (ms), null without any. */
  latencyMs: { p50: number; p95: number; mean: number } | null;
  bytesUp: number;
  bytesDown: number;
  queueDepth: number;
  switches: number;
  network: { rttMs: number; upBytesPerSec: number; downBytesPerSec: number; reachable: boolean };
  device: { ramAvailableBytes: number; cpuLoadPercent: number; temperatureC?: number; throttled?: boolean } | null;
  versions: { node: string; edgecut: string; splitId: string };
}

function quantile(sorted: readonly number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Buffers samples and writes them in batches; keeps the window the fleet summary is built from. */
export class TelemetryBuffer {
  private pending: TelemetrySample[] = [];
  private window: TelemetrySample[] = [];
  private timer: TimerHandle | undefined;
  /** Samples lost to a failed write (store full, I/O error). */
  dropped = 0;

  constructor(private readonly store: AgentStore, private readonly clock: Clock, private readonly flushIntervalMs: number, private readonly log: AgentLog, private readonly maxPending = 1000) {}

  /** Adds a sample; it reaches the store at the next flush (or now when the buffer is full). */
  add(s: TelemetrySample): void {
    this.pending.push(s);
    this.window.push(s);
    if (this.window.length > 10_000) this.window.splice(0, this.window.length - 10_000);
    if (this.pending.length >= this.maxPending) this.flush();
    else if (this.timer === undefined && this.flushIntervalMs > 0) this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.flush(); }, this.flushIntervalMs);
    else if (this.flushIntervalMs === 0) this.flush();
  }

  /** Writes what is buffered in one transaction. */
  flush(): void {
    if (this.timer !== undefined) { this.clock.clearTimeout(this.timer); this.timer = undefined; }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.store.appendTelemetryBatch(batch);
    } catch (e) {
      this.dropped += batch.length;
      this.log.warn({ err: (e as Error).message, samples: batch.length }, "telemetry batch not written (dropped)");
    }
  }

  /** Takes the samples since the last call (for the fleet summary). */
  drainWindow(): TelemetrySample[] {
    const w = this.window;
    this.window = [];
    return w;
  }
}

/** Builds the fleet summary of a window of samples. */
export function summarize(samples: readonly TelemetrySample[], base: Omit<FleetSummary, "format" | "requests" | "latencyMs" | "bytesUp" | "bytesDown">): FleetSummary {
  const ok = samples.filter((s) => (s.outcome ?? "ok") === "ok");
  const errors: Record<string, number> = {};
  for (const s of samples) if (s.outcome === "error") errors[s.errorCode ?? "E_INTERNAL"] = (errors[s.errorCode ?? "E_INTERNAL"] ?? 0) + 1;
  const lat = ok.map((s) => s.latencyMs).sort((a, b) => a - b);
  return {
    format: 1,
    ...base,
    requests: { ok: ok.length, error: samples.length - ok.length, errors },
    latencyMs: lat.length === 0 ? null : { p50: quantile(lat, 0.5), p95: quantile(lat, 0.95), mean: lat.reduce((a, b) => a + b, 0) / lat.length },
    bytesUp: samples.reduce((a, s) => a + s.bytesUp, 0),
    bytesDown: samples.reduce((a, s) => a + s.bytesDown, 0),
  };
}
