// Shared pieces of the offload tests: small splits of the built-in models (with inputs at the
// split's shapes and the whole model's outputs), a fake worker that follows the protocol
// contract on any Transport, and transport wrappers that drop, duplicate or count messages.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { analyze, symbolicTypeOf, type ShapeBindings } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { Graph } from "../../sdk/graph/graph.js";
import { loadManifest, type Manifest } from "../../sdk/graph/manifest.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { buildModel, type ModelKind, type ModelOptions } from "../../sdk/graph/models/index.js";
import { partition } from "../../sdk/graph/partition.js";
import { assignmentFromFronts, segmentByBalance } from "../../sdk/graph/segmentation.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import { sampleInputs } from "../../sdk/runtime/sample-inputs.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { topics } from "../../sdk/transport/topics.js";
import type { MessageHandler, Transport, TransportEvent } from "../../sdk/transport/transport.js";
import { decodeFrame, encodeFrame, fragmentFrame, peekHeader, Reassembler, type ReplyHeader, type RequestHeader } from "../../sdk/wire/index.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-offload-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

/** A split on disk with inputs at its shapes and the whole model's outputs on them. */
export interface SplitFixture {
  manifestPath: string;
  manifest: Manifest;
  modelPath: string;
  inputs: TensorMap;
  expected: TensorMap;
}

const fixtures = new Map<string, Promise<SplitFixture>>();

/**
 * `kind` split at up to `maxSegments` segments balanced by FLOPs (fewer when the candidates do
 * not allow as many), at input shapes `at`. Cached per process by label.
 */
export function splitFixture(label: string, kind: ModelKind, opts: ModelOptions, at: ShapeBindings, maxSegments = 4): Promise<SplitFixture> {
  let f = fixtures.get(label);
  if (f === undefined) {
    f = makeFixture(label, kind, opts, at, maxSegments);
    fixtures.set(label, f);
  }
  return f;
}

