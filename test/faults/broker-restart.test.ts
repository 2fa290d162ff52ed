// Fault: mosquitto killed (SIGKILL) and started again on the same port during a stream of
// requests, with two `edgecut cloud` processes sharing the subscription. Every client reconnects
// (keepalive 10 s, reconnect 1 s) and restores its subscriptions.
// - An OffloadClient sends 200 requests, one every 20 ms: attempts whose request or reply died
//   with the broker time out and are retried under the same request id. Each request gets exactly
//   one result (counted per id on the device), with the right outputs.
// - The agent (static policy at split 1) gets a queued and a direct request every 50 ms: the drop
//   fails its pending offloads at once, queued requests go back to the outbox and complete after
//   the reconnect, each run to success once; direct ones get one result or one clear error.
// Recomputations (work a worker did again) are counted from the workers' logs and reported.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { OffloadClient } from "../../sdk/offload/client.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { brokerMatrix, startMosquitto, type MosquittoHandle } from "../support/brokers.js";
import { buildSplit, sleep, spawnWorker, tempDir, until, type E2ESplit, type WorkerProcess } from "../e2e/support.js";
import { checkStream, queuedRunStats, startAgentDevice, stream, type AgentDevice } from "./agent-stream.js";
import { computations, countReplies, extraReplies, Ledger, steadily } from "./support.js";

const TOL = { atol: 1e-5, rtol: 0 };
const N = 200;
const INTERVAL_MS = 20;
/** The request after which the broker is restarted. */
const RESTART_AT = 70;
const mosquitto = brokerMatrix().find((b) => b.name === "mosquitto")!;

describe("fault: the broker restarts during a stream of requests", { skip: mosquitto.skip }, () => {
  const root = tempDir("fault-restart");
  const models = path.join(root, "models");
  let f: E2ESplit;
  let broker: MosquittoHandle;
  let workers: WorkerProcess[] = [];
  let inner: Transport | undefined;
  let client: OffloadClient | undefined;
  let agentTransport: Transport | undefined;
  let device: AgentDevice | undefined;

  before(async () => {
    f = await buildSplit(models, "tiny-gpt", "tiny-gpt", { layers: 3 }, { input_ids: [2, 8] }, { segments: 2 });
    broker = await startMosquitto();
    workers = await Promise.all([1, 2].map((i) => spawnWorker({ broker: broker.url, models, clientId: `fault-restart-w${i}`, label: `worker ${i}` })));
  });

  after(async () => {
    await device?.close();
    await agentTransport?.close();
    await client?.close();
    await inner?.close();
    for (const w of workers) await w.stop();
    await broker?.close();
  });

  test("200 requests, broker SIGKILLed and restarted after the 70th: each gets exactly one result", async (t) => {
    for (const w of workers) assert.equal(w.ready.shared, true, `${w.label} subscribed through $share`);
    const deviceId = "fault-restart-dev";
    inner = await connectMqtt({ url: broker.url, clientId: `e2e-device-${deviceId}`, keepaliveSec: 10 });
    let drops = 0;
    inner.on("disconnected", () => { drops++; });
    const counted = countReplies(inner);
    client = new OffloadClient({ transport: counted.transport, deviceId, timeoutMs: 2000, retries: 5, backoffMs: 50 });
    await client.start();
    const segments = { from: 0, to: f.manifest.segments.length };
    // Warm both workers' sessions, so no first request's session load is mistaken for a fault.
    await Promise.all(Array.from({ length: 4 }, () => client!.request(f.manifest.splitId, segments, f.inputs)));

    const ledger = new Ledger();
    const runs: Promise<void>[] = [];
    let restarted: Promise<void> | undefined;
    await steadily(N, INTERVAL_MS, (i) => {
      runs.push(ledger.track(`req-${i}`, client!.request(f.manifest.splitId, segments, f.inputs), (r) => {
        const cmp = compareOutputs(f.expected, r.outputs, TOL);
        assert.ok(cmp.ok, `req-${i}: ${JSON.stringify(cmp.outputs)}`);
      }));
      if (i === RESTART_AT) restarted = broker.restart();
    });
    await restarted;
    await Promise.all(runs);

    ledger.assertExactlyOnce();
    assert.deepEqual(ledger.summary(), { requests: N, ok: N, errors: {} }, ledger.errorList().join("\n"));
    assert.ok(drops >= 1, "the device saw the broker connection drop");
    const m = client.metrics();
    assert.equal(m.succeeded, N + 4);
    assert.equal(m.inFlight, 0);

    // The workers: every request id the device sent was computed at least once.
    const ids = new Set<string>();
    for (const [id] of counted.replies) ids.add(id);
    await until(() => computations(workers, deviceId).unique >= N + 4, `${N + 4} request ids computed`, 10_000, () => workers.map((w) => w.tail(4)).join("\n"));
    const c = computations(workers, deviceId);
    for (const id of ids) assert.ok(c.perId.has(id), `a reply came for ${id}, which no worker logged as computed`);
    assert.ok(Object.values(c.byWorker).every((n) => n > 0), `both workers computed requests: ${JSON.stringify(c.byWorker)}`);
    t.diagnostic(`broker restart: ${N} requests, ${N} results, 0 errors; attempts ${m.attempts - 4} (${m.retries} retries: ${m.timeouts} timeouts, ${m.busyReplies} E_BUSY answers); ` +
      `computations ${c.total - 4} for ${N} ids: recomputations ${c.recomputed} (by worker ${JSON.stringify(c.byWorker)}); ` +
      `reply messages beyond one per id ${extraReplies(counted.replies)}, dropped by the client as duplicates ${m.duplicateReplies}; connection drops ${drops}`);
  });

  test("through the agent: the broker restarts under queued and direct requests; each queued one done once, each direct one answered once", async (t) => {
    const deviceId = "fault-restart-pi";
    agentTransport = await connectMqtt({ url: broker.url, clientId: `e2e-device-${deviceId}`, keepaliveSec: 10 });
    let drops = 0;
    agentTransport.on("disconnected", () => { drops++; });
    device = await startAgentDevice(f, deviceId, agentTransport, root);
    const warmComputed = computations(workers, deviceId).total;
    const directOkBefore = device.directOk();
    let restarted: Promise<void> | undefined;
    const s = await stream(device, f, 80, 50, (i) => { if (i === 30) restarted = broker.restart(); });
    await restarted;
    const d = await checkStream(device, s, directOkBefore);
    assert.ok(drops >= 1, "the agent saw the broker connection drop");
    await sleep(300);
    const c = computations(workers, deviceId);
    const computed = c.total - warmComputed;
    const q = queuedRunStats(device, s);
    t.diagnostic(`broker restart, agent: ${s.jobs.size} queued requests, all done, each run to success once (${q.rerun} run again after a failed run); ` +
      `${d.requests} direct: ${d.ok} results, errors ${JSON.stringify(d.errors)}; worker computations ${computed} for ${s.jobs.size + d.ok} results: ` +
      `recomputations ${computed - s.jobs.size - d.ok} (same request id computed again: ${c.recomputed})`);
  });
});
