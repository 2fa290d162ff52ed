/**
 * The durable queue of the agent: requests submitted under an Idempotency-Key are written to the
 * store's outbox before submit() returns, run in the background when a split can run, and their
 * results stored; the result is read back by id as often as the app likes. A runner holds a
 * lease (renewed while it runs) so a crashed agent's jobs are recovered at the next start; a job
 * that could not run for want of the cloud is given back without spending an attempt.
 *
 * Exactly one outcome per key: the store keeps the first result or error (complete/fail after the
 * first are no-ops), and a key seen before returns its job instead of a new one.
 */
import { EdgecutError, asEdgecutError, fail } from "../../sdk/errors.js";
import type { InferResult } from "../../sdk/infer/types.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import type { Clock, TimerHandle } from "../clock.js";
import type { AgentStore, Job } from "../store/index.js";
import { decodeInputs, decodeResult, encodeInputs, encodeResult } from "./codec.js";
import type { AgentLog } from "./log.js";
import type { RequestState, SubmitResult } from "./types.js";

/** What the JobRunner needs from the agent. */
export interface JobRunnerOptions {
  store: AgentStore;
  clock: Clock;
  log: AgentLog;
  deviceId: string;
  /** This runner's id in the store's leases. */
  workerId: string;
  concurrency: number;
  /** Lease of a claimed job (default 60 000 ms); renewed every third of it while the job runs. */
  leaseMs?: number;
  /** Whether jobs may start now (a split can run, not stopping). */
  runnable: () => boolean;
  /** Runs a job's request. */
  execute: (id: string, inputs: TensorMap) => Promise<InferResult>;
  /** True for a failure worth retrying later (the cloud was unreachable): the job goes back to the queue. */
  isRetryable: (e: EdgecutError) => boolean;
  /** Most jobs waiting (queued + running); more are refused with E_BUSY (default 10 000). */
  maxPending?: number;
  /** Retryable failures of one job before it fails for good (a request that always times out must not block the queue; default 10). */
  maxRetries?: number;
}

/** Runs queued jobs (see the module comment). */
export class JobRunner {
  running = 0;
  /** Jobs given back to the queue after a retryable failure (their work may have run on a worker: a recomputation). */
  requeued = 0;
  private readonly active = new Set<Promise<void>>();
  private readonly leaseMs: number;
  /** Retryable failures per job id (in memory: after a restart a job gets its retries again). */
  private readonly retries = new Map<number, number>();

  constructor(private readonly o: JobRunnerOptions) {
    this.leaseMs = o.leaseMs ?? 60_000;
  }

  /** Queues a request; see AgentCore.submit. E_USAGE when the key was used for different inputs. */
  submit(key: string, inputs: TensorMap, splitId: string, segments: number): SubmitResult {
    const existing = this.o.store.getByKey(key);
    const max = this.o.maxPending ?? 10_000;
    if (existing === undefined && this.depth() >= max) {
      throw fail("E_BUSY", `${max} requests are already queued (the cloud may be away); retry later or raise the limit`);
    }
    const bytes = encodeInputs(key.slice(0, 200), this.o.deviceId, splitId, segments, inputs);
    const r = this.o.store.enqueue(key, bytes, { splitId });
    if (!r.sameRequest) throw fail("E_USAGE", `Idempotency-Key "${key}" was used before for a different request (job ${r.id}); use a new key per request`);
    const job = this.o.store.get(r.id);
    if (r.created) this.pump();
    return { id: String(r.id), created: r.created, status: job?.status ?? "queued" };
  }

  /** A job's state by id (the decimal job id), or undefined. */
  get(id: string): RequestState | undefined {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
    const job = this.o.store.get(Number(id));
    return job === undefined ? undefined : toState(job);
  }

  /** Queued plus running jobs. */
  depth(): number {
    return this.o.store.pendingCount();
  }

  /** Starts jobs while there is room and a split can run. */
  pump(): void {
    while (this.running < this.o.concurrency && this.o.runnable()) {
      let job;
      try {
        job = this.o.store.claimNext(this.o.workerId, undefined, this.leaseMs);
      } catch (e) {
        this.o.log.error({ err: (e as Error).message }, "cannot claim a queued request");
        return;
      }
      if (job === undefined) return;
      this.running++;
      const p = this.run(job.id, job.request, job.key).finally(() => {
        this.running--;
        this.active.delete(p);
        this.pump();
      });
      this.active.add(p);
    }
  }

  /** Waits for the jobs running now (none start after the agent stops: runnable() is false). */
  async drain(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  private async run(id: number, request: Uint8Array, key: string): Promise<void> {
    const { store, clock, log, workerId } = this.o;
    let timer: TimerHandle | undefined;
    const beat = (): void => {
      timer = clock.setTimeout(() => {
        try { store.heartbeat(id, workerId, undefined, this.leaseMs); } catch (e) { log.warn({ id, err: (e as Error).message }, "lease renewal failed"); }
        beat();
      }, this.leaseMs / 3);
    };
    beat();
    let result: Uint8Array;
    try {
      const r = await this.o.execute(String(id), decodeInputs(request));
      result = encodeResult(key.slice(0, 200), this.o.deviceId, r.outputs, { split: r.split, breakdown: r.breakdown });
    } catch (e) {
      const err = e instanceof EdgecutError ? e : asEdgecutError(e, "E_RUNTIME", "the queued request failed");
      const n = (this.retries.get(id) ?? 0) + 1;
      if (this.o.isRetryable(err) && n <= (this.o.maxRetries ?? 10)) {
        this.retries.set(id, n);
        this.requeued++;
        this.record(id, () => store.release(id, workerId), "give back");
        log.info({ id, code: err.code, retry: n }, "queued request will run again when a split can run");
      } else {
        this.retries.delete(id);
        this.record(id, () => store.fail(id, { code: err.code, message: n > 1 ? `${err.message} (after ${n} tries)` : err.message }), "fail");
      }
      return;
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    this.retries.delete(id);
    try {
      store.complete(id, result);
    } catch (e) {
      // The result did not fit: make room from old finished jobs and try once more; else record
      // why (a small write), so the caller learns the request ran but its result could not be kept.
      const err = asEdgecutError(e, "E_STORE", "storing a result");
      let stored = false;
      if (err.code === "E_STORE_FULL") {
        try {
          store.pruneFinished({ maxAgeMs: 3_600_000 });
          store.complete(id, result);
          stored = true;
        } catch {
          stored = false;
        }
      }
      if (!stored) this.record(id, () => store.fail(id, { code: err.code, message: `the request ran but its result could not be stored: ${err.message}` }), "fail");
    }
  }

  /**
   * Writes a job's outcome; when even that fails the job stays "running" in the store, its lease
   * runs out (no more heartbeats) and the agent's housekeeping puts it back in the queue.
   */
  private record(id: number, write: () => boolean, what: string): void {
    try {
      write();
    } catch (e) {
      this.o.log.error({ id, err: (e as Error).message }, `cannot ${what} a queued request; it goes back to the queue when its lease ends`);
    }
  }
}

function toState(job: Job): RequestState {
  const base = { id: String(job.id), key: job.key, createdAt: job.createdAt, attempts: job.attempts };
  switch (job.status) {
    case "queued":
    case "running":
      return { ...base, status: job.status };
    case "failed":
      return { ...base, status: "failed", finishedAt: job.finishedAt, error: job.error };
    case "done": {
      const { outputs, meta } = decodeResult(job.result);
      return { ...base, status: "done", finishedAt: job.finishedAt, result: { outputs, split: meta.split, requestId: String(job.id), breakdown: meta.breakdown } };
    }
  }
}