async function makeFixture(label: string, kind: ModelKind, opts: ModelOptions, at: ShapeBindings, maxSegments: number): Promise<SplitFixture> {
  const modelPath = path.join(tmp, `${label}.onnx`);
  fs.writeFileSync(modelPath, serializeModel(buildModel(kind, opts), { sourceDir: tmp }));
  const g = Graph.load(modelPath);
  const a = analyze(g, at);
  const cands = candidateCuts(g, a.metrics, { constants: a.constants });
  let picks: number[] = [];
  for (let k = Math.min(maxSegments, cands.length + 1); k >= 2 && picks.length === 0; k--) {
    try {
      picks = segmentByBalance(g, a.metrics, k, "flops", cands);
    } catch {
      // Not this many segments: try fewer.
    }
  }
  if (picks.length === 0) throw new Error(`${label}: no segmentation`);
  const fronts = picks.map((i) => cands[i]!.front);
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const out = path.join(tmp, `split-${label}`);
  await writeSplit(g, p, out, {
    modelPath, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  const manifestPath = path.join(out, "manifest.json");
  const inputs = sampleInputs(g, at);
  const whole = await OrtSession.create(modelPath, { allowSpinning: false });
  try {
    const expected = await whole.run(inputs);
    return { manifestPath, manifest: loadManifest(manifestPath).manifest, modelPath, inputs, expected };
  } finally {
    await whole.release();
  }
}

/** The MLP (3 layers, width 32) at x [2, 32]. */
export const mlpSplit = (): Promise<SplitFixture> => splitFixture("mlp", "mlp", {}, { shapes: { x: [2, 32] } });
/** tiny-gpt with 2 layers at input_ids [1, 8]. */
export const gptSplit = (): Promise<SplitFixture> => splitFixture("tiny-gpt", "tiny-gpt", { layers: 2 }, { shapes: { input_ids: [1, 8] } });

/** tiny-gpt with 2 layers and a KV cache (batch 1, sequence 8, past 3): later segments read attention_mask, a model input. */
export const kvSplit = (): Promise<SplitFixture> =>
  splitFixture("tiny-gpt-kv", "tiny-gpt", { layers: 2, kvCache: true }, { dims: { batch: 1, sequence: 8, past_sequence: 3 } });

/** What the fake worker does with one decoded request (every attempt counts). */
export interface Behaviour {
  /** Reply with this error instead of running. */
  error?: { code: string; message: string };
  /** Do not reply at all. */
  drop?: boolean;
  /** Wait this long before replying. */
  delayMs?: number;
}

/** One request frame the fake worker received. */
export interface ReceivedRequest {
  header: RequestHeader;
  tensors: TensorMap;
  frameBytes: number;
  /** Transport messages (fragments) and their bytes that made up the frame. */
  messages: number;
  bytes: number;
}

/** One reply the fake worker sent. */
export interface SentReply {
  header: ReplyHeader;
  messages: number;
  bytes: number;
}

/** Options of startFakeWorker. */
export interface FakeWorkerOptions {
  transport: Transport;
  manifestPath: string;
  prefix?: string;
  maxMessageBytes?: number;
  /** Decides per request, `n` counting from 0 over every request received. */
  behave?: (req: RequestHeader, n: number) => Behaviour | undefined;
}

/** A running fake worker and what it saw. */
export interface FakeWorker {
  requests: ReceivedRequest[];
  replies: SentReply[];
  /** Errors serving requests (a test asserts there are none). */
  errors: unknown[];
  /** Resolves when every request received so far has been answered (or dropped). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A minimal worker following the contract: reassemble, decode, check split / range / device,
 * run segments from..to-1 with OrtSession, reply with wantOutputs (default: the last segment's
 * outputs) on the reply topic derived from the request topic, fragmenting at maxMessageBytes.
 */
export async function startFakeWorker(opts: FakeWorkerOptions): Promise<FakeWorker> {
  const { manifest, dir } = loadManifest(opts.manifestPath);
  const t = topics(opts.prefix);
  const sessions = new Map<number, Promise<OrtSession>>();
  const session = (i: number): Promise<OrtSession> => {
    let s = sessions.get(i);
    if (!s) sessions.set(i, (s = OrtSession.create(path.resolve(dir, manifest.segments[i]!.file), { allowSpinning: false })));
    return s;
  };
  const reassembler = new Reassembler({ maxBytes: 2 ** 28, timeoutMs: 10_000 });
  const partial = new Map<string, { messages: number; bytes: number }>();
  const requests: ReceivedRequest[] = [];
  const replies: SentReply[] = [];
  const errors: unknown[] = [];
  let chain: Promise<void> = Promise.resolve();
  let n = 0;

  const reply = async (topic: string, header: ReplyHeader, tensors: TensorMap): Promise<void> => {
    const frame = encodeFrame(header, tensors);
    const msgs = fragmentFrame(frame, opts.maxMessageBytes ?? 2 ** 27, header);
    replies.push({ header, messages: msgs.length, bytes: msgs.reduce((a, m) => a + m.byteLength, 0) });
    for (const m of msgs) await opts.transport.publish(topic, m);
  };

  const serve = async (topic: string, frameBytes: Uint8Array, stats: { messages: number; bytes: number }): Promise<void> => {
    const replyTopic = t.replyTopicForRequest(topic)!;
    const address = t.parseRequestTopic(topic)!;
    const { header, tensors } = decodeFrame(frameBytes);
    if (header.kind !== "request") return;
    requests.push({ header, tensors, frameBytes: frameBytes.byteLength, ...stats });
    const b = opts.behave?.(header, n++) ?? {};
    const base = { kind: "reply" as const, requestId: header.requestId, deviceId: header.deviceId, computeMs: 0, queueMs: 0 };
    const refuse = (code: string, message: string): Promise<void> => reply(replyTopic, { ...base, ok: false, error: { code, message } }, {});
    if (b.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
    if (b.drop) return;
    if (b.error) return refuse(b.error.code, b.error.message);
    if (header.deviceId !== address.deviceId) return refuse("E_DEVICE_MISMATCH", "device id differs from the topic's");
    if (header.splitId !== manifest.splitId || address.splitId !== manifest.splitId) return refuse("E_UNKNOWN_SPLIT", `no split ${header.splitId}`);
    if (header.segments.to > manifest.segments.length) return refuse("E_SEGMENT_RANGE", `no segments ${header.segments.from}..${header.segments.to - 1}`);
    const pool = new Map(Object.entries(tensors));
    const t0 = performance.now();
    for (let i = header.segments.from; i < header.segments.to; i++) {
      const seg = manifest.segments[i]!;
      const feeds: TensorMap = {};
      for (const inp of seg.inputs) {
        const v = pool.get(inp.name);
        if (!v) return refuse("E_RUNTIME", `segment ${i} needs ${inp.name}, which the request lacks`);
        feeds[inp.name] = v;
      }
      const out = await (await session(i)).run(feeds, seg.outputs.map((o) => o.name));
      for (const [name, v] of Object.entries(out)) pool.set(name, v);
    }
    const computeMs = performance.now() - t0;
    const want = header.wantOutputs ?? manifest.segments[header.segments.to - 1]!.outputs.map((o) => o.name);
    const outputs: TensorMap = {};
    for (const name of want) outputs[name] = pool.get(name)!;
    await reply(replyTopic, { ...base, computeMs, ok: true }, outputs);
  };

  const handler: MessageHandler = (topic, payload) => {
    const id = peekHeader(payload)?.header?.requestId ?? "?";
    const stats = partial.get(id) ?? { messages: 0, bytes: 0 };
    stats.messages++;
    stats.bytes += payload.byteLength;
    partial.set(id, stats);
    const frame = reassembler.push(payload);
    if (frame === undefined) return;
    partial.delete(id);
    // One request at a time, in arrival order, like a worker with one slot.
    chain = chain.then(() => serve(topic, frame, stats)).catch((e: unknown) => { errors.push(e); });
  };
  await opts.transport.subscribe(t.workerFilter("+"), handler);
  return {
    requests, replies, errors,
    idle: async () => {
      let last: Promise<void> | undefined;
      while (last !== chain) {
        last = chain;
        await last;
      }
    },
    close: async () => {
      await opts.transport.unsubscribe(t.workerFilter("+")).catch(() => undefined);
      for (const s of sessions.values()) await (await s).release();
    },
  };
}

/** What a TapTransport saw and lets a test change. */
export interface Tap {
  /** Return false to drop an incoming message; n counts incoming messages from 0. */
  keep?: (topic: string, payload: Uint8Array, n: number) => boolean;
  /** Deliver every incoming message this many times (default 1). */
  copies?: number;
  published: { topic: string; payload: Uint8Array }[];
  received: number;
  subscribes: number;
}

/** Wraps a Transport to watch publishes and drop or duplicate incoming messages. */
export function tapTransport(inner: Transport, tap: Partial<Tap> = {}): { transport: Transport; tap: Tap } {
  const state: Tap = { published: [], received: 0, subscribes: 0, ...tap };
  let n = 0;
  const transport: Transport = {
    get protocolVersion() { return inner.protocolVersion; },
    get maxPacketSize() { return inner.maxPacketSize; },
    publish: async (topic, payload) => {
      state.published.push({ topic, payload: payload.slice() });
      await inner.publish(topic, payload);
    },
    subscribe: async (filter, handler) => {
      state.subscribes++;
      await inner.subscribe(filter, (topic, payload) => {
        state.received++;
        if (state.keep && !state.keep(topic, payload, n++)) return;
        for (let i = 0; i < (state.copies ?? 1); i++) handler(topic, payload.slice());
      });
    },
    unsubscribe: (filter) => inner.unsubscribe(filter),
    close: () => inner.close(),
    on: (event: TransportEvent, fn: () => void) => inner.on(event, fn),
  };
  return { transport, tap: state };
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
