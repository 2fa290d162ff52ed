/**
 * The adaptive policy in virtual time: the device agent's own decision code (buildPlanInputs,
 * plan(), the policy from createPolicy, NetworkEstimator, Observed) driven the way
 * agent/core/agent.ts drives it, with the simulator's ground truth (truth.ts) standing in for the
 * device, the link and the worker:
 *
 * - A tick every planIntervalMs (1 s), from t = 0 as Agent.start does, with `edgecut agent`'s default
 *   configuration: every sampleIntervalMs (2 s) the device sample is the true CPU load and
 *   available RAM at that moment (so the planner sees them up to one interval late); then a
 *   re-plan, then an idle probe when the estimator wants one (no round trip for probeIntervalMs),
 *   spaced by the agent's backoff (doubling with each probe since the last request).
 * - A request takes the policy's current decision: "offload"/"local" run at its k; "queue" holds it
 *   as the agent's durable queue would (until a decision can run, or the scenario's holdTimeoutMs:
 *   E_TIMEOUT; held requests are released together, as the baselines' are, not one at a time as
 *   the agent's queue of concurrency 1 would); "fail" fails it (E_NO_SPLIT). A front that does not fit the TRUE available RAM
 *   (the sample was stale) fails with E_RUNTIME (out of memory).
 * - An offload sent while the cloud is down gets no reply: each attempt waits its timeout, sized
 *   from the plan's prediction (agent/core/rules.ts attemptTimeoutMs: 1 s at least); no retry when
 *   all-local can run instead (offloadRetries), else the client's retries with its backoff (100 ms
 *   doubling, jittered); then the estimator counts a failure (unless the attempt predates the last
 *   success), the agent re-plans and runs the request all-local when that row is feasible
 *   (canFallBackLocal; its latency includes the wait), else it fails E_TIMEOUT.
 * - What the agent learns is what it would observe: each single-attempt offload's bytes, round trip
 *   and the worker's compute (fed to the estimator unless another offload overlapped it), the
 *   front's time against its profile (Observed), and probes' round trips. It never sees the truth.
 *
 * Not modelled: contention between overlapping requests on the link or the CPU, session loading,
 * the broker connection dropping (an outage is a worker that does not answer), the agent's own CPU.
 */
import { Observed } from "../../agent/core/observed.js";
import { buildPlanInputs, type CostSource } from "../../agent/core/plan-inputs.js";
import type { DeviceSample } from "../../agent/monitor/types.js";
import { NetworkEstimator, type NetworkEstimate, type NetworkEstimatorConfigInput } from "../../agent/network/index.js";
import { loadFactor } from "../../agent/planner/cost.js";
import { plan } from "../../agent/planner/plan.js";
import type { Plan } from "../../agent/planner/types.js";
import { attemptTimeoutMs, canFallBackLocal, offloadRetries, probeDue, probeTimeoutMs } from "../../agent/core/rules.js";
import type { SplitPolicyLike } from "../../agent/planner/policies.js";
import type { PolicyDecision } from "../../agent/planner/policy.js";
import { OFFLOAD_DEFAULTS } from "../../sdk/offload/client.js";
import { failedOutcome, type RunContext } from "./baselines.js";
import { EventQueue } from "./events.js";
import { Rng } from "./rng.js";
import { deviceMs, drawNoise, exchangeMs, FRAME_OVERHEAD_BYTES, infeasible, runAt, type TruthRun } from "./truth.js";
import type { SimDevice } from "./network.js";
import type { SimOutcome } from "./types.js";

/** Settings of the simulated agent (defaults: the agent's own). */
export interface AgentSimOptions {
  /** Device sampling period (ms; default 2000, `edgecut agent`'s sampleIntervalMs). */
  sampleIntervalMs?: number;
  /** Re-planning period (ms; default 1000, `edgecut agent`'s planIntervalMs); it also re-plans after every request. */
  planIntervalMs?: number;
  /** The offload client's timeout per attempt, retries and first backoff (defaults: OFFLOAD_DEFAULTS). */
  offload?: { timeoutMs?: number; retries?: number; backoffMs?: number };
  network?: NetworkEstimatorConfigInput;
  /** Called after every re-plan with the agent's view (for tests and investigations). */
  onPlan?: (t: number, decision: PolicyDecision, estimate: NetworkEstimate) => void;
}

/** What the simulated agent did. */
export interface AgentSimResult {
  outcomes: SimOutcome[];
  /** Split changes as the agent counts them (the policy's split moving). */
  switches: number;
  probes: number;
  /** Requests that fell back to all-local after their offload timed out. */
  fallbacks: number;
}

