/**
 * Child of bench/generate.ts: the device side of one model's generation bench. It runs the split's
 * front segment here (onnxruntime, 1 intra-op thread) against an `edgecut cloud` worker process
 * over the broker, and the whole model here as the reference (the same generator, split = all
 * local, 1 thread), and prints one JSON line (DeviceOutput).
 *
 * - decode: greedy, `newTokens` after a `promptLength`-token prompt, one warm-up of each, then
 *   `reps` runs of each taking turns (the first of a pair alternates), so drift hits both alike.
 * - per decode step: wall time between tokens, the device's onnxruntime time, and from each
 *   offload result the client's encode/decode, the round trip and the worker's computeMs/queueMs;
 *   bytes up and down per step.
 * - prefill: prompt to first token (maxNewTokens 1) at each prompt length, `prefillReps` of each.
 * - a plain MQTT echo (a second connection here, payload of a step frame's size): the broker's
 *   round trip alone, to tell the wire from the worker's own overhead; and greedy sampling over
 *   the vocabulary, which the worker does per step (and the local run too).
 * Usage: tsx bench/generate-device.ts <manifestPath> <brokerUrl> <optionsJson>
 */
import { performance } from "node:perf_hooks";
import { SplitGenerator, type GenerationStats, type GeneratorSegment } from "../sdk/generate/generator.js";
import { DEFAULT_SAMPLING, lastRow, parseSampling, sampleToken } from "../sdk/generate/sampling.js";
import { wholeModelManifest } from "../sdk/generate/whole-model.js";
import { loadManifest } from "../sdk/graph/manifest.js";
import { OffloadClient, type OffloadResult } from "../sdk/offload/index.js";
import { OrtSession } from "../sdk/runtime/ort.js";
import { connectMqtt, type Transport } from "../sdk/transport/index.js";
import { median } from "./harness.js";

/** What bench/generate.ts asks for. */
export interface DeviceOptions {
  vocab: number;
  promptLength: number;
  newTokens: number;
  reps: number;
  prefillLengths: number[];
  prefillReps: number;
  echoIterations: number;
}

/** One decode step (not the prefill), ms and bytes; offload fields are absent all-local. */
export interface StepTrace {
  wallMs: number;
  deviceMs: number;
  encodeMs?: number;
  roundTripMs?: number;
  workerComputeMs?: number;
  workerQueueMs?: number;
  decodeMs?: number;
  bytesUp?: number;
  bytesDown?: number;
}

/** One generate() run. */
export interface RunTrace {
  tokensPerSecond: number;
  prefillMs: number;
  ids: number[];
  steps: StepTrace[];
  /** The prefill's offload result (split only): the worker's time on the prompt, bytes. */
  open?: { roundTripMs: number; workerComputeMs: number; workerQueueMs: number; encodeMs: number; decodeMs: number; bytesUp: number; bytesDown: number };
  /** The device's onnxruntime time during the prefill. */
  prefillDeviceMs: number;
  stats: Pick<GenerationStats, "bytesUp" | "bytesDown" | "stepBytesUp" | "rebuilds" | "tokens">;
}

/** What this script prints. */
export interface DeviceOutput {
  decode: { local: RunTrace[]; split: RunTrace[]; tokensMatch: boolean };
  prefill: { length: number; local: RunTrace[]; split: RunTrace[] }[];
  echo: { bytes: number; p50Ms: number };
  /** Median time of greedy sampleToken on one row of `vocab` logits (the worker samples, the local run too). */
  samplingMs: number;
  clientFailed: number;
}

/** Records each offload result of the generator's requests and steps, in order. */
class RecordingClient extends OffloadClient {
  results: OffloadResult[] = [];

  override async request(...args: Parameters<OffloadClient["request"]>): Promise<OffloadResult> {
    const r = await super.request(...args);
    this.results.push(r);
    return r;
  }

  override async step(...args: Parameters<OffloadClient["step"]>): Promise<OffloadResult> {
    const r = await super.step(...args);
    this.results.push(r);
    return r;
  }
}

