/**
 * `edgecut plan <manifest.json>`: the planner's predicted breakdown of every split point k = 0..n
 * on a given device and network, the split it picks and why. Figures come from flags, a device
 * profile or documented defaults (plan-figures.ts), request sizes from the manifest at --shape /
 * --dim (plan-sizes.ts). Exit 0 when a split is chosen, 1 (E_NO_SPLIT) when none can run.
 * On a pack (edgecut pack), split points above its maxSplit cannot run: their segments are absent.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { frontMemBytes, memoryViolation, privacyViolations } from "../../agent/planner/checks.js";
import { ObjectiveSchema, parsePlannerConfig, type Objective, type PlannerConfig } from "../../agent/planner/config.js";
import { geometryFromManifest } from "../../agent/planner/manifest.js";
import { readPackInfo } from "../../agent/planner/pack.js";
import { plan } from "../../agent/planner/plan.js";
import type { Plan, PlanInputs, PlanRow } from "../../agent/planner/types.js";
import { fail } from "../errors.js";
import { loadManifest, type Manifest } from "../graph/manifest.js";
import { collect, parseDimFlags, parseNumber, parseShapeFlags } from "./flags.js";
import { fmtBytes, printJson, table } from "./output.js";
import { resolveFigures, type FigureFlags, type ResolvedFigures } from "./plan-figures.js";
import { resolveSizes, type ResolvedSizes } from "./plan-sizes.js";

interface PlanFlags extends FigureFlags {
  objective: string; private?: string; minLocalSegments?: string; shape?: string[]; dim?: string[]; json?: boolean;
}

/** One split point as `--json` prints it (the first four keys and the breakdown are the contract). */
export interface PlanSplitJson {
  split: number;
  predictedMs: number;
  fits: boolean;
  privacyOk: boolean;
  breakdown: { localMs: number; encodeMs: number; upMs: number; downMs: number; rttMs: number; cloudMs: number; queueMs: number };
  feasible: boolean;
  /** Why the split cannot run (every reason); absent when it can. */
  why?: string;
  throughputPerSec: number;
  upBytes: number;
  downBytes: number;
  memBytes: number;
}

/** Registers `edgecut plan`. */
export function registerPlan(program: Command): void {
  program.command("plan")
    .description("predict every split point's latency on a device and network, and pick one")
    .argument("<manifest>", "manifest.json of a split (or of a pack)")
    .option("--profile <id|file>", "device profile: a shipped id (edgecut-shipped boards: see device-profiles/README.md, e.g. pi4-4gb, pi5-8gb, pi-zero-2w) or a .json file")
    .option("--preset <name>", "network preset of the profile (default: its first)")
    .option("--bandwidth <rate>", "up and down bandwidth, tc units: 10mbit, 512kbit (1mbit = 10^6 bit/s)")
    .option("--up <rate>", "device-to-cloud bandwidth (overrides --bandwidth)")
    .option("--down <rate>", "cloud-to-device bandwidth (overrides --bandwidth)")
    .option("--rtt <time>", "round-trip time: 40ms, 1s, 500us")
    .option("--cpu-load <fraction>", "share of the CPU busy with other work, 0..1")
    .option("--ram-available <size>", "RAM free for the segments, binary units: 512mb, 2gb (the planner keeps 64 MiB of it free)")
    .option("--objective <name>", "latency (one request) or throughput (a stream of requests)", "latency")
    .option("--private <inputs>", "model inputs that must not leave the device, comma-separated")
    .option("--min-local-segments <n>", "segments that must run on the device before anything goes to the cloud")
    .option("--cloud-speedup <x>", "cloud compute speed over the device")
    .option("--flops-per-ms <x>", "device compute speed for segments not profiled yet, FLOPs per ms")
    .option("--shape <name=AxB>", "concrete dims of a model input (repeatable; default: the split's)", collect, [])
    .option("--dim <dim_param=N>", "value of a symbolic dim (repeatable; default: the split's)", collect, [])
    .option("--json", "print { chosen, reason, splits, ... } as JSON")
    .addHelpText("after", [
      "",
      "Without --profile and flags, figures are defaults (said in the output): the Pi 4 reference board's",
      "speed (2 GFLOP/s, an assumption: see sdk/cli/plan-figures.ts), 1 GiB RAM free, an idle CPU, 10mbit up,",
      "50mbit down, 40ms RTT, cloud speedup 4. A profile gives RAM, speed (relativeSpeed x the reference)",
      "and the network of its preset. Exit 0 with a chosen split, 1 (E_NO_SPLIT) when no split can run.",
      "",
      "Examples:",
      "  edgecut plan out/manifest.json --profile pi4-4gb --preset wifi",
      "  edgecut plan out/manifest.json --bandwidth 1mbit --rtt 80ms --private input_ids --json",
    ].join("\n"))
    .action((manifestPath: string, flags: PlanFlags) => {
      const resolved = resolveFigures(flags);
      const objective = parseObjective(flags.objective);
      const shapes = parseShapeFlags(flags.shape);
      const dims = parseDimFlags(flags.dim);
      const { manifest, dir } = loadManifest(manifestPath, { checkFiles: false });
      const n = manifest.segments.length;
      const config = parsePlannerConfig({
        objective,
        privateInputs: parsePrivate(flags.private, manifest),
        minSegmentsBeforeCloud: flags.minLocalSegments === undefined ? 0 : parseMinLocal(flags.minLocalSegments, n),
      });
      const sizes = resolveSizes(manifest, shapes, dims);
      const inputs = planInputs(sizes, resolved);
      const pack = readPackInfo(dir);
      const p = plan(pack !== null && pack.maxSplit < n ? { ...inputs, maxLocalSplit: pack.maxSplit } : inputs, config);
      const splits = p.rows.map((r) => splitJson(r, inputs, config));
      const reason = explain(p, n);
      const doc = {
        chosen: p.best, reason, splits, objective, action: p.action,
        ...(pack && pack.maxSplit < n ? { packMaxSplit: pack.maxSplit } : {}),
        inputs: {
          ...resolved.figures,
          profile: resolved.profile?.id ?? null, preset: resolved.preset,
          privateInputs: config.privateInputs, minLocalSegments: config.minSegmentsBeforeCloud,
          shapes: sizes.inputShapes, dims: sizes.dims, inputBytes: sizes.inputBytes, outputBytes: sizes.outputBytes,
        },
        defaults: resolved.defaults,
        notes: sizes.notes,
        ...(p.best === null ? { error: { code: "E_NO_SPLIT", message: reason } } : {}),
      };
      if (flags.json) {
        printJson(doc);
        if (p.best === null) process.exitCode = 1;
        return;
      }
      printText(manifestPath, manifest, p, splits, reason, resolved, sizes, pack?.maxSplit ?? n);
      if (p.best === null) throw fail("E_NO_SPLIT", reason);
    });
}

