/**
 * The agent core: keeps choosing the split point with the lowest predicted latency (or highest
 * throughput) for what the device, the network and the cloud can do right now, and runs requests
 * there. One loop samples the device and re-plans; every request feeds the network estimator and
 * the learnt figures (observed.ts), and re-plans; the policy (hysteresis by default) turns plans
 * into the split in use. Queued requests live in the SQLite outbox (queue.ts) until their result
 * is stored, so a crash, a reboot or a cloud outage loses none and runs none twice for one key.
 *
 * Front ends (the HTTP API, the in-process SDK) see the AgentCore interface (types.ts).
 */
import { randomBytes } from "node:crypto";
import { VERSION } from "../../sdk/version.js";
import { asEdgecutError, EdgecutError, fail } from "../../sdk/errors.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import { loadSplitOrPack } from "../planner/pack.js";
import type { InferOptions, InferResult, TensorSignature } from "../../sdk/infer/types.js";
import type { GenerationStats } from "../../sdk/generate/generator.js";
import type { StreamedToken } from "../../sdk/generate/index.js";
import { loadTokenizer, type TextTokenizer } from "../../sdk/generate/tokenizer.js";
import type { AgentGenerateOptions } from "../../sdk/infer/generate-types.js";
import { OffloadClient, OFFLOAD_DEFAULTS } from "../../sdk/offload/client.js";
import { SplitRunner, type RunBreakdown, type RunResult } from "../../sdk/offload/split-runner.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import type { Transport } from "../../sdk/transport/transport.js";
import type { Encoding } from "../../sdk/wire/types.js";
import { systemClock, type Clock, type TimerHandle } from "../clock.js";
import type { DeviceSample, SystemSampler } from "../monitor/types.js";
import { NetworkEstimator, type NetworkEstimatorConfigInput } from "../network/index.js";
import { geometryFromManifest, type ManifestGeometry } from "../planner/manifest.js";
import { loadFactor } from "../planner/cost.js";
import { parsePlannerConfig, type PlannerConfig, type PlannerConfigInput } from "../planner/config.js";
import { plan as makePlan } from "../planner/plan.js";
import { createPolicy, type PolicyConfigInput, type SplitPolicyLike } from "../planner/policies.js";
import type { PolicyDecision } from "../planner/policy.js";
import type { Plan } from "../planner/types.js";
import type { AgentStore } from "../store/index.js";
import type { AgentCore, AgentEvents, AgentHealth, AgentStatus, RequestState, SubmitResult } from "./types.js";
import { flopsCosts, requestSizes } from "./costs.js";
import { silentAgentLog, type AgentLog } from "./log.js";
import { Observed } from "./observed.js";
import { buildPlanInputs, type CostSource } from "./plan-inputs.js";
import { attemptTimeoutMs, canFallBackLocal, offloadRetries, probeDue, probeTimeoutMs } from "./rules.js";
import { JobRunner } from "./queue.js";
import { TelemetryBuffer } from "./telemetry.js";
import { FleetPublisher, type FleetBase } from "./fleet.js";
import { GenerationRunner } from "./generation.js";

/** Options of Agent.start. */
export interface AgentOptions {
  deviceId: string;
  /** The split's manifest.json (a full split, or a pack made by `edgecut pack`: split points above its maxSplit are not planned). */
  manifestPath: string;
  /** The open store; the agent does not close it (its opener does). */
  store: AgentStore;
  /** The broker connection; absent: no cloud, every request runs all-local. The agent does not close it. */
  transport?: Transport;
  /** False when `transport` is not connected yet (it emits "connected" when it is; agent/service/lazy-transport.ts). Default true. */
  transportConnected?: boolean;
  sampler: SystemSampler;
  /** Monotonic time and timers (default systemClock). */
  clock?: Clock;
  /** Wall-clock ms since the epoch for telemetry (default Date.now). */
  wallClock?: () => number;
  planner?: PlannerConfigInput;
  /** A policy configuration, or a policy object (plug-ins, the simulator). */
  policy?: PolicyConfigInput | SplitPolicyLike;
  network?: NetworkEstimatorConfigInput;
  offload?: { timeoutMs?: number; retries?: number; encoding?: Encoding; prefix?: string; backoffMs?: number };
  /** Segment costs (the profiler's); default: the manifest's FLOPs at `flopsPerMs`. */
  costs?: CostSource;
  /** This device's FLOPs/ms at idle when `costs` is absent (default 1e6, a Pi 4 class guess). */
  flopsPerMs?: number;
  intraOpThreads?: number;
  /** Simulation only: local segments take this many times as long (SplitRunnerOptions.localSlowdown). */
  localSlowdown?: number;
  /** Device sampling period (default 2000 ms). */
  sampleIntervalMs?: number;
  /** Re-planning period (default: sampleIntervalMs); the agent also re-plans after every request. */
  planIntervalMs?: number;
  /** Telemetry: store batch period (default 5000 ms; 0 writes each sample at once) and fleet summary period (default 60 000 ms; 0 off). */
  telemetry?: { flushIntervalMs?: number; publishIntervalMs?: number };
  /** Queued requests run at once (default 1). */
  concurrency?: number;
  /** A tokenizer.json (or a loaded tokenizer) for generate() with prompt text; without it, token ids only. */
  tokenizer?: string | TextTokenizer;
  log?: AgentLog;
  version?: string;
}

