/**
 * SplitRunner: runs a split at a chosen point k. Segments 0..k-1 run on this device with
 * onnxruntime (through OrtSession), the tensors crossing the cut go to a worker through an
 * OffloadClient, and the worker runs k..n-1. k = 0 sends the model inputs and runs nothing
 * locally; k = n runs everything locally and touches no network (no client needed).
 *
 * Sessions are created on first use and cached for the runner's life, so the first run at a
 * new k pays for loading (reported apart, as loadMs) and later runs do not.
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fail } from "../errors.js";
import { loadManifest, type LoadedManifest, type Manifest } from "../graph/manifest.js";
import { OrtSession } from "../runtime/ort.js";
import type { TensorMap } from "../runtime/tensor.js";
import type { Encoding } from "../wire/types.js";
import type { OffloadClient } from "./client.js";
import { planSplit, type SplitPlan } from "./plan.js";

/** Options of SplitRunner.open. */
export interface SplitRunnerOptions {
  /** Required for any k < n; started on first use. The runner neither makes nor closes it. */
  client?: OffloadClient;
  /** onnxruntime intra-op threads per session (default: onnxruntime's choice). */
  intraOpThreads?: number;
  /** Monotonic clock in ms for the local parts of the breakdown (default performance.now); give the client the same one. */
  clock?: () => number;
  /**
   * Simulation: each local segment takes this many times as long as it ran (the extra is waited
   * out, not computed), as on a board that much slower than this machine. Default 1 (off). Used by
   * the live simulator and integration tests to stand in for a slow device on a fast machine.
   */
  localSlowdown?: number;
}

/** Options of one run. */
export interface RunOptions {
  /** Encoding of float32 tensors on the wire (default: the client's). */
  encoding?: Encoding;
  /** Per-attempt timeout (default: the client's). */
  timeoutMs?: number;
  /** Retries after the first attempt (default: the client's). */
  retries?: number;
}

/** Where one run's time and bytes went. Durations in ms on this device's monotonic clock, except the worker's two. */
export interface RunBreakdown {
  /** The split point: segments 0..k-1 ran here. */
  k: number;
  /** Segments in the split. */
  segments: number;
  /** Running segments 0..k-1 (session loading excluded). */
  localMs: number;
  /** Loading sessions this run needed that were not cached yet. */
  loadMs: number;
  /** Encoding (and fragmenting) the request. 0 when nothing was sent. */
  encodeMs: number;
  /** First publish to last reply message, retries included. */
  roundTripMs: number;
  /** The worker's time running k..n-1 (its clock). */
  cloudComputeMs: number;
  /** The worker's queueing time (its clock). */
  cloudQueueMs: number;
  /** Decoding the reply. */
  decodeMs: number;
  /** Transport payload bytes sent, fragments and retries included. */
  bytesUp: number;
  /** Transport payload bytes received for this request. */
  bytesDown: number;
  /** Request attempts (0 when nothing was sent). */
  attempts: number;
  /** The whole run(). */
  totalMs: number;
}

/** A run's model outputs (in the manifest's order) and its breakdown. */
export interface RunResult {
  outputs: TensorMap;
  breakdown: RunBreakdown;
}

/** Runs a split's segments, the front here and the back on a worker (see the module comment). */
export class SplitRunner {
  private readonly sessions = new Map<number, Promise<OrtSession>>();
  private readonly clock: () => number;
  private closed = false;

  private constructor(readonly manifest: Manifest, private readonly dir: string, private readonly opts: SplitRunnerOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    const slow = opts.localSlowdown;
    if (slow !== undefined && !(Number.isFinite(slow) && slow >= 1)) throw fail("E_USAGE", `localSlowdown must be a finite number >= 1, got ${String(slow)}`);
  }

  /** Loads a split's manifest.json (E_MANIFEST when it or a file it lists is missing or malformed). */
  static async open(manifestPath: string, opts: SplitRunnerOptions = {}): Promise<SplitRunner> {
    return SplitRunner.fromLoaded(loadManifest(manifestPath), opts);
  }

  /** A runner for a manifest loaded already (the CLI validates flags against it before connecting). */
  static fromLoaded(loaded: LoadedManifest, opts: SplitRunnerOptions = {}): SplitRunner {
    return new SplitRunner(loaded.manifest, loaded.dir, opts);
  }

  /** Segments in the split: k ranges over 0..segmentCount. */
  get segmentCount(): number {
    return this.manifest.segments.length;
  }

  /** What a run at k runs where and sends (E_USAGE for a k outside 0..n). */
  plan(k: number): SplitPlan {
    return planSplit(this.manifest, k);
  }