function parseObjective(v: string): Objective {
  const r = ObjectiveSchema.safeParse(v);
  if (!r.success) throw fail("E_USAGE", `--objective ${v}: expected ${ObjectiveSchema.options.join(" or ")}`);
  return r.data;
}

function parsePrivate(v: string | undefined, m: Manifest): string[] {
  if (v === undefined) return [];
  const names = v.split(",").map((s) => s.trim()).filter(Boolean);
  const known = m.model.inputs.map((t) => t.name);
  if (names.length === 0) throw fail("E_USAGE", `--private ${JSON.stringify(v)}: expected model input names, comma-separated, e.g. --private ${known[0] ?? "input_ids"}`);
  for (const name of names) {
    if (!known.includes(name)) throw fail("E_USAGE", `--private ${name}: the model has no input named "${name}"; its inputs are ${known.join(", ")}`);
  }
  return [...new Set(names)];
}

function parseMinLocal(v: string, n: number): number {
  const k = parseNumber("--min-local-segments", v, { integer: true, min: 0 });
  if (k > n) throw fail("E_USAGE", `--min-local-segments ${v}: this split has ${n} segments, so it is 0..${n}`);
  return k;
}

/** PlanInputs from the manifest geometry at the resolved sizes and the device figures. */
function planInputs(sizes: ResolvedSizes, r: ResolvedFigures): PlanInputs {
  const f = r.figures;
  return {
    ...geometryFromManifest(sizes.manifest, { inputBytes: sizes.inputBytes, outputBytes: sizes.outputBytes }),
    device: { cpuLoadPercent: f.cpuLoad.value * 100, ramAvailableBytes: f.ramAvailableBytes.value, flopsPerMs: f.flopsPerMs.value },
    network: { rttMs: f.rttMs.value, upBytesPerSec: f.upBitsPerSec.value / 8, downBytesPerSec: f.downBitsPerSec.value / 8, confidence: 1, reachable: true },
    cloud: { speedup: f.cloudSpeedup.value, queueMs: 0 },
  };
}

function splitJson(r: PlanRow, inputs: PlanInputs, config: PlannerConfig): PlanSplitJson {
  const d = r.predicted;
  return {
    split: r.k,
    predictedMs: d.totalMs,
    fits: memoryViolation(inputs, config, frontMemBytes(inputs, r.k)) === null,
    privacyOk: privacyViolations(inputs, config, r.k).length === 0,
    breakdown: { localMs: d.localMs, encodeMs: d.encodeMs, upMs: d.upMs, downMs: d.downMs, rttMs: d.rttMs, cloudMs: d.cloudMs, queueMs: d.queueMs },
    feasible: r.feasible,
    ...(r.reason !== undefined ? { why: r.reason } : {}),
    throughputPerSec: d.throughputPerSec,
    upBytes: r.upBytes,
    downBytes: r.downBytes,
    memBytes: r.memBytes,
  };
}

