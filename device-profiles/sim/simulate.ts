/**
 * The virtual-time simulator (`edgecut simulate`): one scenario on one board, the adaptive policy
 * (the agent's code, agent-sim.ts) against the baselines (baselines.ts) on the same requests, true
 * conditions and random draws (truth.ts). Seeded and deterministic: the same inputs and seed give
 * the same SimResult, bit for bit.
 *
 * Requests arrive one every scenario.interArrivalMs, the first half an interval in (so none
 * coincides with the agent's 2 s sampling ticks, which start at 0), for the scenario's duration.
 */
import { parsePlannerConfig, type PlannerConfigInput } from "../../agent/planner/config.js";
import { createPolicy, type PolicyConfigInput, type SplitPolicyLike } from "../../agent/planner/policies.js";
import { runAgent, type AgentSimOptions } from "./agent-sim.js";
import { bestStatic, runOracle, runStatic, type RequestSpec, type RunContext } from "./baselines.js";
import { gitSha } from "./git-sha.js";
import { segmentMsOn, type SimModel } from "./model.js";
import type { SimDevice, SimLink } from "./network.js";
import { Rng } from "./rng.js";
import type { Scenario } from "./scenario.js";
import { summarize } from "./summary.js";
import { Timeline, type TrueConditions } from "./timeline.js";
import { drawNoise, infeasible, runAt, type SimSetup } from "./truth.js";
import type { SimConditions, SimRequest, SimResult, SimSplitCost } from "./types.js";

/** What simulate() runs. */
export interface SimulateOptions {
  model: SimModel;
  device: SimDevice;
  link: SimLink;
  scenario: Scenario;
  /** The adaptive policy: a configuration for createPolicy (default hysteresis), or a policy object. */
  policy?: PolicyConfigInput | SplitPolicyLike;
  /** Default 1. */
  seed?: number;
  planner?: PlannerConfigInput;
  agent?: AgentSimOptions;
}

function isPolicy(p: SimulateOptions["policy"]): p is SplitPolicyLike {
  return typeof p === "object" && p !== null && typeof (p as SplitPolicyLike).decide === "function";
}

/** The run's fixed figures on this board. */
export function simSetup(model: SimModel, device: SimDevice, scenario: Scenario, planner: PlannerConfigInput = {}): SimSetup {
  return {
    idleMs: segmentMsOn(model, device.relativeSpeed), memBytes: [...model.memBytes], geometry: model.geometry,
    planner: parsePlannerConfig(planner), cloudSpeedup: scenario.cloudSpeedup, cloudQueueMs: scenario.cloudQueueMs,
    computeSigma: scenario.computeNoisePct / 100,
  };
}

/** The requests of a run: arrival times and each one's random draws. */
export function makeRequests(scenario: Scenario, seed: number): RequestSpec[] {
  const rng = new Rng(seed, "requests");
  const count = Math.max(1, Math.floor(scenario.durationMs / scenario.interArrivalMs));
  return Array.from({ length: count }, (_, i) => ({ t: (i + 0.5) * scenario.interArrivalMs, noise: drawNoise(rng) }));
}

/** SimConditions of the true conditions (the jitter stays internal). */
export function publicConditions(c: TrueConditions): SimConditions {
  return {
    upMbit: c.upMbit, downMbit: c.downMbit, rttMs: c.rttMs, lossPct: c.lossPct,
    cpuLoadPercent: c.cpuLoadPercent, ramAvailableBytes: c.ramAvailableBytes, cloudUp: c.cloudUp,
  };
}

/**
 * The expected cost of every split point under `c`: the mean over `draws` seeded random draws
 * (jitter, loss, compute noise), so a lossy link's retransmissions count.
 */
export function splitCosts(setup: SimSetup, c: TrueConditions, seed: number, draws = 200): SimSplitCost[] {
  const rng = new Rng(seed, "split-costs");
  const noises = Array.from({ length: draws }, () => drawNoise(rng));
  return Array.from({ length: setup.idleMs.length + 1 }, (_, k) => {
    const sum = { deviceMs: 0, transferMs: 0, cloudMs: 0 };
    for (const noise of noises) {
      const b = runAt(setup, c, k, noise).breakdown;
      sum.deviceMs += b.deviceMs;
      sum.transferMs += b.transferMs;
      sum.cloudMs += b.cloudMs;
    }
    const breakdown = { deviceMs: sum.deviceMs / draws, transferMs: sum.transferMs / draws, cloudMs: sum.cloudMs / draws };
    return { split: k, feasible: infeasible(setup, c, k) === null, breakdown, totalMs: breakdown.deviceMs + breakdown.transferMs + breakdown.cloudMs };
  });
}

/** Runs the scenario (see the module comment). E_USAGE for a bad policy configuration. */
export function simulate(o: SimulateOptions): SimResult {
  const seed = o.seed ?? 1;
  const policy = isPolicy(o.policy) ? o.policy : createPolicy(o.policy ?? {});
  const setup = simSetup(o.model, o.device, o.scenario, o.planner);
  const timeline = new Timeline(o.scenario, o.device, o.link);
  const ctx: RunContext = { setup, timeline, requests: makeRequests(o.scenario, seed), holdTimeoutMs: o.scenario.holdTimeoutMs };
  const n = setup.idleMs.length;

  const adaptive = runAgent(ctx, o.device, policy, seed, o.agent).outcomes;
  const allLocal = runStatic(ctx, n);
  const allCloud = runStatic(ctx, 0);
  const best = bestStatic(ctx).outcomes;
  const oracle = runOracle(ctx);

  const requests: SimRequest[] = ctx.requests.map((r, i) => ({
    i, t: r.t, conditions: publicConditions(timeline.at(r.t)),
    outcomes: { [policy.name]: adaptive[i]!, "all-local": allLocal[i]!, "all-cloud": allCloud[i]!, "best-static": best[i]!, oracle: oracle[i]! },
  }));
  const summary = {
    adaptive: summarize(adaptive), "all-local": summarize(allLocal), "all-cloud": summarize(allCloud),
    "best-static": summarize(best), oracle: summarize(oracle), adaptiveOverOracle: 0,
  };
  summary.adaptiveOverOracle = summary.adaptive.meanMs / summary.oracle.meanMs;
  return {
    meta: {
      format: 1, seed, gitSha: gitSha(), profile: o.device.id, preset: o.link.name, scenario: o.scenario.name, policy: policy.name,
      model: o.model.name, segments: n, durationMs: o.scenario.durationMs, requests: requests.length, mode: "virtual",
    },
    summary,
    splits: splitCosts(setup, timeline.at(0), seed),
    timeline: timeline.stepList().map((s) => ({ t: s.t, conditions: publicConditions(s.conditions) })),
    requests,
  };
}
