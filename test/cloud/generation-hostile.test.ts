// Session requests and step frames a device should not send: each answered with a clear code (or
// dropped when it reaches no session topic of this worker), nothing allocated for a lie, and a
// device cannot reach another device's session.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { topics } from "../../sdk/transport/topics.js";
import { encodeStepRequest, stepRequestId } from "../../sdk/wire/step.js";
import type { SessionOpen } from "../../sdk/wire/types.js";
import { silent, tempDir, tinyGptKvSplit, type GenSplit } from "../generate/support.js";
import { errorOf, FakeDevice } from "./support.js";

const SAMPLING = { temperature: 0, topK: 0, topP: 1, seed: 0 };
const open = (o: Partial<SessionOpen> = {}): SessionOpen => ({ op: "open", sample: true, sampling: SAMPLING, chunks: 1, ...o });

describe("generation sessions: hostile requests", () => {
  const root = tempDir("gen-hostile");
  const models = path.join(root, "models");
  const bus = createMemoryBus();
  let split: GenSplit;
  let worker: Worker;
  let device: FakeDevice;
  let other: FakeDevice;

  before(async () => {
    split = await tinyGptKvSplit(models, "gpt");
    worker = await startWorker({ transport: bus.connect(), models, logger: silent, intraOpThreads: 1 });
    device = await new FakeDevice(bus.connect(), "pi-a").start();
    other = await new FakeDevice(bus.connect(), "pi-b").start();
  });
  after(async () => worker?.stop());

  const hidden = (tokens: number) => ({ type: "float32" as const, dims: [1, tokens, 64], data: new Float32Array(64 * tokens) });

  test("a rebuild claiming a million chunks is refused before anything is allocated", async () => {
    const r = await device.request({ requestId: "r1", deviceId: "pi-a", splitId: split.manifest.splitId, segments: { from: 1, to: split.manifest.segments.length }, ttlMs: 5000, sessionId: "s1", step: 3, session: open({ op: "rebuild", chunks: 1_000_000 }) }, { "0/x": hidden(1) });
    assert.equal(errorOf(r).code, "E_FRAME");
    assert.match(errorOf(r).message, /1000000 chunks/);
  });

  test("sending a cache input, sampling where the range does not end the model, or a bad range: clear codes", async () => {
    const n = split.manifest.segments.length;
    const base = { deviceId: "pi-a", splitId: split.manifest.splitId, ttlMs: 5000, sessionId: "s2", step: 0 };
    const cache = await device.request({ ...base, requestId: "r2", segments: { from: 1, to: n }, session: open() }, { "past_key_values.1.key": hidden(1) });
    assert.equal(errorOf(cache).code, "E_FRAME");
    assert.match(errorOf(cache).message, /cache input/);
    const sample = await device.request({ ...base, requestId: "r3", segments: { from: 1, to: n - 1 }, session: open() }, { x: hidden(1) });
    assert.equal(errorOf(sample).code, "E_USAGE");
    const range = await device.request({ ...base, requestId: "r4", segments: { from: 2, to: 2 }, session: open() }, { x: hidden(1) });
    assert.equal(errorOf(range).code, "E_SEGMENT_RANGE");
  });

  test("a step for a session this worker does not hold is E_SESSION_LOST; another device cannot reach a session", async () => {
    const t = topics();
    const step = encodeStepRequest({ sessionId: "nope", step: 1, tensors: [] }, () => "float32");
    await bus.connect().publish(t.sessionTopic("pi-a", split.manifest.splitId, worker.workerId), step);
    assert.equal(errorOf(await device.reply(stepRequestId("nope", 1))).code, "E_SESSION_LOST");
    // pi-b naming pi-a's session on its own topic: the worker looks it up under pi-b and finds nothing.
    await bus.connect().publish(t.sessionTopic("pi-b", split.manifest.splitId, worker.workerId), encodeStepRequest({ sessionId: "s1", step: 1, tensors: [] }, () => "float32"));
    assert.equal(errorOf(await other.reply(stepRequestId("s1", 1))).code, "E_SESSION_LOST");
  });

  test("a step frame on the shared request topic or another worker's session topic is dropped, not run", async () => {
    const before = worker.metrics().dropped;
    const t = topics();
    const step = encodeStepRequest({ sessionId: "s9", step: 1, tensors: [] }, () => "float32");
    await bus.connect().publish(t.requestTopic("pi-a", split.manifest.splitId), step);
    await bus.connect().publish(t.sessionTopic("pi-a", split.manifest.splitId, "someone-else"), step);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(worker.metrics().dropped, before + 1, "the shared-topic step is dropped; the other worker's topic never reaches this one");
    assert.equal(device.repliesTo(stepRequestId("s9", 1)).length, 0);
  });
});