type Listeners = { [E in keyof AgentEvents]: AgentEvents[E][] };

/** Codes that say the cloud could not be reached (the request may run locally or wait). */
const LINK_ERRORS = new Set(["E_TIMEOUT", "E_BROKER"]);
/** Codes after which a queued job goes back to the outbox: the cloud, the worker or the agent could not take it now. */
const RETRY_LATER = new Set([...LINK_ERRORS, "E_BUSY", "E_EXPIRED", "E_FRAGMENT", "E_NO_SPLIT", "E_NOT_READY"]);

/** The agent core (see the module comment). */
export class Agent implements AgentCore {
  readonly manifest: Manifest;
  private readonly clock: Clock;
  private readonly wall: () => number;
  private readonly log: AgentLog;
  private readonly plannerConfig: PlannerConfig;
  private readonly policy: SplitPolicyLike;
  private readonly estimator: NetworkEstimator;
  private readonly observed = new Observed();
  private readonly costs: CostSource;
  private readonly client: OffloadClient | undefined;
  private readonly runner: SplitRunner;
  private readonly telemetry: TelemetryBuffer;
  private readonly fleet: FleetPublisher | undefined;
  private readonly jobs: JobRunner;
  private readonly generation: GenerationRunner;
  private readonly listeners: Listeners = { request: [], switch: [] };
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly startedAt: number;
  private geometry: ManifestGeometry;
  private sample: DeviceSample | null = null;
  private lastPlan: Plan | null = null;
  private decision: PolicyDecision = { k: null, action: "fail", switched: false, reason: "not planned yet", pending: 0 };
  private online: boolean;
  private switches = 0;
  /** Offloads running now, and how many have started (to tell whether one overlapped another). */
  private offloading = 0;
  private offloadSeq = 0;
  /** Split point whose unused sessions are to be released once idle (null: nothing pending). */
  private retainAt: number | null = null;
  private lastPrune = Number.NEGATIVE_INFINITY;
  private lastLeaseCheck = Number.NEGATIVE_INFINITY;
  private lastSampleAt = Number.NEGATIVE_INFINITY;
  /** Probes since the last real request: the idle probe period doubles with each, up to 16x (metered links). */
  private idleProbes = 0;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  private lastCpu: { micros: number; at: number } | undefined;
  /** Runs that failed over to all-local after the cloud failed them (their work may have run on a worker too). */
  fallbacks = 0;
  private probing = false;
  /** Idle network probes answered. */
  probes = 0;
  private seq = 0;
  private readonly idPrefix = randomBytes(4).toString("hex");
  private timer: TimerHandle | undefined;
  private draining = false;
  private stopped: Promise<void> | undefined;
  private storeProblem: string | undefined;

