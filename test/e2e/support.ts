/**
 * Shared pieces of the end-to-end tests: splits of the generated models written with the graph
 * library (with inputs at the split's shapes and the whole model's outputs from one OrtSession
 * run), `edgecut cloud` as a separate process whose JSON log lines are collected and searched,
 * `edgecut` CLI runs as processes, a device (OffloadClient over a tapped MQTT transport), and an
 * independent reading of a request frame's byte layout (docs/wire-format.md §2, §4).
 *
 * Every child process is SIGKILLed when the test process exits, whatever happened.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { analyze, symbolicTypeOf } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { Graph } from "../../sdk/graph/graph.js";
import { loadManifest, type Manifest } from "../../sdk/graph/manifest.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { buildModel, type ModelKind, type ModelOptions } from "../../sdk/graph/models/index.js";
import { partition } from "../../sdk/graph/partition.js";
import { assignmentFromFronts, segmentByBalance } from "../../sdk/graph/segmentation.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { OffloadClient } from "../../sdk/offload/client.js";
import type { OffloadClientOptions } from "../../sdk/offload/types.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import { sampleInputs } from "../../sdk/runtime/sample-inputs.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { tapTransport, type Tap } from "../offload/support.js";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
const MAIN_TS = path.join(ROOT, "sdk", "cli", "main.ts");

/** Child processes still to be killed when this process exits. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

/** A temp folder removed when the process exits. */
export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `edgecut-e2e-${label}-`));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds; throws after timeoutMs naming `what` (and `detail()` when given). */
export async function until(cond: () => boolean, what: string, timeoutMs = 10_000, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail()}` : ""}`);
    await sleep(10);
  }
}

// ---------------------------------------------------------------------------------------------
// Splits

/** A split on disk, sample inputs at the shapes it was computed at, and the whole model's outputs on them. */
export interface E2ESplit {
  name: string;
  modelPath: string;
  manifestPath: string;
  manifest: Manifest;
  inputs: TensorMap;
  /** The whole (unsplit) model run once with OrtSession on `inputs`. */
  expected: TensorMap;
}

/**
 * Builds `kind`, writes it to `<root>/<name>.onnx` and splits it into `<root>/<name>/` at every
 * candidate cut whose crossing bytes are a local minimum (what `edgecut split --candidates` does),
 * or into `segments` segments balanced by FLOPs. Bytes and FLOPs are computed at `shapes`, the
 * shapes of the sample inputs.
 */
