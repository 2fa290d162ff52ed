/**
 * `edgecut simulate`: one scenario on one simulated board, the agent's adaptive policy against the
 * baselines (all-local, all-cloud, best static split, oracle). Virtual time by default
 * (device-profiles/sim/simulate.ts: seeded, deterministic, a second or less); `--live` runs the
 * real agent, broker and worker here (device-profiles/sim/live.ts: real time, noisy). Prints a
 * summary table, or the SimResult with --json; --html writes the report.
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import { POLICY_NAMES, type PolicyConfigInput } from "../../agent/planner/policies.js";
import { loadProfile } from "../../device-profiles/index.js";
import { readCalibration } from "../../device-profiles/calibrate.js";
import { renderReport } from "../../device-profiles/report/index.js";
import { gitSha } from "../../device-profiles/sim/git-sha.js";
import { resolveLink, simDevice } from "../../device-profiles/sim/network.js";
import { loadScenario, type Scenario } from "../../device-profiles/sim/scenario.js";
import { defaultCacheDir, loadSimModel } from "../../device-profiles/sim/segment-costs.js";
import { simulate } from "../../device-profiles/sim/simulate.js";
import { atLeastAsGood } from "../../device-profiles/sim/summary.js";
import { ensureModelSplit, SIM_MODELS } from "../../device-profiles/sim/tiny-model.js";
import { scenarioFromTrace, traceFile } from "../../device-profiles/sim/trace.js";
import type { SimResult, SimSummaryRow } from "../../device-profiles/sim/types.js";
import { fail } from "../errors.js";
import { parseNumber } from "./flags.js";
import { printJson, table } from "./output.js";
import { createProgress } from "./progress.js";

interface SimulateFlags {
  profile: string; scenario: string; model?: string; manifest?: string; calibration?: string; preset?: string;
  policy: string; seed: string; live?: boolean; durationScale?: string; cacheDir?: string; json?: boolean; html?: string;
}

/** The preset a replayed trace plays over when --preset is not given (its jitter and loss). */
const TRACE_PRESET = "wifi-good";

/** Registers `edgecut simulate`. */
export function registerSimulate(program: Command): void {
  program.command("simulate")
    .description("simulate a scenario on a device profile: the adaptive split policy against all-local, all-cloud, best static split and the oracle")
    .requiredOption("--profile <id|file>", "device profile: a shipped id (pi4-4gb, pi5-8gb, ...) or a .json file")
    .requiredOption("--scenario <name|file>", "a shipped scenario (steady, bandwidth-drop, flaky-lte, cloud-outage, memory-pressure, cpu-hog), a .json file, or trace:<file> to replay telemetry")
    .option("--model <name>", `a generated model, built and split into the cache (${Object.keys(SIM_MODELS).join(", ")}; the default without --manifest)`)
    .option("--manifest <file>", "the manifest.json of your own split")
    .option("--calibration <file>", "segment costs from edgecut calibrate --manifest (default: measured here once, cached)")
    .option("--preset <name>", "network preset to start from (default: the scenario's)")
    .option("--policy <name>", `the adaptive policy: ${POLICY_NAMES.filter((p) => p !== "static").join(", ")} or static:K`, "hysteresis")
    .option("--seed <n>", "seed of the random draws (jitter, loss, compute noise)", "1")
    .option("--live", "run the real agent, broker and worker here in real time instead (noisy; proves the wiring)")
    .option("--duration-scale <x>", "with --live: real ms per scenario ms (0.1 plays 300 s in 30 s)")
    .option("--cache-dir <dir>", "where generated models and measurements are cached (default .cache/sim)")
    .option("--json", "print the whole result (SimResult: meta, summary, splits, timeline, requests) as JSON")
    .option("--html <file>", "write the HTML report (self-contained) to this file")
    .addHelpText("after", [
      "",
      "Virtual time: requests arrive every interArrivalMs of the scenario; the adaptive policy is the agent's",
      "own planner, policy and network estimator, learning only from what it would observe; the baselines run",
      "the same requests under the same true conditions. Same seed, same result.",
      "A trace (trace:<file>) is the agent store's telemetry rows or its fleet summaries (JSON, JSON lines):",
      "rows drive the link through the agent's estimator, summaries the link, CPU load and RAM",
      `(device-profiles/sim/trace.ts); jitter and loss come from --preset (default ${TRACE_PRESET}).`,
      "",
      "Examples:",
      "  edgecut simulate --profile pi4-4gb --scenario bandwidth-drop",
      "  edgecut simulate --profile pi5-8gb --scenario flaky-lte --policy greedy --seed 7 --json > run.json",
      "  edgecut simulate --profile pi4-4gb --scenario cloud-outage --manifest out/manifest.json --html report.html",
    ].join("\n"))
    .action(async (flags: SimulateFlags) => {
      const policy = parsePolicy(flags.policy);
      const seed = parseNumber("--seed", flags.seed, { integer: true, min: 0 });
      if (flags.model !== undefined && flags.manifest !== undefined) throw fail("E_USAGE", "give --model or --manifest, not both");
      if (flags.durationScale !== undefined && !flags.live) throw fail("E_USAGE", "--duration-scale applies to --live runs only");
      const profile = loadProfile(flags.profile);
      const trace = traceFile(flags.scenario);
      const scenario: Scenario = trace !== undefined ? scenarioFromTrace(trace, resolveLink(profile, flags.preset ?? TRACE_PRESET)) : loadScenario(flags.scenario);
      const preset = flags.preset ?? scenario.preset;
      const link = resolveLink(profile, preset);
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const manifestPath = flags.manifest ?? await ensureModelSplit(flags.model ?? "tiny-gpt", cacheDir);
      let result: SimResult;
      if (flags.live) {
        const calibration = flags.calibration !== undefined ? readCalibration(flags.calibration) : undefined;
        const { runLive } = await import("../../device-profiles/sim/live.js");
        const scale = flags.durationScale === undefined ? 1 : parseNumber("--duration-scale", flags.durationScale);
        if (!(scale > 0)) throw fail("E_USAGE", `--duration-scale ${flags.durationScale}: expected a number > 0`);
        const bar = flags.json ? undefined : createProgress(Math.floor(scenario.durationMs / scenario.interArrivalMs), "simulate --live");
        result = await runLive({
          manifestPath, profile, preset, scenario, policy, seed, durationScale: scale, gitSha: gitSha(),
          ...(calibration !== undefined ? { calibration } : {}), onRequest: () => bar?.tick(),
        });
        bar?.done();
      } else {
        const model = await loadSimModel(manifestPath, {
          ...(flags.calibration !== undefined ? { calibrationFile: flags.calibration } : {}), cacheDir,
          ...(flags.manifest === undefined ? { name: flags.model ?? "tiny-gpt" } : {}),
          onMeasure: (what) => { if (!flags.json) process.stderr.write(`simulate: ${what}\n`); },
        });
        result = simulate({ model, device: simDevice(profile), link, scenario, policy, seed });
        if (!flags.json) console.log(`segment costs: ${model.costSource}`);
      }
      if (flags.html !== undefined) writeHtml(flags.html, result);
      if (flags.json) printJson(result);
      else printText(result, flags.html);
    });
}