  private constructor(private readonly opts: AgentOptions, private readonly manifestDir: string, manifest: Manifest, private readonly maxLocalSplit: number, tokenizer: TextTokenizer | undefined) {
    this.manifest = manifest;
    this.clock = opts.clock ?? systemClock;
    this.wall = opts.wallClock ?? Date.now;
    this.log = opts.log ?? silentAgentLog;
    const planner = parsePlannerConfig(opts.planner ?? {});
    // Without a broker there is no cloud to wait for: queueing would hold requests forever.
    this.plannerConfig = opts.transport === undefined ? { ...planner, onCloudDown: "local-or-fail" } : planner;
    this.policy = isPolicy(opts.policy) ? opts.policy : createPolicy(opts.policy ?? {});
    this.estimator = new NetworkEstimator({ now: () => this.clock.now(), config: opts.network ?? {} });
    this.costs = opts.costs ?? flopsCosts(manifest, opts.flopsPerMs ?? 1e6);
    this.geometry = geometryFromManifest(manifest, requestSizes(manifest));
    this.online = opts.transport !== undefined && (opts.transportConnected ?? true);
    const now = (): number => this.clock.now();
    this.client = opts.transport === undefined ? undefined : new OffloadClient({
      transport: opts.transport, deviceId: opts.deviceId, clock: now,
      ...(opts.offload?.prefix !== undefined ? { prefix: opts.offload.prefix } : {}),
      ...(opts.offload?.timeoutMs !== undefined ? { timeoutMs: opts.offload.timeoutMs } : {}),
      ...(opts.offload?.retries !== undefined ? { retries: opts.offload.retries } : {}),
      ...(opts.offload?.encoding !== undefined ? { encoding: opts.offload.encoding } : {}),
      ...(opts.offload?.backoffMs !== undefined ? { backoffMs: opts.offload.backoffMs } : {}),
    });
    if (this.client !== undefined && !this.online) this.client.setUnavailable("not connected to the broker yet");
    this.runner = SplitRunner.fromLoaded({ manifest, dir: manifestDir }, {
      ...(this.client !== undefined ? { client: this.client } : {}), clock: now,
      ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
      ...(opts.localSlowdown !== undefined ? { localSlowdown: opts.localSlowdown } : {}),
    });
    this.generation = new GenerationRunner({
      manifest, dir: manifestDir, client: this.client, tokenizer, ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
      track: () => this.beginOffload(),
      // A decode step is a round trip like any request's: one that had the link to itself, answered
      // at the first attempt, teaches the estimator (openings and rebuilds carry prompts or replays).
      onExchange: (e) => {
        if (e.kind !== "step" || !e.alone || e.result.attempts !== 1) return;
        const r = e.result;
        this.estimator.observe({ bytesUp: r.bytesUp, bytesDown: r.bytesDown, roundTripMs: r.roundTripMs, cloudComputeMs: r.computeMs, cloudQueueMs: r.queueMs, at: this.clock.now() });
      },
    });
    this.telemetry = new TelemetryBuffer(opts.store, this.clock, opts.telemetry?.flushIntervalMs ?? 5000, this.log);
    const publishMs = opts.telemetry?.publishIntervalMs ?? 60_000;
    this.fleet = opts.transport !== undefined && publishMs > 0
      ? new FleetPublisher(opts.transport, opts.offload?.prefix, publishMs, this.clock, this.log, () => this.fleetBase(), this.telemetry)
      : undefined;
    this.jobs = new JobRunner({
      store: opts.store, clock: this.clock, log: this.log, concurrency: opts.concurrency ?? 1,
      workerId: `${opts.deviceId}-${process.pid}-${this.idPrefix}`,
      runnable: () => !this.draining && (this.decision.action === "offload" || this.decision.action === "local"),
      execute: (id, inputs) => this.execute(id, inputs, {}, "queued"),
      isRetryable: (e) => RETRY_LATER.has(e.code),
      deviceId: opts.deviceId,
    });
    this.startedAt = this.clock.now();
    opts.transport?.on("disconnected", () => {
      this.online = false;
      // Pending offloads cannot be answered now; failing them at once lets requests fall back to
      // all-local (or queued jobs go back to the outbox) instead of waiting out their timeouts.
      const abandoned = this.client?.setUnavailable("the broker connection dropped") ?? 0;
      this.log.warn({ abandoned }, "broker connection lost: planning without the cloud until it is back");
      this.replan();
    });
    opts.transport?.on("connected", () => {
      this.online = true;
      this.client?.setUnavailable(undefined);
      this.log.info({}, "broker connection back");
      // The link estimate may say "unreachable" (failures during the outage) until a round trip
      // succeeds, and an all-local plan makes none: probe now rather than after the idle backoff.
      this.idleProbes = 0;
      this.lastProbeAt = Number.NEGATIVE_INFINITY;
      if (!this.draining) void this.probe();
      this.replan();
      this.jobs.pump();
    });
  }

  /**
   * Loads the manifest, recovers queued requests a previous run left (their leases are void: one
   * agent per store), takes a first device sample and plan, and starts the sampling loop, the
   * queue and telemetry. E_MANIFEST for a bad manifest; the sampler's and store's errors as they come.
   */
  static async start(opts: AgentOptions): Promise<Agent> {
    const { loaded, maxSplit } = loadSplitOrPack(opts.manifestPath);
    const tokenizer = typeof opts.tokenizer === "string" ? await loadTokenizer(opts.tokenizer) : opts.tokenizer;
    const agent = new Agent(opts, loaded.dir, loaded.manifest, maxSplit, tokenizer);
    await agent.client?.start();
    const recovered = opts.store.requeueExpiredLeases(Number.MAX_SAFE_INTEGER);
    if (recovered.requeued + recovered.abandoned > 0) agent.log.info(recovered, "recovered queued requests from the previous run");
    await agent.tick();
    agent.fleet?.start();
    agent.jobs.pump();
    return agent;
  }

