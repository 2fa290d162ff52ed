/**
 * Round trips of `npm run bench offload` (run in its own process by bench/offload.ts; prints one
 * JSON line last). A private mosquitto on loopback; a cloud process (bench/offload-cloud.ts, forked)
 * running the edgecut worker and the echo of the baseline on one MQTT connection; this process is
 * the device, with one MQTT connection of its own.
 *
 * - edgecut: the split of `x -> Identity -> a -> Identity -> y` cut at `a`; an OffloadClient
 *   offloads `a` at k = 1, the worker runs one Identity and sends `y` (as large as `a`) back.
 * - baseline: a plain publish of the same bytes on the same two connections (connectMqtt, so the
 *   same mqtt.js client and QoS 1), which the cloud process publishes back unchanged; timed from
 *   the publish call to the echo's arrival. No framing, planning, scheduling or onnxruntime.
 * - echoCopy, for information: the echo with each side copying the bytes into a fresh buffer
 *   before publishing, i.e. the memory traffic of framing without any of edgecut's work.
 *
 * The paths take turns within each iteration (the order rotates every iteration) so machine noise
 * hits all of them, after a warm-up of each. Every round trip is also cut into hops (see Hops), and
 * garbage collection pauses are charged to the path they happened in. Options, for profiling by hand:
 *   tsx bench/offload-rtt.ts [--sizes 1024,102400] [--iterations 200,100]
 *     [--worker '{"replyCache":{"maxEntries":0}}'] [--mosquitto 'set_tcp_nodelay true; max_packet_size 1000000']
 *     (--mosquitto '' runs mosquitto's defaults)
 *     [--cloud-node-args '--cpu-prof --cpu-prof-dir=/tmp/prof']
 */
