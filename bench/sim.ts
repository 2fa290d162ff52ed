/**
 * `npm run bench sim`: the agent's adaptive split policy (hysteresis, its default) on the
 * virtual-time simulator (device-profiles/sim), over every shipped scenario and a set of boards,
 * against the oracle and the simple baselines, on the generated tiny-gpt split (segment costs
 * measured on this machine once, cached in .cache/sim, scaled to each board).
 *
 * Targets (issue: device profiles, simulation):
 * - adaptive / oracle mean latency <= 1.10 in every scenario (the geometric mean over the boards
 *   of each board's ratio, each ratio the mean over the seeds), and the median over the
 *   scenarios <= 1.05;
 * - adaptive at least as good as the better of all-local and all-cloud in every scenario, on every
 *   board: fewer failed requests, or as many and a mean latency no higher (a policy must not look
 *   better by failing its slow requests).
 * Variants (not targets): the greedy policy, and two agent settings the findings point at
 * (faster idle probes, a short offload timeout), so the effect of a proposed fix can be read.
 * Results: bench/results/sim.json (via bench/run.ts) and printed tables.
 */
import { performance } from "node:perf_hooks";
import { loadProfile } from "../device-profiles/index.js";
import type { AgentSimOptions } from "../device-profiles/sim/agent-sim.js";
import { defaultCacheDir, loadSimModel } from "../device-profiles/sim/segment-costs.js";
import { resolveLink, simDevice } from "../device-profiles/sim/network.js";
import { listScenarios, loadScenario } from "../device-profiles/sim/scenario.js";
import { simulate } from "../device-profiles/sim/simulate.js";
import { atLeastAsGood } from "../device-profiles/sim/summary.js";
import { ensureModelSplit } from "../device-profiles/sim/tiny-model.js";
import type { SimSummaryRow } from "../device-profiles/sim/types.js";
import type { PolicyConfigInput } from "../agent/planner/policies.js";
import { createProgress } from "../sdk/cli/progress.js";
import { median, target, type BenchResult, type Target } from "./harness.js";

/** Boards: one per distinct CPU (the Pi 4 and Pi 5 RAM variants behave alike here), slowest first. */
const PROFILES = ["pi-zero-2w", "pi3b-plus", "pi4-4gb", "pi5-8gb", "jetson-orin-nano-8gb", "x86-n100"] as const;
const SEEDS = [1, 2, 3] as const;

interface Variant { name: string; policy: PolicyConfigInput; agent: AgentSimOptions; what: string }
const VARIANTS: readonly Variant[] = [
  { name: "hysteresis", policy: { name: "hysteresis" }, agent: {}, what: "the agent's default policy and settings (the targets)" },
  { name: "greedy", policy: { name: "greedy" }, agent: {}, what: "the plan's best every decision, no hysteresis" },
  { name: "probe-2s", policy: { name: "hysteresis" }, agent: { network: { probeIntervalMs: 2000 } }, what: "network.probeIntervalMs 2000 (default 10000): idle probes five times as often" },
  { name: "timeout-1s", policy: { name: "hysteresis" }, agent: { offload: { timeoutMs: 1000, retries: 0 } }, what: "offload.timeoutMs 1000, retries 0 (default 10000, 2)" },
];

const NOTES = [
  "Virtual time: every figure is deterministic for the seeds and this machine's segment measurement (meta.costSource); no wall-clock timing is involved.",
  "Per board, each policy's mean latency is the mean over the seeds of its per-run mean (requests that ran); failures are counted apart. ratio = adaptive mean / oracle mean.",
  "The oracle knows each request's random draws (jitter, loss, compute noise) and the true conditions: it is a bound no causal policy reaches where the best split changes per request (near ties, lossy links).",
  "Baselines hold requests through a cloud outage and learn of the cloud's return at once; the agent detects an outage by its offloads timing out (10 s per attempt, 2 retries, failuresUntilDown 2) and the return by idle probes.",
  "Boards differ only by speed here (the RAM variants of the Pi 4 and Pi 5 would repeat their rows); memory-pressure leaves the same absolute RAM on every board.",
];

const r4 = (v: number): number => +v.toFixed(4);
const r1 = (v: number): number => +v.toFixed(1);

