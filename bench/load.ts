/**
 * `npm run bench load`: many devices against one and then two workers.
 *
 * 200 simulated devices (bench/load-devices.ts: 4 processes of 50, each device its own MQTT
 * connection, OffloadClient and deviceId on the real topics, running no model) send requests for
 * the back segment of a compute-bound split (tiny-gpt, 24 layers, dModel 384, 64 tokens: about
 * 18 ms of one core per request on the worker; with ~10 ms the broker's and devices' share of
 * the two cores held 2 workers to ~1.6x) through a private mosquitto (set_tcp_nodelay) to
 * `edgecut cloud --threads 1 --concurrency 1` processes sharing one $share group
 * (bench/load-workers.ts). Phases (bench/load-fleet.ts):
 *
 * - saturate: closed loop, every device keeps one request in flight: the workers' throughput.
 *   One worker, then two (the second started for the phase), three rounds; the best of each
 *   counts, as the machine is shared with other tenants;
 * - light: open loop at half the best one-worker throughput (Poisson arrivals), with two workers
 *   and then one: latency p50 / p99.
 *
 * Every request must get exactly one result (none lost, none twice, outputs checked against the
 * whole split run once here); the workers' logs say how many requests they computed more than once.
 * Targets: 0 lost, 0 delivered twice, throughput with 2 workers >= 1.6 x with 1.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadManifest, type LoadedManifest } from "../sdk/graph/manifest.js";
import { planSplit } from "../sdk/offload/plan.js";
import { OrtSession } from "../sdk/runtime/ort.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import { startMosquitto } from "../test/support/brokers.js";
import { makeSplit, type BenchModel } from "./agent-splits.js";
import { target, type BenchResult } from "./harness.js";
import { percentile, type ClientTotals, type DevicesConfig } from "./load-common.js";
import { cpuSnapshot, cpuUse } from "./load-cpu.js";
import { DeviceProcess, runPhase, workerCores, type PhaseResult } from "./load-fleet.js";
import { startLoadWorker, type LoadWorker } from "./load-workers.js";

const PLAN = {
  devices: 200,
  processes: 4,
  model: { name: "load-gpt", kind: "tiny-gpt", options: { layers: 24, dModel: 384, heads: 6, vocab: 32, maxPositions: 64 }, at: { shapes: { input_ids: [1, 64] } }, segments: 2 } satisfies BenchModel,
  /** Split point: segment 0 is the devices' (computed once here), segment 1 the workers'. */
  k: 1,
  /** Saturated phases, 1 worker then 2, repeated: the best of each counts (other tenants share the machine). */
  rounds: 3,
  saturate: { durationMs: 10_000, warmMs: 2_000 },
  light: { durationMs: 12_000, warmMs: 2_000, fractionOfOneWorker: 0.5 },
  /** Per attempt; a saturated worker's queue holds up to 200 requests of ~18 ms. */
  timeoutMs: 30_000,
  retries: 1,
  /** Worker queue: room for every device's request, so saturation shows throughput, not E_BUSY. */
  queue: 256,
};

const NOTES = [
  "One shared 2-core machine (other tenants included) runs mosquitto, the workers and the device processes; each worker computes on one onnxruntime thread, so two workers can use both cores only while the devices, the broker and the tenants leave them free (cpu: per phase, cores used by each part, from /proc).",
  "Devices run no model: the tensors at the cut (segment 0 on the input) are computed once by the bench and sent by every device, so device processes cost only MQTT, framing and the output check.",
  "Worker cores: saturated*CoresUsed is what the worker processes got (1.0 per worker when nothing else runs); saturated*PerCoreSec is throughput per worker core-second, which shows contention from the rest of the machine apart from scaling.",
  "saturate: closed loop, 200 requests in flight; throughput counts results that arrived after warmMs until the phase's end, latency there is mostly queueing (200 / throughput). Rounds of 1 then 2 workers, adjacent in time; throughputRatio compares the best of each, throughputRatioPerRound the pairs. light: open loop at half the best one-worker throughput; its p50/p99 are the latency figures.",
  "Exactly once: each request's promise is counted when it settles (lost = not settled by timeoutMs x attempts + 5 s after the phase; delivered twice = settled twice, or one request id among the results of two requests), each result's outputs compared with the split run here; recomputations = worker computations (\"request done\" lines) minus distinct request ids computed.",
];

const r2 = (v: number): number => +v.toFixed(2);


