// Faults end to end on each broker (aedes embedded, mosquitto), against `edgecut cloud` processes:
// a lost reply is made good by the retry from the worker's reply cache (one result, one compute);
// a request for a split the worker does not serve gets E_UNKNOWN_SPLIT naming it; a frame naming
// another device than its topic is answered E_DEVICE_MISMATCH on the topic's device only; and a
// worker started with --concurrency 1 --queue 0 answers E_BUSY, which a client with retries 0
// surfaces.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { peekHeader } from "../../sdk/wire/index.js";
import { brokerMatrix, type BrokerHandle } from "../support/brokers.js";
import { errorOf, FakeDevice } from "../cloud/support.js";
import {
  buildSplit, connectDevice, finalMetrics, requestsDone, sleep, spawnWorker, tempDir, until,
  type Device, type E2ESplit, type WorkerProcess,
} from "./support.js";

const TOL = { atol: 1e-5, rtol: 0 };
const root = tempDir("faults");
const models = path.join(root, "models");
const busyModels = path.join(root, "busy-models");
const gptSplit = buildSplit(models, "tiny-gpt", "tiny-gpt", { layers: 3 }, { input_ids: [2, 8] }, "localMin");
// Slow enough that a burst of requests arrives while the first one loads its sessions and runs.
const slowSplit = gptSplit.then(() => buildSplit(busyModels, "slow-gpt", "tiny-gpt", { layers: 8, dModel: 256, maxPositions: 256 }, { input_ids: [1, 256] }, { segments: 2 }));

/** The segment range of a k = 0 run: every segment on the worker, fed the model inputs. */
const k0 = (f: E2ESplit): { from: number; to: number } => ({ from: 0, to: f.manifest.segments.length });

