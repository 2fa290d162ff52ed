/**
 * The device agent's local store: segment profiles, pending work and telemetry in one SQLite
 * file, so nothing is lost when the agent crashes or the board reboots.
 *
 *   const store = openStore("/var/lib/edgecut/agent.db");
 *   const { id, created } = store.enqueue(idempotencyKey, requestBytes, { splitId });
 *   const job = store.claimNext("runner-1");   // ... run it ...
 *   store.complete(job.id, resultBytes);
 *
 * Every write is one transaction: it is all there after a crash or kill -9, or not at all.
 * Errors: E_STORE (cannot open/read/write; names the file and the reason), E_STORE_FULL (the
 * write did not fit; nothing of it was applied), E_USAGE (bad arguments).
 */
import { fail } from "../../sdk/errors.js";
import { JobQueue, type EnqueueResult, type Job, type JobError, type JobMeta, type JobStatus, type RequeueResult, type RunningJob } from "./jobs.js";
import { migrate } from "./migrations.js";
import { ProfileStore, type ProfileKey, type SegmentProfile } from "./profiles.js";
import { openSqlite, type Sqlite, type Stmt } from "./sqlite.js";
import { TelemetryLog, type TelemetrySample } from "./telemetry.js";

export type { EnqueueResult, Job, JobError, JobMeta, JobStatus, JsonValue, RequeueResult, RunningJob } from "./jobs.js";
export type { ProfileKey, SegmentProfile } from "./profiles.js";
export type { TelemetrySample } from "./telemetry.js";
export { SCHEMA_VERSION } from "./migrations.js";

/** openStore settings; every one has a default. */
export interface StoreOptions {
  /**
   * Wall-clock milliseconds since the epoch (default Date.now); tests pass a fake one
   * (`() => fake.now()` with a FakeClock started at an epoch value). Not agent/clock.ts's
   * systemClock: its monotonic time restarts with the process, and stored times (leases,
   * measuredAt, finishedAt) must mean the same after a restart.
   */
  clock?: () => number;
  /** See SqliteOptions.synchronous: "normal" (default) or "full". */
  synchronous?: "normal" | "full";
  /** How long a write waits for another connection's lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /** Size limit in pages of the page size (4096 by default); writes beyond fail with E_STORE_FULL. */
  maxPageCount?: number;
  /** Default lease of claimNext (default 60 000 ms). */
  leaseMs?: number;
  /** Claims before a job whose runners keep dying fails with E_JOB_ABANDONED (default 3). */
  maxAttempts?: number;
  /** Telemetry rows kept (default 10 000). */
  telemetryMaxRows?: number;
  /** pruneFinished() defaults: finished jobs kept for (default 7 days) and at most (default 10 000). */
  finishedMaxAgeMs?: number;
  finishedMaxCount?: number;
}

/** An open store. Not for sharing across threads; other processes may open the same file. */
export interface AgentStore {
  /** The file (or ":memory:"). */
  readonly path: string;

  /** Inserts or replaces a segment profile. */
  putProfile(p: SegmentProfile): void;
  /** The profile for a key, or undefined. */
  getProfile(key: ProfileKey): SegmentProfile | undefined;
  /** A model's profiles on a device, by segment index then shape bucket. */
  listProfiles(modelSha256: string, deviceId: string): SegmentProfile[];
  /** Profiles measured more than olderThanMs before now, oldest first. */
  staleProfiles(olderThanMs: number, now?: number): SegmentProfile[];

  /** Queues a request under an Idempotency-Key; the same key returns its existing job (created false). */
  enqueue(key: string, request: Uint8Array, meta?: JobMeta): EnqueueResult;
  /** Atomically claims the oldest queued job with a lease (default leaseMs), or undefined. */
  claimNext(workerId: string, now?: number, leaseMs?: number): RunningJob | undefined;
  /** Extends a claimed job's lease; false when the worker no longer holds it. */
  heartbeat(id: number, workerId: string, now?: number, leaseMs?: number): boolean;
  /** Gives a claimed job back to the queue without spending an attempt (the runner cannot run it now); false when not held. */
  release(id: number, workerId: string): boolean;
  /** Stores the result; false when the job had already finished (the first outcome stays). */
  complete(id: number, result: Uint8Array): boolean;
  /** Marks the job failed; false when it had already finished. */
  fail(id: number, error: JobError): boolean;
  /** A job by id, or undefined. */
  get(id: number): Job | undefined;
  /** A job by Idempotency-Key, or undefined. */
  getByKey(key: string): Job | undefined;
  /** Requeues running jobs whose lease ended (their runner died); fails those out of attempts. */
  requeueExpiredLeases(now?: number): RequeueResult;
  /** Queued + running jobs. */
  pendingCount(): number;
  /** Jobs per state. */
  jobCounts(): Record<JobStatus, number>;
  /** Deletes old finished jobs (defaults from the options); returns how many. */
  pruneFinished(limits?: { maxAgeMs?: number; maxCount?: number }, now?: number): number;

  /** Appends a telemetry sample, dropping the oldest beyond telemetryMaxRows. */
  appendTelemetry(s: TelemetrySample): void;
  /** Appends samples in one transaction (batched writes spare SD cards); all or none. */
  appendTelemetryBatch(samples: readonly TelemetrySample[]): void;
  /** Samples in [now - windowMs, now], oldest first. */
  recentTelemetry(windowMs: number, now?: number): TelemetrySample[];
  /** Telemetry rows kept. */
  telemetryCount(): number;

