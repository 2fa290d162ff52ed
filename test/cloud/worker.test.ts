// The cloud worker on the memory bus: every segment range of two splits gives the outputs of
// running those segments directly; requests it cannot run get the catalogue's error codes, sent
// to the device the request topic names; undecodable messages are dropped and the worker goes on.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { encodeFrame } from "../../sdk/wire/index.js";
import type { HostTensor } from "../../sdk/runtime/tensor.js";
import {
  captureLogger, errorOf, FakeDevice, makeSplit, maxAbsDiff, referenceChain, requestTensors, tempDir, type TestSplit,
} from "./support.js";

const models = tempDir("worker");
let mlp: TestSplit;
let gpt: TestSplit;
const env = new Map<string, Map<string, HostTensor>>();

before(async () => {
  mlp = await makeSplit("mlp", { layers: 4 }, { x: [2, 32] }, 4, path.join(models, "mlp", "split"));
  gpt = await makeSplit("tiny-gpt", { layers: 2, kvCache: true, dModel: 32 },
    { input_ids: [1, 4], attention_mask: [1, 7], "past_key_values.0.key": [1, 4, 3, 8] }, 3, path.join(models, "gpt", "split"));
  env.set(mlp.manifest.splitId, await referenceChain(mlp));
  env.set(gpt.manifest.splitId, await referenceChain(gpt));
});

describe("serving segment ranges", () => {
  const bus = createMemoryBus();
  let worker: Worker;
  let device: FakeDevice;
  const log = captureLogger();

  before(async () => {
    worker = await startWorker({ transport: bus.connect(), models, logger: log.logger, concurrency: 2 });
    device = await new FakeDevice(bus.connect(), "pi-1").start();
  });
  after(async () => { await worker.stop(); });

  test("serves both splits through a shared subscription", () => {
    assert.deepEqual([...worker.splits].sort(), [mlp.manifest.splitId, gpt.manifest.splitId].sort());
    assert.equal(worker.shared, true);
    assert.equal(worker.filter, "$share/edgecut-workers/edgecut/v1/req/+/+");
    assert.ok(log.records.some((r) => r.msg === "worker ready"));
  });

  for (const which of ["mlp", "tiny-gpt --kv-cache"] as const) {
    test(`${which}: every range from..to-1 equals the segments run directly (<= 1e-6)`, async () => {
      const split = which === "mlp" ? mlp : gpt;
      const ref = env.get(split.manifest.splitId)!;
      const n = split.manifest.segments.length;
      let ranges = 0;
      for (let from = 0; from < n; from++) {
        for (let to = from + 1; to <= n; to++) {
          const id = `${which}-${from}-${to}`;
          const reply = await device.request({
            requestId: id, deviceId: "pi-1", splitId: split.manifest.splitId, segments: { from, to }, ttlMs: 10_000,
          }, requestTensors(split.manifest, from, to, ref));
          assert.ok(reply.header.ok, `${id}: ${JSON.stringify(reply.header)}`);
          const expected = split.manifest.segments[to - 1]!.outputs.map((t) => t.name);
          assert.deepEqual(Object.keys(reply.tensors).sort(), [...expected].sort(), id);
          for (const name of expected) {
            assert.ok(maxAbsDiff(reply.tensors[name]!, ref.get(name)!) <= 1e-6, `${id}: ${name} differs`);
          }
          assert.ok(reply.header.computeMs >= 0 && reply.header.queueMs >= 0);
          ranges++;
        }
      }
      assert.equal(ranges, (n * (n + 1)) / 2);
    });
  }

  test("wantOutputs picks outputs of any segment of the range", async () => {
    const ref = env.get(gpt.manifest.splitId)!;
    const reply = await device.request({
      requestId: "want", deviceId: "pi-1", splitId: gpt.manifest.splitId, segments: { from: 0, to: 3 }, ttlMs: 10_000,
      wantOutputs: ["present.0.key", "logits"],
    }, requestTensors(gpt.manifest, 0, 3, ref));
    assert.ok(reply.header.ok);
    assert.deepEqual(Object.keys(reply.tensors), ["present.0.key", "logits"]);
    assert.ok(maxAbsDiff(reply.tensors["present.0.key"]!, ref.get("present.0.key")!) <= 1e-6);
  });
});

