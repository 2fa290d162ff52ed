/**
 * The cloud worker: serves the splits found under a models folder to devices over a Transport.
 *
 * A request's life: intake (reassembly, decoding, topic checks) -> reply cache and in-flight
 * check (a retry is never run twice) -> plan (split, range, inputs, from the manifest) ->
 * scheduler (bounded concurrency and queue; full = E_BUSY at once) -> ttl check when it starts
 * (E_EXPIRED) -> segments run in onnxruntime sessions from the pool -> reply (fragmented when
 * large) on the reply topic of the topic it arrived on.
 *
 * Subscribes `$share/<group>/<prefix>/v1/req/+/+` when the broker really implements shared
 * subscriptions (probed), so several workers split the load (the fragments of one request, which
 * the broker spreads over the group, are brought together by relay.ts); else the plain filter,
 * with a warning that a second worker would run every request again.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { EdgecutError, type ErrorCode } from "../sdk/errors.js";
import { OrtSession } from "../sdk/runtime/ort.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import { probeSharedSubscription } from "../sdk/transport/probe.js";
import { topics } from "../sdk/transport/topics.js";
import type { Transport } from "../sdk/transport/transport.js";
import { Reassembler, type FragmentHeader } from "../sdk/wire/index.js";
import { isStepFrame } from "../sdk/wire/step.js";
import { GenerationService } from "./generation/service.js";
import { GenerationStore } from "./generation/store.js";
import { resolveConfig, type WorkerConfig, type WorkerConfigInput } from "./config.js";
import { executePlan } from "./execute.js";
import { Intake, type IncomingRequest } from "./intake.js";
import { createLogger } from "./log.js";
import { Counters, type WorkerMetrics } from "./metrics.js";
import { FragmentRelay } from "./relay.js";
import { isRefusal, planRequest, type Plan } from "./plan.js";
import { errorReplyFrame, okReplyFrame, ReplySender, type ReplyAddress, type ReplyTimes } from "./replies.js";
import { ReplyCache, requestKey } from "./reply-cache.js";
import { Scheduler } from "./scheduler.js";
import { SessionPool, type SessionFactory } from "./sessions.js";
import { discoverSplits, type ServedSplit } from "./splits.js";

/** Options of {@link startWorker}: the plain, validated options and the objects next to them. */
export interface WorkerOptions extends WorkerConfigInput {
  /** Root logger (default: JSON lines on stderr at info). Pass `pino({ level: "silent" })` to silence it. */
  logger?: Logger;
  /** Monotonic clock in ms for ttl, queue and compute times and cache ages (default performance.now). */
  now?: () => number;
  /** Loads a segment file into a session (default OrtSession.create); tests wrap it to slow or count runs. */
  sessionFactory?: SessionFactory;
}

/** A running worker. */
export interface Worker {
  /** Whether it subscribed through a shared subscription (false: a second worker would duplicate work). */
  readonly shared: boolean;
  /** The filter it subscribed to. */
  readonly filter: string;
  /** The splitIds it serves. */
  readonly splits: readonly string[];
  /** Its id: generation sessions it opens continue on `<prefix>/v1/req/+/+/<workerId>`. */
  readonly workerId: string;
  /** The validated configuration. */
  readonly config: WorkerConfig;
  /** A snapshot of its counters. */
  metrics(): WorkerMetrics;
  /** Stops starting queued requests (running ones finish); new ones queue up to the limit, then E_BUSY. */
  pause(): void;
  /** Starts queued requests again. */
  resume(): void;
  /**
   * Graceful stop: unsubscribes, runs every request already accepted (running or queued) and
   * sends its reply, releases the sessions. Does not close the transport (its owner does).
   * Idempotent: every call returns the same promise.
   */
  stop(): Promise<void>;
}

/** A request accepted into the scheduler. */
interface Job {
  request: IncomingRequest;
  plan: Plan;
  key: string;
  receivedAt: number;
  /**
   * When it stops being worth starting: receipt + ttlMs, moved to the later of that and a
   * duplicate's receipt + its ttlMs while the job waits (the device is still waiting for it).
   */
  deadline: number;
  log: Logger;
}

/** Default session factory: onnxruntime with the configured threads. */
function ortFactory(config: WorkerConfig): SessionFactory {
  return (file) => OrtSession.create(file, config.intraOpThreads === undefined ? {} : { intraOpThreads: config.intraOpThreads });
}

