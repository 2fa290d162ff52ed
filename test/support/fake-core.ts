/**
 * A fake AgentCore for testing the agent's front ends (the HTTP API, the agent client) without a
 * model, a broker or a store. It does real tensor arithmetic on a tiny model and is steerable:
 * injected failures, requests held until the test releases them, a held job queue, health,
 * split switches. Every model run is counted, so "not run twice" can be asserted.
 *
 * The fake model (FAKE_SIGNATURE), which an ONNX graph of one Mul and one Add also computes:
 *   inputs  x: float32 [batch, 4], ids: int64 [batch]
 *   outputs y = x * 2 (float32 [batch, 4]), next = ids + 1 (int64 [batch], wrapping at 2^63)
 */
import { checkInputs } from "../../agent/api/check-inputs.js";
import type { AgentCore, AgentEvents, AgentHealth, AgentStatus, RequestEvent, RequestState, SubmitResult } from "../../agent/core/types.js";
import { EdgecutError, fail, type ErrorCode } from "../../sdk/errors.js";
import type { InferBreakdown, InferOptions, InferResult, TensorSignature } from "../../sdk/infer/types.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";

/** The fake model's inputs and outputs. */
export const FAKE_SIGNATURE: { inputs: TensorSignature[]; outputs: TensorSignature[] } = {
  inputs: [
    { name: "x", type: "float32", shape: ["batch", 4] },
    { name: "ids", type: "int64", shape: ["batch"] },
  ],
  outputs: [
    { name: "y", type: "float32", shape: ["batch", 4] },
    { name: "next", type: "int64", shape: ["batch"] },
  ],
};

/** What the fake model computes (the reference the tests compare against). */
export function fakeModel(inputs: TensorMap): TensorMap {
  const x = inputs.x!;
  const ids = inputs.ids!;
  if (x.type !== "float32" || ids.type !== "int64") throw fail("E_USAGE", "fakeModel: x must be float32 and ids int64");
  const y = new Float32Array(x.data.length);
  for (let i = 0; i < y.length; i++) y[i] = x.data[i]! * 2;
  const next = new BigInt64Array(ids.data.length);
  for (let i = 0; i < next.length; i++) next[i] = BigInt.asIntN(64, ids.data[i]! + 1n);
  return { y: { type: "float32", dims: [...x.dims], data: y }, next: { type: "int64", dims: [...ids.dims], data: next } };
}

/** The breakdown every fake request reports (fixed, so metrics can be checked exactly). */
export const FAKE_BREAKDOWN: InferBreakdown = {
  localMs: 3, loadMs: 0, encodeMs: 0.5, roundTripMs: 20, cloudComputeMs: 6, cloudQueueMs: 1, decodeMs: 0.5,
  bytesUp: 4096, bytesDown: 512, attempts: 1, totalMs: 25,
};

/** A request held by {@link FakeCore.hold}. */
export interface Held {
  /** Resolves when a held request has started (and is waiting). */
  started: Promise<void>;
  /** Lets held requests run. */
  release(): void;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** Options of FakeCore. */
export interface FakeCoreOptions {
  /** Segments of the fake split (split points 0..segments; default 3). */
  segments?: number;
  /** The planner's split (default 2). */
  split?: number;
}

/** The fake core (see the module comment). */
export class FakeCore implements AgentCore {
  readonly segments: number;
  split: number | null;
  /** Model runs so far (direct and queued). */
  runs = 0;
  /** Every infer() call's options, in order. */
  readonly calls: { inputs: TensorMap; options: InferOptions | undefined }[] = [];
  healthState: AgentHealth = { live: true, ready: true, reasons: [] };
  inFlight = 0;
  switches = 0;
  private readonly failures: EdgecutError[] = [];
  private gate: Deferred | undefined;
  private startedGate: Deferred | undefined;
  private queueGate: Deferred | undefined;
  private readonly listeners: { [E in keyof AgentEvents]: AgentEvents[E][] } = { request: [], switch: [] };
  private readonly requests = new Map<string, RequestState>();
  private readonly byKey = new Map<string, string>();
  private nextId = 1;

  constructor(opts: FakeCoreOptions = {}) {
    this.segments = opts.segments ?? 3;
    this.split = opts.split ?? 2;
  }

  /** The next model run (direct or queued) throws EdgecutError(code, message) instead. */
  failNext(code: ErrorCode, message = `injected ${code}`): void {
    this.failures.push(fail(code, message));
  }

  /** Holds every model run at its start until release() (abortable by the request's signal). */
  hold(): Held {
    this.gate = deferred();
    this.startedGate = deferred();
    const gate = this.gate;
    return {
      started: this.startedGate.promise,
      release: () => {
        gate.resolve();
        if (this.gate === gate) this.gate = undefined;
      },
    };
  }

  /** Keeps submitted jobs "queued" until the returned function is called. */
  holdQueue(): () => void {
    const g = deferred();
    this.queueGate = g;
    return () => {
      g.resolve();
      if (this.queueGate === g) this.queueGate = undefined;
    };
  }

  /** Moves the split and emits a switch event. */
  switchTo(to: number | null, reason = "test"): void {
    const from = this.split;
    this.split = to;
    this.switches++;
    for (const fn of this.listeners.switch) fn({ from, to, reason });
  }

