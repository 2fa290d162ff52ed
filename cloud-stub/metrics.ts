/**
 * The worker's counters. `metrics()` returns a snapshot, so a caller (a test, a health endpoint)
 * can compare two readings without the worker changing them under it.
 */
import type { GenerationStoreStats } from "./generation/store.js";
import type { SessionStats } from "./sessions.js";

/** A snapshot of the worker's counters and gauges. */
export interface WorkerMetrics {
  /** Whole frames received on the request topics (after reassembly), valid or not. */
  received: number;
  /** Requests whose segments ran to an ok reply. */
  computed: number;
  /** Retries answered from the reply cache, without running anything. */
  replayedFromCache: number;
  /** Duplicates of a request still queued or running: not run again; the one reply answers both. */
  duplicatesInFlight: number;
  /** Requests refused with E_BUSY because the queue was full. */
  busy: number;
  /** Requests whose ttl ran out while queued (E_EXPIRED). */
  expired: number;
  /** Messages dropped without a reply: undecodable, or no request id / device to answer. */
  dropped: number;
  /** Every error reply sent, by code (E_BUSY and E_EXPIRED included). */
  errors: Record<string, number>;
  /** Requests running now. */
  running: number;
  /** Requests waiting now. */
  queued: number;
  /** Onnxruntime sessions: loaded now, their estimated bytes, created and released since start. */
  sessions: SessionStats;
  /** Reply cache: entries and bytes held now. */
  replyCache: { entries: number; bytes: number };
  /** Generation sessions: held now, their bytes, and opened/expired/evicted/refused since start. */
  generation: GenerationStoreStats;
}

/** The counters the worker increments (gauges are read when a snapshot is taken). */
export class Counters {
  received = 0;
  computed = 0;
  replayedFromCache = 0;
  duplicatesInFlight = 0;
  busy = 0;
  expired = 0;
  dropped = 0;
  private readonly errorCounts = new Map<string, number>();

  /** Counts one error reply with this code. */
  error(code: string): void {
    this.errorCounts.set(code, (this.errorCounts.get(code) ?? 0) + 1);
  }

  /** A snapshot with the gauges given. */
  snapshot(gauges: Pick<WorkerMetrics, "running" | "queued" | "sessions" | "replyCache" | "generation">): WorkerMetrics {
    return {
      received: this.received,
      computed: this.computed,
      replayedFromCache: this.replayedFromCache,
      duplicatesInFlight: this.duplicatesInFlight,
      busy: this.busy,
      expired: this.expired,
      dropped: this.dropped,
      errors: Object.fromEntries(this.errorCounts),
      ...gauges,
    };
  }
}
