// Large requests and replies on a bus with a message cap: fragmented requests are reassembled,
// replies over maxMessageBytes (configured, or derived from the broker's Maximum Packet Size)
// are fragmented; fragments that never complete, or that claim another device, are answered.
import assert from "node:assert/strict";
import * as path from "node:path";
import { before, test } from "node:test";
import { designatedIndex, fragmentHeaderOf } from "../../cloud-stub/relay.js";
import { startWorker } from "../../cloud-stub/worker.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { encodeFrame, fragmentFrame } from "../../sdk/wire/index.js";
import type { HostTensor } from "../../sdk/runtime/tensor.js";
import { captureLogger, errorOf, FakeDevice, makeSplit, maxAbsDiff, referenceChain, silent, tempDir, until, type TestSplit } from "./support.js";

const models = tempDir("fragments");
let split: TestSplit;
let ref: Map<string, HostTensor>;
const ROWS = 1024; // x and y are [1024, 32] float32: 128 KiB each

before(async () => {
  split = await makeSplit("mlp", { layers: 2 }, { x: [2, 32] }, 2, path.join(models, "mlp", "split"));
  const x = new Float32Array(ROWS * 32).map((_, i) => Math.sin(i));
  ref = await referenceChain({ ...split, inputs: { x: { type: "float32", dims: [ROWS, 32], data: x } } });
});

const header = (requestId: string, deviceId = "pi-1") => ({
  requestId, deviceId, splitId: split.manifest.splitId, segments: { from: 0, to: 2 }, ttlMs: 10_000,
});

test("a fragmented request and a reply over maxMessageBytes (64 KiB) both work", async () => {
  // The bus refuses any packet over 70,000 bytes, so an unfragmented 128 KiB reply would fail.
  const bus = createMemoryBus({ maxPacketSize: 70_000 });
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, maxMessageBytes: 64 * 1024 });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    const reply = await device.request(header("big"), { x: ref.get("x")! }, { maxMessageBytes: 16 * 1024 });
    assert.ok(reply.header.ok, JSON.stringify(reply.header));
    assert.ok(maxAbsDiff(reply.tensors.y!, ref.get("y")!) <= 1e-6);
    assert.ok(device.messages >= 3, `the 128 KiB reply came in ${device.messages} messages`);
    assert.equal(worker.metrics().computed, 1);
  } finally {
    await worker.stop();
  }
});

test("without maxMessageBytes the cap comes from the broker's Maximum Packet Size", async () => {
  const bus = createMemoryBus({ maxPacketSize: 50_000 });
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    const reply = await device.request(header("derived"), { x: ref.get("x")! }, { maxMessageBytes: 40_000 });
    assert.ok(reply.header.ok, JSON.stringify(reply.header));
    assert.ok(device.messages >= 3);
    assert.ok(maxAbsDiff(reply.tensors.y!, ref.get("y")!) <= 1e-6);
  } finally {
    await worker.stop();
  }
});

for (const lost of ["not the frame's designated fragment", "its designated fragment"] as const) {
  test(`fragments that do not all arrive in time (${lost} among the lost) -> one E_FRAGMENT reply`, async () => {
    const bus = createMemoryBus();
    let clock = 0;
    const worker = await startWorker({
      transport: bus.connect(), models, logger: silent, now: () => clock, sweepIntervalMs: 10, reassembly: { timeoutMs: 1000 },
    });
    const device = await new FakeDevice(bus.connect(), "pi-1").start();
    try {
      const frame = encodeFrame({ kind: "request", ...header("partial") }, { x: ref.get("x")! });
      const parts = fragmentFrame(frame, 16 * 1024, { requestId: "partial", deviceId: "pi-1" });
      // Under a shared subscription the worker that receives the designated fragment owns the
      // frame (relay.ts): without it, the fragments wait for a claim that never comes.
      const designated = designatedIndex(fragmentHeaderOf(parts[0]!)!);
      const others = parts.map((_, i) => i).filter((i) => i !== designated);
      const sent = lost === "its designated fragment" ? others.slice(0, 3) : [designated, ...others.slice(0, 2)];
      for (const i of sent) await device.publishRaw(split.manifest.splitId, parts[i]!);
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(device.replies.length, 0);
      clock += 1001;
      const reply = await device.reply("partial");
      assert.equal(errorOf(reply).code, "E_FRAGMENT");
      assert.match(errorOf(reply).message, new RegExp(`only 3 of the ${parts.length} fragments`));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(device.repliesTo("partial").length, 1);
    } finally {
      await worker.stop();
    }
  });
}

/** A fragment message rebuilt with its JSON header padded by `pad` spaces (still valid JSON). */
function padHeader(msg: Uint8Array, pad: number): Uint8Array {
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const len = view.getUint32(6, true);
  const json = new TextEncoder().encode(new TextDecoder().decode(msg.subarray(10, 10 + len)) + " ".repeat(pad));
  const out = new Uint8Array(10 + json.length + msg.length - 10 - len);
  out.set(msg.subarray(0, 10));
  new DataView(out.buffer).setUint32(6, json.length, true);
  out.set(json, 10);
  out.set(msg.subarray(10 + len), 10 + json.length);
  return out;
}