/** `--policy hysteresis | greedy | static:K`. */
export function parsePolicy(v: string): PolicyConfigInput {
  const m = /^static:(\d+)$/.exec(v);
  if (m !== null) return { name: "static", split: Number(m[1]) };
  if (v === "hysteresis" || v === "greedy") return { name: v };
  if (v === "static") throw fail("E_USAGE", "--policy static needs the split to hold: --policy static:K (K = 0 all in the cloud .. n all on the device)");
  throw fail("E_USAGE", `--policy ${v}: expected hysteresis, greedy or static:K`);
}

/** Writes the HTML report of `result`; E_IO when the file cannot be written. */
function writeHtml(file: string, result: SimResult): void {
  try {
    fs.writeFileSync(file, renderReport(result));
  } catch (e) {
    throw fail("E_IO", `cannot write the report ${file}: ${(e as Error).message}`, e);
  }
}

const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : "-");

function printText(r: SimResult, html: string | undefined): void {
  const m = r.meta;
  const s = r.summary;
  console.log(`simulate ${m.model} (${m.segments} segments) on ${m.profile} over ${m.preset}, scenario ${m.scenario}: ${m.requests} requests in ${fmt(m.durationMs / 1000, 0)} s, seed ${m.seed}, ${m.mode} time`);
  const bestK = r.requests.find((q) => q.outcomes["best-static"]?.split !== null && q.outcomes["best-static"] !== undefined)?.outcomes["best-static"]?.split;
  const rows: [string, SimSummaryRow][] = [
    [`${m.policy} (adaptive)`, s.adaptive], ["all-local", s["all-local"]], ["all-cloud", s["all-cloud"]],
    [`best-static${bestK !== undefined && bestK !== null ? ` (k = ${bestK})` : ""}`, s["best-static"]], ["oracle", s.oracle],
  ];
  console.log(table([
    ["policy", "mean ms", "p95 ms", "failed", "switches", "KiB up", "mean / oracle"],
    ...rows.map(([name, row]) => [name, fmt(row.meanMs), fmt(row.p95Ms), String(row.failed), String(row.switches), fmt(row.bytesUp / 1024), fmt(row.meanMs / s.oracle.meanMs, 3)]),
  ]));
  const better = atLeastAsGood(s["all-local"], s["all-cloud"]) ? "all-local" : "all-cloud";
  const ok = atLeastAsGood(s.adaptive, s[better]);
  console.log(`adaptive / oracle mean latency: ${fmt(s.adaptiveOverOracle, 3)}; against the better of all-local and all-cloud (${better}): ${ok ? "at least as good" : "worse"} (fewer failures first, then the mean)`);
  if (html !== undefined) console.log(`report: ${html}`);
}
