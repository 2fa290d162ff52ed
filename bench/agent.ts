/**
 * `npm run bench agent`: the device agent (agent/core/agent.ts) end to end, in one run:
 *
 * 1. Throughput: a stream of requests at the middle split of tiny-gpt and tiny-cnn over a 20 mbit,
 *    5 ms link (the shaper on the device's connection), one at a time and pipelined (4 in flight).
 * 2. Planner accuracy: every split point of both models at three links; the plan's predicted
 *    totalMs for row k (snapshot after warm-up, before the measured requests) against the median
 *    measured latency at k. Target: median error <= 10 %.
 * 3. Idle cost: the agent as a service (compiled, plain node, store file, real sampler, MQTT, no
 *    sessions loaded), RSS and CPU from /proc. Targets: <= 80 MB, < 1 % of a core.
 *
 * Parts 1 and 2 run in bench/agent-device.ts (its own process; accuracy before throughput, see
 * there), part 3 in bench/agent-idle.ts; all
 * against one private mosquitto (set_tcp_nodelay true, as bench offload) and one `edgecut cloud
 * --threads 1` (bench/agent-cloud.ts). Splits are made in a temp folder (bench/agent-splits.ts).
 * Results: bench/results/agent.json (meta, throughput, accuracy, idle, targets) and a table.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, startMosquitto } from "../test/support/brokers.js";
import { startCloud } from "./agent-cloud.js";
import type { AccuracyRow, DeviceConfig, DeviceOutput, NamedLink, ThroughputResult } from "./agent-device.js";
import { measureIdle, type IdleResult } from "./agent-idle.js";
import { BENCH_MODELS, makeSplit } from "./agent-splits.js";
import { median, runScript, target, type BenchResult } from "./harness.js";

const here = import.meta.dirname;

const link = (name: string, mbit: number, delayMs: number): NamedLink => ({ name, upBitsPerSec: mbit * 1e6, downBitsPerSec: mbit * 1e6, delayMs });

/** The run's sizes (about 2 minutes on a 2-core machine, most of it the 1 mbit rows). */
const PLAN = {
  throughput: { link: link("20mbit/5ms", 20, 5), requests: 40, inFlight: 4, repeats: 5 },
  accuracy: { links: [link("100mbit/2ms", 100, 2), link("10mbit/10ms", 10, 10), link("1mbit/40ms", 1, 40)], warmupRounds: 3, rounds: 8 },
  idle: { settleSeconds: 5, seconds: 20 },
} as const;

const NOTES = [
  "One shared 2-core machine runs the device (the agent, onnxruntime on 1 intra-op thread), the cloud worker (edgecut cloud --threads 1) and mosquitto (set_tcp_nodelay true): the 'cloud' is no faster than the device (the learnt speedup is about 1), and the system-wide CPU load the agent's real sampler reads includes the worker, the broker, the agent's own inference and other tenants.",
  "Link: sdk/transport/shaper.ts on the device's MQTT connection. delayMs is one-way per direction, so the true RTT is 2 x delay plus the loopback broker's; up and down are separate pipes (full duplex).",
  "Accuracy protocol, per model and link: warmupRounds rounds of one request at every k, then ONE snapshot of the plan table (every row's predicted totalMs), then `rounds` interleaved rounds (order rotated) measured. The network estimate, the learnt cloud speedup, the bytes per split and the device-time correction come from the warm-up requests on the same link by the same agent, never from the measured requests.",
  "Measured latency = wall time of agent.infer() as its caller sees it, so it includes the agent's own per-request work (input checks, learning, re-planning), which the plan does not model: overheadMs per row. Requests that loaded a session are left out (reloads per row; the plan does not predict loading).",
  "Segments are profiled with agent/profiler (Profiler + profiledCosts) before the agent starts, so device times are measured, not FLOPs guesses. The agent runs the static policy at k = n: another policy could switch splits between requests and release the forced splits' sessions; predictions do not depend on the policy.",
  "All-local rows (k = n, a few ms) carry the largest relative errors: their prediction is profile x learnt correction x the load factor 1/(1 - load) of the system-wide CPU load last sampled, which on this machine includes the agent's own work and the co-located worker (cpuLoadPercent per row).",
  "Order, per model: accuracy (the three links), then throughput. The agent feeds its link estimator only round trips that overlapped no other offload (a pipelined one waited behind the agent's own requests): throughput[].networkAfter shows what it believes after the repeats (network: before them, after warm-up).",
  "Cold start: on each model's first link, the first warm-up round loads the worker's sessions; the worker reports session loading as queueing (queueMs), which the estimator subtracts from the round trip with the compute (accuracy.coldStart.networkMs).",
  "Throughput: predictedThroughputPerSec is the plan's row k from a snapshot after warm-up. The planner adds up and down transfer times (half-duplex model) while the shaper, like TCP, is full duplex, so it underestimates the pipelined rate when both directions carry data.",
  "Idle: `edgecut agent --config` itself, transpiled to JavaScript (TypeScript transpileModule) and run with plain node and the node flags of agent/systemd/edgecut-agent.service (nodeFlags), as systemd runs it; --no-profile and no request, so no session and no onnxruntime binding is loaded. RSS includes the node binary's own resident pages (topFilesMB; bareNodeRssMB is a bare node process on this machine). systeminformation's currentLoad() runs execSync('cat /proc/stat | grep cpu') on every sample (three processes every 2 s): cpuPercentWithChildren adds the reaped children's CPU.",
];

