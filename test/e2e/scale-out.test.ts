// Two `edgecut cloud` processes with the same --group on one broker. On mosquitto (shared
// subscriptions) both take requests and each request is computed by exactly one of them, counted
// from each worker's JSON log lines. On aedes (no shared subscriptions) each worker warns that it
// subscribed plainly, and the warning is true: both compute every request, while the device still
// gets exactly one result per request (the second reply is dropped as a duplicate).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { peekHeader } from "../../sdk/wire/index.js";
import { brokerMatrix, type BrokerHandle } from "../support/brokers.js";
import { buildSplit, connectDevice, requestsDone, sleep, spawnWorker, tempDir, until, type Device, type WorkerProcess } from "./support.js";

const TOL = { atol: 1e-5, rtol: 0 };
const GROUP = "e2e-pair";
const root = tempDir("scale-out");
const models = path.join(root, "models");
const split = buildSplit(models, "tiny-gpt", "tiny-gpt", { layers: 3 }, { input_ids: [2, 8] }, { segments: 3 });

for (const kind of brokerMatrix()) {
  describe(`${kind.name}: two edgecut cloud processes in one --group`, { skip: kind.skip }, () => {
    let broker: BrokerHandle;
    let workers: WorkerProcess[] = [];
    let device: Device;

    before(async () => {
      await split;
      broker = await kind.start();
      workers = await Promise.all([1, 2].map((i) => spawnWorker({ broker: broker.url, models, group: GROUP, clientId: `e2e-worker-${kind.name}-${i}`, label: `worker ${i}` })));
      device = await connectDevice(broker.url, `fleet-${kind.name}`);
    });

    after(async () => {
      await device?.close();
      for (const w of workers) await w.stop();
      await broker?.close();
    });

    if (kind.sharedSubscriptions) {
      test("both workers subscribe through $share/<group>/ and both take requests; 20 requests are computed 20 times in all", async () => {
        const f = await split;
        for (const w of workers) {
          assert.equal(w.ready.shared, true, w.label);
          assert.equal(w.ready.filter, `$share/${GROUP}/edgecut/v1/req/+/+`);
          assert.equal(w.find((r) => r.level === 40 && /second worker/.test(String(r.msg))).length, 0, `${w.label} does not warn`);
        }
        const runner = await SplitRunner.open(f.manifestPath, { client: device.client, intraOpThreads: 1 });
        try {
          const N = 20;
          const results = await Promise.all(Array.from({ length: N }, (_, i) => runner.run(f.inputs, i % 2)));
          for (const r of results) assert.ok(compareOutputs(f.expected, r.outputs, TOL).ok);
          const ids = device.tap.published.map((p) => peekHeader(p.payload)!.header!.requestId!);
          assert.equal(new Set(ids).size, N, "one attempt per request: no timeouts, no retries");
          const done = (w: WorkerProcess): string[] => requestsDone(w, device.client.deviceId).map((r) => r.requestId as string);
          await until(() => done(workers[0]!).length + done(workers[1]!).length >= N, `${N} "request done" lines in all`, 10_000,
            () => workers.map((w) => w.tail(4)).join("\n"));
          await sleep(200);
          const [one, two] = [done(workers[0]!), done(workers[1]!)];
          assert.ok(one.length > 0 && two.length > 0, `both workers computed requests: ${one.length} and ${two.length}`);
          assert.equal(one.length + two.length, N, `each request computed once: ${one.length} + ${two.length}`);
          assert.deepEqual([...one, ...two].sort(), [...ids].sort(), "the two workers computed exactly the requests sent, none twice");
          assert.equal(device.client.metrics().duplicateReplies, 0);
        } finally {
          await runner.close();
        }
      });
    } else {
      test("each worker warns that it subscribed plainly; both then compute every request, and the device keeps one result each", async () => {
        const f = await split;
        for (const w of workers) {
          assert.equal(w.ready.shared, false, w.label);
          assert.equal(w.ready.filter, "edgecut/v1/req/+/+");
          const warn = w.find((r) => r.level === 40 && r.component === "worker" && /no working shared subscriptions/.test(String(r.msg)));
          assert.equal(warn.length, 1, `${w.label} warns once:\n${w.tail()}`);
          assert.match(String(warn[0]!.msg), /subscribed plainly, so a second worker on this broker would run every request again/);
        }
        const runner = await SplitRunner.open(f.manifestPath, { client: device.client, intraOpThreads: 1 });
        try {
          const N = 3;
          for (let i = 0; i < N; i++) {
            const r = await runner.run(f.inputs, 1);
            assert.ok(compareOutputs(f.expected, r.outputs, TOL).ok);
            assert.equal(r.breakdown.attempts, 1);
          }
          const ids = device.tap.published.map((p) => peekHeader(p.payload)!.header!.requestId!);
          await until(() => device.client.metrics().duplicateReplies === N, `${N} duplicate replies dropped`, 10_000);
          for (const w of workers) {
            await until(() => requestsDone(w, device.client.deviceId).length === N, `${w.label}: ${N} "request done" lines`, 10_000, () => w.tail());
            assert.deepEqual(requestsDone(w, device.client.deviceId).map((r) => r.requestId).sort(), [...ids].sort(), `${w.label} ran every request`);
          }
          const m = device.client.metrics();
          assert.deepEqual({ succeeded: m.succeeded, failed: m.failed, duplicateReplies: m.duplicateReplies }, { succeeded: N, failed: 0, duplicateReplies: N });
        } finally {
          await runner.close();
        }
      });
    }

    test("SIGTERM: both workers exit 0", async () => {
      for (const w of workers) assert.equal(await w.stop(), 0, w.tail());
    });
  });
}