  async infer(inputs: TensorMap, options?: InferOptions): Promise<InferResult> {
    this.calls.push({ inputs, options });
    const id = `r-${this.nextId++}`;
    let split: number | null = null;
    try {
      if (options?.signal?.aborted) throw fail("E_ABORTED", "the request was aborted before it started");
      if (!this.healthState.ready) throw fail("E_NOT_READY", `the agent is not ready: ${this.healthState.reasons.join("; ")}`);
      split = this.pickSplit(options?.split);
      const result = await this.run(id, inputs, split, options?.signal);
      this.emit({ requestId: id, kind: "direct", split, outcome: "ok", breakdown: result.breakdown });
      return result;
    } catch (e) {
      this.emit({ requestId: id, kind: "direct", split, outcome: "error", code: e instanceof EdgecutError ? e.code : "E_INTERNAL" });
      throw e;
    }
  }

  submit(key: string, inputs: TensorMap): SubmitResult {
    const known = this.byKey.get(key);
    if (known !== undefined) return { id: known, created: false, status: this.requests.get(known)!.status };
    checkInputs(inputs, FAKE_SIGNATURE.inputs);
    const id = `q-${this.nextId++}`;
    this.byKey.set(key, id);
    const createdAt = 1000 + this.nextId;
    this.requests.set(id, { id, key, status: "queued", createdAt, attempts: 0 });
    void this.runQueued(id, key, createdAt, inputs);
    return { id, created: true, status: "queued" };
  }

  getRequest(id: string): RequestState | undefined {
    return this.requests.get(id);
  }

  signature(): { inputs: TensorSignature[]; outputs: TensorSignature[] } {
    return structuredClone(FAKE_SIGNATURE);
  }

  status(): AgentStatus {
    const queueDepth = [...this.requests.values()].filter((r) => r.status === "queued" || r.status === "running").length;
    return {
      deviceId: "fake-pi", version: "0.0.0-test",
      model: { splitId: "fake-split", segments: this.segments, manifest: "/models/fake/manifest.json" },
      split: this.split, action: this.split === null ? "fail" : this.split === this.segments ? "local" : "offload",
      reason: "fake", plan: null, device: null,
      network: { rttMs: 20, upBytesPerSec: 1e6, downBytesPerSec: 1e6, confidence: 0, reachable: true, basis: "prior", samples: 0, consecutiveFailures: 0, lastObservationAt: null },
      cloud: { computeMsFrom: Array.from({ length: this.segments }, () => null), queueMs: 0 },
      queueDepth, inFlight: this.inFlight, switches: this.switches, uptimeMs: 1234, ready: this.healthState.ready,
    };
  }

  health(): AgentHealth {
    return structuredClone(this.healthState);
  }

  on<E extends keyof AgentEvents>(event: E, fn: AgentEvents[E]): void {
    this.listeners[event].push(fn);
  }

  private pickSplit(requested: number | undefined): number {
    if (requested === undefined) {
      if (this.split === null) throw fail("E_NO_SPLIT", "no split point can run now (fake core: split is null)");
      return this.split;
    }
    if (!Number.isInteger(requested) || requested < 0 || requested > this.segments) {
      throw fail("E_USAGE", `split ${requested} does not exist; this model has split points 0..${this.segments}`);
    }
    return requested;
  }

  private emit(e: RequestEvent): void {
    for (const fn of this.listeners.request) fn(e);
  }

  /** One model run: validation, the hold gate, an injected failure, then the arithmetic. */
  private async run(id: string, inputs: TensorMap, split: number, signal: AbortSignal | undefined): Promise<InferResult> {
    checkInputs(inputs, FAKE_SIGNATURE.inputs);
    this.inFlight++;
    try {
      const gate = this.gate;
      if (gate) {
        this.startedGate?.resolve();
        await new Promise<void>((resolve, reject) => {
          const onAbort = (): void => reject(fail("E_ABORTED", "the request was aborted while it ran"));
          if (signal?.aborted) return onAbort();
          signal?.addEventListener("abort", onAbort, { once: true });
          void gate.promise.then(() => { signal?.removeEventListener("abort", onAbort); resolve(); });
        });
      }
      const injected = this.failures.shift();
      if (injected) throw injected;
      this.runs++;
      return { outputs: fakeModel(inputs), split, requestId: id, breakdown: { ...FAKE_BREAKDOWN } };
    } finally {
      this.inFlight--;
    }
  }

  private async runQueued(id: string, key: string, createdAt: number, inputs: TensorMap): Promise<void> {
    await this.queueGate?.promise;
    await Promise.resolve();
    const split = this.split ?? this.segments;
    this.requests.set(id, { id, key, status: "running", createdAt, attempts: 1 });
    try {
      const result = await this.run(id, inputs, split, undefined);
      this.requests.set(id, { id, key, status: "done", createdAt, finishedAt: createdAt + 25, attempts: 1, result });
      this.emit({ requestId: id, kind: "queued", split, outcome: "ok", breakdown: result.breakdown });
    } catch (e) {
      const err = e instanceof EdgecutError ? e : fail("E_INTERNAL", String(e));
      this.requests.set(id, { id, key, status: "failed", createdAt, finishedAt: createdAt + 25, attempts: 1, error: { code: err.code, message: err.message } });
      this.emit({ requestId: id, kind: "queued", split, outcome: "error", code: err.code });
    }
  }
}
