/**
 * `npm run bench generate`: split LLM generation (issue 6) against the whole model run locally,
 * for tiny-gpt with a KV cache (3 blocks) and a GPT-2-small-sized decoder (12 blocks, d_model 768,
 * vocab 50257, external data), each split in two at its middle block boundary
 * (bench/generate-build.ts, its own process).
 *
 * Per model: a private mosquitto on loopback (set_tcp_nodelay on), an `edgecut cloud --threads 1`
 * worker process serving the split, and a device process (bench/generate-device.ts) running the
 * front segment with 1 intra-op thread, and the whole model with 1 thread as the reference, both
 * greedy, taking turns. Both sides share this machine's cores.
 *
 * Targets per model: decode tokens/s split / local >= 0.85 (medians, 64 new tokens after an 8-token
 * prompt); bytes up per decode step <= 1.1 x the hidden state (4 x d_model) + 64; bytes down per
 * step <= a token id and its logprob (8 bytes) + 64 bytes of header. For information: prefill
 * (prompt to first token) at 64, 256 and 1024 prompt tokens, split vs local, and where a split
 * decode step's time goes (bench/generate-report.ts).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { startMosquitto } from "../test/support/brokers.js";
import { finalMetrics, spawnWorker } from "../test/e2e/support.js";
import type { BuiltSplit, GenModelName } from "./generate-build.js";
import type { DeviceOptions, DeviceOutput } from "./generate-device.js";
import { modelReport, type ModelReport } from "./generate-report.js";
import { runScript, type BenchResult, type Target } from "./harness.js";

const here = import.meta.dirname;

/** What each model runs: the settings, repetitions sized for ~10 minutes on 2 cores. */
const PLAN: Record<GenModelName, Omit<DeviceOptions, "vocab">> = {
  tiny: { promptLength: 8, newTokens: 64, reps: 9, prefillLengths: [64, 256, 1024], prefillReps: 5, echoIterations: 200 },
  gpt2: { promptLength: 8, newTokens: 64, reps: 9, prefillLengths: [64, 256, 1024], prefillReps: 5, echoIterations: 200 },
};
const VOCAB: Record<GenModelName, number> = { tiny: 256, gpt2: 50257 };

const load = (): string => os.loadavg().map((v) => v.toFixed(2)).join(" ");

export async function run(): Promise<BenchResult & { sections: Record<string, unknown> }> {
  const t0 = performance.now();
  const loadStart = load();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-bench-generate-"));
  const broker = await startMosquitto({ config: ["set_tcp_nodelay true"] });
  const metrics: BenchResult["metrics"] = {};
  const targets: Record<string, Target> = {};
  const sections: Record<string, unknown> = {};
  try {
    for (const name of Object.keys(PLAN) as GenModelName[]) {
      console.log(`bench generate: ${name}: building the model and its split`);
      const built = await runScript<BuiltSplit>(path.join(here, "generate-build.ts"), [name, path.join(dir, name)]);
      const worker = await spawnWorker({ broker: broker.url, models: path.dirname(built.manifestPath), label: `worker-${name}`, clientId: `bench-gen-worker-${name}` });
      let dev: DeviceOutput;
      try {
        console.log(`bench generate: ${name}: decode and prefill, split vs local`);
        dev = await runScript<DeviceOutput>(path.join(here, "generate-device.ts"), [built.manifestPath, broker.url, JSON.stringify({ ...PLAN[name], vocab: VOCAB[name] })]);
      } finally {
        await worker.stop();
      }
      const wm = finalMetrics(worker);
      const failures = worker.find((r) => typeof r.level === "number" && r.level >= 50);
      if (dev.clientFailed > 0 || failures.length > 0) throw new Error(`generate bench (${name}): ${dev.clientFailed} device requests failed; worker errors:\n${failures.map((r) => JSON.stringify(r)).join("\n")}`);
      const report: ModelReport = modelReport(name, built, dev);
      Object.assign(metrics, report.metrics);
      Object.assign(targets, report.targets);
      sections[name] = { ...report.section, workerMetrics: wm };
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  } finally {
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  metrics.runSec = +((performance.now() - t0) / 1e3).toFixed(1);
  metrics.loadAverageStart = loadStart;
  metrics.loadAverageEnd = load();
  sections.plan = PLAN;
  return { metrics, targets, sections };
}
