// Flow control of the cloud worker on the memory bus: a full queue answers E_BUSY at once, a
// request whose ttl ran out while queued gets E_EXPIRED (injected clock), a duplicate request id
// is computed once and answered from the cache afterwards, and stop() finishes accepted work.
import assert from "node:assert/strict";
import * as path from "node:path";
import { before, test } from "node:test";
import { startWorker } from "../../cloud-stub/worker.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { encodeFrame, fragmentFrame, peekHeader } from "../../sdk/wire/index.js";
import type { HostTensor } from "../../sdk/runtime/tensor.js";
import { captureLogger, errorOf, FakeDevice, GatedFactory, makeSplit, maxAbsDiff, referenceChain, silent, tempDir, until, type TestSplit } from "./support.js";

const models = tempDir("flow");
let split: TestSplit;
let ref: Map<string, HostTensor>;

before(async () => {
  split = await makeSplit("mlp", { layers: 2 }, { x: [2, 32] }, 2, path.join(models, "mlp", "split"));
  ref = await referenceChain(split);
});

const header = (requestId: string, ttlMs = 10_000) => ({
  requestId, deviceId: "pi-1", splitId: split.manifest.splitId, segments: { from: 0, to: 2 }, ttlMs,
});
const input = () => ({ x: ref.get("x")! });

test("a full queue answers E_BUSY at once, without computing", async () => {
  const bus = createMemoryBus();
  const gate = new GatedFactory();
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, concurrency: 1, queue: 1, sessionFactory: gate.factory });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    gate.hold();
    await device.send(header("a"), input());
    await until(() => gate.waiting === 1, "request a to run");
    await device.send(header("b"), input());
    await until(() => worker.metrics().queued === 1, "request b to queue");
    const busy = await device.request(header("c"), input());
    assert.equal(errorOf(busy).code, "E_BUSY");
    assert.equal(busy.header.computeMs, 0);
    assert.equal(device.repliesTo("a").length, 0, "a is still running when c is refused");
    assert.equal(gate.runs, 1);
    gate.open();
    assert.ok((await device.reply("a")).header.ok);
    assert.ok((await device.reply("b")).header.ok);
    const m = worker.metrics();
    assert.equal(m.busy, 1);
    assert.equal(m.errors.E_BUSY, 1);
    assert.equal(m.computed, 2);
  } finally {
    gate.open();
    await worker.stop();
  }
});

test("a paused worker with a full queue refuses more; ttl running out while queued -> E_EXPIRED (injected clock)", async () => {
  const bus = createMemoryBus();
  let clock = 1000;
  const log = captureLogger();
  const worker = await startWorker({ transport: bus.connect(), models, logger: log.logger, concurrency: 1, queue: 2, now: () => clock });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    worker.pause();
    await device.send(header("short", 500), input());
    await device.send(header("long", 60_000), input());
    await until(() => worker.metrics().queued === 2, "two queued requests");
    assert.equal(errorOf(await device.request(header("third"), input())).code, "E_BUSY");
    clock += 5000;
    worker.resume();
    const expired = await device.reply("short");
    assert.equal(errorOf(expired).code, "E_EXPIRED");
    assert.equal(expired.header.queueMs, 5000);
    const ok = await device.reply("long");
    assert.ok(ok.header.ok);
    assert.equal(ok.header.queueMs, 5000, "queue time is measured on the injected clock");
    const m = worker.metrics();
    assert.equal(m.expired, 1);
    assert.equal(m.computed, 1);
    assert.ok(log.records.some((r) => r.requestId === "short" && r.msg === "ttl ran out while queued: E_EXPIRED"));
    // An expired request is not cached: its retry runs.
    await device.send(header("short", 500), input());
    await until(() => device.repliesTo("short").length === 2, "the retry's reply");
    assert.ok(device.repliesTo("short")[1]!.header.ok);
  } finally {
    await worker.stop();
  }
});

test("a duplicate of a queued request moves its deadline to the duplicate's ttl (injected clock)", async () => {
  const bus = createMemoryBus();
  let clock = 1000;
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, concurrency: 1, queue: 4, now: () => clock });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    worker.pause();
    await device.send(header("kept", 500), input());
    await until(() => worker.metrics().queued === 1, "a queued request");
    clock += 400;
    await device.send(header("kept", 500), input()); // the device's retry: it still waits
    await until(() => worker.metrics().duplicatesInFlight === 1, "the duplicate to be seen");
    clock += 400; // 800 ms after the original (ttl 500), 400 after the duplicate
    worker.resume();
    const kept = await device.reply("kept");
    assert.ok(kept.header.ok, "the duplicate's ttl kept the queued request alive");
    assert.equal(kept.header.queueMs, 800);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(device.repliesTo("kept").length, 1, "one reply answers both copies");
    const m = worker.metrics();
    assert.deepEqual([m.computed, m.expired], [1, 0]);
  } finally {
    await worker.stop();
  }
});

test("a duplicate's ttl extends a queued request only up to its own end: past both, E_EXPIRED", async () => {
  const bus = createMemoryBus();
  let clock = 1000;
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, concurrency: 1, queue: 4, now: () => clock });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    worker.pause();
    await device.send(header("gone", 500), input());
    await until(() => worker.metrics().queued === 1, "a queued request");
    clock += 400;
    await device.send(header("gone", 500), input());
    await until(() => worker.metrics().duplicatesInFlight === 1, "the duplicate to be seen");
    clock += 501; // past the duplicate's deadline (1400 + 500) too
    worker.resume();
    const reply = await device.reply("gone");
    assert.equal(errorOf(reply).code, "E_EXPIRED");
    assert.match(errorOf(reply).message, /latest copy/);
    assert.equal(reply.header.queueMs, 901);
  } finally {
    await worker.stop();
  }
});

