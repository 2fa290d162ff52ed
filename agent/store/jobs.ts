/**
 * Pending work: requests an app queued through the local API (`mode: queue`) with an
 * Idempotency-Key. A job survives an agent restart, and one key is one job: the UNIQUE key
 * column makes a second enqueue return the first job, whichever connection or process races.
 *
 * Life of a job: queued -> running (claimNext, with a lease) -> done | failed. A runner that dies
 * (crash, kill -9, power cut) leaves its job running with a lease that runs out;
 * requeueExpiredLeases puts it back to queued (or fails it with E_JOB_ABANDONED once it has used
 * maxAttempts). A finished job is never touched again: its first result wins.
 * Delivery is at-least-once for the *execution* (a runner killed after computing but before
 * complete() commits is re-run) and exactly-once for the *result* stored under a key.
 */
import { createHash } from "node:crypto";
import { fail } from "../../sdk/errors.js";
import type { Sqlite, Stmt } from "./sqlite.js";

/** A JSON value (what a job's meta may hold). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** Caller-defined description of a job (model, split, deadline, ...), stored as JSON. */
export type JobMeta = { [k: string]: JsonValue };

/** The state of a job. */
export type JobStatus = "queued" | "running" | "done" | "failed";

/** Why a job failed: an edgecut error code (or the runner's own) and a message. */
export interface JobError {
  code: string;
  message: string;
}

interface JobCommon {
  id: number;
  key: string;
  /** sha256 (hex) of the request bytes; stays after the bytes are dropped. */
  requestSha256: string;
  meta: JobMeta;
  createdAt: number;
  /** How many times a runner claimed it. */
  attempts: number;
}

/** A job as stored. The request bytes are kept until the job finishes. */
export type Job = JobCommon & (
  | { status: "queued"; request: Uint8Array }
  | { status: "running"; request: Uint8Array; workerId: string; startedAt: number; leaseUntil: number }
  | { status: "done"; result: Uint8Array; finishedAt: number }
  | { status: "failed"; error: JobError; finishedAt: number }
);

/** A job claimed by a runner. */
export type RunningJob = Extract<Job, { status: "running" }>;

/** What enqueue did. */
export interface EnqueueResult {
  id: number;
  /** false when the key already had a job (whose id is returned; nothing was written). */
  created: boolean;
  /** false when the key's job was enqueued with different request bytes (a client bug: reject it). */
  sameRequest: boolean;
}

/** What requeueExpiredLeases did. */
export interface RequeueResult {
  /** Jobs put back to queued. */
  requeued: number;
  /** Jobs failed with E_JOB_ABANDONED: their runners died maxAttempts times. */
  abandoned: number;
}

/** Queue settings. */
export interface JobQueueOptions {
  /** Default lease of claimNext (ms): a runner must finish or heartbeat() within it. */
  leaseMs: number;
  /** Claims allowed before a job whose runners keep dying is failed (stops crash loops). */
  maxAttempts: number;
}

interface Row {
  id: number;
  idem_key: string;
  status: JobStatus;
  request: Buffer | null;
  request_sha256: string;
  meta: string;
  created_at: number;
  attempts: number;
  worker_id: string | null;
  started_at: number | null;
  lease_until: number | null;
  result: Buffer | null;
  error_code: string | null;
  error_message: string | null;
  finished_at: number | null;
}

function fromRow(r: Row): Job {
  const common: JobCommon = {
    id: r.id, key: r.idem_key, requestSha256: r.request_sha256, meta: JSON.parse(r.meta) as JobMeta,
    createdAt: r.created_at, attempts: r.attempts,
  };
  const bytes = (b: Buffer | null): Uint8Array => b ?? new Uint8Array(0);
  switch (r.status) {
    case "queued":
      return { ...common, status: "queued", request: bytes(r.request) };
    case "running":
      return { ...common, status: "running", request: bytes(r.request), workerId: r.worker_id ?? "",
        startedAt: r.started_at ?? 0, leaseUntil: r.lease_until ?? 0 };
    case "done":
      return { ...common, status: "done", result: bytes(r.result), finishedAt: r.finished_at ?? 0 };
    case "failed":
      return { ...common, status: "failed", error: { code: r.error_code ?? "", message: r.error_message ?? "" }, finishedAt: r.finished_at ?? 0 };
  }
}

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function checkTime(name: string, v: number): void {
  if (!Number.isFinite(v)) throw fail("E_USAGE", `${name} must be a finite number, got ${v}`);
}