describe("requests the worker cannot run", () => {
  const bus = createMemoryBus();
  let worker: Worker;
  let device: FakeDevice;
  let other: FakeDevice;
  const log = captureLogger();
  const x = (): HostTensor => env.get(mlp.manifest.splitId)!.get("x")!;

  before(async () => {
    worker = await startWorker({ transport: bus.connect(), models, logger: log.logger });
    device = await new FakeDevice(bus.connect(), "pi-1").start();
    other = await new FakeDevice(bus.connect(), "pi-2").start();
  });
  after(async () => { await worker.stop(); });

  test("unknown split -> E_UNKNOWN_SPLIT", async () => {
    const reply = await device.request({ requestId: "u1", deviceId: "pi-1", splitId: "f".repeat(64), segments: { from: 0, to: 1 }, ttlMs: 1000 }, { x: x() });
    assert.equal(errorOf(reply).code, "E_UNKNOWN_SPLIT");
  });

  test("a range past the last segment -> E_SEGMENT_RANGE", async () => {
    const reply = await device.request({ requestId: "r1", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 2, to: 9 }, ttlMs: 1000 }, { x: x() });
    assert.equal(errorOf(reply).code, "E_SEGMENT_RANGE");
    assert.match(errorOf(reply).message, /segments 0\.\.3/);
  });

  test("a missing input -> E_FRAME naming it; a wrong input type -> E_FRAME", async () => {
    const missing = await device.request({ requestId: "m1", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 1, to: 2 }, ttlMs: 1000 }, { x: x() });
    assert.equal(errorOf(missing).code, "E_FRAME");
    assert.match(errorOf(missing).message, /\/act\.0\/Relu_output_0/);
    const typed = await device.request({ requestId: "m2", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 },
      { x: { type: "int32", dims: [2, 32], data: new Int32Array(64) } });
    assert.equal(errorOf(typed).code, "E_FRAME");
    const want = await device.request({ requestId: "m3", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000, wantOutputs: ["y"] }, { x: x() });
    assert.equal(errorOf(want).code, "E_FRAME");
  });

  test("header device != topic device -> E_DEVICE_MISMATCH to the topic's device only", async () => {
    // A frame whose header says pi-2, published on pi-1's request topic.
    await other.send({ requestId: "d1", deviceId: "pi-2", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 }, { x: x() }, { topicDevice: "pi-1" });
    const reply = await device.reply("d1");
    assert.equal(errorOf(reply).code, "E_DEVICE_MISMATCH");
    assert.equal(reply.header.deviceId, "pi-1");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(other.replies.length, 0, "nothing may go to the device named in the header");
  });

  test("garbage bytes are dropped and logged; the worker still serves", async () => {
    const dropped = worker.metrics().dropped;
    const replies = device.replies.length;
    await device.publishRaw(mlp.manifest.splitId, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    await device.publishRaw(mlp.manifest.splitId, new TextEncoder().encode("ECUT but not really a frame"));
    const ok = await device.request({ requestId: "g1", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 }, { x: x() });
    assert.ok(ok.header.ok);
    assert.equal(worker.metrics().dropped, dropped + 2);
    assert.ok(log.records.some((r) => r.msg === "undecodable message without a request id to answer; dropped"));
    assert.deepEqual(device.replies.slice(replies).map((f) => f.header.requestId), ["g1"], "the garbage got no reply");
  });

  test("another protocol version -> E_PROTOCOL_VERSION; a broken frame with a readable id -> E_FRAME", async () => {
    const frame = encodeFrame({ kind: "request", requestId: "v2", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 }, { x: x() });
    frame[4] = 2; // u16 LE version at offset 4
    await device.publishRaw(mlp.manifest.splitId, frame);
    assert.equal(errorOf(await device.reply("v2")).code, "E_PROTOCOL_VERSION");
    const broken = encodeFrame({ kind: "request", requestId: "cut", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 }, { x: x() });
    await device.publishRaw(mlp.manifest.splitId, broken.subarray(0, broken.length - 10));
    assert.equal(errorOf(await device.reply("cut")).code, "E_FRAME");
  });

  test("a frame over the configured limits -> E_FRAME_LIMIT", async () => {
    const strict = createMemoryBus();
    const w = await startWorker({ transport: strict.connect(), models, logger: log.logger, limits: { maxElements: 16 } });
    try {
      const d = await new FakeDevice(strict.connect(), "pi-1").start();
      const reply = await d.request({ requestId: "big", deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 }, { x: x() });
      assert.equal(errorOf(reply).code, "E_FRAME_LIMIT");
    } finally {
      await w.stop();
    }
  });

  test("shapes are checked against the manifest before queueing: rank, fixed dims, one value per symbolic dim, maxDim", async () => {
    const own = createMemoryBus();
    const w = await startWorker({ transport: own.connect(), models, logger: log.logger, maxDim: 64 });
    try {
      const d = await new FakeDevice(own.connect(), "pi-1").start();
      const mlpReq = (id: string) => ({ requestId: id, deviceId: "pi-1", splitId: mlp.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 });
      const f32 = (dims: number[]): HostTensor => ({ type: "float32", dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) });
      // mlp's x is [batch, 32].
      const rank = errorOf(await d.request(mlpReq("rank"), { x: f32([1, 2, 32]) }));
      assert.equal(rank.code, "E_FRAME");
      assert.match(rank.message, /"x".*rank 2 \[batch, 32\].*rank 3 \[1, 2, 32\]/);
      const width = errorOf(await d.request(mlpReq("width"), { x: f32([2, 33]) }));
      assert.equal(width.code, "E_FRAME");
      assert.match(width.message, /"x".*dim 1 must be 32/);
      const huge = errorOf(await d.request(mlpReq("huge"), { x: f32([65, 32]) }));
      assert.equal(huge.code, "E_FRAME_LIMIT");
      assert.match(huge.message, /"x".*\(batch\) is 65, over this worker's limit of 64/);
      assert.ok((await d.request(mlpReq("fits"), { x: f32([64, 32]) })).header.ok, "a batch of maxDim runs");
      // tiny-gpt's first segment reads input_ids [batch, sequence] and attention_mask [batch, ...]: batch must agree.
      const ref = env.get(gpt.manifest.splitId)!;
      const tensors = requestTensors(gpt.manifest, 0, 1, ref);
      const seg0 = gpt.manifest.segments[0]!;
      const mask = seg0.inputs.find((t) => t.name === "attention_mask")!;
      assert.equal(mask.shape[0], "batch");
      const [, total] = tensors.attention_mask!.dims;
      tensors.attention_mask = { type: "int64", dims: [2, total!], data: new BigInt64Array(2 * total!).fill(1n) };
      const batch = errorOf(await d.request({ requestId: "batch", deviceId: "pi-1", splitId: gpt.manifest.splitId, segments: { from: 0, to: 1 }, ttlMs: 1000 }, tensors));
      assert.equal(batch.code, "E_FRAME");
      assert.match(batch.message, /"attention_mask".*\(batch\) is 2, but "input_ids".* batch = 1/);
      assert.equal(w.metrics().computed, 1, "only the request that fits ran");
    } finally {
      await w.stop();
    }
  });

  test("metrics count every error reply by code", () => {
    const m = worker.metrics();
    for (const code of ["E_UNKNOWN_SPLIT", "E_SEGMENT_RANGE", "E_DEVICE_MISMATCH", "E_PROTOCOL_VERSION"]) assert.equal(m.errors[code], 1, code);
    assert.equal(m.errors.E_FRAME, 4);
    assert.ok(m.received >= 10);
  });
});