/** Runs the adaptive policy over the context's requests (see the module comment). */
export function runAgent(ctx: RunContext, device: SimDevice, policy: SplitPolicyLike, seed: number, opts: AgentSimOptions = {}): AgentSimResult {
  const { setup, timeline } = ctx;
  const n = setup.idleMs.length;
  const cfg = setup.planner;
  const sampleEvery = opts.sampleIntervalMs ?? 2000;
  const planEvery = opts.planIntervalMs ?? 1000;
  const timeoutMs = opts.offload?.timeoutMs ?? OFFLOAD_DEFAULTS.timeoutMs;
  const retries = opts.offload?.retries ?? OFFLOAD_DEFAULTS.retries;
  const backoffMs = opts.offload?.backoffMs ?? OFFLOAD_DEFAULTS.backoffMs;
  const q = new EventQueue();
  // The agent's own draws (probe noise, retry jitter): a stream apart from the requests' noise.
  const rng = new Rng(seed, "agent");
  const estimator = new NetworkEstimator({ now: () => q.now, config: opts.network ?? {} });
  const observed = new Observed();
  const profiled = setup.idleMs.map((ms, i) => ({ localMs: ms, flops: null, memBytes: setup.memBytes[i]! }));
  const costs: CostSource = { segments: () => profiled, flopsPerMs: () => 1e6 };
  const outcomes: (SimOutcome | undefined)[] = ctx.requests.map(() => undefined);
  let unfinished = ctx.requests.length;
  let sample: DeviceSample | null = null;
  let decision: PolicyDecision = { k: null, action: "fail", switched: false, reason: "not planned yet", pending: 0 };
  let lastPlan: Plan | null = null;
  let switches = 0;
  let probes = 0;
  let fallbacks = 0;
  let idleProbes = 0;
  let lastProbeAt = Number.NEGATIVE_INFINITY;
  let probing = false;
  let offloading = 0;
  let offloadSeq = 0;
  const held: number[] = [];

  const finish = (i: number, o: SimOutcome): void => {
    if (outcomes[i] !== undefined) return;
    outcomes[i] = o;
    unfinished--;
  };

  const replan = (): void => {
    const est = estimator.estimate();
    const inputs = buildPlanInputs({
      geometry: setup.geometry, costs, sample, observed, loadedMemBytes: 0, network: est, defaultCloudSpeedup: cfg.defaultCloudSpeedup,
    });
    const before = policy.current;
    lastPlan = plan(inputs, cfg);
    decision = policy.decide(lastPlan, q.now);
    const after = policy.current;
    if (after !== before && after !== null && before !== null) switches++;
    opts.onPlan?.(q.now, decision, est);
  };

  const idleSum = (from: number, to: number): number => {
    let t = 0;
    for (let i = from; i < to; i++) t += setup.idleMs[i]!;
    return t;
  };

  /** agent.ts learn(): the estimator (single-attempt, not overlapped offloads) and Observed. */
  const learn = (run: TruthRun, attempts: number, overlapped: boolean): void => {
    if (attempts > 1) return replan();
    if (run.k < n && !overlapped) {
      estimator.observe({ bytesUp: run.bytesUp, bytesDown: run.bytesDown, roundTripMs: run.roundTripMs, cloudComputeMs: run.cloudComputeMs, cloudQueueMs: run.cloudQueueMs, at: q.now });
    }
    observed.record({
      k: run.k, n, localMs: run.localMs, bytesUp: run.bytesUp, bytesDown: run.bytesDown, cloudComputeMs: run.cloudComputeMs, cloudQueueMs: run.cloudQueueMs,
      backIdleMs: idleSum(run.k, n) * observed.localRatio,
      frontPredictedMs: idleSum(0, run.k) * loadFactor(sample?.cpuLoadPercent ?? 0, cfg.maxCpuLoad),
    });
    replan();
  };

  const pump = (): void => {
    if (decision.action !== "offload" && decision.action !== "local") return;
    const k = decision.k!;
    for (const i of held.splice(0)) start(i, k);
  };

  /** Runs request i at k from now. */
  const start = (i: number, k: number): void => {
    const r = ctx.requests[i]!;
    const t0 = q.now;
    const c = timeline.at(t0);
    if (infeasible(setup, c, k) === "E_NO_SPLIT") return finish(i, failedOutcome("E_RUNTIME"));
    if (k >= n) {
      const run = runAt(setup, c, k, r.noise);
      q.at(t0 + run.totalMs, () => {
        finish(i, { split: k, latencyMs: t0 - r.t + run.totalMs, outcome: "ok", breakdown: run.breakdown, bytesUp: 0 });
        learn(run, 1, false);
        pump();
      });
      return;
    }
    const busy = offloading++ > 0;
    const seq = ++offloadSeq;
    const front = deviceMs(setup, c, k, r.noise);
    // Attempts: each sent when the previous one timed out, after the client's jittered backoff;
    // the first to find the cloud up is answered. The first attempt sees the conditions at the
    // request's start, as the baselines do (the front is short against any step of a scenario).
    let sendAt = t0 + front;
    let attempts = 1;
    let lost = 0;
    // agent.ts runOptions: each attempt's timeout is sized from the plan's prediction (rules.ts).
    const attemptMs = attemptTimeoutMs(lastPlan, k, timeoutMs, observed.cloudMs(k) !== undefined, policy.name);
    const attemptRetries = offloadRetries(lastPlan, retries, policy.name);
    const upAt = (): boolean => timeline.at(attempts === 1 ? t0 : sendAt).cloudUp;
    while (!upAt() && attempts < attemptRetries + 1) {
      const wait = attemptMs + Math.min(backoffMs * 2 ** (attempts - 1), OFFLOAD_DEFAULTS.maxBackoffMs) * (0.5 + rng.uniform() / 2);
      lost += wait;
      sendAt += wait;
      attempts++;
    }
    const upBytes = runAt(setup, c, k, r.noise).bytesUp;
    if (!upAt()) {
      const lastSent = sendAt;
      q.at(sendAt + attemptMs, () => {
        offloading--;
        estimator.observeFailure(q.now, lastSent);
        replan();
        if (!canFallBackLocal(lastPlan, policy.name)) {
          finish(i, { ...failedOutcome("E_TIMEOUT"), bytesUp: attempts * upBytes });
          pump();
          return;
        }
        fallbacks++;
        const t1 = q.now;
        const local = runAt(setup, timeline.at(t1), n, r.noise);
        q.at(t1 + local.totalMs, () => {
          finish(i, {
            split: n, latencyMs: t1 - r.t + local.totalMs, outcome: "ok", bytesUp: attempts * upBytes,
            breakdown: { deviceMs: front + local.localMs, transferMs: t1 - t0 - front, cloudMs: 0 },
          });
          learn(local, 1, false);
          pump();
        });
      });
      return;
    }
    // Answered: the link and the worker as they are when the answered attempt is sent.
    const sent = runAt(setup, attempts === 1 ? c : timeline.at(sendAt), k, r.noise);
    const run: TruthRun = { ...sent, localMs: front, totalMs: front + lost + sent.encodeMs + sent.roundTripMs };
    q.at(t0 + run.totalMs, () => {
      const overlapped = busy || offloadSeq !== seq;
      offloading--;
      finish(i, {
        split: k, latencyMs: t0 - r.t + run.totalMs, outcome: "ok", bytesUp: attempts * run.bytesUp,
        breakdown: { deviceMs: front, transferMs: lost + sent.encodeMs + sent.networkMs, cloudMs: sent.cloudComputeMs + sent.cloudQueueMs },
      });
      learn(run, attempts, overlapped);
      pump();
    });
  };

  /** agent.ts probe(): an empty round trip sized by the estimator, answered unless the cloud is down. */
  const probe = (): void => {
    probing = true;
    idleProbes++;
    lastProbeAt = q.now;
    const { bytes, echo } = estimator.nextProbe();
    const up = bytes + FRAME_OVERHEAD_BYTES;
    const down = FRAME_OVERHEAD_BYTES + (echo ? bytes : 0);
    const c = timeline.at(q.now);
    const done = (): void => {
      probing = false;
      replan();
      pump();
    };
    if (!c.cloudUp) {
      const sentAt = q.now;
      q.at(q.now + probeTimeoutMs(estimator.detail(), bytes, timeoutMs), () => {
        estimator.observeFailure(q.now, sentAt);
        done();
      });
      return;
    }
    const { networkMs } = exchangeMs(c, up, down, drawNoise(rng));
    q.at(q.now + networkMs, () => {
      estimator.observe({ bytesUp: up, bytesDown: down, roundTripMs: networkMs, cloudComputeMs: 0, cloudQueueMs: 0, at: q.now });
      probes++;
      done();
    });
  };

  let lastSampleAt = Number.NEGATIVE_INFINITY;
  const tick = (): void => {
    if (q.now - lastSampleAt >= sampleEvery) {
      lastSampleAt = q.now;
      const c = timeline.at(q.now);
      sample = { ramAvailableBytes: c.ramAvailableBytes, ramTotalBytes: device.ramBytes, cpuLoadPercent: c.cpuLoadPercent, cores: device.cores };
    }
    replan();
    pump();
    const due = probeDue({
      now: q.now, lastProbeAt, idleProbes, needsProbe: estimator.needsProbe(), urgent: estimator.urgent,
      reachable: estimator.estimate().reachable, probeIntervalMs: estimator.config.probeIntervalMs,
    });
    if (!probing && due) probe();
    if (unfinished > 0) q.at(q.now + Math.min(sampleEvery, planEvery), tick);
  };

  // Agent.start samples and plans at once; requests at t = 0 come after that first plan.
  q.at(0, tick);
  ctx.requests.forEach((r, i) => {
    q.at(r.t, () => {
      idleProbes = 0;
      const d = decision;
      if (d.action === "fail" || d.k === null) return finish(i, failedOutcome("E_NO_SPLIT"));
      if (d.action === "queue") {
        held.push(i);
        q.at(r.t + ctx.holdTimeoutMs, () => {
          const at = held.indexOf(i);
          if (at >= 0) {
            held.splice(at, 1);
            finish(i, failedOutcome("E_TIMEOUT"));
          }
        });
        return;
      }
      start(i, d.k);
    });
  });
  q.run();
  return { outcomes: outcomes.map((o) => o ?? failedOutcome("E_INTERNAL")), switches, probes, fallbacks };
}