export async function buildSplit(root: string, name: string, kind: ModelKind, opts: ModelOptions, shapes: Record<string, number[]>, how: "localMin" | { segments: number }): Promise<E2ESplit> {
  fs.mkdirSync(root, { recursive: true });
  const modelPath = path.join(root, `${name}.onnx`);
  fs.writeFileSync(modelPath, serializeModel(buildModel(kind, opts), { sourceDir: root }));
  const g = Graph.load(modelPath);
  const a = analyze(g, { shapes });
  const cands = candidateCuts(g, a.metrics, { constants: a.constants });
  const fronts = how === "localMin"
    ? cands.filter((c) => c.localMin).map((c) => c.front)
    : segmentByBalance(g, a.metrics, how.segments, "flops", cands).map((i) => cands[i]!.front);
  assert.ok(fronts.length > 0, `${name}: no cut`);
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const out = path.join(root, name);
  await writeSplit(g, p, out, {
    modelPath, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  const manifestPath = path.join(out, "manifest.json");
  const inputs = sampleInputs(g, { shapes, seed: 11 });
  const whole = await OrtSession.create(modelPath, { allowSpinning: false, intraOpThreads: 1 });
  try {
    const expected = await whole.run(inputs);
    return { name, modelPath, manifestPath, manifest: loadManifest(manifestPath).manifest, inputs, expected };
  } finally {
    await whole.release();
  }
}

/** tiny-gpt (3 layers) at input_ids [2, 8] and tiny-cnn at pixels [2, 3, 32, 32], both split at every local-minimum candidate. */
export async function standardSplits(root: string): Promise<{ gpt: E2ESplit; cnn: E2ESplit }> {
  const gpt = await buildSplit(root, "tiny-gpt", "tiny-gpt", { layers: 3 }, { input_ids: [2, 8] }, "localMin");
  const cnn = await buildSplit(root, "tiny-cnn", "tiny-cnn", {}, { pixels: [2, 3, 32, 32] }, "localMin");
  return { gpt, cnn };
}

// ---------------------------------------------------------------------------------------------
// `edgecut cloud` as a process

/** One pino record of a worker's --json-logs output (`raw` for a line that was not JSON). */
export type LogRecord = Record<string, unknown>;

/** A running `edgecut cloud` process and what it has logged so far. */
export interface WorkerProcess {
  label: string;
  child: ChildProcess;
  /** Every log line so far, parsed. */
  records: LogRecord[];
  /** Its "worker ready" record. */
  ready: LogRecord;
  /** Records matching `pred`. */
  find(pred: (r: LogRecord) => boolean): LogRecord[];
  /** Waits for a record matching `pred` (fails early if the process exits). */
  waitFor(pred: (r: LogRecord) => boolean, what: string, timeoutMs?: number): Promise<LogRecord>;
  /** The last log lines, for failure messages. */
  tail(n?: number): string;
  /** SIGTERM, then the exit code (SIGKILL after timeoutMs). Idempotent. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Options of {@link spawnWorker}. */
export interface SpawnWorkerOptions {
  broker: string;
  models: string;
  label?: string;
  group?: string;
  prefix?: string;
  clientId?: string;
  /** More flags, e.g. ["--concurrency", "1", "--queue", "0"]. */
  args?: string[];
}

/**
 * Starts `edgecut cloud --json-logs --threads 1` as a process (node --import tsx sdk/cli/main.ts)
 * and resolves once it logged "worker ready".
 */
export async function spawnWorker(o: SpawnWorkerOptions): Promise<WorkerProcess> {
  const label = o.label ?? o.clientId ?? "worker";
  const argv = [
    "--import", "tsx", MAIN_TS, "cloud", "--broker", o.broker, "--models", o.models, "--json-logs", "--threads", "1",
    ...(o.group ? ["--group", o.group] : []), ...(o.prefix ? ["--prefix", o.prefix] : []),
    ...(o.clientId ? ["--client-id", o.clientId] : []), ...(o.args ?? []),
  ];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, NODE_NO_WARNINGS: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  const records: LogRecord[] = [];
  let partial = "";
  let stdout = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => { stdout += c; });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    partial += chunk;
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.trim() === "") continue;
      try {
        records.push(JSON.parse(line) as LogRecord);
      } catch {
        records.push({ raw: line });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => { children.delete(child); resolve(code); }));
  const tail = (n = 12): string => `${records.slice(-n).map((r) => JSON.stringify(r)).join("\n")}${partial ? `\n${partial}` : ""}${stdout ? `\nstdout: ${stdout}` : ""}`;
  const find = (pred: (r: LogRecord) => boolean): LogRecord[] => records.filter(pred);
  const waitFor = async (pred: (r: LogRecord) => boolean, what: string, timeoutMs = 20_000): Promise<LogRecord> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = records.find(pred);
      if (r) return r;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${label} exited (${child.exitCode ?? child.signalCode}) before logging ${what}:\n${tail()}`);
      if (Date.now() > deadline) throw new Error(`${label} logged no ${what} within ${timeoutMs} ms:\n${tail()}`);
      await sleep(10);
    }
  };
  let stopping: Promise<number | null> | undefined;
  const stop = (timeoutMs = 15_000): Promise<number | null> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(t);
      }
    })();
    return stopping;
  };
  try {
    const ready = await waitFor((r) => r.msg === "worker ready", `"worker ready"`, 30_000);
    return { label, child, records, ready, find, waitFor, tail, stop };
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
}

/** "request done" records of a worker, optionally only those of one device. */
export function requestsDone(w: WorkerProcess, deviceId?: string): LogRecord[] {
  return w.find((r) => r.msg === "request done" && (deviceId === undefined || r.deviceId === deviceId));
}

/** The worker's final metrics, from its "stopped" record (after stop()). */
export function finalMetrics(w: WorkerProcess): Record<string, unknown> {
  const r = w.find((x) => x.msg === "stopped")[0];
  assert.ok(r !== undefined, `${w.label} logged no "stopped":\n${w.tail()}`);
  return r.metrics as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// CLI runs as processes

/** What one CLI process printed and returned. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `edgecut <argv>` as a process without blocking this one (an embedded broker in this
 * process must keep serving while it runs).
 */
export function runCliProcess(argv: string[], timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN_TS, ...argv], {
      cwd: ROOT, env: { ...process.env, NODE_NO_WARNINGS: "1" }, stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => { stdout += c; });
    child.stderr.setEncoding("utf8").on("data", (c: string) => { stderr += c; });
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (e) => { clearTimeout(t); reject(e); });
    child.once("close", (code) => {
      clearTimeout(t);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The device

/** An OffloadClient on its own MQTT connection, tapped (publishes recorded, incoming messages droppable). */
export interface Device {
  transport: Transport;
  tap: Tap;
  client: OffloadClient;
  close(): Promise<void>;
}

/** Connects a device to `url` and starts its client. */
export async function connectDevice(url: string, deviceId: string, client: Partial<OffloadClientOptions> = {}, tap: Partial<Tap> = {}): Promise<Device> {
  const inner = await connectMqtt({ url, clientId: `e2e-device-${deviceId}` });
  const { transport, tap: state } = tapTransport(inner, tap);
  const c = new OffloadClient({ transport, deviceId, backoffMs: 20, ...client });
  await c.start();
  return {
    transport, tap: state, client: c,
    close: async () => {
      await c.close();
      await inner.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading a frame's layout without the decoder

/** A tensor table entry as the frame's JSON header states it. */
export interface TableEntry {
  name: string;
  type: string;
  dims: number[];
  encoding: string;
  offset: number;
  length: number;
}

/** The prefix, JSON header and tensor table of a frame, read by hand (docs/wire-format.md §2). */
export interface FrameLayout {
  version: number;
  headerLength: number;
  header: Record<string, unknown>;
  table: TableEntry[];
}

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

/**
 * Reads a frame's layout with a DataView and JSON.parse, and checks it against §2 and §4: magic,
 * sections in table order each at the next multiple of 64 after the header or the previous
 * section, the frame ending where the last section ends. So the frame's length is exactly
 * align64(10 + H) + the sections and the zero padding between them, computed here from H and the
 * section lengths alone.
 */
export function readFrameLayout(bytes: Uint8Array): FrameLayout & { expectedLength: number; payloadBytes: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(Buffer.from(bytes.subarray(0, 4)).toString("latin1"), "ECUT", "magic");
  const version = dv.getUint16(4, true);
  const headerLength = dv.getUint32(6, true);
  const header = JSON.parse(Buffer.from(bytes.subarray(10, 10 + headerLength)).toString("utf8")) as Record<string, unknown>;
  const table = (header.tensors ?? []) as TableEntry[];
  let pos = 10 + headerLength;
  let payloadBytes = 0;
  for (const t of table) {
    pos = align64(pos);
    assert.equal(t.offset, pos, `section ${t.name} starts at the next multiple of 64`);
    pos += t.length;
    payloadBytes += t.length;
  }
  return { version, headerLength, header, table, expectedLength: pos, payloadBytes };
}

/** Bytes of a host tensor's data. */
export function dataBytes(t: TensorMap[string]): number {
  return (t.data as ArrayBufferView).byteLength;
}
