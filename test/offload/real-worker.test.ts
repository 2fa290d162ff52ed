// The device against the real cloud worker (cloud-stub startWorker) on the memory bus: every
// split point matches the whole model, bytes up are the request frame, a lost reply is answered
// from the worker's reply cache on the retry, fragmentation both ways, E_BUSY, retries outliving a queue wait, and the
// worker's refusals surface with their codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { pino } from "pino";
import { startWorker, type Worker, type WorkerOptions } from "../../cloud-stub/index.js";
import { OffloadClient } from "../../sdk/offload/client.js";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import type { OffloadClientOptions } from "../../sdk/offload/types.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { decodeFrame, encodedByteLength } from "../../sdk/wire/index.js";
import { gptSplit, mlpSplit, sleep, splitFixture, tapTransport, type SplitFixture, type Tap } from "./support.js";

const silent = pino({ level: "silent" });

interface RigOptions {
  worker?: Partial<Omit<WorkerOptions, "models">>;
  client?: Partial<OffloadClientOptions>;
  tap?: Partial<Tap>;
}

async function rig(t: { after: (fn: () => Promise<void>) => void }, f: SplitFixture, o: RigOptions = {}) {
  const bus = createMemoryBus();
  const worker: Worker = await startWorker({ transport: bus.connect(), models: path.dirname(f.manifestPath), logger: silent, probeTimeoutMs: 50, ...o.worker });
  const { transport, tap } = tapTransport(bus.connect(), o.tap);
  const client = new OffloadClient({ transport, deviceId: "pi-7", backoffMs: 5, ...o.client });
  await client.start();
  const runner = await SplitRunner.open(f.manifestPath, { client });
  t.after(async () => { await runner.close(); await client.close(); await worker.stop(); });
  return { worker, client, runner, tap };
}

for (const [name, fixture] of [["mlp", mlpSplit], ["tiny-gpt (2 layers)", gptSplit]] as const) {
  test(`real worker, ${name}: every split point k = 0..n matches the whole model; bytes up are the request frame`, async (t) => {
    const f = await fixture();
    const { worker, client, runner, tap } = await rig(t, f);
    assert.deepEqual(worker.splits, [f.manifest.splitId]);
    const n = runner.segmentCount;
    for (let k = 0; k <= n; k++) {
      const sent = tap.published.length;
      const r = await runner.run(f.inputs, k);
      const cmp = compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 });
      assert.ok(cmp.ok, `k=${k}: ${JSON.stringify(cmp.outputs)}`);
      const msgs = tap.published.slice(sent);
      if (k === n) {
        assert.equal(msgs.length, 0);
        continue;
      }
      assert.equal(msgs.length, 1);
      const { header, tensors } = decodeFrame(msgs[0]!.payload);
      const cut = k === 0 ? undefined : f.manifest.cuts[k - 1]!;
      const crossing = cut ? cut.tensors.reduce((a, c) => a + c.bytes, 0) : 0;
      const inputs = cut ? cut.modelInputs : f.manifest.model.inputs.map((i) => i.name);
      const bytesOf = (m: TensorMap, names: string[]): number => names.reduce((a, nm) => a + (m[nm]!.data as ArrayBufferView).byteLength, 0);
      assert.equal(bytesOf(tensors, Object.keys(tensors)), crossing + bytesOf(f.inputs, inputs));
      assert.equal(r.breakdown.bytesUp, msgs[0]!.payload.byteLength);
      assert.equal(r.breakdown.bytesUp, encodedByteLength(header, tensors));
      assert.ok(r.breakdown.bytesDown > 0);
      assert.ok(r.breakdown.cloudComputeMs > 0, "the worker reports its compute time");
    }
    assert.equal(worker.metrics().computed, n);
    assert.equal(client.metrics().succeeded, n);
  });
}

test("real worker: a lost reply is answered from the worker's cache on the retry (same id, computed once)", async (t) => {
  const f = await mlpSplit();
  const { worker, client, runner } = await rig(t, f, { client: { timeoutMs: 200 }, tap: { keep: (_t, _p, n) => n !== 0 } });
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.equal(r.breakdown.attempts, 2);
  const wm = worker.metrics();
  assert.equal(wm.computed, 1);
  assert.equal(wm.replayedFromCache, 1);
  assert.equal(client.metrics().timeouts, 1);
});

test("real worker: fragmentation both ways at 4 KiB", async (t) => {
  const f = await splitFixture("tiny-gpt-wide", "tiny-gpt", { layers: 2 }, { shapes: { input_ids: [2, 32] } });
  const { runner, tap } = await rig(t, f, { worker: { maxMessageBytes: 4096 }, client: { maxMessageBytes: 4096 } });
  for (let k = 0; k < runner.segmentCount; k++) {
    const sent = tap.published.length;
    const r = await runner.run(f.inputs, k);
    assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok, `k=${k}`);
    const msgs = tap.published.slice(sent);
    assert.ok(msgs.every((m) => m.payload.byteLength <= 4096));
    if (k > 0) assert.ok(msgs.length > 1, `k=${k}: the request is fragmented`);
    assert.ok(r.breakdown.bytesDown > 64 * 1024, `k=${k}: the 64 KiB of logits came back in fragments`);
  }
});

test("real worker: E_BUSY is retried until the worker has room, and surfaces when the budget runs out", async (t) => {
  const f = await mlpSplit();
  const { worker, client, runner } = await rig(t, f, { worker: { concurrency: 1, queue: 0 }, client: { retries: 3, backoffMs: 20 } });
  worker.pause();
  await assert.rejects(runner.run(f.inputs, 1), { code: "E_BUSY" });
  assert.equal(client.metrics().busyReplies, 4);
  assert.equal(worker.metrics().busy, 4);
  setTimeout(() => worker.resume(), 30);
  const r = await runner.run(f.inputs, 1, { timeoutMs: 5_000 });
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.ok(r.breakdown.attempts > 1, "the first attempt was refused");
});

test("real worker: a request whose ttl would run out in the queue is kept alive by its retries and succeeds", async (t) => {
  // Each retry (a duplicate of the queued request) extends the queued job's deadline, and an
  // E_EXPIRED would be retried within the budget: the request succeeds once the worker resumes.
  const f = await mlpSplit();
  const { worker, client, runner } = await rig(t, f, { worker: { concurrency: 1, queue: 4 }, client: { retries: 5, timeoutMs: 40 } });
  worker.pause();
  setTimeout(() => worker.resume(), 100);
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.ok(r.breakdown.attempts > 1, "the first attempt timed out while the worker was paused");
  assert.equal(client.metrics().failed, 0);
});

test("real worker: refusals surface with their codes (unknown split, segment range, unknown wanted output)", async (t) => {
  const f = await mlpSplit();
  const { client } = await rig(t, f);
  const h: TensorMap = { h: { type: "float32", dims: [1], data: new Float32Array(1) } };
  await assert.rejects(client.request("0".repeat(64), { from: 1, to: 2 }, h), { code: "E_UNKNOWN_SPLIT" });
  await assert.rejects(client.request(f.manifest.splitId, { from: 1, to: 99 }, h), { code: "E_SEGMENT_RANGE" });
  const n = f.manifest.segments.length;
  const all = { ...f.inputs };
  await assert.rejects(client.request(f.manifest.splitId, { from: 0, to: n }, all, { wantOutputs: ["nope"] }), { code: "E_FRAME", message: /wantOutputs/ });
  await sleep(5);
  assert.equal(client.metrics().errorReplies, 3);
});