/** onnxruntime sessions with 1 intra-op thread whose runs are timed into `runs`. */
function timedLoader(runs: number[]): (file: string) => Promise<GeneratorSegment> {
  return async (file) => {
    const s = await OrtSession.create(file, { intraOpThreads: 1 });
    return {
      run: async (feeds) => {
        const t0 = performance.now();
        const out = await s.run(feeds);
        runs.push(performance.now() - t0);
        return out;
      },
      release: () => s.release(),
    };
  };
}

/** A generator and the recorders it reports into. */
interface Side {
  gen: SplitGenerator;
  runs: number[];
  client: RecordingClient | undefined;
}

/** Runs one generate() to the end and cuts it into steps. */
async function runOnce(side: Side, prompt: number[], newTokens: number): Promise<RunTrace> {
  side.runs.length = 0;
  if (side.client) side.client.results = [];
  const at: number[] = [];
  const ids: number[] = [];
  const it = side.gen.generate(prompt, { maxNewTokens: newTokens });
  let stats: GenerationStats;
  for (;;) {
    const r = await it.next();
    if (r.done) { stats = r.value; break; }
    at.push(performance.now());
    ids.push(r.value.id);
  }
  // One device run per chunk (one front segment, or the whole model) and one offload result per chunk.
  const perChunk = side.runs.length / ids.length;
  if (!Number.isInteger(perChunk)) throw new Error(`${side.runs.length} device runs for ${ids.length} chunks`);
  const deviceMs = (i: number): number => side.runs.slice(i * perChunk, (i + 1) * perChunk).reduce((a, b) => a + b, 0);
  const results = side.client?.results ?? [];
  if (side.client && results.length !== ids.length) throw new Error(`${results.length} offload results for ${ids.length} chunks`);
  const steps: StepTrace[] = [];
  for (let i = 1; i < ids.length; i++) {
    const r = results[i];
    steps.push({
      wallMs: at[i]! - at[i - 1]!, deviceMs: deviceMs(i),
      ...(r === undefined ? {} : {
        encodeMs: r.encodeMs, roundTripMs: r.roundTripMs, workerComputeMs: r.computeMs, workerQueueMs: r.queueMs,
        decodeMs: r.decodeMs, bytesUp: r.bytesUp, bytesDown: r.bytesDown,
      }),
    });
  }
  const o = results[0];
  return {
    tokensPerSecond: stats.tokensPerSecond, prefillMs: stats.prefillMs, ids, steps, prefillDeviceMs: deviceMs(0),
    ...(o === undefined ? {} : {
      open: { roundTripMs: o.roundTripMs, workerComputeMs: o.computeMs, workerQueueMs: o.queueMs, encodeMs: o.encodeMs, decodeMs: o.decodeMs, bytesUp: o.bytesUp, bytesDown: o.bytesDown },
    }),
    stats: { bytesUp: stats.bytesUp, bytesDown: stats.bytesDown, stepBytesUp: stats.stepBytesUp, rebuilds: stats.rebuilds, tokens: stats.tokens },
  };
}

/** `reps` runs of each side taking turns (which goes first alternates), after one warm-up of each. */
async function interleaved(local: Side, split: Side, prompt: number[], newTokens: number, reps: number, warm: boolean): Promise<{ local: RunTrace[]; split: RunTrace[] }> {
  if (warm) {
    await runOnce(local, prompt, newTokens);
    await runOnce(split, prompt, newTokens);
  }
  const out = { local: [] as RunTrace[], split: [] as RunTrace[] };
  for (let i = 0; i < reps; i++) {
    if (i % 2 === 0) {
      out.local.push(await runOnce(local, prompt, newTokens));
      out.split.push(await runOnce(split, prompt, newTokens));
    } else {
      out.split.push(await runOnce(split, prompt, newTokens));
      out.local.push(await runOnce(local, prompt, newTokens));
    }
  }
  return out;
}