for (const kind of ["another protocol version", "a header over the fragment size"] as const) {
  test(`fragments the Reassembler cannot take (${kind}) -> one error reply per request, not one per fragment`, async () => {
    const bus = createMemoryBus();
    const worker = await startWorker({ transport: bus.connect(), models, logger: silent });
    const device = await new FakeDevice(bus.connect(), "pi-1").start();
    try {
      const frame = encodeFrame({ kind: "request", ...header("odd") }, { x: ref.get("x")! });
      const parts = fragmentFrame(frame, 16 * 1024, { requestId: "odd", deviceId: "pi-1" });
      assert.ok(parts.length > 4);
      for (const part of parts) {
        let m = part;
        if (kind === "another protocol version") m[4] = 2; // u16 LE version at offset 4
        else m = padHeader(part, 5000);
        await device.publishRaw(split.manifest.splitId, m);
      }
      const reply = await device.reply("odd");
      assert.equal(errorOf(reply).code, kind === "another protocol version" ? "E_PROTOCOL_VERSION" : "E_FRAGMENT");
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(device.repliesTo("odd").length, 1);
      // Another request is answered on its own.
      assert.ok((await device.request(header("fine"), { x: ref.get("x")! }, { maxMessageBytes: 16 * 1024 })).header.ok);
    } finally {
      await worker.stop();
    }
  });
}

test("fragments naming another device than their topic -> one E_DEVICE_MISMATCH to the topic's device", async () => {
  const bus = createMemoryBus();
  const log = captureLogger();
  const worker = await startWorker({ transport: bus.connect(), models, logger: log.logger });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  const claimed = await new FakeDevice(bus.connect(), "pi-2").start();
  try {
    await device.send(header("spoof", "pi-2"), { x: ref.get("x")! }, { maxMessageBytes: 16 * 1024, topicDevice: "pi-1" });
    const reply = await device.reply("spoof");
    assert.equal(errorOf(reply).code, "E_DEVICE_MISMATCH");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(device.repliesTo("spoof").length, 1, "one reply for all the fragments");
    assert.equal(claimed.replies.length, 0);
    assert.equal(worker.metrics().computed, 0);
    // The worker is not stuck: the same request from the right device works.
    assert.ok((await claimed.request(header("fine", "pi-2"), { x: ref.get("x")! }, { maxMessageBytes: 16 * 1024 })).header.ok);
  } finally {
    await worker.stop();
  }
});

test("replies are cached for retries up to the cache's bounds; a replay is fragmented again", async () => {
  const bus = createMemoryBus();
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, maxMessageBytes: 64 * 1024, replyCache: { maxEntries: 1 } });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    assert.ok((await device.request(header("one"), { x: ref.get("x")! })).header.ok);
    assert.ok((await device.request(header("two"), { x: ref.get("x")! })).header.ok);
    await device.send(header("two"), { x: ref.get("x")! });
    // The device's Reassembler drops a frameId it already completed, so the replay arriving at
    // all proves it was fragmented again under a new frameId.
    await until(() => device.repliesTo("two").length === 2, "the replay of two");
    assert.ok(maxAbsDiff(device.repliesTo("two")[1]!.tensors.y!, ref.get("y")!) <= 1e-6);
    await device.send(header("one"), { x: ref.get("x")! });
    await until(() => device.repliesTo("one").length === 2, "the rerun of one");
    const m = worker.metrics();
    assert.equal(m.replayedFromCache, 1);
    assert.equal(m.computed, 3, "\"one\" left the one-entry cache and ran again");
    assert.equal(m.replyCache.entries, 1);
  } finally {
    await worker.stop();
  }
});

test("two workers of a shared group: the fragments of one request, spread over both, are brought together", async () => {
  // The bus hands each message of a shared subscription to one member in turn, as mosquitto 2
  // does, so every fragmented request reaches both workers in pieces (relay.ts).
  const bus = createMemoryBus();
  const workers = [
    await startWorker({ transport: bus.connect(), models, logger: silent }),
    await startWorker({ transport: bus.connect(), models, logger: silent }),
  ];
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    assert.ok(workers.every((w) => w.shared));
    const n = 20;
    for (let i = 0; i < n; i++) await device.send(header(`f${i}`), { x: ref.get("x")! }, { maxMessageBytes: 16 * 1024 });
    for (let i = 0; i < n; i++) {
      const reply = await device.reply(`f${i}`);
      assert.ok(reply.header.ok, JSON.stringify(reply.header));
      assert.ok(maxAbsDiff(reply.tensors.y!, ref.get("y")!) <= 1e-6);
    }
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(device.replies.length, n, "each request answered once");
    const computed = workers.map((w) => w.metrics().computed);
    assert.equal(computed[0]! + computed[1]!, n);
    assert.ok(computed.every((c) => c > 0), `ownership is spread: ${computed.join(", ")}`);
    assert.ok(workers.every((w) => w.metrics().errors.E_FRAGMENT === undefined));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});