for (const kind of brokerMatrix()) {
  describe(`${kind.name}: faults against edgecut cloud processes`, { skip: kind.skip }, () => {
    let broker: BrokerHandle;
    let worker: WorkerProcess;
    /** The split this worker serves. */
    let f: E2ESplit;
    const devices: Device[] = [];
    const transports: Transport[] = [];

    before(async () => {
      f = await gptSplit;
      broker = await kind.start();
      worker = await spawnWorker({ broker: broker.url, models, clientId: `e2e-worker-faults-${kind.name}` });
    });

    after(async () => {
      for (const d of devices) await d.close();
      for (const t of transports) await t.close();
      await worker?.stop();
      await broker?.close();
    });

    test("the first reply is lost: the retry is answered from the worker's cache; one result, computed once", async () => {
      // Warm the worker's sessions with another device, so the first attempt is answered well within the short timeout.
      const warm = await connectDevice(broker.url, `warm-${kind.name}`);
      devices.push(warm);
      const warmRunner = await SplitRunner.open(f.manifestPath, { client: warm.client, intraOpThreads: 1 });
      await warmRunner.run(f.inputs, 1);
      await warmRunner.close();

      const deviceId = `lossy-${kind.name}`;
      const d = await connectDevice(broker.url, deviceId, { timeoutMs: 1000, retries: 3 }, { keep: (_t, _p, n) => n !== 0 });
      devices.push(d);
      const runner = await SplitRunner.open(f.manifestPath, { client: d.client, intraOpThreads: 1 });
      let settled = 0;
      const run = runner.run(f.inputs, 1).finally(() => { settled++; });
      const r = await run;
      await runner.close();
      assert.equal(settled, 1);
      const cmp = compareOutputs(f.expected, r.outputs, TOL);
      assert.ok(cmp.ok, JSON.stringify(cmp.outputs));
      assert.equal(r.breakdown.attempts, 2, "the first attempt timed out, the retry got the reply");
      const requestIds = new Set(d.tap.published.map((p) => peekHeader(p.payload)!.header!.requestId));
      assert.equal(d.tap.published.length, 2, "two attempts published");
      assert.equal(requestIds.size, 1, "both attempts carry the same request id");
      const [requestId] = [...requestIds];

      // The worker computed it once and replayed the cached reply once (its JSON log lines).
      await worker.waitFor((x) => x.msg === "request done" && x.requestId === requestId, `"request done" for ${requestId}`);
      await worker.waitFor((x) => /replaying the cached reply/.test(String(x.msg)) && x.requestId === requestId, `the cache replay for ${requestId}`);
      await sleep(300); // anything further the worker would do for this id has happened by now
      assert.equal(worker.find((x) => x.msg === "request done" && x.requestId === requestId).length, 1, "computed once");
      assert.equal(worker.find((x) => /replaying the cached reply/.test(String(x.msg)) && x.requestId === requestId).length, 1, "one reply from the cache");
      const m = d.client.metrics();
      assert.equal(d.tap.received, 2, "two replies reached the device's connection; the first was dropped");
      assert.deepEqual({ succeeded: m.succeeded, failed: m.failed, timeouts: m.timeouts, duplicateReplies: m.duplicateReplies, inFlight: m.inFlight },
        { succeeded: 1, failed: 0, timeouts: 1, duplicateReplies: 0, inFlight: 0 });
    });

    test("a request for a split the worker does not serve: E_UNKNOWN_SPLIT naming the splitId", async () => {
      const d = await connectDevice(broker.url, `unknown-${kind.name}`, { timeoutMs: 5000, retries: 0 });
      devices.push(d);
      const bogus = "0123456789abcdef".repeat(4);
      await assert.rejects(d.client.request(bogus, k0(f), f.inputs), (e: Error & { code?: string }) => {
        assert.equal(e.code, "E_UNKNOWN_SPLIT");
        assert.match(e.message, new RegExp(bogus));
        return true;
      });
      const m = d.client.metrics();
      assert.equal(m.errorReplies, 1);
      assert.deepEqual(m.failures, { E_UNKNOWN_SPLIT: 1 });
      await worker.waitFor((x) => x.msg === "request refused" && x.code === "E_UNKNOWN_SPLIT" && x.splitId === bogus, "the refusal log line");
    });

    test("a frame naming another device than its topic: E_DEVICE_MISMATCH to the topic's device, nothing to the other", async () => {
      const t = await connectMqtt({ url: broker.url, clientId: `e2e-mismatch-${kind.name}` });
      transports.push(t);
      const a = await new FakeDevice(t, `dev-a-${kind.name}`).start();
      const b = await new FakeDevice(t, `dev-b-${kind.name}`).start();
      const segments = k0(f);
      // Published on A's request topic, the header says B.
      await a.send({ requestId: "mismatch-1", deviceId: b.deviceId, splitId: f.manifest.splitId, segments, ttlMs: 10_000 }, f.inputs, { topicDevice: a.deviceId });
      const reply = await a.reply("mismatch-1");
      const err = errorOf(reply);
      assert.equal(err.code, "E_DEVICE_MISMATCH");
      assert.ok(err.message.includes(JSON.stringify(a.deviceId)) && err.message.includes(JSON.stringify(b.deviceId)), `the message names both devices: ${err.message}`);
      assert.equal(reply.header.deviceId, a.deviceId, "the reply is addressed to the topic's device");
      // A barrier: a valid request of B's own. Its reply comes after anything the worker could have sent B before it.
      const ok = await b.request({ requestId: "b-own-1", deviceId: b.deviceId, splitId: f.manifest.splitId, segments, ttlMs: 10_000 }, f.inputs);
      assert.ok(ok.header.ok, JSON.stringify(ok.header));
      assert.ok(compareOutputs(f.expected, ok.tensors, TOL).ok);
      await sleep(200);
      assert.deepEqual(b.replies.map((r) => r.header.requestId), ["b-own-1"], "B's reply topic got only its own reply");
      assert.deepEqual(a.replies.map((r) => r.header.requestId), ["mismatch-1"], "A got exactly one reply");
      assert.equal(requestsDone(worker).filter((x) => x.requestId === "mismatch-1").length, 0, "nothing was computed for the mismatched frame");
    });

    test("SIGTERM: exit 0; final metrics: one replay from the cache, one E_UNKNOWN_SPLIT, one E_DEVICE_MISMATCH", async () => {
      assert.equal(await worker.stop(), 0, worker.tail());
      const m = finalMetrics(worker);
      assert.equal(m.replayedFromCache, 1);
      assert.equal(m.computed, requestsDone(worker).length);
      assert.deepEqual(m.errors, { E_UNKNOWN_SPLIT: 1, E_DEVICE_MISMATCH: 1 });
    });

    test("a full worker (--concurrency 1 --queue 0) answers E_BUSY; a client with retries 0 surfaces it", async () => {
      const slow = await slowSplit;
      const busy = await spawnWorker({
        broker: broker.url, models: busyModels, clientId: `e2e-worker-busy-${kind.name}`, prefix: "busy-e2e", group: "busy-e2e",
        args: ["--concurrency", "1", "--queue", "0"],
      });
      try {
        assert.equal(busy.ready.concurrency, 1);
        assert.equal(busy.ready.queue, 0);
        const d = await connectDevice(broker.url, `burst-${kind.name}`, { prefix: "busy-e2e", retries: 0, timeoutMs: 20_000 });
        devices.push(d);
        const N = 8;
        const results = await Promise.allSettled(Array.from({ length: N }, () => d.client.request(slow.manifest.splitId, k0(slow), slow.inputs)));
        const codes = results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as { code?: string }).code));
        const busyCount = codes.filter((c) => c === "E_BUSY").length;
        const okCount = codes.filter((c) => c === "ok").length;
        assert.ok(busyCount >= 1, `at least one request is refused E_BUSY: ${codes.join(", ")}`);
        assert.ok(okCount >= 1, `the first one runs: ${codes.join(", ")}`);
        assert.equal(busyCount + okCount, N, `every request is either answered or refused busy: ${codes.join(", ")}`);
        for (const r of results) {
          if (r.status === "fulfilled") assert.ok(compareOutputs(slow.expected, r.value.outputs, TOL).ok);
          else assert.match((r.reason as Error).message, /queue is full/);
        }
        const m = d.client.metrics();
        assert.equal(m.busyReplies, busyCount);
        assert.equal(m.retries, 0);
        // The worker's log lines agree: one "queue full: E_BUSY" per refusal, one "request done" per result.
        await until(() => busy.find((x) => x.msg === "request done").length === okCount, `${okCount} "request done" lines`, 10_000, () => busy.tail());
        assert.equal(busy.find((x) => x.msg === "queue full: E_BUSY").length, busyCount);
        assert.equal(await busy.stop(), 0, busy.tail());
        const fm = finalMetrics(busy);
        assert.equal(fm.busy, busyCount);
        assert.equal(fm.computed, okCount);
        assert.deepEqual(fm.errors, { E_BUSY: busyCount });
      } finally {
        await busy.stop();
      }
    });
  });
}