  /** `PRAGMA quick_check`: ["ok"] for a healthy file, else the problems found. */
  check(): string[];
  /** Checkpoints the WAL into the file and closes; idempotent. Later calls throw E_STORE. */
  close(): void;
}

/**
 * Opens (creating the folder and file if needed) the store at `file` or ":memory:", and brings
 * its schema up to date. Throws E_STORE naming the path and the reason when the folder or file
 * cannot be created or opened, the file is not a database, or it comes from a newer agent.
 */
export function openStore(file: string, options: StoreOptions = {}): AgentStore {
  if (typeof file !== "string" || file === "") throw fail("E_USAGE", "openStore needs a file path or \":memory:\"");
  const clock = options.clock ?? Date.now;
  // Catch a monotonic clock (performance.now() is small) before it writes meaningless times.
  const t = clock();
  if (!Number.isFinite(t) || t < 946_684_800_000) {
    throw fail("E_USAGE", `openStore: clock() returned ${t}; the store needs wall-clock epoch milliseconds (Date.now), not a monotonic clock`);
  }
  const db = openSqlite(file, { synchronous: options.synchronous, busyTimeoutMs: options.busyTimeoutMs, maxPageCount: options.maxPageCount });
  try {
    migrate(db, t);
    return new Store(db, clock, options);
  } catch (err) {
    db.close();
    throw err;
  }
}

class Store implements AgentStore {
  readonly path: string;
  readonly #db: Sqlite;
  readonly #clock: () => number;
  readonly #profiles: ProfileStore;
  readonly #jobs: JobQueue;
  readonly #telemetry: TelemetryLog;
  readonly #prune: { maxAgeMs: number; maxCount: number };
  readonly #quickCheck: Stmt<{ quick_check: string }>;

  constructor(db: Sqlite, clock: () => number, o: StoreOptions) {
    this.path = db.file;
    this.#db = db;
    this.#clock = clock;
    this.#profiles = new ProfileStore(db);
    this.#jobs = new JobQueue(db, { leaseMs: o.leaseMs ?? 60_000, maxAttempts: o.maxAttempts ?? 3 });
    this.#telemetry = new TelemetryLog(db, o.telemetryMaxRows ?? 10_000);
    this.#prune = { maxAgeMs: o.finishedMaxAgeMs ?? 7 * 24 * 3600_000, maxCount: o.finishedMaxCount ?? 10_000 };
    this.#quickCheck = db.prepare<{ quick_check: string }>("PRAGMA quick_check");
  }

  /** Statements on a closed better-sqlite3 handle throw a TypeError; say what happened instead. */
  #open(): void {
    if (!this.#db.isOpen) throw fail("E_STORE", `store ${this.path} is closed`);
  }

  putProfile(p: SegmentProfile): void { this.#open(); this.#profiles.put(p); }
  getProfile(key: ProfileKey): SegmentProfile | undefined { this.#open(); return this.#profiles.get(key); }
  listProfiles(modelSha256: string, deviceId: string): SegmentProfile[] { this.#open(); return this.#profiles.list(modelSha256, deviceId); }
  staleProfiles(olderThanMs: number, now = this.#clock()): SegmentProfile[] { this.#open(); return this.#profiles.stale(olderThanMs, now); }

  enqueue(key: string, request: Uint8Array, meta: JobMeta = {}): EnqueueResult { this.#open(); return this.#jobs.enqueue(key, request, meta, this.#clock()); }
  claimNext(workerId: string, now = this.#clock(), leaseMs?: number): RunningJob | undefined { this.#open(); return this.#jobs.claimNext(workerId, now, leaseMs); }
  heartbeat(id: number, workerId: string, now = this.#clock(), leaseMs?: number): boolean { this.#open(); return this.#jobs.heartbeat(id, workerId, now, leaseMs); }
  release(id: number, workerId: string): boolean { this.#open(); return this.#jobs.release(id, workerId); }
  complete(id: number, result: Uint8Array): boolean { this.#open(); return this.#jobs.complete(id, result, this.#clock()); }
  fail(id: number, error: JobError): boolean { this.#open(); return this.#jobs.fail(id, error, this.#clock()); }
  get(id: number): Job | undefined { this.#open(); return this.#jobs.get(id); }
  getByKey(key: string): Job | undefined { this.#open(); return this.#jobs.getByKey(key); }
  requeueExpiredLeases(now = this.#clock()): RequeueResult { this.#open(); return this.#jobs.requeueExpiredLeases(now); }
  pendingCount(): number { this.#open(); return this.#jobs.pendingCount(); }
  jobCounts(): Record<JobStatus, number> { this.#open(); return this.#jobs.counts(); }
  pruneFinished(limits: { maxAgeMs?: number; maxCount?: number } = {}, now = this.#clock()): number {
    this.#open();
    return this.#jobs.pruneFinished({ maxAgeMs: limits.maxAgeMs ?? this.#prune.maxAgeMs, maxCount: limits.maxCount ?? this.#prune.maxCount }, now);
  }

  appendTelemetry(s: TelemetrySample): void { this.#open(); this.#telemetry.append(s); }
  appendTelemetryBatch(samples: readonly TelemetrySample[]): void { this.#open(); this.#telemetry.appendMany(samples); }
  recentTelemetry(windowMs: number, now = this.#clock()): TelemetrySample[] { this.#open(); return this.#telemetry.window(windowMs, now); }
  telemetryCount(): number { this.#open(); return this.#telemetry.count(); }

  check(): string[] { this.#open(); return this.#quickCheck.all().map((r) => r.quick_check); }
  close(): void { this.#db.close(); }
}