function gitSha(): string {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

const r2 = (v: number): number => +v.toFixed(2);
const r4 = (v: number): number => +v.toFixed(4);

/** Prints rows as a padded table. */
function table(head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) console.log(r.map((c, i) => c.padStart(widths[i]!)).join("  "));
}

function summary(tp: ThroughputResult[], rows: AccuracyRow[], medianError: number, idle: IdleResult): void {
  console.log("\nagent bench: throughput at the middle split, link " + PLAN.throughput.link.name);
  table(["model", "k/n", "one-at-a-time req/s", `pipelined (${PLAN.throughput.inFlight}) req/s`, "ratio", "plan's req/s"],
    tp.map((t) => [t.model, `${t.k}/${t.segments}`, t.sequentialPerSec.toFixed(1), t.pipelinedPerSec.toFixed(1), t.ratio.toFixed(2), t.predictedThroughputPerSec.toFixed(1)]));
  console.log("\nagent bench: planner accuracy (predicted before the measured batch)");
  table(["model", "link", "k", "predicted ms", "measured ms", "error %", "overhead ms", "cpu load %"],
    rows.map((r) => [r.model, r.link, r.k, r.predictedMs.toFixed(2), r.measuredMs.toFixed(2), (100 * r.error).toFixed(1), r.overheadMs.toFixed(2), r.cpuLoadPercent === null ? "-" : r.cpuLoadPercent.toFixed(0)]));
  console.log(`median error ${(100 * medianError).toFixed(1)} % over ${rows.length} rows (target <= 10 %)`);
  console.log(`\nagent bench: idle agent over ${idle.seconds.toFixed(0)} s: RSS ${idle.rssMB.toFixed(1)} MB (bare node ${idle.bareNodeRssMB.toFixed(1)} MB), CPU ${idle.cpuPercent.toFixed(2)} % of a core (${idle.cpuPercentWithChildren.toFixed(2)} % with children), edgecut agent run as the unit runs it (node ${idle.nodeFlags.join(" ") || "without flags"}), heap ${idle.heapUsedMB.toFixed(1)} MB\n`);
}

export async function run(): Promise<BenchResult & { sections: Record<string, unknown> }> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-bench-agent-"));
  const models = path.join(work, "models");
  const broker = await startMosquitto({ config: ["set_tcp_nodelay true"] });
  let cloud: Awaited<ReturnType<typeof startCloud>> | undefined;
  try {
    const splits = [];
    for (const m of BENCH_MODELS) splits.push(await makeSplit(models, m));
    cloud = await startCloud(broker.url, models, 1);
    const cfg: DeviceConfig = {
      brokerUrl: broker.url, workDir: work, splits: splits.map((s) => ({ name: s.name, manifestPath: s.manifestPath })),
      throughput: PLAN.throughput, accuracy: { ...PLAN.accuracy, links: [...PLAN.accuracy.links] },
    };
    const dev = await runScript<DeviceOutput>(path.join(here, "agent-device.ts"), [JSON.stringify(cfg)]);
    if (dev.failed > 0) throw new Error(`agent bench: ${dev.failed} requests failed; cloud log:\n${cloud.tail()}`);
    const gpt = splits.find((s) => s.name === "tiny-gpt")!;
    const idle = await measureIdle(work, broker.url, gpt.manifestPath, PLAN.idle.settleSeconds, PLAN.idle.seconds, await freePort());

    const medianError = median(dev.rows.map((r) => r.error));
    const worst = dev.rows.reduce((a, r) => (r.error > a.error ? r : a));
    summary(dev.throughput, dev.rows, medianError, idle);

    const metrics: BenchResult["metrics"] = {};
    for (const t of dev.throughput) {
      const m = t.model.replace(/-(\w)/g, (_x, c: string) => c.toUpperCase());
      Object.assign(metrics, {
        [`${m}SequentialPerSec`]: r2(t.sequentialPerSec), [`${m}PipelinedPerSec`]: r2(t.pipelinedPerSec),
        [`${m}PipelinedRatio`]: r2(t.ratio), [`${m}PredictedPerSec`]: r2(t.predictedThroughputPerSec),
      });
    }
    Object.assign(metrics, {
      accuracyRows: dev.rows.length, accuracyMedianError: r4(medianError),
      accuracyMedianErrorOffloadRows: r4(median(dev.rows.filter((r) => r.k < r.segments).map((r) => r.error))),
      accuracyWorstError: r4(worst.error), accuracyWorstRow: `${worst.model} ${worst.link} k=${worst.k}`,
      idleRssMB: r2(idle.rssMB), idleCpuPercent: r4(idle.cpuPercent), idleCpuPercentWithChildren: r4(idle.cpuPercentWithChildren),
      idleHeapUsedMB: r2(idle.heapUsedMB), bareNodeRssMB: r2(idle.bareNodeRssMB),
    });
    const targets = {
      accuracyMedianError: target("planner: median |predicted - measured| / measured over every row", medianError, "<=", 0.1),
      idleRssMB: target("idle agent RSS, MB, no model weights loaded", idle.rssMB, "<=", 80),
      idleCpuPercent: target("idle agent CPU, % of one core (target: under 1 %)", idle.cpuPercent, "<=", 1),
    };
    const sections = {
      meta: { date: new Date().toISOString(), gitSha: gitSha(), node: process.version, cpus: os.cpus().length, plan: PLAN, notes: NOTES },
      throughput: dev.throughput,
      accuracy: { rows: dev.rows, medianError: r4(medianError), estimator: dev.links, coldStart: dev.coldStart, profiles: dev.profiles },
      idle,
    };
    return { metrics, targets, sections };
  } finally {
    await cloud?.stop();
    await broker.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
