/**
 * The device side of `npm run bench agent` (run in its own process by bench/agent.ts; prints one
 * JSON line last). For each split it starts a real Agent: its segments profiled first by the
 * Profiler (so device times are measured, not FLOPs guesses), a SQLite store file, the real
 * system sampler, and an MQTT connection to the bench's mosquitto behind the link shaper, with
 * onnxruntime on one intra-op thread. The worker is a separate `edgecut cloud --threads 1`.
 *
 * 1. Planner accuracy, per link setting: warm-up rounds over every split point (so the network
 *    estimator and the learnt cloud speedup and device correction follow the new link), then ONE
 *    snapshot of the plan table (each row's predicted totalMs), then `rounds` interleaved rounds
 *    of one request at every k (the order rotates each round). Error = |pred - meas| / meas with
 *    meas the median latency at k as the caller of infer() sees it.
 * 2. Throughput, after accuracy (pipelined round trips queue on the link, and the agent learns
 *    from them too): warm-up as above on the throughput link, a plan snapshot, then R requests
 *    forced at the middle split, one at a time (each awaited) and pipelined (`inFlight` at once),
 *    in alternating order over `repeats` repeats.
 *
 * The agent runs the "static" policy at k = n: the policy only picks the split of requests that
 * do not force one, and any other policy may switch splits between requests and release the
 * sessions of the forced splits (SplitRunner.retain), so a measured batch would time session
 * loads the planner never predicts. Predictions are unaffected by the policy.
 *
 * Usage: tsx bench/agent-device.ts '<DeviceConfig JSON>'
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { Agent } from "../agent/core/agent.js";
import { silentAgentLog } from "../agent/core/log.js";
import { profiledCosts, zeroInputs } from "../agent/core/profiled-costs.js";
import { createSystemSampler } from "../agent/monitor/index.js";
import { Profiler } from "../agent/profiler/index.js";
import type { Prediction } from "../agent/planner/types.js";
import { openStore } from "../agent/store/index.js";
import { loadManifest } from "../sdk/graph/manifest.js";
import type { InferBreakdown } from "../sdk/infer/types.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import { connectMqtt } from "../sdk/transport/mqtt.js";
import { shapeTransport, type LinkSettings, type ShapedTransport } from "../sdk/transport/shaper.js";
import { median } from "./harness.js";

/** A link setting of the shaper, named. */
export interface NamedLink { name: string; upBitsPerSec: number; downBitsPerSec: number; delayMs: number }

/** What bench/agent.ts passes. */
export interface DeviceConfig {
  brokerUrl: string;
  /** Folder for the store files. */
  workDir: string;
  splits: { name: string; manifestPath: string }[];
  throughput: { link: NamedLink; requests: number; inFlight: number; repeats: number };
  accuracy: { links: NamedLink[]; warmupRounds: number; rounds: number };
}

/** One repeat of the throughput comparison. */
interface ThroughputRepeat { sequentialPerSec: number; pipelinedPerSec: number }

/** The throughput result of one split. */
export interface ThroughputResult {
  model: string;
  k: number;
  segments: number;
  link: string;
  requests: number;
  inFlight: number;
  repeats: ThroughputRepeat[];
  sequentialPerSec: number;
  pipelinedPerSec: number;
  /** Median over repeats of pipelined / sequential within the repeat. */
  ratio: number;
  /** The planner's predicted pipelined rate for row k and its latency, from a snapshot before the repeats. */
  predictedThroughputPerSec: number;
  predictedTotalMs: number;
  /** The snapshot's prediction parts (ms) and what the estimator said then. */
  predicted: Pick<Prediction, "localMs" | "encodeMs" | "upMs" | "downMs" | "rttMs" | "cloudMs" | "queueMs">;
  network: NetworkView;
  /** What the estimator said after the repeats: it learns from the pipelined round trips too, queueing on the link included. */
  networkAfter: NetworkView;
  /** Median latency of the sequential requests (ms). */
  sequentialMedianMs: number;
}

/** The estimator's view of the link. */
interface NetworkView { rttMs: number; upBytesPerSec: number; downBytesPerSec: number; basis: string; samples: number }

function networkView(d: Device): NetworkView {
  const n = d.agent.status().network;
  return { rttMs: n.rttMs, upBytesPerSec: n.upBytesPerSec, downBytesPerSec: n.downBytesPerSec, basis: n.basis, samples: n.samples };
}

