/**
 * plan(): the plan table over every split point k = 0..n and the choice, as Neurosurgeon (Kang
 * et al., ASPLOS 2017) does for chains of layers: with few candidate cuts, predicting every one
 * and taking the best is exact and cheap (n + 1 rows), no min-cut needed (that is DADS's answer
 * for general DAGs, used offline by `edgecut split --optimal`).
 *
 * A row is infeasible when:
 * - memory: the front's memBytes exceed ramAvailableBytes - ramMarginBytes;
 * - privacy: it sends a private model input (k = 0 sends every input; a cut sends its
 *   modelInputs), or it offloads before minSegmentsBeforeCloud segments ran locally (k < that,
 *   k < n). k = n sends nothing and is always private;
 * - the cloud is unreachable (k < n);
 * - a segment's cost is unknown (no profile, no FLOPs, no worker report) or a time is not finite.
 *
 * The choice: "latency" minimises totalMs; "throughput" maximises throughputPerSec (DADS's
 * heavy-load mode: the device runs request i+1's front while the cloud runs request i's back,
 * so the best split balances the stages), ties broken by lower totalMs. Remaining ties go to
 * the larger k (less data leaves the device).
 */
import { fail } from "../../sdk/errors.js";
import { parsePlannerConfig, type Objective, type PlannerConfig, type PlannerConfigInput } from "./config.js";
import { memoryViolation, privacyViolations } from "./checks.js";
import { predict, transferBytes } from "./cost.js";
import type { Plan, PlanInputs, PlanRow } from "./types.js";

/** The score the objective minimises, in ms: totalMs, or ms per request (1000 / throughput). */
export function objectiveScoreMs(row: PlanRow, objective: Objective): number {
  return objective === "latency" ? row.predicted.totalMs : 1000 / row.predicted.throughputPerSec;
}

/** True when row a is strictly better than row b under the objective (tie-breaks as in the module comment). */
function better(a: PlanRow, b: PlanRow, objective: Objective): boolean {
  const sa = objectiveScoreMs(a, objective);
  const sb = objectiveScoreMs(b, objective);
  if (sa !== sb) return sa < sb;
  if (a.predicted.totalMs !== b.predicted.totalMs) return a.predicted.totalMs < b.predicted.totalMs;
  return a.k > b.k;
}

function pickBest(rows: readonly PlanRow[], objective: Objective): PlanRow | null {
  let best: PlanRow | null = null;
  for (const r of rows) if (r.feasible && (best === null || better(r, best, objective))) best = r;
  return best;
}

/** Checks the shapes of the inputs plan() relies on; E_USAGE naming what is wrong. */
function checkInputs(inputs: PlanInputs): void {
  const n = inputs.segments.length;
  if (n < 1) throw fail("E_USAGE", "plan: inputs.segments is empty; a split has at least one segment");
  if (inputs.cuts.length !== n - 1) throw fail("E_USAGE", `plan: ${n} segments need ${n - 1} cuts (cuts[i] follows segment i), got ${inputs.cuts.length}`);
  const ms = inputs.cloud.msPerSegment;
  if (ms !== undefined && ms.length !== n) throw fail("E_USAGE", `plan: cloud.msPerSegment has ${ms.length} entries for ${n} segments`);
  const nums: [string, number][] = [
    ["inputBytes", inputs.inputBytes], ["outputBytes", inputs.outputBytes], ["device.ramAvailableBytes", inputs.device.ramAvailableBytes],
    ["device.cpuLoadPercent", inputs.device.cpuLoadPercent], ["device.flopsPerMs", inputs.device.flopsPerMs], ["cloud.queueMs", inputs.cloud.queueMs],
    ["network.rttMs", inputs.network.rttMs], ["network.upBytesPerSec", inputs.network.upBytesPerSec], ["network.downBytesPerSec", inputs.network.downBytesPerSec],
    ...inputs.segments.map((s, i): [string, number] => [`segments[${i}].memBytes`, s.memBytes]),
    ...inputs.cuts.map((c, i): [string, number] => [`cuts[${i}].bytes`, c.bytes]),
  ];
  for (const [name, v] of nums) if (!Number.isFinite(v) || v < 0) throw fail("E_USAGE", `plan: ${name} is ${String(v)}; it must be a finite number >= 0`);
}

/** Why split point k is infeasible (empty when it is feasible): the checks of checks.ts, then reachability and costs. */
function infeasibility(inputs: PlanInputs, k: number, config: PlannerConfig, memBytes: number, unknown: number[], totalMs: number): string[] {
  const n = inputs.segments.length;
  const reasons: string[] = [];
  if (inputs.maxLocalSplit !== undefined && k > inputs.maxLocalSplit) reasons.push(`segments ${inputs.maxLocalSplit}..${k - 1} are not on this device (packed up to split ${inputs.maxLocalSplit})`);
  const mem = memoryViolation(inputs, config, memBytes);
  if (mem !== null) reasons.push(mem);
  reasons.push(...privacyViolations(inputs, config, k));
  if (k < n && !inputs.network.reachable) reasons.push("the cloud is unreachable");
  if (unknown.length > 0) reasons.push(`no cost known for segment(s) ${[...new Set(unknown)].join(", ")} (not profiled, no FLOPs, no worker report)`);
  else if (!Number.isFinite(totalMs)) reasons.push("the predicted time is not finite (zero bandwidth?)");
  return reasons;
}

/**
 * The plan table for every split point k = 0..n and the choice (see the module comment and
 * Plan). `config` is validated (E_USAGE for a bad field), as are the inputs' shapes.
 */
export function plan(inputs: PlanInputs, config: PlannerConfigInput | PlannerConfig = {}): Plan {
  const cfg = parsePlannerConfig(config);
  checkInputs(inputs);
  const n = inputs.segments.length;
  const rows: PlanRow[] = [];
  let memBytes = 0;
  for (let k = 0; k <= n; k++) {
    if (k > 0) memBytes += inputs.segments[k - 1]!.memBytes;
    const { predicted, unknown } = predict(inputs, k, cfg);
    const { up, down } = transferBytes(inputs, k);
    const reasons = infeasibility(inputs, k, cfg, memBytes, unknown, predicted.totalMs);
    rows.push({ k, feasible: reasons.length === 0, ...(reasons.length > 0 ? { reason: reasons.join("; ") } : {}), predicted, memBytes, upBytes: up, downBytes: down });
  }
  const objective = cfg.objective;
  const best = pickBest(rows, objective);
  if (best !== null) return { rows, best: best.k, objective, action: best.k === n ? "local" : "offload" };

  const allLocal = rows[n]!;
  if (!inputs.network.reachable) {
    // What the split would be with the cloud back: the same rules, reachability aside.
    const reachable = plan({ ...inputs, network: { ...inputs.network, reachable: true } }, cfg);
    const why = `the cloud is unreachable and all-local does not run (${allLocal.reason ?? "infeasible"})`;
    if (cfg.onCloudDown === "local-or-queue" && reachable.best !== null) {
      return { rows, best: reachable.best, objective, action: "queue", reason: `${why}: queue requests until it is back, then run at k = ${reachable.best}` };
    }
    return { rows, best: null, objective, action: "fail", reason: cfg.onCloudDown === "local-or-fail" ? `${why}: failing fast (onCloudDown local-or-fail)` : `${why}, and no split would run with it back either` };
  }
  return { rows, best: null, objective, action: "fail", reason: "no split point is feasible (see each row's reason)" };
}