test("a duplicate request id is computed once; a later retry is answered from the cache", async () => {
  const bus = createMemoryBus();
  const gate = new GatedFactory();
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, sessionFactory: gate.factory });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    gate.hold();
    await device.send(header("dup"), input());
    await until(() => gate.waiting === 1, "the first attempt to run");
    await device.send(header("dup"), input());
    await until(() => worker.metrics().duplicatesInFlight === 1, "the duplicate to be seen");
    gate.open();
    const first = await device.reply("dup");
    assert.ok(first.header.ok);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(device.repliesTo("dup").length, 1, "one reply answers both attempts");
    await device.send(header("dup"), input());
    await until(() => device.repliesTo("dup").length === 2, "the replayed reply");
    const replay = device.repliesTo("dup")[1]!;
    assert.deepEqual(replay.header, first.header, "the same reply, timings included");
    assert.equal(maxAbsDiff(replay.tensors.y!, first.tensors.y!), 0);
    const m = worker.metrics();
    assert.equal(m.computed, 1);
    assert.equal(m.duplicatesInFlight, 1);
    assert.equal(m.replayedFromCache, 1);
    assert.equal(gate.runs, 2, "two segments ran once each");
    // Request ids are per device: another device's "dup" is a new request.
    const other = await new FakeDevice(bus.connect(), "pi-2").start();
    assert.ok((await other.request({ ...header("dup"), deviceId: "pi-2" }, input())).header.ok);
    assert.equal(worker.metrics().computed, 2);
  } finally {
    gate.open();
    await worker.stop();
  }
});

test("stop() unsubscribes, finishes running and queued requests, sends their replies, releases sessions", async () => {
  const bus = createMemoryBus();
  const gate = new GatedFactory();
  const log = captureLogger();
  const worker = await startWorker({ transport: bus.connect(), models, logger: log.logger, concurrency: 1, queue: 4, sessionFactory: gate.factory });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  gate.hold();
  await device.send(header("running"), input());
  await until(() => gate.waiting === 1, "a request to run");
  await device.send(header("queued"), input());
  await until(() => worker.metrics().queued === 1, "a request to queue");
  let stopped = false;
  const stopping = worker.stop().then(() => { stopped = true; });
  assert.equal(worker.stop(), worker.stop(), "stop() is idempotent");
  await new Promise((r) => setTimeout(r, 20));
  await device.send(header("late"), input());
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(stopped, false, "stop waits for the accepted requests");
  gate.open();
  await stopping;
  // Published (acknowledged) before stop resolved; the bus delivers on a later tick.
  assert.ok((await device.reply("running")).header.ok);
  assert.ok((await device.reply("queued")).header.ok);
  assert.equal(device.repliesTo("late").length, 0, "after unsubscribing nothing new is taken");
  const m = worker.metrics();
  assert.equal(m.computed, 2);
  assert.equal(m.sessions.loaded, 0);
  assert.equal(m.running + m.queued, 0);
  assert.ok(log.records.some((r) => r.msg === "stopped"));
});

test("stop() also waits for error replies that start while it waits for others (a sweep's E_FRAGMENT)", async () => {
  const bus = createMemoryBus();
  let clock = 0;
  const inner = bus.connect();
  // Every publish of the worker takes 150 ms to be acknowledged; count the finished ones.
  const done: string[] = [];
  const slow: Transport = Object.assign(Object.create(Object.getPrototypeOf(inner) as object) as Transport, inner, {
    publish: async (topic: string, payload: Uint8Array) => {
      await new Promise((r) => setTimeout(r, 150));
      await inner.publish(topic, payload);
      done.push(peekHeader(payload)?.header?.requestId ?? "?");
    },
  });
  const worker = await startWorker({ transport: slow, models, logger: silent, now: () => clock, sweepIntervalMs: 10, reassembly: { timeoutMs: 1000 }, probeTimeoutMs: 400 });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  // A fragmented request missing its last fragment, and a request refused at once (slow to send).
  const frame = encodeFrame({ kind: "request", ...header("partial") }, { x: { type: "float32", dims: [64, 32], data: new Float32Array(2048) } });
  const parts = fragmentFrame(frame, 2048, { requestId: "partial", deviceId: "pi-1" });
  for (const p of parts.slice(0, -1)) await device.publishRaw(split.manifest.splitId, p);
  await device.send({ ...header("refused"), segments: { from: 0, to: 9 } }, input());
  await until(() => worker.metrics().errors.E_SEGMENT_RANGE === 1, "the refusal to be under way");
  const stopping = worker.stop();
  await new Promise((r) => setTimeout(r, 40)); // stop() now waits for the refusal's publish
  clock += 1001; // the next sweep answers the partial frame while stop() waits
  await until(() => worker.metrics().errors.E_FRAGMENT === 1, "the sweep's E_FRAGMENT to be under way");
  await stopping;
  assert.ok(done.includes("refused"));
  assert.ok(done.includes("partial"), "stop() resolved before the E_FRAGMENT reply was sent");
});