/**
 * Starts a worker on `transport`: finds the splits under `models`, probes for shared
 * subscriptions, subscribes, and serves until `stop()`. Throws E_USAGE for bad options,
 * E_MANIFEST when no valid split is found, E_BROKER when the broker refuses the subscription.
 */
export async function startWorker(opts: WorkerOptions & { transport: Transport }): Promise<Worker> {
  const { transport, logger, now: clock, sessionFactory, ...plain } = opts;
  const config = resolveConfig(plain);
  const now = clock ?? (() => performance.now());
  const root = logger ?? createLogger({ json: true });
  const log = root.child({ component: "worker" });
  const t = topics(config.prefix);
  const splits = discoverSplits(config.models, root.child({ component: "splits" }));
  const shared = await probeSharedSubscription(transport, config.prefix, { timeoutMs: config.probeTimeoutMs });
  const filter = shared ? t.workerFilter("+", config.group) : t.workerFilter("+");
  if (!shared) {
    log.warn({ filter }, "the broker has no working shared subscriptions: subscribed plainly, so a second worker on this broker would run every request again (use mosquitto 2, EMQX, VerneMQ or HiveMQ to scale out)");
  }
  const server = new WorkerServer(config, transport, splits, now, root, sessionFactory ?? ortFactory(config), filter, shared);
  await server.listen();
  log.info({
    filter, workerId: server.workerId, shared, splits: [...splits.keys()], concurrency: config.concurrency, queue: config.queue,
    memoryBudgetBytes: config.memoryBudgetBytes, maxMessageBytes: config.maxMessageBytes ?? null,
    protocolVersion: transport.protocolVersion, brokerMaxPacketSize: transport.maxPacketSize ?? null,
  }, "worker ready");
  return server;
}

/** The worker's state and request handling (one per startWorker). */
class WorkerServer implements Worker {
  private readonly log: Logger;
  private readonly counters = new Counters();
  private readonly cache: ReplyCache;
  private readonly pool: SessionPool;
  private readonly sender: ReplySender;
  private readonly intake: Intake;
  private readonly scheduler: Scheduler<() => Promise<void>>;
  private readonly generations: GenerationStore;
  private readonly generation: GenerationService;
  readonly workerId: string;
  private readonly sessionFilter: string;
  /** Requests queued or running, by request key: a duplicate joins the one reply. */
  private readonly inFlight = new Map<string, Job>();
  /** Replies being published outside a job (errors, replays), awaited by stop(). */
  private readonly sending = new Set<Promise<unknown>>();
  /** Gets the fragments of a frame to one worker of the group (shared subscriptions only). */
  private readonly relay: FragmentRelay | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  readonly splits: readonly string[];

  constructor(
    readonly config: WorkerConfig,
    private readonly transport: Transport,
    private readonly served: ReadonlyMap<string, ServedSplit>,
    private readonly now: () => number,
    root: Logger,
    factory: SessionFactory,
    readonly filter: string,
    readonly shared: boolean,
  ) {
    this.log = root.child({ component: "worker" });
    this.splits = Object.freeze([...served.keys()]);
    this.cache = new ReplyCache({ ...config.replyCache, now });
    this.pool = new SessionPool({ budgetBytes: config.memoryBudgetBytes, factory, log: root.child({ component: "sessions" }) });
    this.sender = new ReplySender(transport, config.maxMessageBytes, root.child({ component: "replies" }));
    const reassembler = new Reassembler({ maxBytes: config.reassemblyMaxBytes, timeoutMs: config.reassembly.timeoutMs, maxPending: config.reassembly.maxPending, now });
    this.relay = shared
      ? new FragmentRelay({
        transport, prefix: config.prefix, group: config.group, now, timeoutMs: config.reassembly.timeoutMs,
        maxHeldBytes: config.reassemblyMaxBytes, log: root.child({ component: "relay" }),
        deliver: (topic, payload) => this.onMessage(topic, payload, true),
      })
      : undefined;
    const relay = this.relay;
    this.intake = new Intake({
      topics: topics(config.prefix), limits: config.limits, reassembler, quietMs: config.reassembly.timeoutMs, now,
      counters: this.counters, log: root.child({ component: "intake" }),
      replyError: (to, code, message) => this.track(this.replyError(to, code, message)),
      ...(relay === undefined ? {} : { route: (topic: string, payload: Uint8Array, h: FragmentHeader) => relay.route(topic, payload, h) }),
    });
    this.scheduler = new Scheduler<() => Promise<void>>(config.concurrency, config.queue, (task) => task());
    this.workerId = config.workerId ?? randomBytes(6).toString("hex");
    this.sessionFilter = topics(config.prefix).sessionFilter(this.workerId);
    this.generations = new GenerationStore({ ...config.generation, now });
    this.generation = new GenerationService({
      workerId: this.workerId, served, pool: this.pool, store: this.generations, sender: this.sender, now,
      log: root.child({ component: "generation" }),
      submit: (task) => this.scheduler.offer(task),
      replyError: (to, code, message) => this.track(this.replyError(to, code, message)),
      computed: () => { this.counters.computed++; },
    });
  }