/** Why the plan chose what it chose, or why it chose nothing. */
function explain(p: Plan, n: number): string {
  const ruledOut = p.rows.filter((r) => !r.feasible);
  if (p.best === null) {
    return `${p.reason ?? "no split point is feasible"}: ${ruledOut.map((r) => `k = ${r.k}: ${r.reason ?? "infeasible"}`).join(" | ")}`;
  }
  const row = p.rows[p.best]!;
  const what = p.objective === "latency"
    ? `lowest predicted latency (${fmtMs(row.predicted.totalMs)} ms)`
    : `highest predicted throughput (${row.predicted.throughputPerSec.toFixed(1)} requests/s, ${fmtMs(row.predicted.totalMs)} ms each)`;
  const others = p.rows.length - ruledOut.length - 1;
  const among = others === 0 ? "the only feasible split point" : `of ${others + 1} feasible split points`;
  const out = ruledOut.length > 0 ? `; ${ruledOut.length} ruled out (k = ${ruledOut.map((r) => r.k).join(", ")})` : "";
  const where = p.best === n ? "all on the device" : p.best === 0 ? "all in the cloud" : `segments 0..${p.best - 1} on the device, ${p.best}..${n - 1} in the cloud`;
  return `${what}, ${among}${out}: ${where}`;
}

function fmtMs(v: number): string {
  if (!Number.isFinite(v)) return "?";
  return v < 10 ? v.toFixed(2) : v.toFixed(1);
}

function fmtRate(bitsPerSec: number): string {
  return bitsPerSec >= 1e9 ? `${bitsPerSec / 1e9} Gbit/s` : bitsPerSec >= 1e6 ? `${bitsPerSec / 1e6} Mbit/s` : `${bitsPerSec / 1e3} kbit/s`;
}

function printText(
  manifestPath: string, m: Manifest, p: Plan, splits: PlanSplitJson[], reason: string, r: ResolvedFigures, sizes: ResolvedSizes, maxSplit: number,
): void {
  const n = m.segments.length;
  const f = r.figures;
  const src = (x: { source: string }): string => (x.source === "default" ? "default" : x.source.replace(/ \(.*\)$/, ""));
  console.log(`plan for ${path.basename(path.dirname(path.resolve(manifestPath)))}/${path.basename(manifestPath)}: ${n} segments, splitId ${m.splitId.slice(0, 12)}..., objective ${p.objective}${maxSplit < n ? `, a pack for k <= ${maxSplit}` : ""}`);
  console.log(`device: ${(f.flopsPerMs.value / 1e6).toFixed(2)} GFLOP/s [${src(f.flopsPerMs)}], RAM ${fmtBytes(f.ramAvailableBytes.value)} [${src(f.ramAvailableBytes)}], CPU load ${Math.round(f.cpuLoad.value * 100)}% [${src(f.cpuLoad)}]`);
  console.log(`network: up ${fmtRate(f.upBitsPerSec.value)} [${src(f.upBitsPerSec)}], down ${fmtRate(f.downBitsPerSec.value)} [${src(f.downBitsPerSec)}], RTT ${f.rttMs.value} ms [${src(f.rttMs)}]; cloud ${f.cloudSpeedup.value}x the device [${src(f.cloudSpeedup)}]`);
  console.log(`request: ${Object.entries(sizes.inputShapes).map(([k, v]) => `${k} [${v.join("x")}] ${fmtBytes(sizes.inputBytes[k])}`).join(", ")}; outputs ${fmtBytes(sizes.outputBytes)}`);
  const head = ["", "k", "fits", "private", "local", "encode", "up", "down", "rtt", "cloud", "total ms", "req/s", "up bytes", "front mem"];
  const rows = splits.map((s) => {
    const b = s.breakdown;
    return [
      s.split === p.best ? "*" : s.feasible ? "" : "x", String(s.split), s.fits ? "yes" : "NO", s.privacyOk ? "yes" : "NO",
      fmtMs(b.localMs), fmtMs(b.encodeMs), fmtMs(b.upMs), fmtMs(b.downMs), fmtMs(b.rttMs), fmtMs(b.cloudMs), fmtMs(s.predictedMs),
      Number.isFinite(s.throughputPerSec) ? s.throughputPerSec.toFixed(1) : "-", fmtBytes(s.upBytes), fmtBytes(s.memBytes),
    ];
  });
  console.log(table([head, ...rows]));
  for (const s of splits) if (s.why !== undefined) console.log(`  x k = ${s.split}: ${s.why}`);
  if (p.best !== null) console.log(`chosen: k = ${p.best}: ${reason}`);
  else console.log("chosen: none (no split point can run)");
  if (r.defaults.length > 0) console.log(`defaults used for: ${r.defaults.join(", ")} (give --profile or the flags to set them; see edgecut plan --help)`);
  for (const note of sizes.notes) console.log(`note: ${note}`);
}