/** A policy's figures on one board, over the seeds. */
interface Agg { meanMs: number; failed: number }

function aggregate(rows: readonly SimSummaryRow[]): Agg {
  const ok = rows.filter((r) => Number.isFinite(r.meanMs));
  return { meanMs: ok.length === 0 ? Number.NaN : ok.reduce((a, r) => a + r.meanMs, 0) / ok.length, failed: rows.reduce((a, r) => a + r.failed, 0) };
}

function asRow(a: Agg): SimSummaryRow {
  return { meanMs: a.meanMs, p95Ms: Number.NaN, switches: 0, bytesUp: 0, failed: a.failed };
}

interface BoardRow {
  profile: string;
  adaptive: Agg;
  oracle: Agg;
  allLocal: Agg;
  allCloud: Agg;
  bestStatic: Agg;
  ratio: number;
  /** The better of all-local and all-cloud on this board. */
  better: "all-local" | "all-cloud";
  atLeastAsGood: boolean;
  switches: number;
}

interface ScenarioRow { scenario: string; preset: string; ratio: number; worstRatio: number; worstProfile: string; boardsWorse: string[]; boards: BoardRow[] }

function geomean(xs: readonly number[]): number {
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}

async function runVariant(v: Variant, model: Awaited<ReturnType<typeof loadSimModel>>, tick: () => void): Promise<ScenarioRow[]> {
  const out: ScenarioRow[] = [];
  for (const name of listScenarios()) {
    const scenario = loadScenario(name);
    const boards: BoardRow[] = [];
    for (const id of PROFILES) {
      const profile = loadProfile(id);
      const runs = SEEDS.map((seed) => {
        tick();
        return simulate({ model, device: simDevice(profile), link: resolveLink(profile, scenario.preset), scenario, policy: v.policy, agent: v.agent, seed }).summary;
      });
      const adaptive = aggregate(runs.map((s) => s.adaptive));
      const oracle = aggregate(runs.map((s) => s.oracle));
      const allLocal = aggregate(runs.map((s) => s["all-local"]));
      const allCloud = aggregate(runs.map((s) => s["all-cloud"]));
      const better = atLeastAsGood(asRow(allLocal), asRow(allCloud)) ? "all-local" : "all-cloud";
      boards.push({
        profile: id, adaptive, oracle, allLocal, allCloud, bestStatic: aggregate(runs.map((s) => s["best-static"])),
        ratio: adaptive.meanMs / oracle.meanMs, better, atLeastAsGood: atLeastAsGood(asRow(adaptive), asRow(better === "all-local" ? allLocal : allCloud)),
        switches: runs.reduce((a, s) => a + s.adaptive.switches, 0) / runs.length,
      });
      // Let the progress bar draw between boards.
      await Promise.resolve();
    }
    const worst = boards.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    out.push({
      scenario: name, preset: scenario.preset, ratio: geomean(boards.map((b) => b.ratio)), worstRatio: worst.ratio, worstProfile: worst.profile,
      boardsWorse: boards.filter((b) => !b.atLeastAsGood).map((b) => b.profile), boards,
    });
  }
  return out;
}

function pad(rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
}

const ms = (a: Agg): string => `${Number.isFinite(a.meanMs) ? a.meanMs.toFixed(1) : "-"}${a.failed > 0 ? ` (${a.failed} failed)` : ""}`;