  /** Subscribes and starts the sweeps. */
  async listen(): Promise<void> {
    await this.relay?.start();
    await this.transport.subscribe(this.filter, (topic, payload) => this.onMessage(topic, payload));
    await this.transport.subscribe(this.sessionFilter, (topic, payload) => this.onMessage(topic, payload));
    this.transport.on("disconnected", () => { if (!this.stopping) this.log.warn("broker connection lost; reconnecting"); });
    this.transport.on("connected", () => { if (!this.stopping) this.log.info({ filter: this.filter }, "broker connection back; subscription restored"); });
    this.sweepTimer = setInterval(() => {
      this.intake.sweep();
      for (const f of this.relay?.sweep() ?? []) this.intake.fragmentsLost(f.topic, f.requestId, f.received, f.count);
      this.cache.sweep();
      this.generations.sweep();
    }, this.config.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  metrics(): WorkerMetrics {
    return this.counters.snapshot({
      running: this.scheduler.running, queued: this.scheduler.queued, sessions: this.pool.stats(),
      replyCache: { entries: this.cache.size, bytes: this.cache.bytes },
      generation: this.generations.stats(),
    });
  }

  pause(): void {
    this.scheduler.pause();
    this.log.info("paused: queued requests wait");
  }

  resume(): void {
    this.scheduler.resume();
    this.log.info("resumed");
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.log.info({ running: this.scheduler.running, queued: this.scheduler.queued }, "stopping: unsubscribing, finishing accepted requests");
    try {
      await this.transport.unsubscribe(this.filter);
      await this.transport.unsubscribe(this.sessionFilter);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "unsubscribe failed; stopping anyway");
    }
    await this.relay?.stop();
    await this.scheduler.drain();
    // A reply being sent may be followed by another (an error reply tracked while others went out).
    while (this.sending.size > 0) await Promise.all([...this.sending]);
    clearInterval(this.sweepTimer);
    await this.pool.close();
    this.log.info({ metrics: this.metrics() }, "stopped");
  }

  /** The transport's handler: never throws (a handler error would be the transport's problem). */
  private onMessage(topic: string, payload: Uint8Array, relayed = false): void {
    try {
      if (isStepFrame(payload)) {
        this.onStep(topic, payload);
        return;
      }
      const request = this.intake.accept(topic, payload, relayed);
      if (request === undefined) return;
      if (request.header.session === undefined) this.admit(request);
      else if (this.stopping) this.track(this.replyError(request.address, "E_BUSY", "the worker is stopping; retry (another worker of the group takes it)"));
      else this.generation.open(request);
    } catch (e) {
      this.log.error({ topic, err: (e as Error).stack ?? String(e) }, "unexpected error handling a message");
    }
  }

  /** A generation step: only on this worker's own session topic (§9.2). */
  private onStep(topic: string, payload: Uint8Array): void {
    const t = topics(this.config.prefix);
    const address = t.parseRequestTopic(topic);
    if (address?.workerId !== this.workerId) {
      this.counters.dropped++;
      this.log.warn({ topic }, "a session step outside this worker's session topic; dropped");
      return;
    }
    this.counters.received++;
    this.generation.step(address.deviceId, t.replyTopic(address.deviceId), payload);
  }

  /** Cache, duplicate, plan and capacity checks of a decoded request, then into the scheduler. */
  private admit(request: IncomingRequest): void {
    const { header, address } = request;
    const key = requestKey(address.deviceId, header.requestId);
    const log = this.log.child({ requestId: header.requestId, deviceId: address.deviceId, splitId: header.splitId });
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.counters.replayedFromCache++;
      log.info("retry of a request already answered: replaying the cached reply");
      this.track(this.sender.send(address, cached));
      return;
    }
    const original = this.inFlight.get(key);
    if (original !== undefined) {
      this.counters.duplicatesInFlight++;
      // The device sent it again, so it still waits: a queued original stays worth starting
      // until the duplicate's own ttl (counted from its receipt) runs out too.
      const deadline = this.now() + header.ttlMs;
      if (deadline > original.deadline) original.deadline = deadline;
      log.info("duplicate of a request still in flight: its reply will answer both");
      return;
    }
    if (this.stopping) {
      this.track(this.replyError(address, "E_BUSY", "the worker is stopping; retry (another worker of the group takes it)"));
      return;
    }
    const plan = planRequest(header, request.tensors, this.served, this.config.maxDim);
    if (isRefusal(plan)) {
      log.warn({ code: plan.code, err: plan.message }, "request refused");
      this.track(this.replyError(address, plan.code, plan.message));
      return;
    }
    const receivedAt = this.now();
    const job: Job = { request, plan, key, receivedAt, deadline: receivedAt + header.ttlMs, log };
    this.inFlight.set(key, job);
    if (!this.scheduler.offer(() => this.run(job))) {
      this.inFlight.delete(key);
      this.counters.busy++;
      log.warn({ running: this.scheduler.running, queued: this.scheduler.queued }, "queue full: E_BUSY");
      this.track(this.replyError(address, "E_BUSY", `the worker's queue is full (${this.config.concurrency} running, ${this.config.queue} waiting); retry later or elsewhere`));
      return;
    }
    log.debug({ segments: header.segments, ttlMs: header.ttlMs }, "request accepted");
  }

