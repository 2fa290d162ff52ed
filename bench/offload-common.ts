/** Pieces shared by the two processes of `npm run bench offload` (bench/offload-rtt.ts, bench/offload-cloud.ts). */
import { performance, PerformanceObserver } from "node:perf_hooks";
import type { Transport } from "../sdk/transport/index.js";

/**
 * The round trips compared: edgecut's offload, the plain echo of the baseline, and, for
 * information, an echo where each side copies the bytes into a fresh buffer before publishing
 * (what framing that copies costs, without any of edgecut's work).
 */
export const PATHS = ["edgecut", "echo", "echoCopy"] as const;
export type PathName = (typeof PATHS)[number];

/** Topics of the two echoes (outside the edgecut prefix, so no subscription overlaps). */
export const ECHO_TOPICS = {
  echo: { req: "bench/echo/req", rep: "bench/echo/rep" },
  echoCopy: { req: "bench/echo-copy/req", rep: "bench/echo-copy/rep" },
} as const;

/** Nearest-rank percentile (p in 0..1). */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/** Messages between the device process and the cloud process (over the fork IPC channel, never inside a timed region). */
export type ToCloud = { type: "reset" } | { type: "collect" } | { type: "stop" };
export type FromCloud =
  | { type: "ready"; shared: boolean; protocolVersion: 4 | 5; maxPacketSize: number | null }
  | { type: "reset" }
  | { type: "collected"; remoteMs: Record<PathName, number[]>; gcMs: Record<PathName, number> }
  | { type: "stopped"; computed: number; errors: Record<string, number> }
  | { type: "error"; message: string };

/**
 * Wraps a Transport to call `onPublish(topic, now)` before every publish and `onMessage(topic, now)`
 * before every handler runs (when mqtt.js emitted the parsed message). A performance.now() per
 * message, on every path alike.
 */
export function traced(inner: Transport, onPublish: (topic: string, t: number) => void, onMessage: (topic: string, t: number) => void): Transport {
  return {
    get protocolVersion() { return inner.protocolVersion; },
    get maxPacketSize() { return inner.maxPacketSize; },
    publish: (topic, payload) => {
      onPublish(topic, performance.now());
      return inner.publish(topic, payload);
    },
    subscribe: (filter, handler) => inner.subscribe(filter, (topic, payload) => {
      onMessage(topic, performance.now());
      handler(topic, payload);
    }),
    unsubscribe: (filter) => inner.unsubscribe(filter),
    close: () => inner.close(),
    on: (event, fn) => inner.on(event, fn),
  };
}

/** One garbage collection: when it started and how long it paused the main thread (ms). */
export interface GcPause { start: number; ms: number }

/**
 * Records this process's garbage collections (PerformanceObserver "gc" entries). `pauses()` waits
 * for the observer's pending batch and returns every pause seen since the last `clear()`.
 */
export function watchGc(): { pauses(): Promise<GcPause[]>; clear(): void; stop(): void } {
  let seen: GcPause[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) seen.push({ start: e.startTime, ms: e.duration });
  });
  obs.observe({ entryTypes: ["gc"] });
  return {
    pauses: async () => {
      await new Promise((r) => setTimeout(r, 20));
      return seen;
    },
    clear: () => { seen = []; },
    stop: () => obs.disconnect(),
  };
}

/** Milliseconds of GC pauses that started inside [t0, t1]. */
export function gcWithin(pauses: readonly GcPause[], t0: number, t1: number): number {
  let ms = 0;
  for (const p of pauses) if (p.start >= t0 && p.start <= t1) ms += p.ms;
  return ms;
}