  /**
   * Runs the model on `inputs` with segments 0..k-1 here and k..n-1 on the worker. E_INPUT_MISSING
   * or E_USAGE for inputs that do not fit the model, E_USAGE for a bad k or a missing client, and
   * whatever the client or onnxruntime raise (E_TIMEOUT, E_BUSY, E_RUNTIME, ...).
   */
  async run(inputs: TensorMap, k: number, opts: RunOptions = {}): Promise<RunResult> {
    if (this.closed) throw fail("E_USAGE", "the split runner is closed");
    const t0 = this.clock();
    const plan = this.plan(k);
    this.checkInputs(inputs);
    const client = this.opts.client;
    if (plan.k < plan.n && client === undefined) {
      throw fail("E_USAGE", `split point ${k} runs segments ${k}..${plan.n - 1} in the cloud, which needs an OffloadClient (only k = ${plan.n} runs without one)`);
    }
    const pool = new Map(Object.entries(inputs));
    let localMs = 0;
    let loadMs = 0;
    for (const seg of plan.local) {
      const cached = this.sessions.has(seg.index);
      const l0 = this.clock();
      const session = await this.session(seg.index);
      const r0 = this.clock();
      if (!cached) loadMs += r0 - l0;
      const feeds: TensorMap = {};
      for (const t of seg.inputs) feeds[t.name] = this.from(pool, t.name, `segment ${seg.index}`);
      const out = await session.run(feeds, seg.outputs.map((o) => o.name));
      const slow = this.opts.localSlowdown ?? 1;
      if (slow > 1) await new Promise((r) => setTimeout(r, (slow - 1) * (this.clock() - r0)));
      localMs += this.clock() - r0;
      for (const [name, t] of Object.entries(out)) pool.set(name, t);
    }
    const breakdown: RunBreakdown = {
      k, segments: plan.n, localMs, loadMs, encodeMs: 0, roundTripMs: 0, cloudComputeMs: 0, cloudQueueMs: 0, decodeMs: 0,
      bytesUp: 0, bytesDown: 0, attempts: 0, totalMs: 0,
    };
    if (client !== undefined && plan.k < plan.n) {
      const send: TensorMap = {};
      for (const name of plan.send) send[name] = this.from(pool, name, "the request");
      await client.start();
      const r = await client.request(this.manifest.splitId, { from: plan.k, to: plan.n }, send, {
        wantOutputs: plan.wantOutputs, ...(opts.encoding !== undefined ? { encoding: opts.encoding } : {}),
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
      });
      for (const name of plan.wantOutputs) {
        const t = r.outputs[name];
        if (t === undefined) throw fail("E_RUNTIME", `the worker's reply to request ${r.requestId} lacks model output "${name}" (it returned ${Object.keys(r.outputs).join(", ") || "nothing"})`);
        pool.set(name, t);
      }
      Object.assign(breakdown, {
        encodeMs: r.encodeMs, roundTripMs: r.roundTripMs, cloudComputeMs: r.computeMs, cloudQueueMs: r.queueMs, decodeMs: r.decodeMs,
        bytesUp: r.bytesUp, bytesDown: r.bytesDown, attempts: r.attempts,
      });
    }
    const outputs: TensorMap = {};
    for (const o of this.manifest.model.outputs) outputs[o.name] = this.from(pool, o.name, "the model outputs");
    breakdown.totalMs = this.clock() - t0;
    return { outputs, breakdown };
  }

  /** Releases the cached sessions. The client, if any, stays open (its owner closes it). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of await Promise.allSettled(sessions)) if (s.status === "fulfilled") await s.value.release();
  }

  private session(index: number): Promise<OrtSession> {
    let s = this.sessions.get(index);
    if (s === undefined) {
      const file = path.resolve(this.dir, this.manifest.segments[index]!.file);
      const opts = { allowSpinning: false, ...(this.opts.intraOpThreads !== undefined ? { intraOpThreads: this.opts.intraOpThreads } : {}) };
      s = OrtSession.create(file, opts);
      // A failed load is not cached: the next run tries again.
      void s.catch(() => this.sessions.delete(index));
      this.sessions.set(index, s);
    }
    return s;
  }

  private from(pool: Map<string, TensorMap[string]>, name: string, forWhat: string): TensorMap[string] {
    const t = pool.get(name);
    if (t === undefined) throw fail("E_MANIFEST", `${forWhat} needs "${name}", which no model input or earlier segment provides; re-run the split`);
    return t;
  }

  /**
   * Releases the cached sessions of segments k and later (the split moved toward the cloud, so
   * they need not hold memory any more). Call it with no run in flight: a session released
   * mid-run fails that run. Later runs load what they need again.
   */
  async retain(k: number): Promise<void> {
    const drop = [...this.sessions.entries()].filter(([i]) => i >= k);
    for (const [i] of drop) this.sessions.delete(i);
    for (const s of await Promise.allSettled(drop.map(([, p]) => p))) if (s.status === "fulfilled") await s.value.release();
  }

  /** Indexes of the segments whose sessions are loaded (or loading). */
  loadedSegments(): number[] {
    return [...this.sessions.keys()].sort((a, b) => a - b);
  }

  /**
   * Checks that `inputs` are exactly the model's inputs, each of its declared type and rank, fixed
   * dims matching: E_INPUT_MISSING or E_USAGE naming the tensor and what the model wants.
   */
  checkInputs(inputs: TensorMap): void {
    const declared = new Map(this.manifest.model.inputs.map((t) => [t.name, t]));
    for (const name of Object.keys(inputs)) {
      if (!declared.has(name)) throw fail("E_USAGE", `the inputs include "${name}", which is not a model input (inputs: ${[...declared.keys()].join(", ")})`);
    }
    for (const [name, d] of declared) {
      const t = inputs[name];
      if (t === undefined) throw fail("E_INPUT_MISSING", `model input "${name}" (${d.type} [${d.shape.map((x) => x ?? "?").join(", ")}]) is missing from the inputs`);
      if (t.type !== d.type) throw fail("E_USAGE", `input "${name}" is ${t.type} but the model wants ${d.type}`);
      if (t.dims.length !== d.shape.length) throw fail("E_USAGE", `input "${name}" has dims [${t.dims.join(", ")}] but the model wants rank ${d.shape.length}`);
      d.shape.forEach((want, i) => {
        if (typeof want === "number" && t.dims[i] !== want) throw fail("E_USAGE", `input "${name}" has dims [${t.dims.join(", ")}] but dim ${i} is fixed at ${want}`);
      });
    }
  }
}