/** One row of the accuracy table. */
export interface AccuracyRow {
  model: string;
  link: string;
  k: number;
  segments: number;
  predictedMs: number;
  measuredMs: number;
  error: number;
  /** The prediction's parts (ms). */
  predicted: Pick<Prediction, "localMs" | "encodeMs" | "upMs" | "downMs" | "rttMs" | "cloudMs" | "queueMs">;
  /** Medians of the measured breakdown's parts (ms). */
  measured: { localMs: number; roundTripMs: number; cloudComputeMs: number; encodeMs: number; decodeMs: number; bytesUp: number; bytesDown: number };
  /**
   * measuredMs minus the median of localMs + encodeMs + roundTripMs + decodeMs: the agent's own
   * work per request around the run (input checks, learning, re-planning), which no row predicts.
   */
  overheadMs: number;
  /** The CPU load the agent's sampler last read when the snapshot was taken (its load factor scales localMs). */
  cpuLoadPercent: number | null;
  samples: number;
  /** Requests left out because they loaded a session (a time the planner does not predict). */
  reloads: number;
}

/** What the estimator and the sampler said when the snapshot was taken. */
export interface LinkSnapshot {
  model: string;
  link: string;
  rttMs: number;
  upBytesPerSec: number;
  downBytesPerSec: number;
  basis: string;
  confidence: number;
  cpuLoadPercent: number | null;
  /** The shaper's true settings, in the estimator's units. */
  trueRttMs: number;
  trueUpBytesPerSec: number;
  trueDownBytesPerSec: number;
}

/**
 * An offload of the first warm-up round and what the estimator takes from it as network time
 * (round trip - the worker's compute - its queueing). On a model's first link these requests load
 * the worker's sessions, which its reply reports in neither figure (but for the first segment's,
 * in queueing), so they reach the estimator as link time.
 */
export interface ColdStart { k: number; roundTripMs: number; cloudComputeMs: number; cloudQueueMs: number; networkMs: number }

/** The JSON line this script prints. */
export interface DeviceOutput {
  throughput: ThroughputResult[];
  rows: AccuracyRow[];
  links: LinkSnapshot[];
  /** The first warm-up round of each model's first link (cold sessions on both sides). */
  coldStart: { model: string; link: string; requests: ColdStart[] }[];
  profiles: { model: string; segmentMs: (number | null)[] }[];
  failed: number;
}

interface Device {
  agent: Agent;
  link: ShapedTransport;
  inputs: TensorMap;
  n: number;
  close(): Promise<void>;
}

function shaperSettings(l: NamedLink): Partial<LinkSettings> {
  return { upBitsPerSec: l.upBitsPerSec, downBitsPerSec: l.downBitsPerSec, delayMs: l.delayMs };
}

/** Profiles the split's segments, then starts an Agent on a shaped MQTT connection. */
async function startDevice(cfg: DeviceConfig, name: string, manifestPath: string, link: NamedLink): Promise<Device & { segmentMs: (number | null)[] }> {
  const loaded = loadManifest(manifestPath);
  const n = loaded.manifest.segments.length;
  const storeFile = path.join(cfg.workDir, `${name}-device.db`);
  fs.rmSync(storeFile, { force: true });
  const store = openStore(storeFile);
  const sampler = createSystemSampler();
  let load = (await sampler.sample()).cpuLoadPercent / 100;
  const inputs = zeroInputs(loaded.manifest);
  const profiler = new Profiler({ store, deviceId: "bench-pi", manifestDir: loaded.dir, manifest: loaded.manifest, cpuLoad: () => load, intraOpThreads: 1 });
  const costs = profiledCosts(profiler, loaded.manifest, 1e6, silentAgentLog, inputs);
  await costs.refresh(inputs, load);
  load = 0;
  const conn = await connectMqtt({ url: cfg.brokerUrl, clientId: `bench-agent-${name}` });
  const shaped = shapeTransport(conn, shaperSettings(link));
  const agent = await Agent.start({
    deviceId: "bench-pi", manifestPath, store, transport: shaped, sampler, costs, intraOpThreads: 1,
    policy: { name: "static", split: n }, offload: { timeoutMs: 60_000 },
  });
  return {
    agent, link: shaped, inputs, n, segmentMs: costs.segments().map((s) => s.localMs),
    close: async () => { await agent.stop(); await shaped.close(); store.close(); },
  };
}

