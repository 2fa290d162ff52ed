/**
 * The baselines every simulated run is compared with, on the same requests (arrival times and
 * random draws) and the same true conditions as the adaptive policy:
 *
 * - all-local (k = n): fails (E_NO_SPLIT) when the front does not fit in the RAM available then
 *   (the planner's rule: available minus ramMarginBytes).
 * - all-cloud (k = 0): while the cloud is down a request is HELD until the cloud is back (its
 *   latency includes the wait; it learns of the return at once, unlike the agent, which probes),
 *   and fails with E_TIMEOUT when that would take longer than the scenario's holdTimeoutMs.
 * - static k (for best-static): as all-local for memory, as all-cloud for an outage.
 * - best-static: the static k with the fewest failures, then the lowest mean latency, found by
 *   running every k.
 * - oracle: per request, the feasible k with the lowest true latency, knowing the request's random
 *   draws; when no k can run (cloud down, all-local does not fit) it holds like all-cloud and takes
 *   the best k when one can run. Ties go to the larger k, as the planner's do.
 *
 * Requests are independent here (none waits behind another): the scenario's inter-arrival time is
 * well above a request's latency, and held requests are all released together.
 */
import { infeasible, runAt, type RequestNoise, type SimSetup, type TruthRun } from "./truth.js";
import type { Timeline, TrueConditions } from "./timeline.js";
import type { SimOutcome } from "./types.js";

/** One request of the run: when it arrives, its random draws. */
export interface RequestSpec {
  t: number;
  noise: RequestNoise;
}

/** What the policies run on. */
export interface RunContext {
  setup: SimSetup;
  timeline: Timeline;
  requests: RequestSpec[];
  holdTimeoutMs: number;
}

/** A successful outcome of `run` after waiting `waitMs`. */
export function okOutcome(run: TruthRun, waitMs: number): SimOutcome {
  const b = run.breakdown;
  return { split: run.k, latencyMs: waitMs + run.totalMs, outcome: "ok", breakdown: { deviceMs: b.deviceMs, transferMs: b.transferMs, cloudMs: b.cloudMs }, bytesUp: run.bytesUp };
}

/** A failed outcome. */
export function failedOutcome(code: string): SimOutcome {
  return { split: null, latencyMs: null, outcome: "failed", code, bytesUp: 0 };
}

/**
 * Runs a request from `t` with `choose` picking the split under the conditions at a time (null:
 * nothing can run then). When nothing can run at t, waits for the first step where something can,
 * up to the hold timeout.
 */
function heldRun(ctx: RunContext, r: RequestSpec, choose: (c: TrueConditions) => number | null, failCode: (c: TrueConditions) => string): SimOutcome {
  const now = ctx.timeline.at(r.t);
  const k = choose(now);
  if (k !== null) return okOutcome(runAt(ctx.setup, now, k, r.noise), 0);
  const code = failCode(now);
  if (code !== "E_TIMEOUT") return failedOutcome(code);
  const when = ctx.timeline.firstTimeFrom(r.t, (c) => choose(c) !== null);
  if (when === null || when - r.t > ctx.holdTimeoutMs) return failedOutcome("E_TIMEOUT");
  const later = ctx.timeline.at(when);
  return okOutcome(runAt(ctx.setup, later, choose(later)!, r.noise), when - r.t);
}

/** Every request at one split point k (see the module comment for all-local, all-cloud and static k). */
export function runStatic(ctx: RunContext, k: number): SimOutcome[] {
  const n = ctx.setup.idleMs.length;
  return ctx.requests.map((r) => heldRun(ctx, r,
    (c) => (infeasible(ctx.setup, c, k) === null ? k : null),
    // Memory is not waited for: a static deployment that does not fit fails. The cloud is.
    (c) => infeasible(ctx.setup, c, k) ?? (k < n ? "E_TIMEOUT" : "E_NO_SPLIT")));
}

/** The static split with the fewest failures, then the lowest mean latency (ties: the larger k). */
export function bestStatic(ctx: RunContext): { k: number; outcomes: SimOutcome[] } {
  const n = ctx.setup.idleMs.length;
  let best: { k: number; outcomes: SimOutcome[]; failed: number; mean: number } | null = null;
  for (let k = n; k >= 0; k--) {
    const outcomes = runStatic(ctx, k);
    const ok = outcomes.filter((o) => o.latencyMs !== null).map((o) => o.latencyMs!);
    const failed = outcomes.length - ok.length;
    const mean = ok.length === 0 ? Number.POSITIVE_INFINITY : ok.reduce((a, b) => a + b, 0) / ok.length;
    if (best === null || failed < best.failed || (failed === best.failed && mean < best.mean)) best = { k, outcomes, failed, mean };
  }
  return { k: best!.k, outcomes: best!.outcomes };
}

/** The best feasible k under `c` for one request's draws, or null when none can run. */
function oracleK(setup: SimSetup, c: TrueConditions, noise: RequestNoise): number | null {
  let best: { k: number; ms: number } | null = null;
  for (let k = setup.idleMs.length; k >= 0; k--) {
    if (infeasible(setup, c, k) !== null) continue;
    const ms = runAt(setup, c, k, noise).totalMs;
    if (best === null || ms < best.ms) best = { k, ms };
  }
  return best?.k ?? null;
}

/** The oracle (see the module comment). */
export function runOracle(ctx: RunContext): SimOutcome[] {
  return ctx.requests.map((r) => heldRun(ctx, r, (c) => oracleK(ctx.setup, c, r.noise), (c) => (c.cloudUp ? "E_NO_SPLIT" : "E_TIMEOUT")));
}