/** Median round trip of a plain publish to an echo on a second connection (same broker, QoS as connectMqtt). */
async function echoRtt(url: string, bytes: number, iterations: number): Promise<number> {
  const a: Transport = await connectMqtt({ url, clientId: "bench-gen-echo-a" });
  const b: Transport = await connectMqtt({ url, clientId: "bench-gen-echo-b" });
  try {
    await b.subscribe("bench/gen-echo/req", (_t, payload) => { void b.publish("bench/gen-echo/rep", payload); });
    let wake: (() => void) | undefined;
    await a.subscribe("bench/gen-echo/rep", () => wake?.());
    const payload = new Uint8Array(bytes);
    const times: number[] = [];
    for (let i = 0; i < iterations + 10; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => { wake = resolve; void a.publish("bench/gen-echo/req", payload); });
      if (i >= 10) times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    await a.close();
    await b.close();
  }
}

/** Median time of greedy sampling from one row of `vocab` logits. */
function samplingTime(vocab: number): number {
  const logits = Float32Array.from({ length: vocab }, (_, i) => Math.sin(i) * 3);
  const greedy = parseSampling({ ...DEFAULT_SAMPLING });
  const times: number[] = [];
  for (let i = 0; i < 220; i++) {
    const t0 = performance.now();
    sampleToken(lastRow(logits, [1, 1, vocab]), greedy, i);
    if (i >= 20) times.push(performance.now() - t0);
  }
  return median(times);
}

/** Deterministic token ids below `vocab`. */
function promptOf(length: number, vocab: number, seed: number): number[] {
  return Array.from({ length }, (_, i) => (i * 7919 + seed * 104729 + 13) % vocab);
}

async function main(): Promise<void> {
  const [manifestPath, url, json] = process.argv.slice(2);
  if (manifestPath === undefined || url === undefined || json === undefined) throw new Error("usage: generate-device.ts <manifestPath> <brokerUrl> <optionsJson>");
  const o = JSON.parse(json) as DeviceOptions;
  const split = loadManifest(manifestPath);
  const whole = wholeModelManifest(split.manifest, split.dir);
  const transport = await connectMqtt({ url, clientId: "bench-gen-device" });
  // No retries: a retried step would time the timeout, not the path. Long timeout: a 1024-token prefill is slow on one thread.
  const client = new RecordingClient({ transport, deviceId: "bench-gen", timeoutMs: 120_000, retries: 0 });
  await client.start();
  const localRuns: number[] = [];
  const splitRuns: number[] = [];
  const local: Side = { gen: new SplitGenerator({ manifest: whole.manifest, dir: whole.dir, split: 1, intraOpThreads: 1, loadSegment: timedLoader(localRuns) }), runs: localRuns, client: undefined };
  const remote: Side = { gen: new SplitGenerator({ manifest: split.manifest, dir: split.dir, split: 1, client, intraOpThreads: 1, loadSegment: timedLoader(splitRuns) }), runs: splitRuns, client };
  try {
    const prompt = promptOf(o.promptLength, o.vocab, 1);
    const decode = await interleaved(local, remote, prompt, o.newTokens, o.reps, true);
    const tokensMatch = [...decode.local, ...decode.split].every((r) => r.ids.join() === decode.local[0]!.ids.join());
    const prefill: DeviceOutput["prefill"] = [];
    for (const length of o.prefillLengths) {
      const runs = await interleaved(local, remote, promptOf(length, o.vocab, 2), 1, o.prefillReps, false);
      prefill.push({ length, ...runs });
    }
    const stepBytes = decode.split[0]?.steps[0]?.bytesUp ?? 1024;
    const echo = { bytes: stepBytes, p50Ms: await echoRtt(url, stepBytes, o.echoIterations) };
    const out: DeviceOutput = { decode: { ...decode, tokensMatch }, prefill, echo, samplingMs: samplingTime(o.vocab), clientFailed: client.metrics().failed };
    console.log(JSON.stringify(out));
  } finally {
    await local.gen.close();
    await remote.gen.close();
    await client.close();
    await transport.close();
  }
}

await main();
