// Error replies surface at once with their code; replies that are not ours (unknown ids, other
// devices, garbage) are dropped and counted; an unreadable reply frame fails its request; bad
// arguments are E_USAGE before anything is sent.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OffloadClient } from "../../sdk/offload/client.js";
import { ReplyError } from "../../sdk/offload/reply-error.js";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { replyTopic, workerFilter } from "../../sdk/transport/topics.js";
import { decodeFrame, encodeFrame, type ReplyHeader } from "../../sdk/wire/index.js";
import { mlpSplit, sleep, startFakeWorker, tapTransport } from "./support.js";

// E_BUSY, E_EXPIRED and E_FRAGMENT are retried (retries.test.ts); every other code fails at once.
const REMOTE_CODES = ["E_SEGMENT_RANGE", "E_UNKNOWN_SPLIT", "E_DEVICE_MISMATCH", "E_RUNTIME", "E_FRAME", "E_PROTOCOL_VERSION"] as const;

test("an error reply fails the request at once with the reply's code (no retry); an unknown code becomes E_RUNTIME", async (t) => {
  const f = await mlpSplit();
  const bus = createMemoryBus();
  let code = "";
  const worker = await startFakeWorker({ transport: bus.connect(), manifestPath: f.manifestPath, behave: () => ({ error: { code, message: `worker says ${code}` } }) });
  const client = new OffloadClient({ transport: bus.connect(), deviceId: "pi-7", retries: 3 });
  await client.start();
  const runner = await SplitRunner.open(f.manifestPath, { client });
  t.after(async () => { await runner.close(); await client.close(); await worker.close(); });
  for (const c of [...REMOTE_CODES, "E_FROM_A_NEWER_WORKER"]) {
    code = c;
    const before = worker.requests.length;
    const err = await runner.run(f.inputs, 1).then(() => assert.fail(`${c}: expected a rejection`), (e: unknown) => e);
    assert.ok(err instanceof ReplyError, `${c}: ${String(err)}`);
    assert.equal(err.code, c === "E_FROM_A_NEWER_WORKER" ? "E_RUNTIME" : c);
    assert.equal(err.remoteCode, c);
    assert.match(err.message, new RegExp(`worker says ${c}`));
    assert.equal(worker.requests.length, before + 1, `${c}: no retry`);
    assert.equal(err.requestId, worker.requests.at(-1)!.header.requestId);
  }
  const m = client.metrics();
  assert.equal(m.errorReplies, REMOTE_CODES.length + 1);
  assert.equal(m.failures.E_RUNTIME, 2);
  assert.equal(m.retries, 0);
});

test("the fake worker's own checks surface with their codes: unknown split, segment range", async (t) => {
  const f = await mlpSplit();
  const bus = createMemoryBus();
  const worker = await startFakeWorker({ transport: bus.connect(), manifestPath: f.manifestPath });
  const client = new OffloadClient({ transport: bus.connect(), deviceId: "pi-7" });
  await client.start();
  t.after(async () => { await client.close(); await worker.close(); });
  const h: TensorMap = { h: { type: "float32", dims: [1], data: new Float32Array(1) } };
  await assert.rejects(client.request("0".repeat(64), { from: 1, to: 2 }, h), { code: "E_UNKNOWN_SPLIT" });
  await assert.rejects(client.request(f.manifest.splitId, { from: 1, to: 99 }, h), { code: "E_SEGMENT_RANGE" });
});

test("replies for unknown ids, replies for other devices and garbage on the reply topic are dropped and counted", async (t) => {
  const f = await mlpSplit();
  const bus = createMemoryBus();
  const worker = await startFakeWorker({ transport: bus.connect(), manifestPath: f.manifestPath });
  const client = new OffloadClient({ transport: bus.connect(), deviceId: "pi-7" });
  await client.start();
  const runner = await SplitRunner.open(f.manifestPath, { client });
  const other = bus.connect();
  t.after(async () => { await runner.close(); await client.close(); await worker.close(); await other.close(); });
  const reply = (requestId: string, deviceId: string): Uint8Array =>
    encodeFrame({ kind: "reply", requestId, deviceId, computeMs: 0, queueMs: 0, ok: true }, {});
  await other.publish(replyTopic("pi-7"), reply("pi-7-999-abcdef", "pi-7"));
  await other.publish(replyTopic("pi-7"), reply("pi-7-1-abcdef", "pi-8"));
  await other.publish(replyTopic("pi-7"), new TextEncoder().encode("hello"));
  await other.publish(replyTopic("pi-7"), encodeFrame({ kind: "request", requestId: "x", deviceId: "pi-7", splitId: "s", segments: { from: 0, to: 1 }, ttlMs: 1 }, {}));
  await sleep(10);
  const m = client.metrics();
  assert.deepEqual([m.unknownReplies, m.badMessages, m.messagesDown], [1, 3, 4]);
  const r = await runner.run(f.inputs, 1);
  assert.equal(r.breakdown.attempts, 1, "a normal request still works");
});

