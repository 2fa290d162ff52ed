// Sessions within the memory budget: the estimate (segment file + external data), LRU release
// under a tiny budget (sessions created again, releases in metrics and logs), none under a large one.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, test } from "node:test";
import { estimateSessionBytes } from "../../cloud-stub/sessions.js";
import { startWorker } from "../../cloud-stub/worker.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import type { HostTensor } from "../../sdk/runtime/tensor.js";
import { captureLogger, FakeDevice, GatedFactory, makeSplit, maxAbsDiff, referenceChain, silent, tempDir, type TestSplit } from "./support.js";

const models = tempDir("sessions");
let split: TestSplit;
let ref: Map<string, HostTensor>;
let estimates: number[];

before(async () => {
  split = await makeSplit("mlp", { layers: 4 }, { x: [2, 32] }, 4, path.join(models, "mlp", "split"));
  ref = await referenceChain(split);
  estimates = split.manifest.segments.map((s) => estimateSessionBytes(path.join(split.dir, s.file)));
});

const run = (device: FakeDevice, requestId: string) => device.request({
  requestId, deviceId: "pi-1", splitId: split.manifest.splitId, segments: { from: 0, to: 4 }, ttlMs: 10_000,
}, { x: ref.get("x")! });

test("the estimate is the segment file plus the external data it references", () => {
  for (const [i, seg] of split.manifest.segments.entries()) {
    const fileBytes = fs.statSync(path.join(split.dir, seg.file)).size;
    // Each mlp segment has one 32x32 float32 weight (4096 bytes, external at the 256-byte
    // threshold) and a 128-byte bias (embedded, so already in the file's size).
    assert.equal(estimates[i]! - fileBytes, 4096, `segment ${i}`);
  }
});

test("a budget that holds one session: LRU release, sessions created again, results unchanged", async () => {
  const bus = createMemoryBus();
  const gate = new GatedFactory();
  const log = captureLogger();
  const budget = Math.max(...estimates) + 1;
  const worker = await startWorker({ transport: bus.connect(), models, logger: log.logger, memoryBudgetBytes: budget, sessionFactory: gate.factory });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    for (const id of ["a", "b"]) {
      const reply = await run(device, id);
      assert.ok(reply.header.ok);
      assert.ok(maxAbsDiff(reply.tensors.y!, ref.get("y")!) <= 1e-6);
    }
    const m = worker.metrics();
    assert.equal(gate.created, 8, "each of the 4 segments loaded once per request");
    assert.equal(m.sessions.created, 8);
    assert.equal(m.sessions.released, 7);
    assert.equal(m.sessions.loaded, 1);
    assert.ok(m.sessions.bytes <= budget);
    const releases = log.records.filter((r) => r.msg === "session released" && r.reason === "lru");
    assert.equal(releases.length, 7);
    assert.equal(log.records.filter((r) => r.overBudget === true).length, 0);
  } finally {
    await worker.stop();
  }
});

test("a budget smaller than one session still serves (over budget, logged)", async () => {
  const bus = createMemoryBus();
  const log = captureLogger();
  const worker = await startWorker({ transport: bus.connect(), models, logger: log.logger, memoryBudgetBytes: 1 });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    assert.ok((await run(device, "tiny")).header.ok);
    assert.ok(log.records.some((r) => r.overBudget === true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(worker.metrics().sessions.loaded, 0, "trimmed back as soon as each session was idle");
  } finally {
    await worker.stop();
  }
});

test("a large budget keeps every session: created once, never released", async () => {
  const bus = createMemoryBus();
  const gate = new GatedFactory();
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, memoryBudgetBytes: 2 ** 30, sessionFactory: gate.factory });
  const device = await new FakeDevice(bus.connect(), "pi-1").start();
  try {
    for (const id of ["a", "b", "c"]) assert.ok((await run(device, id)).header.ok);
    const m = worker.metrics();
    assert.equal(gate.created, 4);
    assert.equal(m.sessions.released, 0);
    assert.equal(m.sessions.bytes, estimates.reduce((a, b) => a + b, 0));
  } finally {
    await worker.stop();
  }
  assert.equal(worker.metrics().sessions.loaded, 0, "stop() releases them");
});
