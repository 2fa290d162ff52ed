/**
 * `npm run bench graph`: graph surgery on a GPT-2-small-sized model (12 blocks, d_model 768,
 * vocab 50257; ~500 MB fp32 in external data).
 *
 * Targets: writing a 3-segment split within 2x the time an in-process stream copy of the model
 * files takes (same run, same process); surgery peak RSS <= 1.2x the model's size (the surgery
 * process never loads onnxruntime); chained segments vs whole model latency <= 1.03 at sequence 64.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runScript, target, type BenchResult } from "./harness.js";

const here = import.meta.dirname;

export async function run(): Promise<BenchResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-bench-graph-"));
  try {
    const model = path.join(dir, "gpt2-small.onnx");
    const built = await runScript<{ seconds: number; bytes: number }>(path.join(here, "graph-build.ts"), [model]);
    const surgery = await runScript<Record<string, number>>(path.join(here, "graph-surgery.ts"), [model, path.join(dir, "split")]);
    const latency = await runScript<Record<string, number>>(path.join(here, "graph-latency.ts"), [model, path.join(dir, "split", "manifest.json")]);
    const modelBytes = built.bytes;
    const splitOverCopy = surgery.splitSec! / surgery.copySec!;
    const rssOverModel = surgery.peakRssBytes! / modelBytes;
    return {
      metrics: {
        modelBytes, buildSec: built.seconds,
        parseSec: surgery.parseSec!, shapeAndCostSec: surgery.analyzeSec!, candidateCutSec: surgery.candidatesSec!, candidateCount: surgery.candidateCount!,
        splitSec: surgery.splitSec!, streamCopySec: surgery.copySec!, splitOverCopy,
        surgeryPeakRssBytes: surgery.peakRssBytes!, surgeryRssOverModel: rssOverModel,
        wholeMedianMs: latency.wholeMs!, chainedMedianMs: latency.chainedMs!, chainedOverWhole: latency.ratio!, latencyRuns: latency.runs!,
        sequence: 64,
      },
      targets: {
        splitWithin2xCopy: target("3-segment split time / stream copy time", splitOverCopy, "<=", 2),
        surgeryRss: target("surgery peak RSS / model size", rssOverModel, "<=", 1.2),
        chainedLatency: target("chained / whole latency at sequence 64", latency.ratio!, "<=", 1.03),
      },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