/** One request at k: the latency infer()'s caller sees (ms) and the agent's breakdown. */
async function once(d: Device, k: number): Promise<{ ms: number; b: InferBreakdown }> {
  const t0 = performance.now();
  const r = await d.agent.infer(d.inputs, { split: k });
  const ms = performance.now() - t0;
  if (r.split !== k) throw new Error(`asked for split ${k}, the agent ran ${r.split}`);
  return { ms, b: r.breakdown };
}

/** R requests at k with `inFlight` at once; requests per second and the latencies. */
async function stream(d: Device, k: number, requests: number, inFlight: number): Promise<{ perSec: number; ms: number[] }> {
  let started = 0;
  const ms: number[] = [];
  const lane = async (): Promise<void> => {
    while (started < requests) {
      started++;
      ms.push((await once(d, k)).ms);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  return { perSec: requests / ((performance.now() - t0) / 1000), ms };
}

function predictionOf(d: Device, k: number): Prediction {
  const row = d.agent.status().plan?.rows[k];
  if (row === undefined) throw new Error(`the agent has no plan row ${k}`);
  if (!row.feasible) throw new Error(`plan row ${k} is infeasible: ${row.reason ?? "?"}`);
  return { ...row.predicted };
}

function parts(p: Prediction): AccuracyRow["predicted"] {
  return { localMs: p.localMs, encodeMs: p.encodeMs, upMs: p.upMs, downMs: p.downMs, rttMs: p.rttMs, cloudMs: p.cloudMs, queueMs: p.queueMs };
}

async function throughput(cfg: DeviceConfig, name: string, d: Device): Promise<ThroughputResult> {
  const t = cfg.throughput;
  const k = Math.floor(d.n / 2);
  // Warm-up at every k, as for accuracy: the estimator needs message sizes that vary to tell the
  // RTT from the bandwidth, so the snapshot's predicted rate is that of a learnt link.
  for (let w = 0; w < cfg.accuracy.warmupRounds; w++) for (let j = 0; j <= d.n; j++) await once(d, j);
  const pred = predictionOf(d, k);
  const network = networkView(d);
  const repeats: ThroughputRepeat[] = [];
  const seqMs: number[] = [];
  for (let r = 0; r < t.repeats; r++) {
    // Alternate which mode goes first, so a drift of the machine does not favour one.
    const order = r % 2 === 0 ? [1, t.inFlight] : [t.inFlight, 1];
    const got: Record<number, number> = {};
    for (const inFlight of order) {
      const s = await stream(d, k, t.requests, inFlight);
      got[inFlight] = s.perSec;
      if (inFlight === 1) seqMs.push(...s.ms);
    }
    repeats.push({ sequentialPerSec: got[1]!, pipelinedPerSec: got[t.inFlight]! });
  }
  return {
    model: name, k, segments: d.n, link: t.link.name, requests: t.requests, inFlight: t.inFlight, repeats,
    sequentialPerSec: median(repeats.map((r) => r.sequentialPerSec)), pipelinedPerSec: median(repeats.map((r) => r.pipelinedPerSec)),
    ratio: median(repeats.map((r) => r.pipelinedPerSec / r.sequentialPerSec)),
    predictedThroughputPerSec: pred.throughputPerSec, predictedTotalMs: pred.totalMs, predicted: parts(pred),
    network, networkAfter: networkView(d),
    sequentialMedianMs: median(seqMs),
  };
}

async function accuracy(cfg: DeviceConfig, name: string, d: Device, link: NamedLink): Promise<{ rows: AccuracyRow[]; snapshot: LinkSnapshot; first: ColdStart[] }> {
  const ks = [...Array(d.n + 1).keys()];
  d.link.setLink(shaperSettings(link));
  const first: ColdStart[] = [];
  for (let w = 0; w < cfg.accuracy.warmupRounds; w++) {
    for (const k of ks) {
      const x = await once(d, k);
      if (w === 0 && k < d.n) first.push({ k, roundTripMs: x.b.roundTripMs, cloudComputeMs: x.b.cloudComputeMs, cloudQueueMs: x.b.cloudQueueMs, networkMs: x.b.roundTripMs - x.b.cloudComputeMs - x.b.cloudQueueMs });
    }
  }
  // The prediction is taken here, before the measured requests (which the agent learns from too).
  const preds = ks.map((k) => predictionOf(d, k));
  const st = d.agent.status();
  const snapshot: LinkSnapshot = {
    model: name, link: link.name, rttMs: st.network.rttMs, upBytesPerSec: st.network.upBytesPerSec, downBytesPerSec: st.network.downBytesPerSec,
    basis: st.network.basis, confidence: st.network.confidence, cpuLoadPercent: st.device?.cpuLoadPercent ?? null,
    trueRttMs: 2 * link.delayMs, trueUpBytesPerSec: link.upBitsPerSec / 8, trueDownBytesPerSec: link.downBitsPerSec / 8,
  };
  const seen = ks.map((): { ms: number; b: InferBreakdown }[] => []);
  const reloads = ks.map(() => 0);
  for (let r = 0; r < cfg.accuracy.rounds; r++) {
    for (let j = 0; j < ks.length; j++) {
      const k = (r + j) % ks.length;
      const x = await once(d, k);
      if (x.b.loadMs > 0) reloads[k]!++;
      else seen[k]!.push(x);
    }
  }
  const rows = ks.map((k): AccuracyRow => {
    const xs = seen[k]!;
    if (xs.length === 0) throw new Error(`${name} ${link.name} k=${k}: every request loaded a session`);
    const p = preds[k]!;
    const measuredMs = median(xs.map((x) => x.ms));
    const mid = (f: (b: InferBreakdown) => number): number => median(xs.map((x) => f(x.b)));
    return {
      model: name, link: link.name, k, segments: d.n, predictedMs: p.totalMs, measuredMs, error: Math.abs(p.totalMs - measuredMs) / measuredMs,
      predicted: parts(p),
      measured: {
        localMs: mid((b) => b.localMs), roundTripMs: mid((b) => b.roundTripMs), cloudComputeMs: mid((b) => b.cloudComputeMs),
        encodeMs: mid((b) => b.encodeMs), decodeMs: mid((b) => b.decodeMs), bytesUp: mid((b) => b.bytesUp), bytesDown: mid((b) => b.bytesDown),
      },
      overheadMs: measuredMs - median(xs.map((x) => x.b.localMs + x.b.encodeMs + x.b.roundTripMs + x.b.decodeMs)),
      cpuLoadPercent: snapshot.cpuLoadPercent, samples: xs.length, reloads: reloads[k]!,
    };
  });
  return { rows, snapshot, first };
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? "null") as DeviceConfig | null;
  if (cfg === null) throw new Error("usage: agent-device.ts '<DeviceConfig JSON>'");
  const out: DeviceOutput = { throughput: [], rows: [], links: [], coldStart: [], profiles: [], failed: 0 };
  for (const s of cfg.splits) {
    const d = await startDevice(cfg, s.name, s.manifestPath, cfg.accuracy.links[0]!);
    d.agent.on("request", (e) => { if (e.outcome !== "ok") out.failed++; });
    try {
      out.profiles.push({ model: s.name, segmentMs: d.segmentMs });
      // Accuracy first: pipelined requests queue behind each other on the link, and the agent
      // learns those round trips too (see ThroughputResult.networkAfter).
      for (const l of cfg.accuracy.links) {
        const a = await accuracy(cfg, s.name, d, l);
        out.rows.push(...a.rows);
        out.links.push(a.snapshot);
        if (l === cfg.accuracy.links[0]) out.coldStart.push({ model: s.name, link: l.name, requests: a.first });
        console.error(`agent bench: ${s.name} ${l.name}: errors ${a.rows.map((r) => `k${r.k} ${(100 * r.error).toFixed(1)}%`).join(", ")}`);
      }
      d.link.setLink(shaperSettings(cfg.throughput.link));
      const t = await throughput(cfg, s.name, d);
      out.throughput.push(t);
      console.error(`agent bench: ${s.name} k=${t.k}: ${t.sequentialPerSec.toFixed(1)} req/s one at a time, ${t.pipelinedPerSec.toFixed(1)} pipelined (x${t.ratio.toFixed(2)})`);
    } finally {
      await d.close();
    }
  }
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
