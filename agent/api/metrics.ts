/**
 * The agent's Prometheus metrics, in a private prom-client Registry (the global one would mix in
 * whatever else the process registers, and two APIs in one process, as in tests, would clash).
 * Counters are fed from the core's events; gauges are read from core.status() at each scrape.
 *
 * Label values: `split` is the split point, or "none" when a request failed before one was
 * chosen; `code` is the error code, or "none" for outcome="ok". edgecut_current_split is -1 while
 * no split is in use. The duration histogram observes breakdown.totalMs of successful requests
 * (failed ones carry no breakdown; count them with edgecut_requests_total).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AgentCore, RequestEvent } from "../core/types.js";

/** Seconds: edge inference spans milliseconds (all local, small model) to tens of seconds (retries). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The API's metrics. */
export interface ApiMetrics {
  readonly registry: Registry;
  /** The exposition text (gauges refreshed from core.status()). */
  text(): Promise<string>;
  /** The Content-Type of {@link text}. */
  readonly contentType: string;
}

/** Where scrape-time problems are reported. */
export interface MetricsLog {
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** Creates the registry and subscribes to the core's request and switch events. */
export function createApiMetrics(core: AgentCore, log: MetricsLog): ApiMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: "edgecut_", eventLoopMonitoringPrecision: 500 });

  const requests = new Counter({
    name: "edgecut_requests_total", help: "Finished inference requests by kind (direct|queued), outcome (ok|error), split and error code.",
    labelNames: ["kind", "outcome", "split", "code"] as const, registers,
  });
  const duration = new Histogram({
    name: "edgecut_request_duration_seconds", help: "Duration of successful requests as the agent measured them (breakdown.totalMs).",
    labelNames: ["split"] as const, buckets: DURATION_BUCKETS, registers,
  });
  const bytesUp = new Counter({ name: "edgecut_bytes_up_total", help: "Bytes sent to the cloud worker by successful requests.", registers });
  const bytesDown = new Counter({ name: "edgecut_bytes_down_total", help: "Bytes received from the cloud worker by successful requests.", registers });
  const switches = new Counter({ name: "edgecut_split_switches_total", help: "Changes of the split point.", registers });

  // Gauges read one status() per scrape: prom-client calls each collect() in turn, so the first
  // one takes the snapshot and the others reuse it.
  let snapshot: ReturnType<AgentCore["status"]> | undefined;
  let read = false;
  const readStatus = (): ReturnType<AgentCore["status"]> | undefined => {
    if (!read) {
      read = true;
      try {
        snapshot = core.status();
      } catch (e) {
        log.warn({ err: (e as Error)?.message ?? String(e) }, "core.status() failed while scraping metrics; gauges keep their last values");
      }
    }
    return snapshot;
  };
  new Gauge({
    name: "edgecut_current_split", help: "The split point in use (segments on the device); -1 while none is.", registers,
    collect() { const s = readStatus(); if (s) this.set(s.split ?? -1); },
  });
  new Gauge({
    name: "edgecut_queue_depth", help: "Queued requests waiting or running.", registers,
    collect() { const s = readStatus(); if (s) this.set(s.queueDepth); },
  });
  new Gauge({
    name: "edgecut_inflight", help: "Requests the core is running now.", registers,
    collect() { const s = readStatus(); if (s) this.set(s.inFlight); },
  });

  const counted = (x: number): boolean => Number.isFinite(x) && x >= 0;
  core.on("request", (e: RequestEvent) => {
    const split = e.split === null ? "none" : String(e.split);
    requests.inc({ kind: e.kind, outcome: e.outcome, split, code: e.outcome === "ok" ? "none" : (e.code ?? "E_INTERNAL") });
    const b = e.outcome === "ok" ? e.breakdown : undefined;
    if (b === undefined) return;
    // prom-client throws on a negative increment; a bad figure must not break the core's emit.
    if (counted(b.totalMs)) duration.observe({ split }, b.totalMs / 1000);
    if (counted(b.bytesUp)) bytesUp.inc(b.bytesUp);
    if (counted(b.bytesDown)) bytesDown.inc(b.bytesDown);
  });
  core.on("switch", () => switches.inc());

  return {
    registry,
    contentType: registry.contentType,
    async text() {
      read = false;
      snapshot = undefined;
      try {
        return await registry.metrics();
      } finally {
        read = false;
        snapshot = undefined;
      }
    },
  };
}