  /** Samples the device, re-plans, schedules the next tick. */
  private async tick(): Promise<void> {
    const sampleEvery = this.opts.sampleIntervalMs ?? 2000;
    if (this.clock.now() - this.lastSampleAt >= sampleEvery) await this.refresh();
    else {
      this.replan();
      this.jobs.pump();
    }
    // needsProbe() holds only when no round trip was attempted for probeIntervalMs: the link is
    // idle (requests may still run all-local), so a probe measures it without competing.
    // Idle probes back off (metered links) only while the cloud answers: a link believed down is probed every interval.
    const due = probeDue({
      now: this.clock.now(), lastProbeAt: this.lastProbeAt, idleProbes: this.idleProbes, needsProbe: this.estimator.needsProbe(),
      urgent: this.estimator.urgent, reachable: this.estimator.estimate().reachable, probeIntervalMs: this.estimator.config.probeIntervalMs,
    });
    if (this.client !== undefined && this.online && !this.draining && due) void this.probe();
    if (!this.draining) this.timer = this.clock.setTimeout(() => { void this.tick(); }, Math.min(sampleEvery, this.opts.planIntervalMs ?? sampleEvery));
  }

  /** Samples the device and re-plans now (the loop does it every sampleIntervalMs; tests and reloads call it). */
  async refresh(): Promise<void> {
    this.lastSampleAt = this.clock.now();
    try {
      const s = await this.opts.sampler.sample();
      this.sample = { ...s, cpuLoadPercent: Math.max(0, s.cpuLoadPercent - this.ownCpuPercent(s.cores)) };
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "device sample failed; planning with the previous one");
    }
    this.housekeeping();
    this.replan();
    this.jobs.pump();
  }

  /**
   * This process's share of the whole CPU (0..100) since the previous call. The device's load
   * figure is machine-wide and so includes the agent's own inference; counted as "other work" it
   * would make the planner predict the front slower the more it runs it.
   */
  private ownCpuPercent(cores: number): number {
    const cpu = process.cpuUsage();
    const at = performance.now();
    const prev = this.lastCpu;
    this.lastCpu = { micros: cpu.user + cpu.system, at };
    if (prev === undefined || at <= prev.at || cores <= 0) return 0;
    return Math.min(100, (100 * (cpu.user + cpu.system - prev.micros)) / 1000 / ((at - prev.at) * cores));
  }

  /**
   * Hourly: drops old finished jobs (the store stays bounded over months). Every tick: puts back
   * jobs whose lease ran out (a runner whose outcome could not be written; heartbeats keep live ones).
   */
  private housekeeping(): void {
    try {
      const now = this.clock.now();
      if (now - this.lastPrune >= 3_600_000) {
        this.lastPrune = now;
        const pruned = this.opts.store.pruneFinished();
        if (pruned > 0) this.log.info({ pruned }, "pruned finished requests");
      }
      // Once a minute, not every tick: each is a write transaction, and leases last a minute anyway.
      if (now - this.lastLeaseCheck >= 60_000) {
        this.lastLeaseCheck = now;
        this.opts.store.requeueExpiredLeases();
      }
      this.storeProblem = undefined;
    } catch (e) {
      this.storeProblem = `the store fails: ${(e as Error).message}`;
      this.log.error({ err: (e as Error).message }, "store housekeeping failed");
    }
  }

  /** Makes a fresh plan and lets the policy decide; emits "switch" when the split moved. */
  private replan(): void {
    const loaded = this.runner.loadedSegments().filter((i) => i < this.manifest.segments.length);
    const segs = this.costs.segments();
    const loadedMem = loaded.reduce((a, i) => a + (segs[i]?.memBytes ?? 0), 0);
    const est = this.estimator.estimate();
    const inputs = buildPlanInputs({
      geometry: this.geometry, costs: this.costs, sample: this.sample, observed: this.observed, loadedMemBytes: loadedMem,
      network: { ...est, reachable: est.reachable && this.online }, defaultCloudSpeedup: this.plannerConfig.defaultCloudSpeedup,
      ...(this.maxLocalSplit < this.manifest.segments.length ? { maxLocalSplit: this.maxLocalSplit } : {}),
    });
    let p: Plan;
    try {
      p = makePlan(inputs, this.plannerConfig);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "planning failed");
      return;
    }
    // The policy's own split, not decision.k: queue/fail decisions pass the plan's k through
    // without moving the split, and must not count as switches.
    const before = this.policy.current;
    this.lastPlan = p;
    this.decision = this.policy.decide(p, this.clock.now());
    const after = this.policy.current;
    if (after !== before && after !== null) {
      if (before !== null) {
        this.switches++;
        this.log.info({ from: before, to: after, reason: this.decision.reason }, "split point changed");
        this.emit("switch", { from: before, to: after, reason: this.decision.reason });
      } else {
        this.log.info({ split: after, reason: this.decision.reason }, "first split point");
      }
      this.retainAt = after;
      this.releaseUnused();
    }
  }

  /**
   * Frees the sessions of segments the split no longer runs here, once nothing runs: a session
   * released under a run fails it. Called after each switch and after each run finishes.
   */
  private releaseUnused(): void {
    if (this.retainAt === null || this.inFlight.size > 0 || this.jobs.running > 0) return;
    const k = this.retainAt;
    this.retainAt = null;
    this.runner.retain(k).catch((e: unknown) => this.log.warn({ err: (e as Error).message }, "releasing unused sessions failed"));
  }

  private emit<E extends keyof AgentEvents>(event: E, arg: Parameters<AgentEvents[E]>[0]): void {
    for (const fn of this.listeners[event]) {
      try {
        (fn as (a: typeof arg) => void)(arg);
      } catch (e) {
        this.log.warn({ event, err: (e as Error).message }, "an event listener threw; ignored");
      }
    }
  }

  infer(inputs: TensorMap, options: InferOptions = {}): Promise<InferResult> {
    if (this.draining) return Promise.reject(fail("E_NOT_READY", "the agent is stopping and takes no new requests"));
    const id = `r-${this.idPrefix}-${++this.seq}`;
    // The run itself is tracked (not the caller's view of it): a caller that gave up does not end it,
    // and stop() and the session release must wait for it.
    const run = this.execute(id, inputs, options, "direct");
    this.inFlight.add(run);
    void run.catch(() => undefined).finally(() => {
      this.inFlight.delete(run);
      this.releaseUnused();
    });
    return withLimits(run, options, this.clock);
  }

  /**
   * Generates text at the forced split or the one the policy chose when the call starts (fixed for
   * the call); see generation.ts. Errors come at the first next(), before any token.
   */
  generate(input: string | readonly number[], opts: AgentGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats> {
    return this.generation.generate(input, opts, (forced) => {
      if (this.draining) throw fail("E_NOT_READY", "the agent is stopping and takes no new generations");
      this.idleProbes = 0;
      if (forced === undefined && this.decision.action === "queue") {
        throw fail("E_NO_SPLIT", `the cloud is unreachable and all-local does not fit (${this.decision.reason}); a generation cannot be queued: retry when the cloud is back`);
      }
      return this.chooseSplit(forced, "direct");
    });
  }

  /** Runs one request (direct or queued) at the chosen split; see the module comment. */
  private async execute(id: string, inputs: TensorMap, options: InferOptions, kind: "direct" | "queued"): Promise<InferResult> {
    const t0 = this.clock.now();
    const n = this.manifest.segments.length;
    let k: number | null = null;
    this.idleProbes = 0;
    try {
      this.runner.checkInputs(inputs);
      k = this.chooseSplit(options.split, kind);
      this.geometry = geometryFromManifest(this.manifest, requestSizes(this.manifest, inputs));
      let r: RunResult;
      let overlapped = false;
      const sentAt = this.clock.now();
      try {
        ({ result: r, overlapped } = await this.runTracked(inputs, k, options));
      } catch (e) {
        const err = asEdgecutError(e, "E_RUNTIME", "the request failed");
        if (k === n || !LINK_ERRORS.has(err.code)) throw err;
        this.estimator.observeFailure(this.clock.now(), sentAt);
        this.replan();
        // The cloud failed us: run this request all-local now when that is feasible (the cloud
        // counts as down only after a second failure; this request should not wait for it).
        if (options.split !== undefined || !canFallBackLocal(this.lastPlan, this.policy.name)) throw err;
        this.log.warn({ id, err: err.message }, "offload failed; running this request all-local");
        this.fallbacks++;
        k = n;
        r = await this.runner.run(inputs, k, this.runOptions(options));
      }
      this.learn(r.breakdown, overlapped);
      const breakdown = { ...pickBreakdown(r.breakdown), totalMs: this.clock.now() - t0 };
      this.record(id, kind, k, { outcome: "ok" }, breakdown);
      return { outputs: r.outputs, split: k, requestId: id, breakdown };
    } catch (e) {
      const err = asEdgecutError(e, "E_RUNTIME", "the request failed");
      this.record(id, kind, k, { outcome: "error", code: err.code }, undefined, this.clock.now() - t0);
      throw err;
    }
  }

  /**
   * Runs at k, noting whether the offload overlapped another one: a round trip that waited behind
   * the agent's own requests on the link (a pipelined stream) would teach the estimator a link
   * slower than it is.
   */
  private async runTracked(inputs: TensorMap, k: number, options: InferOptions): Promise<{ result: RunResult; overlapped: boolean }> {
    if (k >= this.manifest.segments.length) return { result: await this.runner.run(inputs, k, this.runOptions(options)), overlapped: false };
    const end = this.beginOffload();
    try {
      const result = await this.runner.run(inputs, k, this.runOptions(options, k));
      return { result, overlapped: !end() };
    } finally {
      end(); // a failed run ends too (end is idempotent)
    }
  }

  /**
   * Marks an offload (a request or a generation step) as started; the function returned marks it
   * ended (once) and says whether it had the link to itself: no other offload ran at its start
   * and none started before it ended.
   */
  private beginOffload(): () => boolean {
    const seq = ++this.offloadSeq;
    const busy = this.offloading++ > 0;
    let ended: boolean | undefined;
    return () => {
      if (ended === undefined) {
        this.offloading--;
        ended = !busy && this.offloadSeq === seq;
      }
      return ended;
    };
  }

  /** The caller's timeout, else one sized from the plan's prediction at k (rules.ts attemptTimeoutMs). */
  private runOptions(options: InferOptions, k?: number): { encoding?: Encoding; timeoutMs?: number; retries?: number } {
    if (options.timeoutMs !== undefined) return { timeoutMs: options.timeoutMs };
    // A forced split (options.split) has no fallback: the client's own timeouts and retries.
    if (k === undefined || k >= this.manifest.segments.length || options.split !== undefined) return {};
    return {
      timeoutMs: attemptTimeoutMs(this.lastPlan, k, this.opts.offload?.timeoutMs ?? OFFLOAD_DEFAULTS.timeoutMs, this.observed.cloudMs(k) !== undefined, this.policy.name),
      retries: offloadRetries(this.lastPlan, this.opts.offload?.retries ?? OFFLOAD_DEFAULTS.retries, this.policy.name),
    };
  }

  /**
   * An idle probe (docs/wire-format.md §3.1: segments from = to, nothing runs): keeps the RTT and
   * bandwidth fresh while no requests flow, and notices a recovered link. The estimator sizes it;
   * every other large probe has its padding echoed, so up and down sizes vary apart and the
   * download bandwidth is measured too (a link that recovered downstream is noticed, not just up).
   */
  private async probe(): Promise<void> {
    if (this.probing || this.client === undefined) return;
    this.probing = true;
    this.idleProbes++;
    this.lastProbeAt = this.clock.now();
    const n = this.manifest.segments.length;
    const { bytes, echo } = this.estimator.nextProbe();
    const sentAt = this.clock.now();
    try {
      const r = await this.client.request(this.manifest.splitId, { from: n, to: n }, { probe: { type: "uint8", dims: [bytes], data: new Uint8Array(bytes) } }, {
        wantOutputs: echo ? ["probe"] : [], retries: 0, timeoutMs: probeTimeoutMs(this.estimator.detail(), bytes, this.opts.offload?.timeoutMs ?? OFFLOAD_DEFAULTS.timeoutMs),
      });
      this.estimator.observe({ bytesUp: r.bytesUp, bytesDown: r.bytesDown, roundTripMs: r.roundTripMs, cloudComputeMs: r.computeMs, cloudQueueMs: r.queueMs, at: this.clock.now() });
      this.probes++;
    } catch (e) {
      const err = asEdgecutError(e, "E_RUNTIME", "probe");
      if (LINK_ERRORS.has(err.code)) this.estimator.observeFailure(this.clock.now(), sentAt);
      this.log.debug({ code: err.code, err: err.message }, "network probe failed");
    } finally {
      this.probing = false;
      this.replan();
      this.jobs.pump();
    }
  }

  /** The split to run at: the caller's (checked against the plan's rules) or the policy's. */
  private chooseSplit(forced: number | undefined, kind: "direct" | "queued"): number {
    const n = this.manifest.segments.length;
    if (forced !== undefined) {
      if (!Number.isInteger(forced) || forced < 0 || forced > n) throw fail("E_USAGE", `split ${forced} does not exist: this model has split points 0..${n}`);
      const row = this.lastPlan?.rows[forced];
      if (row !== undefined && !row.feasible) throw fail("E_USAGE", `split ${forced} cannot run now: ${row.reason ?? "infeasible"}`);
      return forced;
    }
    const d = this.decision;
    if (d.action === "fail" || d.k === null) throw fail("E_NO_SPLIT", `no split point can run now: ${d.reason}`);
    if (d.action === "queue") {
      throw fail("E_NO_SPLIT", kind === "direct"
        ? `the cloud is unreachable and all-local does not fit (${d.reason}); submit the request with mode "queue" to run it when the cloud is back`
        : d.reason);
    }
    return d.k;
  }

  /** Feeds a successful run's figures to the estimator and the learnt figures, then re-plans. */
  private learn(b: RunBreakdown, overlapped = false): void {
    const n = b.segments;
    // A retried run's round trip holds a timeout and its bytes the retries: learn nothing from it.
    if (b.attempts > 1) {
      this.replan();
      return;
    }
    // An overlapped one waited behind another request on the link: its bytes and the worker's
    // figures hold, its round trip is not the link's.
    if (b.k < n && !overlapped) {
      this.estimator.observe({ bytesUp: b.bytesUp, bytesDown: b.bytesDown, roundTripMs: b.roundTripMs, cloudComputeMs: b.cloudComputeMs, cloudQueueMs: b.cloudQueueMs, at: this.clock.now() });
    }
    const segs = this.costs.segments();
    const idle = (i: number): number | null => segs[i]!.localMs ?? (segs[i]!.flops !== null ? segs[i]!.flops! / this.costs.flopsPerMs() : null);
    const sum = (from: number, to: number): number | null => {
      let t = 0;
      for (let i = from; i < to; i++) { const v = idle(i); if (v === null) return null; t += v; }
      return t;
    };
    const front = sum(0, b.k);
    const ratio = this.observed.localRatio;
    const back = sum(b.k, n);
    this.observed.record({
      k: b.k, n, localMs: b.localMs, bytesUp: b.bytesUp, bytesDown: b.bytesDown, cloudComputeMs: b.cloudComputeMs, cloudQueueMs: b.cloudQueueMs,
      backIdleMs: back === null ? null : back * ratio,
      frontPredictedMs: front === null ? null : front * loadFactor(this.sample?.cpuLoadPercent ?? 0, this.plannerConfig.maxCpuLoad),
    });
    this.replan();
  }

  private record(id: string, kind: "direct" | "queued", k: number | null, o: { outcome: "ok" | "error"; code?: string }, breakdown?: InferResult["breakdown"], totalMs?: number): void {
    const sample = {
      at: this.wall(), split: k ?? -1, latencyMs: breakdown?.totalMs ?? totalMs ?? 0, bytesUp: breakdown?.bytesUp ?? 0, bytesDown: breakdown?.bytesDown ?? 0,
      queueDepth: this.jobs.depth(), health: this.healthWord(), outcome: o.outcome,
      ...(o.code !== undefined ? { errorCode: o.code } : {}), ...(breakdown !== undefined ? { breakdown: { ...breakdown } } : {}),
    };
    this.telemetry.add(sample);
    this.emit("request", { requestId: id, kind, split: k, outcome: o.outcome, ...(o.code !== undefined ? { code: o.code } : {}), ...(breakdown !== undefined ? { breakdown } : {}) });
  }

  submit(key: string, inputs: TensorMap): SubmitResult {
    if (this.draining) throw fail("E_NOT_READY", "the agent is stopping and takes no new requests");
    this.runner.checkInputs(inputs);
    const r = this.jobs.submit(key, inputs, this.manifest.splitId, this.manifest.segments.length);
    return r;
  }

  getRequest(id: string): RequestState | undefined {
    return this.jobs.get(id);
  }

  signature(): { inputs: TensorSignature[]; outputs: TensorSignature[] } {
    const sig = (t: { name: string; type: string; shape: (number | string | null)[] }): TensorSignature => ({ name: t.name, type: t.type, shape: [...t.shape] });
    return { inputs: this.manifest.model.inputs.map(sig), outputs: this.manifest.model.outputs.map(sig) };
  }

  status(): AgentStatus {
    return {
      deviceId: this.opts.deviceId, version: this.opts.version ?? VERSION,
      model: { splitId: this.manifest.splitId, segments: this.manifest.segments.length, manifest: this.opts.manifestPath },
      split: this.decision.k, action: this.decision.action, reason: this.decision.reason, plan: this.lastPlan,
      device: this.sample, network: { ...this.estimator.detail(), reachable: this.estimator.estimate().reachable && this.online },
      cloud: { computeMsFrom: this.manifest.segments.map((_, k) => this.observed.cloudMs(k) ?? null), queueMs: this.observed.queueMs },
      queueDepth: this.jobs.depth(), inFlight: this.inFlight.size + this.jobs.running + this.generation.active, switches: this.switches,
      uptimeMs: this.clock.now() - this.startedAt, ready: this.health().ready,
    };
  }

  health(): AgentHealth {
    const reasons: string[] = [];
    if (this.storeProblem === undefined) {
      try {
        this.jobs.depth();
      } catch (e) {
        this.storeProblem = `the store fails: ${(e as Error).message}`;
      }
    }
    if (this.storeProblem !== undefined) reasons.push(this.storeProblem);
    if (this.draining) reasons.push("stopping");
    if (this.decision.action === "fail") reasons.push(`no split can run: ${this.decision.reason}`);
    return { live: this.storeProblem === undefined, ready: reasons.length === 0, reasons };
  }

  private healthWord(): string {
    return this.decision.action === "fail" ? "failing" : this.decision.action === "queue" || !this.online ? "degraded" : "ok";
  }

  on<E extends keyof AgentEvents>(event: E, fn: AgentEvents[E]): void {
    (this.listeners[event] as AgentEvents[E][]).push(fn);
  }

  /** The plan table last made (null before the first). */
  get plan(): Plan | null {
    return this.lastPlan;
  }

  private fleetBase(): FleetBase {
    const est = this.estimator.estimate();
    return {
      deviceId: this.opts.deviceId, version: this.opts.version ?? VERSION, at: this.wall(), split: this.decision.k, action: this.decision.action,
      health: this.healthWord(), queueDepth: this.jobs.depth(), switches: this.switches,
      network: { rttMs: est.rttMs, upBytesPerSec: est.upBytesPerSec, downBytesPerSec: est.downBytesPerSec, reachable: est.reachable && this.online },
      device: this.sample === null ? null : {
        ramAvailableBytes: this.sample.ramAvailableBytes, cpuLoadPercent: this.sample.cpuLoadPercent,
        ...(this.sample.temperatureC !== undefined ? { temperatureC: this.sample.temperatureC } : {}),
        ...(this.sample.throttled !== undefined ? { throttled: Object.values(this.sample.throttled).some((v) => v === true) } : {}),
      },
      versions: { node: process.versions.node, edgecut: this.opts.version ?? VERSION, splitId: this.manifest.splitId },
    };
  }

  /**
   * Stops: takes no new requests, ends running generations at their next token (E_NOT_READY), lets
   * in-flight requests finish (queued jobs not started stay in the store for the next start),
   * flushes telemetry, releases sessions and the offload client.
   * The transport and the store stay open (their owner closes them). Idempotent.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.draining = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    // Generations end at their next token (E_NOT_READY) rather than run to maxNewTokens.
    await this.generation.close();
    await Promise.allSettled([...this.inFlight]);
    await this.jobs.drain();
    this.fleet?.stop();
    try {
      this.telemetry.flush();
    } catch (e) {
      this.storeProblem = (e as Error).message;
    }
    await this.client?.close();
    await this.runner.close();
  }
}

function isPolicy(p: AgentOptions["policy"]): p is SplitPolicyLike {
  return typeof p === "object" && p !== null && typeof (p as SplitPolicyLike).decide === "function";
}

function pickBreakdown(b: RunBreakdown): InferResult["breakdown"] {
  const { k: _k, segments: _segments, ...rest } = b;
  return rest;
}

/** The caller's overall timeout and AbortSignal around a run (the run itself goes on; its result is dropped). */
function withLimits<T>(run: Promise<T>, options: InferOptions, clock: Clock): Promise<T> {
  const { signal, timeoutMs } = options;
  if (signal === undefined && timeoutMs === undefined) return run;
  if (signal?.aborted) return Promise.reject(fail("E_ABORTED", "the request was aborted before it started"));
  return new Promise<T>((resolve, reject) => {
    let timer: TimerHandle | undefined;
    const done = (): void => {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => { done(); reject(fail("E_ABORTED", "the request was aborted; work already sent may still run on the worker")); };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined) timer = clock.setTimeout(() => { done(); reject(fail("E_TIMEOUT", `no result within ${timeoutMs} ms`)); }, timeoutMs);
    run.then((v) => { done(); resolve(v); }, (e: unknown) => { done(); reject(e instanceof EdgecutError ? e : asEdgecutError(e, "E_RUNTIME", "the request failed")); });
  });
}