  /** Runs one job and sends its reply; never rejects. */
  private async run(job: Job): Promise<void> {
    const { request, plan, key, log } = job;
    const { header, address } = request;
    const started = this.now();
    const waited = started - job.receivedAt;
    try {
      if (started > job.deadline) {
        this.counters.expired++;
        log.warn({ waitedMs: waited, ttlMs: header.ttlMs }, "ttl ran out while queued: E_EXPIRED");
        this.inFlight.delete(key);
        const since = job.deadline === job.receivedAt + header.ttlMs ? "" : " (counted from its latest copy's receipt)";
        await this.replyError(address, "E_EXPIRED", `the request waited ${Math.round(waited)} ms in the worker's queue, over its ttl of ${header.ttlMs} ms${since}`, { computeMs: 0, queueMs: waited });
        return;
      }
      let frame: Uint8Array;
      let times: ReplyTimes;
      let outputs: TensorMap;
      try {
        const exec = await executePlan(plan, request.tensors, this.pool, this.now);
        // Waiting for a slot and loading sessions are the worker's time, neither compute nor the
        // link: the device's estimator subtracts both from the round trip.
        times = { computeMs: exec.computeMs, queueMs: exec.startedAt - job.receivedAt + exec.laterLoadMs };
        outputs = exec.outputs;
        frame = okReplyFrame(address, times, outputs);
      } catch (e) {
        const code: ErrorCode = e instanceof EdgecutError ? e.code : "E_INTERNAL";
        log.error({ code, err: e instanceof EdgecutError ? e.message : (e as Error).stack ?? String(e) }, "running the request failed");
        this.inFlight.delete(key);
        await this.replyError(address, code, e instanceof EdgecutError ? e.message : `unexpected error: ${String(e)}`);
        return;
      }
      this.cache.set(key, frame);
      this.inFlight.delete(key);
      this.counters.computed++;
      const sent = await this.sender.send(address, frame);
      log.info({ segments: header.segments, computeMs: round(times.computeMs), queueMs: round(times.queueMs), replyBytes: frame.byteLength, outputs: Object.keys(outputs), sent }, "request done");
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** Counts, encodes and sends an error reply. */
  private async replyError(to: ReplyAddress, code: ErrorCode, message: string, times: ReplyTimes = { computeMs: 0, queueMs: 0 }): Promise<void> {
    this.counters.error(code);
    let frame: Uint8Array;
    try {
      frame = errorReplyFrame(to, times, code, message);
    } catch (e) {
      this.log.error({ requestId: to.requestId, deviceId: to.deviceId, code, err: (e as Error).message }, "cannot encode the error reply");
      return;
    }
    await this.sender.send(to, frame);
  }

  /** Keeps a reply being sent outside a job, so stop() waits for it (send and replyError never reject). */
  private track(p: Promise<unknown>): void {
    const settled = p.then(() => undefined, (e: unknown) => this.log.error({ err: String(e) }, "sending a reply failed"));
    this.sending.add(settled);
    void settled.finally(() => this.sending.delete(settled));
  }
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