export async function run(): Promise<BenchResult & { sections: Record<string, unknown> }> {
  const t0 = performance.now();
  const cacheDir = defaultCacheDir();
  const model = await loadSimModel(await ensureModelSplit("tiny-gpt", cacheDir), { name: "tiny-gpt", cacheDir, onMeasure: (w) => console.log(`bench sim: ${w}`) });
  const total = VARIANTS.length * listScenarios().length * PROFILES.length * SEEDS.length;
  const bar = createProgress(total, "bench sim");
  const results: Record<string, ScenarioRow[]> = {};
  for (const v of VARIANTS) results[v.name] = await runVariant(v, model, () => bar.tick());
  bar.done();
  const main = results.hysteresis!;

  for (const s of main) {
    console.log(`\nbench sim: ${s.scenario} (${s.preset}), hysteresis, mean ms over seeds ${SEEDS.join(", ")}`);
    pad([["board", "adaptive", "oracle", "ratio", "all-local", "all-cloud", "best-static", "switches", "vs better baseline"],
      ...s.boards.map((b) => [b.profile, ms(b.adaptive), ms(b.oracle), b.ratio.toFixed(3), ms(b.allLocal), ms(b.allCloud), ms(b.bestStatic), b.switches.toFixed(1), `${b.atLeastAsGood ? "ok" : "WORSE"} (${b.better})`])]);
  }
  console.log("\nbench sim: adaptive / oracle per scenario (geometric mean over the boards; the worst board), and boards where adaptive is worse than the better of all-local and all-cloud");
  pad([["scenario", ...VARIANTS.map((v) => v.name), "worst board (hysteresis)", "boards worse (hysteresis)"],
    ...main.map((s, i) => [s.scenario, ...VARIANTS.map((v) => results[v.name]![i]!.ratio.toFixed(3)), `${s.worstProfile} ${s.worstRatio.toFixed(3)}`, s.boardsWorse.length === 0 ? "none" : s.boardsWorse.join(", ")])]);
  console.log(`\nbench sim: ${total} simulated runs in ${((performance.now() - t0) / 1000).toFixed(1)} s; segment costs: ${model.costSource}`);

  const metrics: BenchResult["metrics"] = {};
  const targets: Record<string, Target> = {};
  for (const s of main) {
    const key = s.scenario.replace(/-(\w)/g, (_x, c: string) => c.toUpperCase());
    metrics[`${key}Ratio`] = r4(s.ratio);
    metrics[`${key}WorstRatio`] = r4(s.worstRatio);
    metrics[`${key}BoardsWorse`] = s.boardsWorse.length;
    targets[`${key}Ratio`] = target(`${s.scenario}: adaptive / oracle mean latency (geometric mean over ${PROFILES.length} boards)`, s.ratio, "<=", 1.1);
    targets[`${key}VsBaselines`] = target(`${s.scenario}: boards where adaptive is worse than the better of all-local and all-cloud`, s.boardsWorse.length, "<=", 0);
  }
  const med = median(main.map((s) => s.ratio));
  metrics.medianRatio = r4(med);
  targets.medianRatio = target("median over the scenarios of adaptive / oracle", med, "<=", 1.05);
  for (const v of VARIANTS.slice(1)) metrics[`${v.name.replace(/-(\w)/g, (_x, c: string) => c.toUpperCase())}MedianRatio`] = r4(median(results[v.name]!.map((s) => s.ratio)));

  const round = (rows: ScenarioRow[]): unknown => rows.map((s) => ({
    scenario: s.scenario, preset: s.preset, ratio: r4(s.ratio), worstRatio: r4(s.worstRatio), worstProfile: s.worstProfile, boardsWorse: s.boardsWorse,
    boards: s.boards.map((b) => ({
      profile: b.profile, ratio: r4(b.ratio), better: b.better, atLeastAsGood: b.atLeastAsGood, switches: r1(b.switches),
      meanMs: { adaptive: r1(b.adaptive.meanMs), oracle: r1(b.oracle.meanMs), allLocal: r1(b.allLocal.meanMs), allCloud: r1(b.allCloud.meanMs), bestStatic: r1(b.bestStatic.meanMs) },
      failed: { adaptive: b.adaptive.failed, oracle: b.oracle.failed, allLocal: b.allLocal.failed, allCloud: b.allCloud.failed, bestStatic: b.bestStatic.failed },
    })),
  }));
  const sections = {
    meta: {
      model: model.name, segments: model.referenceMs.length, costSource: model.costSource, referenceMs: model.referenceMs.map(r1),
      profiles: PROFILES, seeds: SEEDS, scenarios: listScenarios(), notes: NOTES,
      variants: VARIANTS.map((v) => ({ name: v.name, policy: v.policy, agent: v.agent, what: v.what })),
    },
    scenarios: round(main),
    variants: Object.fromEntries(VARIANTS.slice(1).map((v) => [v.name, round(results[v.name]!)])),
  };
  return { metrics, targets, sections };
}
