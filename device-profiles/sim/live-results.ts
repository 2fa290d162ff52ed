/**
 * The live simulator's bookkeeping: one agent run turned into a SimOutcome, the baselines live mode
 * cannot run exactly (best static split, oracle) approximated from the ones it ran, and the summary
 * rows. Live mode runs only the adaptive policy and the forced all-local and all-cloud splits, so:
 * - "best-static" is the better of all-local and all-cloud over the run (fewer failures, then the
 *   lower mean latency), not the best of every split point;
 * - "oracle" is, per request, the fastest of the runs made for it (adaptive, all-local, all-cloud):
 *   a bound over the splits tried, not over every split, measured on different runs of the same
 *   moment (so noise can put adaptive below it).
 */
import { asEdgecutError } from "../../sdk/errors.js";
import type { InferResult } from "../../sdk/infer/types.js";
import type { Plan } from "../../agent/planner/types.js";
import { atLeastAsGood, summarize } from "./summary.js";
import type { SimOutcome, SimRequest, SimSplitCost } from "./types.js";

/** A run that returned. */
export function okOutcome(r: InferResult): SimOutcome {
  const b = r.breakdown;
  const cloudMs = b.cloudComputeMs + b.cloudQueueMs;
  return {
    split: r.split, latencyMs: b.totalMs, outcome: "ok", bytesUp: b.bytesUp,
    breakdown: {
      deviceMs: b.localMs + b.loadMs,
      // The round trip holds the transfers, the broker hops and the worker's time: the latter is cloudMs.
      transferMs: Math.max(0, b.totalMs - b.localMs - b.loadMs - cloudMs),
      cloudMs,
    },
  };
}

/** A run that threw. */
export function failedOutcome(e: unknown): SimOutcome {
  return { split: null, latencyMs: null, outcome: "failed", code: asEdgecutError(e, "E_RUNTIME", "the request failed").code, bytesUp: 0 };
}

/** Per request, the fastest outcome that ran (see the module comment); failed with E_NO_SPLIT when none did. */
export function oracleOf(outcomes: readonly SimOutcome[]): SimOutcome {
  let best: SimOutcome | undefined;
  for (const o of outcomes) if (o.outcome === "ok" && (best === undefined || o.latencyMs! < best.latencyMs!)) best = o;
  return best ?? { split: null, latencyMs: null, outcome: "failed", code: "E_NO_SPLIT", bytesUp: 0 };
}

/** The name among `names` whose outcomes over `requests` are best (fewer failures, then the lower mean: summary.ts atLeastAsGood). */
export function bestStaticOf(requests: readonly SimRequest[], names: readonly string[]): string {
  const rows = names.map((name) => ({ name, row: summarize(requests.map((r) => r.outcomes[name]!)) }));
  return rows.reduce((best, x) => (atLeastAsGood(best.row, x.row) ? best : x)).name;
}

/** The agent's own predicted cost of every split point (live mode's stand-in for measured split costs). */
export function splitCostsOf(plan: Plan | null): SimSplitCost[] {
  return (plan?.rows ?? []).map((r) => ({
    split: r.k, feasible: r.feasible, totalMs: r.predicted.totalMs,
    breakdown: {
      deviceMs: r.predicted.localMs,
      transferMs: r.predicted.encodeMs + r.predicted.upMs + r.predicted.downMs + r.predicted.rttMs,
      cloudMs: r.predicted.cloudMs + r.predicted.queueMs,
    },
  }));
}
