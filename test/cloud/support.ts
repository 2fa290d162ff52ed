/**
 * Helpers of the cloud worker tests: small splits written with the graph library, the reference
 * chain run directly with OrtSession, a logger that captures records, and a fake device on a
 * Transport that sends request frames (fragmented when asked) and collects decoded replies.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { analyze, symbolicTypeOf } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { Graph } from "../../sdk/graph/graph.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { buildModel, type ModelKind, type ModelOptions } from "../../sdk/graph/models/index.js";
import { partition } from "../../sdk/graph/partition.js";
import { assignmentFromFronts, segmentByBalance } from "../../sdk/graph/segmentation.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import { sampleInputs } from "../../sdk/runtime/sample-inputs.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import { topics } from "../../sdk/transport/topics.js";
import type { Transport } from "../../sdk/transport/transport.js";
import type { SegmentSession } from "../../cloud-stub/sessions.js";
import { decodeFrame, encodeFrame, fragmentFrame, Reassembler, type Frame, type ReplyHeader, type RequestHeader } from "../../sdk/wire/index.js";

/** A temp folder removed when the process exits. */
export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `edgecut-cloud-${label}-`));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A split written to disk, and sample model inputs at its shapes. */
export interface TestSplit {
  manifest: Manifest;
  dir: string;
  inputs: TensorMap;
}

/**
 * Builds a generated model, splits it into `segments` segments balanced by FLOPs and writes the
 * split to `outDir` (the model file sits next to it).
 */
export async function makeSplit(kind: ModelKind, opts: ModelOptions, shapes: Record<string, number[]>, segments: number, outDir: string): Promise<TestSplit> {
  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  const modelFile = `${outDir}.onnx`;
  fs.writeFileSync(modelFile, serializeModel(buildModel(kind, opts), { sourceDir: path.dirname(outDir) }));
  const g = Graph.load(modelFile);
  const a = analyze(g, { shapes });
  const cands = candidateCuts(g, a.metrics, { constants: a.constants });
  const picks = segmentByBalance(g, a.metrics, segments, "flops", cands);
  const fronts = picks.map((i) => cands[i]!.front);
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const manifest = await writeSplit(g, p, outDir, {
    modelPath: modelFile, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
    externalThreshold: 256,
  });
  return { manifest, dir: outDir, inputs: sampleInputs(g, { shapes, seed: 3 }) };
}

/** Every tensor of the chain: the model inputs and every segment's outputs, run directly with OrtSession. */
export async function referenceChain(split: TestSplit): Promise<Map<string, HostTensor>> {
  const env = new Map<string, HostTensor>(Object.entries(split.inputs));
  for (const seg of split.manifest.segments) {
    const s = await OrtSession.create(path.join(split.dir, seg.file));
    try {
      const feeds: TensorMap = {};
      for (const t of seg.inputs) feeds[t.name] = env.get(t.name)!;
      for (const [name, t] of Object.entries(await s.run(feeds))) env.set(name, t);
    } finally {
      await s.release();
    }
  }
  return env;
}

/** What a device sends for segments from..to-1: the inputs those segments need that no segment of the range makes. */
export function requestTensors(manifest: Manifest, from: number, to: number, env: Map<string, HostTensor>): TensorMap {
  const made = new Set<string>();
  const out: TensorMap = {};
  for (let i = from; i < to; i++) {
    const seg = manifest.segments[i]!;
    for (const t of seg.inputs) if (!made.has(t.name)) out[t.name] = env.get(t.name)!;
    for (const t of seg.outputs) made.add(t.name);
  }
  return out;
}

/** Largest absolute difference between two float tensors (Infinity when shapes or types differ). */
export function maxAbsDiff(a: HostTensor, b: HostTensor): number {
  if (a.type !== b.type || a.dims.join("x") !== b.dims.join("x")) return Infinity;
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

/** A logger whose records land in `records` (level "debug" and up). */
export function captureLogger(): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, sink), records };
}

/** A logger that writes nothing. */
export const silent: Logger = pino({ level: "silent" });