test("a reply frame the device cannot read fails its request at once with the decoder's code", async (t) => {
  const f = await mlpSplit();
  const bus = createMemoryBus();
  const responder = bus.connect();
  // Answers with a reply whose protocol version is 2: peekHeader still finds the request id.
  await responder.subscribe(workerFilter("+"), (_topic, payload) => {
    const { header } = decodeFrame(payload);
    const frame = encodeFrame({ kind: "reply", requestId: header.requestId, deviceId: header.deviceId, computeMs: 0, queueMs: 0, ok: true }, {});
    new DataView(frame.buffer).setUint16(4, 2, true);
    void responder.publish(replyTopic(header.deviceId), frame);
  });
  const client = new OffloadClient({ transport: bus.connect(), deviceId: "pi-7", retries: 2 });
  await client.start();
  t.after(async () => { await client.close(); await responder.close(); });
  await assert.rejects(client.request(f.manifest.splitId, { from: 1, to: 2 }, {}), { code: "E_PROTOCOL_VERSION", message: /cannot be read/ });
  const m = client.metrics();
  assert.deepEqual([m.attempts, m.badMessages, m.failures.E_PROTOCOL_VERSION], [1, 1, 1]);
});

test("bad options and arguments are E_USAGE, and tensors that cannot be encoded are E_FRAME, before anything is published", async (t) => {
  const f = await mlpSplit();
  const { transport, tap } = tapTransport(createMemoryBus().connect());
  const mk = (o: Record<string, unknown>) => () => new OffloadClient({ transport, deviceId: "pi-7", ...o });
  for (const o of [{ deviceId: "a/b" }, { deviceId: "" }, { deviceId: "x".repeat(129) }, { timeoutMs: 0 }, { timeoutMs: -1 }, { retries: -1 },
    { retries: 1.5 }, { encoding: "int4" }, { prefix: "$SYS" }, { prefix: "a//b" }, { maxMessageBytes: 0 }, { backoffMs: -5 }]) {
    assert.throws(mk(o), { code: "E_USAGE" }, JSON.stringify(o));
  }
  assert.throws(() => new OffloadClient({ deviceId: "pi-7" } as never), { code: "E_USAGE", message: /transport/ });
  const client = new OffloadClient({ transport, deviceId: "pi-7" });
  await client.start();
  t.after(() => client.close());
  const s = f.manifest.splitId;
  await assert.rejects(client.request("a+b", { from: 0, to: 1 }, {}), { code: "E_USAGE", message: /splitId/ });
  for (const seg of [{ from: 2, to: 1 }, { from: -1, to: 1 }, { from: 0.5, to: 2 }]) {
    await assert.rejects(client.request(s, seg, {}), { code: "E_USAGE", message: /segments/ }, JSON.stringify(seg));
  }
  await assert.rejects(client.request(s, { from: 1, to: 2 }, {}, { encoding: "fp8" as never }), { code: "E_USAGE" });
  await assert.rejects(client.request(s, { from: 1, to: 2 }, {}, { timeoutMs: 0 }), { code: "E_USAGE" });
  await assert.rejects(client.request(s, { from: 1, to: 2 }, {}, { wantOutputs: [""] }), { code: "E_USAGE" });
  const nan: TensorMap = { h: { type: "float32", dims: [2], data: Float32Array.from([1, Number.NaN]) } };
  await assert.rejects(client.request(s, { from: 1, to: 2 }, nan, { encoding: "int8-row" }), { code: "E_FRAME" });
  assert.equal(tap.published.length, 0);
  assert.equal(client.metrics().requests, 0);
});

test("a reply header's ok: false error shape is what ReplyError reads", () => {
  const h: ReplyHeader = { kind: "reply", requestId: "r", deviceId: "d", computeMs: 0, queueMs: 0, ok: false, error: { code: "E_EXPIRED", message: "late" } };
  const e = new ReplyError(h.ok ? "" : h.error.code, h.ok ? "" : h.error.message, h.requestId);
  assert.equal(e.code, "E_EXPIRED");
  assert.equal(e.kind, "input");
  assert.equal(new ReplyError("toString", "x", "r").code, "E_RUNTIME", "only the catalogue's own keys are codes");
});
