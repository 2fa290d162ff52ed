/**
 * Telemetry: append-only samples of each request (split, latency, bytes, queue depth, health),
 * kept as a ring of the newest `maxRows` so the store cannot grow without bound on the device.
 */
import { fail } from "../../sdk/errors.js";
import type { Sqlite, Stmt } from "./sqlite.js";

/** One sample. */
export interface TelemetrySample {
  /** When (ms since the epoch). */
  at: number;
  /** The split point k used (segments 0..k-1 ran on the device). */
  split: number;
  /** End-to-end latency (ms). */
  latencyMs: number;
  bytesUp: number;
  bytesDown: number;
  /** Requests waiting when this one finished. */
  queueDepth: number;
  /** The agent's health at the time ("ok", "degraded", ... as the agent names it). */
  health: string;
  /** "ok" (default) or "error". */
  outcome?: "ok" | "error";
  /** The error code when outcome is "error". */
  errorCode?: string;
  /** Where the time went (ms by part, e.g. localMs, roundTripMs), as the agent names the parts. */
  breakdown?: Record<string, number>;
}

interface Row {
  at: number;
  split: number;
  latency_ms: number;
  bytes_up: number;
  bytes_down: number;
  queue_depth: number;
  health: string;
  outcome: "ok" | "error";
  error_code: string | null;
  breakdown: string | null;
}

/** The telemetry ring on an open connection (statements prepared once). */
export class TelemetryLog {
  readonly #db: Sqlite;
  readonly #maxRows: number;
  readonly #insert: Stmt<never>;
  readonly #trim: Stmt<never>;
  readonly #window: Stmt<Row>;
  readonly #count: Stmt<{ n: number }>;

  constructor(db: Sqlite, maxRows: number) {
    if (!Number.isInteger(maxRows) || maxRows < 1) throw fail("E_USAGE", `telemetryMaxRows must be an integer >= 1, got ${maxRows}`);
    this.#db = db;
    this.#maxRows = maxRows;
    this.#insert = db.prepare(`INSERT INTO telemetry (at, split, latency_ms, bytes_up, bytes_down, queue_depth, health, outcome, error_code, breakdown)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // Ids only rise (AUTOINCREMENT), so "older than the newest maxRows" is an id range: one
    // index range delete per append, no count(*) scan.
    this.#trim = db.prepare("DELETE FROM telemetry WHERE id <= ?");
    this.#window = db.prepare(`SELECT at, split, latency_ms, bytes_up, bytes_down, queue_depth, health, outcome, error_code, breakdown
      FROM telemetry WHERE at >= ? AND at <= ? ORDER BY at, id`);
    this.#count = db.prepare("SELECT count(*) AS n FROM telemetry");
  }

  /** Appends a sample and drops the oldest beyond maxRows, in one transaction. */
  append(s: TelemetrySample): void {
    this.appendMany([s]);
  }

  /**
   * Appends samples in one transaction (one fsync for the batch: SD cards wear with every write)
   * and drops the oldest beyond maxRows. All or none are written.
   */
  appendMany(samples: readonly TelemetrySample[]): void {
    for (const s of samples) {
      for (const f of ["at", "split", "latencyMs", "bytesUp", "bytesDown", "queueDepth"] as const) {
        if (!Number.isFinite(s[f])) throw fail("E_USAGE", `telemetry ${f} must be a finite number, got ${s[f]}`);
      }
      if (s.outcome !== undefined && s.outcome !== "ok" && s.outcome !== "error") throw fail("E_USAGE", `telemetry outcome must be "ok" or "error", got ${String(s.outcome)}`);
    }
    if (samples.length === 0) return;
    this.#db.immediate(() => {
      let id = 0;
      for (const s of samples) {
        id = Number(this.#insert.run(Math.round(s.at), s.split, s.latencyMs, Math.round(s.bytesUp),
          Math.round(s.bytesDown), Math.round(s.queueDepth), String(s.health), s.outcome ?? "ok", s.errorCode ?? null,
          s.breakdown === undefined ? null : JSON.stringify(s.breakdown)).lastInsertRowid);
      }
      if (id > this.#maxRows) this.#trim.run(id - this.#maxRows);
    });
  }

  /** Samples taken in the last `windowMs` before `now` (inclusive), oldest first. */
  window(windowMs: number, now: number): TelemetrySample[] {
    return this.#window.all(now - windowMs, now).map((r) => ({
      at: r.at, split: r.split, latencyMs: r.latency_ms, bytesUp: r.bytes_up, bytesDown: r.bytes_down,
      queueDepth: r.queue_depth, health: r.health, outcome: r.outcome,
      ...(r.error_code !== null ? { errorCode: r.error_code } : {}),
      ...(r.breakdown !== null ? { breakdown: JSON.parse(r.breakdown) as Record<string, number> } : {}),
    }));
  }

  /** How many samples are kept. */
  count(): number {
    return this.#count.get()?.n ?? 0;
  }
}