/** Runs the split up to k here: the tensors a device sends at k, and the model outputs the worker returns. */
async function cutAndExpected(loaded: LoadedManifest, k: number, inputs: TensorMap): Promise<{ tensors: TensorMap; expected: TensorMap; wantOutputs: string[] }> {
  const plan = planSplit(loaded.manifest, k);
  const pool = new Map(Object.entries(inputs));
  for (const seg of loaded.manifest.segments) {
    const s = await OrtSession.create(path.resolve(loaded.dir, seg.file), { intraOpThreads: 1, allowSpinning: false });
    try {
      const feeds: TensorMap = {};
      for (const t of seg.inputs) feeds[t.name] = pool.get(t.name)!;
      for (const [name, t] of Object.entries(await s.run(feeds, seg.outputs.map((o) => o.name)))) pool.set(name, t);
    } finally {
      await s.release();
    }
  }
  const pick = (names: string[]): TensorMap => Object.fromEntries(names.map((n) => [n, pool.get(n)!]));
  return { tensors: pick(plan.send), expected: pick(plan.wantOutputs), wantOutputs: plan.wantOutputs };
}

/** Median of a non-empty list. */
const median = (xs: readonly number[]): number => percentile(xs, 0.5);

export async function run(): Promise<BenchResult & { sections: Record<string, unknown> }> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-bench-load-"));
  const models = path.join(work, "models");
  const broker = await startMosquitto();
  /** Every worker process started (the second worker is restarted for each round). */
  const started: LoadWorker[] = [];
  const procs: DeviceProcess[] = [];
  const startWorker = async (label: string): Promise<LoadWorker> => {
    const w = await startLoadWorker(label, broker.url, models, PLAN.queue);
    started.push(w);
    return w;
  };
  try {
    const split = await makeSplit(models, PLAN.model);
    const loaded = loadManifest(split.manifestPath);
    const cut = await cutAndExpected(loaded, PLAN.k, split.inputs);
    const idleCpu = cpuUse(cpuSnapshot({}), await new Promise((r) => setTimeout(() => r(cpuSnapshot({})), 2000)));
    const first = await startWorker("worker-1");
    const ids = Array.from({ length: PLAN.devices }, (_, i) => `load-dev-${String(i).padStart(3, "0")}`);
    const per = Math.ceil(PLAN.devices / PLAN.processes);
    for (let i = 0; i < PLAN.processes; i++) {
      const p = new DeviceProcess(i);
      procs.push(p);
      const config: DevicesConfig = {
        brokerUrl: broker.url, deviceIds: ids.slice(i * per, (i + 1) * per), splitId: loaded.manifest.splitId,
        segments: { from: PLAN.k, to: loaded.manifest.segments.length }, tensors: cut.tensors, wantOutputs: cut.wantOutputs, expected: cut.expected,
        timeoutMs: PLAN.timeoutMs, retries: PLAN.retries,
      };
      p.send({ type: "config", config });
    }
    for (const p of procs) await p.next("ready");
    const phase = (name: string, ws: LoadWorker[], spec: Omit<Parameters<typeof runPhase>[2], "name">): Promise<PhaseResult> =>
      runPhase(procs, ws, { name, ...spec }, { ...Object.fromEntries(ws.map((w) => [w.label, [w.pid]])), devices: procs.map((p) => p.child.pid!), bench: [process.pid] });

    // Saturation, 1 worker then 2, in rounds next to each other in time; the second worker is
    // stopped (SIGTERM: it finishes what it accepted) between rounds and started afresh.
    const phases: PhaseResult[] = [];
    const sat1: PhaseResult[] = [];
    const sat2: PhaseResult[] = [];
    let second: LoadWorker | undefined;
    for (let r = 1; r <= PLAN.rounds; r++) {
      sat1.push(await phase(`saturate-1-worker-r${r}`, [first], { mode: "closed", ...PLAN.saturate }));
      second = await startWorker("worker-2");
      sat2.push(await phase(`saturate-2-workers-r${r}`, [first, second], { mode: "closed", ...PLAN.saturate }));
      if (r < PLAN.rounds) await second.stop();
    }
    phases.push(...sat1, ...sat2);
    const best = (xs: PhaseResult[]): PhaseResult => xs.reduce((a, p) => (p.throughputPerSec > a.throughputPerSec ? p : a));
    const [best1, best2] = [best(sat1), best(sat2)];
    const rate = (PLAN.light.fractionOfOneWorker * best1.throughputPerSec) / PLAN.devices;
    const light = { mode: "open" as const, durationMs: PLAN.light.durationMs, warmMs: PLAN.light.warmMs, perDeviceRate: rate };
    const light2 = await phase("light-2-workers", [first, second!], light);
    await second!.stop();
    const light1 = await phase("light-1-worker", [first], light);
    phases.push(light2, light1);

    const totals: ClientTotals[] = [];
    for (const p of procs) p.send({ type: "stop" });
    for (const p of procs) totals.push((await p.next("stopped")).totals);
    for (const w of started) await w.stop();
    const clients = Object.fromEntries(Object.keys(totals[0]!).map((k) => [k, totals.reduce((a, t) => a + t[k as keyof ClientTotals], 0)])) as unknown as ClientTotals;

    // Work done more than once, over the whole run: computations minus distinct requests computed.
    const computedKeys = new Map<string, number>();
    for (const w of started) for (const [k, n] of w.computed) computedKeys.set(k, (computedKeys.get(k) ?? 0) + n);
    const computations = [...computedKeys.values()].reduce((a, n) => a + n, 0);
    const recomputations = computations - computedKeys.size;
    const all = (f: (p: PhaseResult) => number): number => phases.reduce((a, p) => a + f(p), 0);
    const ratio = best2.throughputPerSec / best1.throughputPerSec;
    const paired = sat1.map((p, i) => sat2[i]!.throughputPerSec / p.throughputPerSec);
    const errors = all((p) => Object.values(p.errors).reduce((a, n) => a + n, 0));

    console.log(`\nload bench: ${PLAN.devices} devices in ${PLAN.processes} processes; tiny-gpt back segment on edgecut cloud --threads 1 --concurrency 1`);
    for (const p of phases) {
      console.log(`${p.name.padEnd(24)} sent ${String(p.sent).padStart(5)}  ok ${String(p.ok).padStart(5)}  lost ${p.lost}  twice ${p.duplicated}  errors ${JSON.stringify(p.errors)}  ` +
        `${p.throughputPerSec.toFixed(1).padStart(6)} req/s  p50 ${p.p50Ms.toFixed(1)} ms  p99 ${p.p99Ms.toFixed(1)} ms  by worker ${JSON.stringify(p.byWorker)}  cores ${JSON.stringify(p.cpu.cores)}`);
    }
    console.log(`throughput, best of ${PLAN.rounds}: 2 workers / 1 worker ${ratio.toFixed(2)} (target >= 1.6; per round ${paired.map((x) => x.toFixed(2)).join(", ")}); ` +
      `recomputations ${recomputations}; machine busy before the run ${idleCpu.machineBusyCores.toFixed(2)} cores\n`);

    const metrics: BenchResult["metrics"] = {
      devices: PLAN.devices, requests: all((p) => p.sent), results: all((p) => p.ok), errors, lost: all((p) => p.lost), deliveredTwice: all((p) => p.duplicated),
      wrongOutputs: all((p) => p.wrong), recomputations, workerComputations: computations,
      throughput1WorkerPerSec: best1.throughputPerSec, throughput2WorkersPerSec: best2.throughputPerSec, throughputRatio: r2(ratio),
      throughputRatioPerRound: paired.map((x) => x.toFixed(2)).join(", "), throughputRatioMedianOfRounds: r2(median(paired)),
      lightOfferedPerSec: r2(rate * PLAN.devices),
      light1WorkerP50Ms: light1.p50Ms, light1WorkerP99Ms: light1.p99Ms, light2WorkersP50Ms: light2.p50Ms, light2WorkersP99Ms: light2.p99Ms,
      saturated1WorkerP50Ms: best1.p50Ms, saturated1WorkerP99Ms: best1.p99Ms, saturated2WorkersP50Ms: best2.p50Ms, saturated2WorkersP99Ms: best2.p99Ms,
      workerComputeP50Ms: r2(median(started.flatMap((w) => w.computeMs))),
      machineBusyCoresBeforeRun: r2(idleCpu.machineBusyCores),
      saturated1WorkerCoresUsed: r2(workerCores(best1)), saturated2WorkersCoresUsed: r2(workerCores(best2)),
      saturated1WorkerPerCoreSec: r2(best1.throughputPerSec / workerCores(best1)), saturated2WorkersPerCoreSec: r2(best2.throughputPerSec / workerCores(best2)),
      clientRetries: clients.retries, clientTimeouts: clients.timeouts, clientBusyReplies: clients.busyReplies, clientDuplicateReplies: clients.duplicateReplies,
    };
    const targets = {
      lost: target("requests with no result and no error (every request answered)", metrics.lost as number, "<=", 0),
      deliveredTwice: target("requests settled more than once, or one result for two requests", metrics.deliveredTwice as number, "<=", 0),
      throughputRatio: target(`saturated throughput, best of ${PLAN.rounds}, 2 workers / 1 worker, on this 2-core machine`, ratio, ">=", 1.6),
    };
    const sections = {
      meta: { date: new Date().toISOString(), plan: PLAN, notes: NOTES, workerShared: started.map((w) => w.shared), idleCpu },
      phases, clients, workerFinalMetrics: started.map((w) => ({ label: w.label, metrics: w.finalMetrics() ?? null })),
    };
    return { metrics, targets, sections };
  } finally {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    for (const w of started) await w.stop();
    await broker.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}
