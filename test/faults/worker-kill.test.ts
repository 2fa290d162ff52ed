// Fault: one of two `edgecut cloud` processes sharing the subscription ($share on mosquitto) is
// killed with SIGKILL while it holds requests (running and queued). The broker drops its session;
// the device's attempts that died with it time out and are retried under the same request ids,
// which the surviving worker takes. Each request gets exactly one result (counted per id on the
// device), with the right outputs; recomputations are counted from the workers' logs.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { OffloadClient } from "../../sdk/offload/client.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { brokerMatrix, startMosquitto, type MosquittoHandle } from "../support/brokers.js";
import { buildSplit, requestsDone, spawnWorker, tempDir, until, type E2ESplit, type WorkerProcess } from "../e2e/support.js";
import { computations, countReplies, extraReplies, Ledger } from "./support.js";

const TOL = { atol: 1e-4, rtol: 1e-4 };
const N = 40;
const mosquitto = brokerMatrix().find((b) => b.name === "mosquitto")!;

describe("fault: a worker is killed with requests in flight", { skip: mosquitto.skip }, () => {
  const root = tempDir("fault-kill");
  const models = path.join(root, "models");
  let f: E2ESplit;
  let broker: MosquittoHandle;
  let workers: WorkerProcess[] = [];
  let inner: Transport | undefined;
  let client: OffloadClient | undefined;

  before(async () => {
    // Tens of ms of compute a request, so the workers hold a queue when one is killed.
    f = await buildSplit(models, "slow-gpt", "tiny-gpt", { layers: 8, dModel: 256, maxPositions: 256 }, { input_ids: [1, 256] }, { segments: 2 });
    broker = await startMosquitto();
    workers = await Promise.all([1, 2].map((i) => spawnWorker({
      broker: broker.url, models, clientId: `fault-kill-w${i}`, label: `worker ${i}`, args: ["--queue", "64"],
    })));
  });

  after(async () => {
    await client?.close();
    await inner?.close();
    for (const w of workers) await w.stop();
    await broker?.close();
  });

  test("SIGKILL of one worker holding requests: the other takes them over; each gets exactly one result", async (t) => {
    const [victim, survivor] = workers as [WorkerProcess, WorkerProcess];
    for (const w of workers) assert.equal(w.ready.shared, true, `${w.label} subscribed through $share`);
    const deviceId = "fault-kill-dev";
    inner = await connectMqtt({ url: broker.url, clientId: `e2e-device-${deviceId}`, keepaliveSec: 10 });
    const counted = countReplies(inner);
    client = new OffloadClient({ transport: counted.transport, deviceId, timeoutMs: 3000, retries: 3, backoffMs: 50 });
    await client.start();
    const segments = { from: 0, to: f.manifest.segments.length };
    // Load both workers' sessions first: a kill should find requests queued, not sessions loading.
    let warmed = 0;
    while (!workers.every((w) => requestsDone(w, deviceId).length > 0)) {
      assert.ok(warmed < 20, `a worker took none of ${warmed} requests:\n${workers.map((w) => w.tail(4)).join("\n")}`);
      await Promise.all([1, 2].map(() => client!.request(f.manifest.splitId, segments, f.inputs)));
      warmed += 2;
      await until(() => computations(workers, deviceId).total === warmed, `${warmed} "request done" lines`, 10_000);
    }
    const warm = { victim: requestsDone(victim, deviceId).length, survivor: requestsDone(survivor, deviceId).length };

    const ledger = new Ledger();
    const runs = Array.from({ length: N }, (_, i) => ledger.track(`req-${i}`, client!.request(f.manifest.splitId, segments, f.inputs), (r) => {
      const cmp = compareOutputs(f.expected, r.outputs, TOL);
      assert.ok(cmp.ok, `req-${i}: ${JSON.stringify(cmp.outputs)}`);
    }));
    // Kill the victim once it has finished a few of the burst: the rest of its share is still queued.
    await until(() => requestsDone(victim, deviceId).length >= warm.victim + 3, "the victim to compute 3 of the burst", 20_000, () => victim.tail());
    const victimDone = requestsDone(victim, deviceId).length - warm.victim;
    victim.child.kill("SIGKILL");
    await new Promise<void>((resolve) => { if (victim.child.exitCode !== null || victim.child.signalCode !== null) resolve(); else victim.child.once("exit", () => resolve()); });
    await Promise.all(runs);

    ledger.assertExactlyOnce();
    assert.deepEqual(ledger.summary(), { requests: N, ok: N, errors: {} }, ledger.errorList().join("\n"));
    const m = client.metrics();
    assert.ok(m.timeouts >= 1, "attempts held by the killed worker timed out");
    assert.equal(m.inFlight, 0);
    await until(() => computations(workers, deviceId).unique >= N + warmed, `${N + warmed} request ids computed`, 10_000, () => survivor.tail());
    const c = computations(workers, deviceId);
    const survivorDone = (c.byWorker[survivor.label] ?? 0) - warm.survivor;
    const victimLogged = (c.byWorker[victim.label] ?? 0) - warm.victim;
    assert.ok(survivorDone > N - victimDone - 1, `the survivor took over the victim's share: it computed ${survivorDone}, the victim ${victimDone}`);
    t.diagnostic(`worker kill: ${N} requests, ${N} results, 0 errors; the victim computed ${victimLogged} (${victimDone} when killed), the survivor ${survivorDone}; ` +
      `attempts ${m.attempts - warmed} (${m.retries} retries, ${m.timeouts} timeouts); computations ${c.total - warmed} for ${N} ids: recomputations ${c.recomputed}; ` +
      `replies dropped as duplicates ${m.duplicateReplies} (extra reply messages ${extraReplies(counted.replies)})`);
  });
});