/** The job queue on an open connection (statements prepared once). */
export class JobQueue {
  readonly #db: Sqlite;
  readonly #opts: JobQueueOptions;
  readonly #insert: Stmt<{ id: number }>;
  readonly #keyInfo: Stmt<{ id: number; request_sha256: string }>;
  readonly #byId: Stmt<Row>;
  readonly #byKey: Stmt<Row>;
  readonly #claim: Stmt<Row>;
  readonly #heartbeat: Stmt<never>;
  readonly #complete: Stmt<never>;
  readonly #fail: Stmt<never>;
  readonly #status: Stmt<{ status: JobStatus }>;
  readonly #abandon: Stmt<never>;
  readonly #requeue: Stmt<never>;
  readonly #release: Stmt<never>;
  readonly #counts: Stmt<{ status: JobStatus; n: number }>;
  readonly #pruneAge: Stmt<never>;
  readonly #pruneCount: Stmt<never>;

  constructor(db: Sqlite, opts: JobQueueOptions) {
    this.#db = db;
    this.#opts = opts;
    this.#insert = db.prepare(`INSERT INTO jobs (idem_key, status, request, request_sha256, meta, created_at)
      VALUES (?, 'queued', ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING RETURNING id`);
    this.#keyInfo = db.prepare("SELECT id, request_sha256 FROM jobs WHERE idem_key = ?");
    this.#byId = db.prepare("SELECT * FROM jobs WHERE id = ?");
    this.#byKey = db.prepare("SELECT * FROM jobs WHERE idem_key = ?");
    this.#claim = db.prepare(`UPDATE jobs SET status = 'running', worker_id = ?, started_at = ?, lease_until = ?,
        attempts = attempts + 1
      WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1) RETURNING *`);
    this.#heartbeat = db.prepare("UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' AND worker_id = ?");
    // A job back in 'queued' (its lease ran out while the runner was merely slow) still takes the
    // result: storing it beats running the request a second time.
    this.#complete = db.prepare(`UPDATE jobs SET status = 'done', result = ?, finished_at = ?, request = NULL,
        worker_id = NULL, lease_until = NULL WHERE id = ? AND status IN ('queued', 'running')`);
    this.#fail = db.prepare(`UPDATE jobs SET status = 'failed', error_code = ?, error_message = ?, finished_at = ?,
        request = NULL, worker_id = NULL, lease_until = NULL WHERE id = ? AND status IN ('queued', 'running')`);
    this.#status = db.prepare("SELECT status FROM jobs WHERE id = ?");
    this.#abandon = db.prepare(`UPDATE jobs SET status = 'failed', error_code = 'E_JOB_ABANDONED',
        error_message = 'the runner died on each of ' || attempts || ' attempts', finished_at = ?,
        request = NULL, worker_id = NULL, lease_until = NULL
      WHERE status = 'running' AND lease_until <= ? AND attempts >= ?`);
    this.#requeue = db.prepare(`UPDATE jobs SET status = 'queued', worker_id = NULL, started_at = NULL, lease_until = NULL
      WHERE status = 'running' AND lease_until <= ?`);
    // Giving a job back (the cloud went away mid-run) is not a runner dying: the claim is undone.
    this.#release = db.prepare(`UPDATE jobs SET status = 'queued', worker_id = NULL, started_at = NULL, lease_until = NULL,
        attempts = max(attempts - 1, 0) WHERE id = ? AND status = 'running' AND worker_id = ?`);
    this.#counts = db.prepare("SELECT status, count(*) AS n FROM jobs GROUP BY status");
    this.#pruneAge = db.prepare("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?");
    this.#pruneCount = db.prepare(`DELETE FROM jobs WHERE finished_at IS NOT NULL AND id NOT IN
      (SELECT id FROM jobs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT ?)`);
  }

  /**
   * Queues a request under an Idempotency-Key, or returns the key's existing job (created false).
   * The insert commits before this returns, so an acknowledged enqueue survives a crash.
   */
  enqueue(key: string, request: Uint8Array, meta: JobMeta, now: number): EnqueueResult {
    if (typeof key !== "string" || key.length === 0 || key.length > 255) throw fail("E_USAGE", "an Idempotency-Key must be 1 to 255 characters");
    if (!(request instanceof Uint8Array)) throw fail("E_USAGE", "a job's request must be bytes (Uint8Array)");
    if (meta === null || typeof meta !== "object" || Array.isArray(meta)) throw fail("E_USAGE", "a job's meta must be a JSON object");
    checkTime("now", now);
    const digest = sha256(request);
    const metaJson = JSON.stringify(meta);
    return this.#db.immediate(() => {
      const inserted = this.#insert.get(key, request, digest, metaJson, Math.round(now));
      if (inserted !== undefined) return { id: inserted.id, created: true, sameRequest: true };
      const existing = this.#keyInfo.get(key);
      if (existing === undefined) throw fail("E_INTERNAL", `job key ${key} conflicted but is not stored`);
      return { id: existing.id, created: false, sameRequest: existing.request_sha256 === digest };
    });
  }

  /** Atomically takes the oldest queued job for `workerId`, leased until now + leaseMs. */
  claimNext(workerId: string, now: number, leaseMs = this.#opts.leaseMs): RunningJob | undefined {
    if (typeof workerId !== "string" || workerId === "") throw fail("E_USAGE", "claimNext needs a workerId");
    checkTime("now", now);
    checkTime("leaseMs", leaseMs);
    const row = this.#db.immediate(() => this.#claim.get(workerId, Math.round(now), Math.round(now + leaseMs)));
    return row === undefined ? undefined : (fromRow(row) as RunningJob);
  }

  /** Extends a running job's lease; false when `workerId` no longer holds it (it was requeued or finished). */
  heartbeat(id: number, workerId: string, now: number, leaseMs = this.#opts.leaseMs): boolean {
    checkTime("now", now);
    return this.#heartbeat.run(Math.round(now + leaseMs), id, workerId).changes === 1;
  }

  /**
   * Puts a job `workerId` holds back to queued without counting the claim as an attempt: for a
   * runner that could not run it now (cloud unreachable) and will retry. False when it no longer holds it.
   */
  release(id: number, workerId: string): boolean {
    return this.#release.run(id, workerId).changes === 1;
  }

  /** Stores a job's result; false when it had already finished (the first result stays). */
  complete(id: number, result: Uint8Array, now: number): boolean {
    if (!(result instanceof Uint8Array)) throw fail("E_USAGE", "a job's result must be bytes (Uint8Array)");
    return this.#finish(id, () => this.#complete.run(result, Math.round(now), id).changes);
  }

  /** Marks a job failed; false when it had already finished (the first outcome stays). */
  fail(id: number, error: JobError, now: number): boolean {
    if (typeof error?.code !== "string" || typeof error.message !== "string") throw fail("E_USAGE", "a job error needs a code and a message");
    return this.#finish(id, () => this.#fail.run(error.code, error.message, Math.round(now), id).changes);
  }

  #finish(id: number, update: () => number): boolean {
    return this.#db.immediate(() => {
      if (update() === 1) return true;
      if (this.#status.get(id) === undefined) throw fail("E_USAGE", `no job with id ${id} (never queued, or pruned)`);
      return false;
    });
  }

  /** The job with this id, or undefined (never queued, or pruned). */
  get(id: number): Job | undefined {
    const r = this.#byId.get(id);
    return r === undefined ? undefined : fromRow(r);
  }

  /** The job queued under this Idempotency-Key, or undefined. */
  getByKey(key: string): Job | undefined {
    const r = this.#byKey.get(key);
    return r === undefined ? undefined : fromRow(r);
  }

  /**
   * Puts running jobs whose lease ended at or before `now` back to queued (their runner died), and
   * fails with E_JOB_ABANDONED those already claimed maxAttempts times. Finished jobs are never
   * touched. At agent start, with one agent per store, every running job is orphaned: pass
   * `now = Number.MAX_SAFE_INTEGER` to recover them without waiting for their leases.
   */
  requeueExpiredLeases(now: number): RequeueResult {
    checkTime("now", now);
    return this.#db.immediate(() => {
      const abandoned = this.#abandon.run(Math.round(now), now, this.#opts.maxAttempts).changes;
      const requeued = this.#requeue.run(now).changes;
      return { requeued, abandoned };
    });
  }

  /** Jobs not finished yet (queued + running). */
  pendingCount(): number {
    const c = this.counts();
    return c.queued + c.running;
  }

  /** How many jobs are in each state. */
  counts(): Record<JobStatus, number> {
    const out: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0 };
    for (const r of this.#counts.all()) out[r.status] = r.n;
    return out;
  }

  /**
   * Deletes finished jobs older than maxAgeMs, then all but the newest maxCount finished ones.
   * A pruned key can be enqueued again (and run again): keep the window longer than any client's
   * retry window. Returns how many were deleted.
   */
  pruneFinished(limits: { maxAgeMs: number; maxCount: number }, now: number): number {
    checkTime("now", now);
    return this.#db.immediate(() =>
      this.#pruneAge.run(Math.round(now - limits.maxAgeMs)).changes
      + this.#pruneCount.run(Math.max(0, Math.floor(limits.maxCount))).changes);
  }
}