/** A device on a transport: sends requests to the worker and collects the replies on its own reply topic. */
export class FakeDevice {
  readonly replies: Frame[] = [];
  /** Reply messages (fragments included) as they arrived. */
  messages = 0;
  private readonly reassembler = new Reassembler({ maxBytes: 2 ** 30, timeoutMs: 10_000 });
  private wake: Array<() => void> = [];

  constructor(readonly transport: Transport, readonly deviceId: string, readonly prefix = "edgecut") {}

  /** Subscribes to the device's reply topic. */
  async start(): Promise<this> {
    await this.transport.subscribe(topics(this.prefix).replyTopic(this.deviceId), (_t, payload) => {
      this.messages++;
      const frame = this.reassembler.push(payload);
      if (frame === undefined) return;
      this.replies.push(decodeFrame(frame));
      for (const w of this.wake.splice(0)) w();
    });
    return this;
  }

  /** Publishes raw bytes on the request topic of `deviceId` (default: this device) and split. */
  async publishRaw(splitId: string, bytes: Uint8Array, deviceId = this.deviceId): Promise<void> {
    await this.transport.publish(topics(this.prefix).requestTopic(deviceId, splitId), bytes);
  }

  /** Sends a request frame (in fragments of at most maxMessageBytes when given). */
  async send(header: Omit<RequestHeader, "kind">, tensors: TensorMap, opts: { maxMessageBytes?: number; topicDevice?: string } = {}): Promise<void> {
    const frame = encodeFrame({ kind: "request", ...header }, tensors);
    const messages = opts.maxMessageBytes === undefined ? [frame] : fragmentFrame(frame, opts.maxMessageBytes, { requestId: header.requestId, deviceId: header.deviceId });
    for (const m of messages) await this.publishRaw(header.splitId, m, opts.topicDevice ?? this.deviceId);
  }

  /** The reply to `requestId`, waiting up to timeoutMs. */
  async reply(requestId: string, timeoutMs = 10_000): Promise<Frame & { header: ReplyHeader }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.replies.find((f) => f.header.requestId === requestId);
      if (r) return r as Frame & { header: ReplyHeader };
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply to ${requestId} within ${timeoutMs} ms; got ${JSON.stringify(this.replies.map((f) => f.header.requestId))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Replies received for `requestId` so far. */
  repliesTo(requestId: string): Array<Frame & { header: ReplyHeader }> {
    return this.replies.filter((f): f is Frame & { header: ReplyHeader } => f.header.kind === "reply" && f.header.requestId === requestId);
  }

  /** Sends and waits for the reply. */
  async request(header: Omit<RequestHeader, "kind">, tensors: TensorMap, opts: { maxMessageBytes?: number } = {}): Promise<Frame & { header: ReplyHeader }> {
    await this.send(header, tensors, opts);
    return this.reply(header.requestId);
  }
}

/** The error of a reply, or a failure naming what came instead. */
export function errorOf(reply: Frame & { header: ReplyHeader }): { code: string; message: string } {
  if (reply.header.ok) throw new Error(`expected an error reply to ${reply.header.requestId}, got ok with ${Object.keys(reply.tensors).join(", ")}`);
  return reply.header.error;
}

/** A session factory over OrtSession that counts sessions and runs and can hold every run at a gate. */
export class GatedFactory {
  created = 0;
  runs = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  /** Runs waiting at the gate now. */
  waiting = 0;

  /** Makes later runs wait until open(). */
  hold(): void {
    this.gate = new Promise((resolve) => { this.openGate = resolve; });
  }

  /** Lets waiting and later runs go. */
  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  readonly factory = async (file: string): Promise<SegmentSession> => {
    const s = await OrtSession.create(file);
    this.created++;
    return {
      run: async (feeds) => {
        this.runs++;
        if (this.gate) {
          this.waiting++;
          await this.gate;
          this.waiting--;
        }
        return s.run(feeds);
      },
      release: () => s.release(),
    };
  };
}

/** Polls `cond` every few ms until it holds; throws after timeoutMs naming `what`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