import { fork, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { analyze, symbolicTypeOf } from "../sdk/graph/analyze.js";
import { GraphBuilder } from "../sdk/graph/builder.js";
import { frontForTensors } from "../sdk/graph/cuts.js";
import { Graph } from "../sdk/graph/graph.js";
import type { Manifest } from "../sdk/graph/manifest.js";
import { serializeModel } from "../sdk/graph/model-io.js";
import { partition } from "../sdk/graph/partition.js";
import { assignmentFromFronts } from "../sdk/graph/segmentation.js";
import { writeSplit } from "../sdk/graph/split.js";
import { OffloadClient, type OffloadResult } from "../sdk/offload/index.js";
import { connectMqtt, type Transport } from "../sdk/transport/index.js";
import { startMosquitto } from "../test/support/brokers.js";
import { ECHO_TOPICS, gcWithin, PATHS, percentile, traced, watchGc, type FromCloud, type PathName, type ToCloud } from "./offload-common.js";

/** Payload sizes (bytes of the float32 activation) and iterations per size: the issue's. */
const DEFAULT_SIZES = [1024, 100 * 1024, 2 ** 20, 10 * 2 ** 20];
const DEFAULT_ITERATIONS = [200, 100, 50, 20];
/**
 * mosquitto.conf lines. set_tcp_nodelay: mosquitto 2 leaves Nagle's algorithm on by default, which
 * holds small PUBLISHes for the peer's delayed ACK (~40 ms per round trip on loopback for both
 * paths alike); edgecut's own clients and embedded broker turn it off, so the bench does too.
 */
const DEFAULT_MOSQUITTO = "set_tcp_nodelay true";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function numbers(s: string | undefined, fallback: number[]): number[] {
  return s === undefined ? fallback : s.split(",").map((v) => Number(v));
}

/** Writes the Identity model (symbolic length n, so one split serves every size) and its split cut at `a`. */
async function identitySplit(dir: string): Promise<Manifest> {
  const b = new GraphBuilder({ name: "identity2" });
  b.input("x", "float32", ["n"]);
  b.op("Identity", ["x"], {}, { output: "a" });
  b.op("Identity", ["a"], {}, { output: "y" });
  b.output("y", "float32", ["n"]);
  const modelPath = path.join(dir, "identity.onnx");
  fs.writeFileSync(modelPath, serializeModel(b.build(), { sourceDir: dir }));
  const g = Graph.load(modelPath);
  const a = analyze(g, { shapes: { x: [256] } });
  const p = partition(g, 2, assignmentFromFronts(g, [frontForTensors(g, ["a"], a.constants)], a.constants), a.constants);
  return writeSplit(g, p, path.join(dir, "split"), {
    modelPath, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
}

/** The cloud process and a way to ask it something (one question at a time, outside any timed region). */
interface Cloud {
  child: ChildProcess;
  ready: Extract<FromCloud, { type: "ready" }>;
  ask<T extends FromCloud["type"]>(m: ToCloud, reply: T): Promise<Extract<FromCloud, { type: T }>>;
}

async function startCloud(url: string, models: string, workerOptions: string): Promise<Cloud> {
  const child = fork(path.join(import.meta.dirname, "offload-cloud.ts"), [url, models, workerOptions], {
    execArgv: ["--import", "tsx", ...(arg("--cloud-node-args")?.split(" ").filter((a) => a !== "") ?? [])], stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const next = <T extends FromCloud["type"]>(reply: T): Promise<Extract<FromCloud, { type: T }>> => new Promise((resolve, reject) => {
    const onMessage = (m: FromCloud): void => {
      child.off("exit", onExit);
      child.off("message", onMessage);
      if (m.type === reply) resolve(m as Extract<FromCloud, { type: T }>);
      else reject(new Error(`the cloud process answered ${m.type}${m.type === "error" ? `: ${m.message}` : ""} instead of ${reply}`));
    };
    const onExit = (code: number | null): void => {
      child.off("message", onMessage);
      reject(new Error(`the cloud process exited (${code}) before answering ${reply}`));
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
  const ready = await next("ready");
  return { child, ready, ask: (m, reply) => { const r = next(reply); child.send(m); return r; } };
}

/**
 * Where one round trip's time went (ms), between t0 (request() or publish called) and t1 (the
 * result in hand): `send` t0 -> the first publish call here (encoding the request), `wire` that
 * publish -> the reply's first message here, minus `remote`: both trips through mqtt.js and the
 * broker; `remote` the cloud process from the request's arrival to its reply's publish call
 * (worker: intake, planning, scheduling, onnxruntime, encoding the reply; echo: nothing);
 * `finish` the reply's first message -> t1 (reassembly, decoding, settling the request).
 */
interface Hops { send: number; wire: number; remote: number; finish: number }
const HOPS = ["send", "wire", "remote", "finish"] as const;

interface Stats { p50: number; p99: number; mean: number }
const stats = (xs: number[]): Stats => ({ p50: percentile(xs, 0.5), p99: percentile(xs, 0.99), mean: xs.reduce((a, b) => a + b, 0) / xs.length });

/** One path's round trips at one size. */
export interface PathResult extends Stats {
  /** Median of each hop over the iterations. */
  hopsP50: Hops;
  /** Mean GC pause per round trip, ms: in this process during the trip, and in the cloud process after the path's messages. */
  gcDeviceMs: number;
  gcCloudMs: number;
}

/** One size's result. */
export interface SizeResult {
  bytes: number;
  iterations: number;
  paths: Record<PathName, PathResult>;
  /** edgecut p50 / echo p50: the target. */
  ratioP50: number;
  /** edgecut p50 / echoCopy p50, for information. */
  ratioP50VsCopyingEcho: number;
  /** Medians of what the client and worker report of the edgecut round trips. */
  client: { encodeMs: number; decodeMs: number; computeMs: number; queueMs: number; roundTripMs: number };
  /** Transport messages per request each way (1: not fragmented). */
  messagesUpPerRequest: number;
  messagesDownPerRequest: number;
}

/** One timed round trip and the times the traced transport noted during it. */
interface Trip { ms: number; t0: number; t1: number; pub: number; rx: number; result?: OffloadResult }

async function main(): Promise<void> {
  const sizes = numbers(arg("--sizes"), DEFAULT_SIZES);
  const iterations = numbers(arg("--iterations"), DEFAULT_ITERATIONS);
  const brokerConfig = (arg("--mosquitto") ?? DEFAULT_MOSQUITTO).split(";").map((l) => l.trim()).filter((l) => l !== "");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-bench-offload-"));
  const broker = await startMosquitto({ config: brokerConfig });
  const closers: Array<() => Promise<unknown>> = [];
  let cloud: Cloud | undefined;
  let cloudStopped = false;
  try {
    const manifest = await identitySplit(dir);
    cloud = await startCloud(broker.url, dir, arg("--worker") ?? "{}");
    let pub: number | undefined;
    let rx: number | undefined;
    const conn = await connectMqtt({ url: broker.url, clientId: "bench-device" });
    closers.push(() => conn.close());
    const device: Transport = traced(conn, (_topic, t) => { pub ??= t; }, (_topic, t) => { rx ??= t; });
    const client = new OffloadClient({ transport: device, deviceId: "bench-pi", retries: 0, timeoutMs: 60_000 });
    await client.start();
    closers.unshift(() => client.close());
    let echoed: ((bytes: number) => void) | undefined;
    for (const e of Object.values(ECHO_TOPICS)) {
      await device.subscribe(e.rep, (_topic, payload) => {
        const w = echoed;
        echoed = undefined;
        w?.(payload.byteLength);
      });
    }
    const gc = watchGc();
    const results: SizeResult[] = [];
    for (const [si, bytes] of sizes.entries()) {
      const n = bytes / 4;
      const runs = iterations[si] ?? iterations[iterations.length - 1]!;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 3;
      const tensors = { a: { type: "float32" as const, dims: [n], data } };
      const payload = new Uint8Array(data.buffer);
      const timed = async (f: () => Promise<OffloadResult | undefined>): Promise<Trip> => {
        pub = undefined;
        rx = undefined;
        const t0 = performance.now();
        const result = await f();
        const t1 = performance.now();
        return { ms: t1 - t0, t0, t1, pub: pub!, rx: rx!, ...(result ? { result } : {}) };
      };
      const echo = async (topics: { req: string; rep: string }, copy: boolean): Promise<undefined> => {
        const got = new Promise<number>((resolve) => { echoed = resolve; });
        await device.publish(topics.req, copy ? new Uint8Array(payload) : payload);
        const back = await got;
        if (back !== bytes) throw new Error(`the echo returned ${back} bytes for ${bytes}`);
        return undefined;
      };
      const trips: Record<PathName, () => Promise<Trip>> = {
        edgecut: () => timed(() => client.request(manifest.splitId, { from: 1, to: 2 }, tensors)),
        echo: () => timed(() => echo(ECHO_TOPICS.echo, false)),
        echoCopy: () => timed(() => echo(ECHO_TOPICS.echoCopy, true)),
      };
      // Correctness once: y must be a.
      const y = (await trips.edgecut()).result?.outputs.y;
      if (y?.type !== "float32" || y.data.length !== n || y.data.some((v, i) => v !== data[i])) throw new Error(`the worker's y differs from a at ${bytes} bytes`);
      const warm = Math.max(3, Math.round(runs / 10));
      for (let i = 0; i < warm; i++) for (const p of PATHS) await trips[p]();

      await cloud.ask({ type: "reset" }, "reset");
      gc.clear();
      const before = client.metrics();
      const seen: Record<PathName, Trip[]> = { edgecut: [], echo: [], echoCopy: [] };
      for (let i = 0; i < runs; i++) {
        for (let j = 0; j < PATHS.length; j++) {
          const p = PATHS[(i + j) % PATHS.length]!;
          seen[p].push(await trips[p]());
        }
      }
      const after = client.metrics();
      const pauses = await gc.pauses();
      const remote = await cloud.ask({ type: "collect" }, "collected");
      const paths = {} as Record<PathName, PathResult>;
      for (const p of PATHS) {
        const xs = seen[p];
        const remoteMs = remote.remoteMs[p];
        if (remoteMs.length !== runs) throw new Error(`the cloud process answered ${remoteMs.length} ${p} requests, expected ${runs}`);
        const hops: Hops[] = xs.map((x, i) => ({ send: x.pub - x.t0, wire: x.rx - x.pub - remoteMs[i]!, remote: remoteMs[i]!, finish: x.t1 - x.rx }));
        const hopsP50 = {} as Hops;
        for (const k of HOPS) hopsP50[k] = percentile(hops.map((h) => h[k]), 0.5);
        paths[p] = {
          ...stats(xs.map((x) => x.ms)), hopsP50,
          gcDeviceMs: xs.reduce((acc, x) => acc + gcWithin(pauses, x.t0, x.t1), 0) / runs,
          gcCloudMs: remote.gcMs[p] / runs,
        };
      }
      const mid = (f: (r: OffloadResult) => number): number => percentile(seen.edgecut.map((x) => f(x.result!)), 0.5);
      const r: SizeResult = {
        bytes, iterations: runs, paths,
        ratioP50: paths.edgecut.p50 / paths.echo.p50, ratioP50VsCopyingEcho: paths.edgecut.p50 / paths.echoCopy.p50,
        client: { encodeMs: mid((x) => x.encodeMs), decodeMs: mid((x) => x.decodeMs), computeMs: mid((x) => x.computeMs), queueMs: mid((x) => x.queueMs), roundTripMs: mid((x) => x.roundTripMs) },
        messagesUpPerRequest: (after.messagesUp - before.messagesUp) / runs,
        messagesDownPerRequest: (after.messagesDown - before.messagesDown) / runs,
      };
      results.push(r);
      console.error(`offload ${bytes} B x${runs}: ratio edgecut/echo p50 ${r.ratioP50.toFixed(3)} (vs copying echo ${r.ratioP50VsCopyingEcho.toFixed(3)}); client p50 ${JSON.stringify(r.client, (_k, v: unknown) => typeof v === "number" ? +v.toFixed(3) : v)}`);
      for (const p of PATHS) {
        const x = paths[p];
        console.error(`  ${p.padEnd(8)} p50 ${x.p50.toFixed(3)} p99 ${x.p99.toFixed(3)} ms; hops p50 ${HOPS.map((k) => `${k} ${x.hopsP50[k].toFixed(3)}`).join(", ")}; gc/trip device ${x.gcDeviceMs.toFixed(2)} cloud ${x.gcCloudMs.toFixed(2)} ms`);
      }
    }
    gc.stop();
    const stopped = await cloud.ask({ type: "stop" }, "stopped");
    cloudStopped = true;
    console.log(JSON.stringify({
      results, brokerConfig, brokerMaxPacketSize: conn.maxPacketSize ?? null, protocolVersion: conn.protocolVersion,
      workerShared: cloud.ready.shared, workerComputed: stopped.computed, workerErrors: stopped.errors, clientFailed: client.metrics().failed,
    }));
  } finally {
    for (const c of closers) await c().catch(() => undefined);
    const child = cloud?.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      // A cloud process that answered "stop" exits on its own; anything else is killed now.
      if (cloudStopped) setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      else child.kill("SIGKILL");
      await exited;
    }
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
