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
}

/** Runs queued jobs (see the module comment). */
export class JobRunner {
  running = 0;
  /** Jobs given back to the queue after a retryable failure (their work may have run on a worker: a recomputation). */
  requeued = 0;
  private readonly active = new Set<Promise<void>>();
  private readonly leaseMs: number;

  constructor(private readonly o: JobRunnerOptions) {
    this.leaseMs = o.leaseMs ?? 60_000;
  }

  /** Queues a request; see AgentCore.submit. E_USAGE when the key was used for different inputs. */
  submit(key: string, inputs: TensorMap, splitId: string, segments: number): SubmitResult {
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
    try {
      const r = await this.o.execute(String(id), decodeInputs(request));
      store.complete(id, encodeResult(key.slice(0, 200), this.o.deviceId, r.outputs, { split: r.split, breakdown: r.breakdown }));
    } catch (e) {
      const err = e instanceof EdgecutError ? e : asEdgecutError(e, "E_RUNTIME", "the queued request failed");
      try {
        if (this.o.isRetryable(err)) {
          this.requeued++;
          store.release(id, workerId);
          log.info({ id, code: err.code }, "queued request will run again when a split can run");
        } else {
          store.fail(id, { code: err.code, message: err.message });
        }
      } catch (e2) {
        log.error({ id, err: (e2 as Error).message }, "cannot record a queued request's outcome; it runs again after a restart");
      }
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
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
