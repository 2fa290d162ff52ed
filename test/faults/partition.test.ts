// Fault: a 30-second network partition between a device and its broker. The device is the agent
// (agent/core, in this process: its SQLite outbox on disk, the static policy at split 1 so every
// request needs the cloud) on an MQTT connection with a 10 s keepalive through a TCP relay that
// black-holes both directions (test/faults/link-cut.ts); mosquitto and an `edgecut cloud` process
// stay up. Throughout, the device submits a queued request (Idempotency-Key) and makes a direct
// one every 250 ms. The keepalive finds the dead link; queued requests wait in the outbox, direct
// ones get a clear error (E_TIMEOUT, E_BROKER or E_NO_SPLIT). After the link heals: every queued
// request is done, each run to success exactly once (the agent's per-request events), every
// direct one got exactly one result or one error, and the wasted work on the worker (computations
// minus results delivered) is counted from its log.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { brokerMatrix, startMosquitto, type MosquittoHandle } from "../support/brokers.js";
import { buildSplit, sleep, spawnWorker, tempDir, type E2ESplit, type WorkerProcess } from "../e2e/support.js";
import { checkStream, queuedRunStats, startAgentDevice, stream, type AgentDevice } from "./agent-stream.js";
import { startLinkCut, type LinkCut } from "./link-cut.js";
import { computations } from "./support.js";

const PARTITION_MS = 30_000;
const BEFORE_MS = 2_000;
const AFTER_MS = 2_000;
const INTERVAL_MS = 250;
const mosquitto = brokerMatrix().find((b) => b.name === "mosquitto")!;

describe("fault: a 30 s network partition between the agent and the broker", { skip: mosquitto.skip }, () => {
  const root = tempDir("fault-partition");
  const models = path.join(root, "models");
  const deviceId = "fault-partition-pi";
  let f: E2ESplit;
  let broker: MosquittoHandle;
  let worker: WorkerProcess;
  let link: LinkCut;
  let transport: Transport | undefined;
  let device: AgentDevice | undefined;

  before(async () => {
    f = await buildSplit(models, "tiny-gpt", "tiny-gpt", { layers: 3 }, { input_ids: [2, 8] }, { segments: 2 });
    broker = await startMosquitto();
    worker = await spawnWorker({ broker: broker.url, models, clientId: "fault-partition-w" });
    link = await startLinkCut(broker.port);
  });

  after(async () => {
    await device?.close();
    await transport?.close();
    await link?.close();
    await worker?.stop();
    await broker?.close();
  });

  test("queued requests wait out the partition and complete once each; direct ones get one result or one clear error", { timeout: 120_000 }, async (t) => {
    transport = await connectMqtt({ url: link.url, clientId: `e2e-device-${deviceId}`, keepaliveSec: 10 });
    const conn = { drops: 0, backs: 0, droppedDuringCut: false };
    let cutNow = false;
    transport.on("disconnected", () => { conn.drops++; if (cutNow) conn.droppedDuringCut = true; });
    transport.on("connected", () => { conn.backs++; });
    device = await startAgentDevice(f, deviceId, transport, root);
    const warmComputed = computations([worker], deviceId).total;
    const directOkBefore = device.directOk();

    const cutAt = Math.round(BEFORE_MS / INTERVAL_MS);
    const healAt = Math.round((BEFORE_MS + PARTITION_MS) / INTERVAL_MS);
    const s = await stream(device, f, Math.round((BEFORE_MS + PARTITION_MS + AFTER_MS) / INTERVAL_MS), INTERVAL_MS, (i) => {
      if (i === cutAt) { link.cut(); cutNow = true; }
      if (i === healAt) { cutNow = false; link.heal(); }
    });
    const d = await checkStream(device, s, directOkBefore);
    assert.ok(conn.droppedDuringCut, "the keepalive found the dead link during the partition");
    assert.ok(conn.backs >= 1, "the connection came back");
    device.check(await device.agent.infer(f.inputs)); // and requests run at split 1 again

    await sleep(300);
    const c = computations([worker], deviceId);
    const computed = c.total - warmComputed;
    const delivered = s.jobs.size + d.ok + 1;
    const q = queuedRunStats(device, s);
    t.diagnostic(`partition ${PARTITION_MS / 1000} s: ${s.jobs.size} queued requests, all done, each run to success once (${q.rerun} run again after a failed run, at most ${q.maxRuns} runs); ` +
      `${d.requests} direct: ${d.ok} results, errors ${JSON.stringify(d.errors)}; connection drops ${conn.drops}, reconnects ${conn.backs}, ` +
      `relay connections ${JSON.stringify(link.stats())}; worker computations ${computed} for ${delivered} results delivered through the cloud: ` +
      `recomputations ${computed - delivered} (same request id computed again: ${c.recomputed})`);
  });
});
