/** The client's counters, kept in one place so `metrics()` can hand out a consistent snapshot. */
import type { OffloadMetrics } from "./types.js";

type Counter = Exclude<keyof OffloadMetrics, "failures" | "inFlight">;

/** Mutable counters behind OffloadClient.metrics(). */
export class MetricsCounters {
  private readonly counts: Record<Counter, number> = {
    requests: 0, succeeded: 0, failed: 0, attempts: 0, retries: 0, timeouts: 0, busyReplies: 0, errorReplies: 0,
    supersededReplies: 0, duplicateReplies: 0, unknownReplies: 0, badMessages: 0, messagesUp: 0, messagesDown: 0, bytesUp: 0, bytesDown: 0,
  };
  private readonly failures = new Map<string, number>();

  /** Adds `n` (default 1) to one counter: an event (`"retries"`) or a byte count (`"bytesUp"`, n bytes). */
  add(counter: Counter, n = 1): void {
    this.counts[counter] += n;
  }

  /** Counts a failed request under its code. */
  failure(code: string): void {
    this.counts.failed++;
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
  }

  /** A copy of every counter, the failures by code, and `inFlight` (the requests pending now, which the client knows). */
  snapshot(inFlight: number): OffloadMetrics {
    return { ...this.counts, failures: Object.fromEntries(this.failures), inFlight };
  }
}
