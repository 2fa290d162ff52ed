/**
 * `edgecut sweep`: the best split of one model on every device profile x network preset in steady
 * conditions (device-profiles/sim/sweep.ts), as a table of best split points, JSON, or an HTML
 * report with the plots (device-profiles/report).
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import { listNetworkPresets, listProfiles, loadProfile } from "../../device-profiles/index.js";
import { renderSweepReport } from "../../device-profiles/report/index.js";
import { defaultCacheDir, loadSimModel } from "../../device-profiles/sim/segment-costs.js";
import { sweep, type SweepRow } from "../../device-profiles/sim/sweep.js";
import { ensureModelSplit, SIM_MODELS } from "../../device-profiles/sim/tiny-model.js";
import { fail } from "../errors.js";
import { parseNumber } from "./flags.js";
import { printJson, table } from "./output.js";
import { createProgress } from "./progress.js";

interface SweepFlags {
  manifest?: string; model?: string; calibration?: string; profiles?: string; presets?: string;
  cloudSpeedup?: string; cacheDir?: string; json?: boolean; html?: string;
}

/** Splits a comma-separated list flag; E_USAGE when it names nothing. */
function list(flag: string, v: string): string[] {
  const items = [...new Set(v.split(",").map((s) => s.trim()).filter(Boolean))];
  if (items.length === 0) throw fail("E_USAGE", `${flag} ${JSON.stringify(v)}: expected names, comma-separated`);
  return items;
}

/** Registers `edgecut sweep`. */
export function registerSweep(program: Command): void {
  program.command("sweep")
    .description("the best split of a model on each device profile x network preset, in steady conditions")
    .option("--manifest <file>", "the manifest.json of your split")
    .option("--model <name>", `a generated model instead, built and split into the cache (${Object.keys(SIM_MODELS).join(", ")}; the default without --manifest)`)
    .option("--calibration <file>", "segment costs from edgecut calibrate --manifest (default: measured here once, cached)")
    .option("--profiles <ids>", "device profiles, comma-separated (default: every shipped one)")
    .option("--presets <names>", "network presets, comma-separated (default: every shared one)")
    .option("--cloud-speedup <x>", "cloud compute speed over the device's idle profile (default 4)")
    .option("--cache-dir <dir>", "where generated models and measurements are cached (default .cache/sim)")
    .option("--json", "print { model, costSource, rows: [{ profile, preset, bestSplit, totalMs, splits }] } as JSON")
    .option("--html <file>", "write the HTML report (table, grid and per-preset plots) to this file")
    .addHelpText("after", [
      "",
      "Steady conditions: the preset's link with its jitter and loss, an idle board with 80% of its RAM free, the",
      "cloud up. A split's cost is its expected latency (mean over seeded draws); the best is the feasible one",
      "with the lowest. Cells read k (0: all in the cloud, n: all on the device) and the expected ms.",
      "",
      "Examples:",
      "  edgecut sweep --manifest out/manifest.json --profiles pi4-4gb,pi5-8gb --presets wifi-good,lte",
      "  edgecut sweep --model tiny-gpt --html sweep.html",
    ].join("\n"))
    .action(async (flags: SweepFlags) => {
      if (flags.model !== undefined && flags.manifest !== undefined) throw fail("E_USAGE", "give --model or --manifest, not both");
      const profiles = (flags.profiles === undefined ? listProfiles() : list("--profiles", flags.profiles)).map((p) => loadProfile(p));
      const presets = flags.presets === undefined ? listNetworkPresets() : list("--presets", flags.presets);
      const cloudSpeedup = flags.cloudSpeedup === undefined ? undefined : parseNumber("--cloud-speedup", flags.cloudSpeedup);
      if (cloudSpeedup !== undefined && !(cloudSpeedup > 0)) throw fail("E_USAGE", `--cloud-speedup ${flags.cloudSpeedup}: expected a number > 0`);
      // Every preset must exist on every board before anything is measured.
      for (const p of profiles) for (const name of presets) {
        if (p.network[name] === undefined) throw fail("E_USAGE", `--presets ${name}: profile ${p.id} has no such network preset; it has ${Object.keys(p.network).join(", ")}`);
      }
      const cacheDir = flags.cacheDir ?? defaultCacheDir();
      const manifestPath = flags.manifest ?? await ensureModelSplit(flags.model ?? "tiny-gpt", cacheDir);
      const model = await loadSimModel(manifestPath, {
        ...(flags.calibration !== undefined ? { calibrationFile: flags.calibration } : {}), cacheDir,
        ...(flags.manifest === undefined ? { name: flags.model ?? "tiny-gpt" } : {}),
        onMeasure: (what) => { if (!flags.json) process.stderr.write(`sweep: ${what}\n`); },
      });
      const bar = flags.json ? undefined : createProgress(profiles.length * presets.length, "sweep");
      const rows = sweep({ model, profiles, presets, ...(cloudSpeedup !== undefined ? { cloudSpeedup } : {}), onRow: () => bar?.tick() });
      bar?.done();
      if (flags.html !== undefined) {
        try {
          fs.writeFileSync(flags.html, renderSweepReport(rows));
        } catch (e) {
          throw fail("E_IO", `cannot write the report ${flags.html}: ${(e as Error).message}`, e);
        }
      }
      if (flags.json) {
        printJson({ model: model.name, segments: model.referenceMs.length, costSource: model.costSource, rows });
        return;
      }
      console.log(`best split of ${model.name} (${model.referenceMs.length} segments; k = 0 all in the cloud, ${model.referenceMs.length} all on the device), expected ms in steady conditions`);
      console.log(`segment costs: ${model.costSource}`);
      console.log(sweepTable(rows, profiles.map((p) => p.id), presets));
      if (flags.html !== undefined) console.log(`report: ${flags.html}`);
    });
}

/** Profiles as rows, presets as columns, cells "k=K  ms" (or "none"). */
export function sweepTable(rows: readonly SweepRow[], profiles: readonly string[], presets: readonly string[]): string {
  const cell = (p: string, n: string): string => {
    const r = rows.find((x) => x.profile === p && x.preset === n);
    if (r === undefined || r.bestSplit === null || r.totalMs === null) return "none";
    return `k=${r.bestSplit} ${r.totalMs.toFixed(r.totalMs < 100 ? 1 : 0)}`;
  };
  return table([["profile", ...presets], ...profiles.map((p) => [p, ...presets.map((n) => cell(p, n))])]);
}
