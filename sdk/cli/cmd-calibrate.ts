/**
 * `edgecut calibrate [--manifest m.json] [--runs N] [--threads N] [-o calibration.json] [--json]`:
 * measures this machine on reference kernels (and a split's segments) so the simulators can scale
 * times measured here to a device profile (device-profiles/calibrate.ts does the measuring).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { fail } from "../errors.js";
import { calibrateMachine, type CalibrationReport } from "../../device-profiles/calibrate.js";
import { scaleSegmentMs } from "../../device-profiles/sim/costs.js";
import { parseNumber } from "./flags.js";
import { fmtBytes, fmtFlops, printJson, table } from "./output.js";

interface CalibrateFlags { manifest?: string; runs: string; threads: string; output?: string; json?: boolean }

/** Registers `edgecut calibrate`. */
export function registerCalibrate(program: Command): void {
  program.command("calibrate")
    .description("measure this machine's speed (and a split's segments) so simulations can scale it to a device profile")
    .option("--manifest <file>", "also measure each segment of this split (manifest.json): median latency and session RSS")
    .option("--runs <n>", "timed runs per kernel and segment; the median counts", "10")
    .option("--threads <n>", "onnxruntime intra-op threads for every measurement", "1")
    .option("-o, --output <file>", "write the calibration (JSON, format 1) to this file")
    .option("--json", "print the calibration as JSON")
    .addHelpText("after", [
      "",
      "Kernels: the agent profiler's 256^3 MatMul, a 64->64 channel 3x3 Conv on 32x32, and a single-head",
      "attention block (sequence 64, width 256). FLOPs/ms is their geometric mean; relativeSpeed is that over",
      "the Pi 4 reference board's assumed 2 GFLOP/s (REFERENCE_FLOPS_PER_MS in sdk/cli/plan-figures.ts), on",
      "the scale of the profiles' cpu.relativeSpeed (Pi 4 = 1.0).",
      "",
      "How profiles use it (scaleSegmentMs in device-profiles/sim/costs.ts): a segment measured here at",
      "t ms takes t * relativeSpeed_here / relativeSpeed_profile on the profile's board; e.g. 2 ms here at",
      "relativeSpeed 40 is 80 ms on a Pi 4 (1.0) and 32 ms on a Pi 5 (2.5). Kernels and segments run with",
      "the same --threads, so the ratio holds; one thread (the default) is what the simulators assume. The",
      "reference figure is the whole 4-core board, so one thread here understates this machine's whole CPU.",
      "",
      "Examples:",
      "  edgecut calibrate",
      "  edgecut calibrate --manifest out/manifest.json -o calibration.json",
      "  edgecut simulate --profile pi4-4gb --scenario steady --manifest out/manifest.json",
    ].join("\n"))
    .action(async (flags: CalibrateFlags) => {
      const runs = parseNumber("--runs", flags.runs, { min: 1, integer: true });
      const threads = parseNumber("--threads", flags.threads, { min: 1, integer: true });
      if (flags.manifest !== undefined && !fs.existsSync(flags.manifest)) {
        throw fail("E_MANIFEST", `--manifest ${flags.manifest}: no such file; give a split's manifest.json (edgecut split writes one)`);
      }
      const out = flags.output === undefined ? undefined : path.resolve(flags.output);
      if (out !== undefined && !fs.existsSync(path.dirname(out))) {
        throw fail("E_USAGE", `-o ${flags.output}: the folder ${path.dirname(out)} does not exist; create it first`);
      }
      const report = await calibrateMachine({ runs, threads, ...(flags.manifest !== undefined ? { manifestPath: flags.manifest } : {}) });
      if (out !== undefined) {
        try {
          fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
        } catch (e) {
          throw fail("E_IO", `writing the calibration to ${out} failed: ${(e as Error).message}; check the folder is writable`, e);
        }
      }
      if (flags.json) printJson(report);
      else printText(report, out);
    });
}

function printText(r: CalibrationReport, out: string | undefined): void {
  const m = r.machine;
  console.log(`machine: ${m.host}, ${m.cpuModel}, ${m.cores} cores, node ${m.node}; ${r.threads} thread(s), median of ${r.runs} runs`);
  console.log("");
  console.log(table([
    ["kernel", "FLOPs", "median", "GFLOP/s"],
    ...r.kernels.map((k) => [k.name, fmtFlops(k.flops), `${k.ms.toFixed(3)} ms`, (k.flopsPerMs / 1e6).toFixed(2)]),
  ]));
  console.log("");
  console.log(`FLOPs/ms ${Math.round(r.flopsPerMs)} (geometric mean); relativeSpeed ${r.relativeSpeed.toFixed(2)} x the Pi 4 reference (${(r.referenceFlopsPerMs / 1e6).toFixed(1)} GFLOP/s, an assumption)`);
  if (r.model !== undefined) {
    const onRef = scaleSegmentMs(r, 1);
    console.log("");
    console.log(`split ${r.model.splitId.slice(0, 12)} (${r.model.manifest}), inputs ${r.model.shapeBucket}`);
    console.log(table([
      ["segment", "median here", "RSS", "on a Pi 4 (scaled)"],
      ...r.model.segmentMs.map((ms, i) => [String(i), `${ms.toFixed(3)} ms`, fmtBytes(r.model!.segmentRssBytes[i] ?? 0), `${onRef[i]!.toFixed(1)} ms`]),
    ]));
  }
  if (out !== undefined) console.log(`\nwrote ${out}`);
}
