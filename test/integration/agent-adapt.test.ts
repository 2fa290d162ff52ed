// The agent adapting on real parts: a real broker (mosquitto; aedes where mosquitto is missing
// outside CI), an `edgecut cloud` worker process, the agent core in this process with the link
// shaper in its transport. The device stands in for a slow board (local compute stretched 80x,
// SplitRunner's localSlowdown), so the cloud is worth using on a fast link and not on a slow one.
// When the link drops from 100 Mbit/s to 1 Mbit/s the split must move toward the device within a
// bounded number of requests, and back when the link recovers.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Agent } from "../../agent/core/agent.js";
import { systemClock } from "../../agent/clock.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { shapeTransport, type ShapedTransport } from "../../sdk/transport/shaper.js";
import { brokerMatrix, type BrokerHandle } from "../support/brokers.js";
import { buildSplit, sleep, spawnWorker, tempDir, type E2ESplit, type WorkerProcess } from "../e2e/support.js";

const root = tempDir("agent-adapt");
const models = path.join(root, "models");
const mosquitto = brokerMatrix().find((b) => b.name === "mosquitto")!;
// The real broker when there is one; CI installs it (and fails when it is missing).
const kind = mosquitto.skip === undefined || process.env["CI"] === "true" ? mosquitto : brokerMatrix().find((b) => b.name === "aedes")!;

const MBIT = 1e6;

describe(`agent adapts to the link (${kind.name}, edgecut cloud process, link shaper)`, () => {
  let broker: BrokerHandle;
  let worker: WorkerProcess;
  let split: E2ESplit;
  let store: AgentStore;
  let link: ShapedTransport;
  let agent: Agent;

  before(async () => {
    split = await buildSplit(models, "adapt-gpt", "tiny-gpt", { layers: 4 }, { input_ids: [1, 64] }, { segments: 3 });
    broker = await kind.start();
    worker = await spawnWorker({ broker: broker.url, models, clientId: "adapt-worker" });
    store = openStore(":memory:");
    link = shapeTransport(await connectMqtt({ url: broker.url }), { upBitsPerSec: 100 * MBIT, downBitsPerSec: 100 * MBIT, delayMs: 1 });
    agent = await Agent.start({
      deviceId: "adapt-pi", manifestPath: split.manifestPath, store, transport: link, sampler: new FakeSampler({ clock: systemClock }),
      localSlowdown: 80, intraOpThreads: 1, sampleIntervalMs: 100, network: { probeIntervalMs: 250 },
      telemetry: { flushIntervalMs: 1000, publishIntervalMs: 0 }, offload: { timeoutMs: 10_000, retries: 1 },
      planner: { ramMarginBytes: 0 },
      // A short test: the switch is confirmed over 0.3 s rather than the production 5 s.
      policy: { confirmMs: 300 },
    });
  });

  after(async () => {
    await agent?.stop();
    await link?.close();
    store?.close();
    await worker?.stop();
    await broker?.close();
  });

  /** Runs requests one at a time (with idle gaps for probes) until `done` holds for the split used, or `max` requests. */
  async function runUntil(done: (k: number) => boolean, max: number): Promise<{ splits: number[]; reached: boolean }> {
    const splits: number[] = [];
    for (let i = 0; i < max; i++) {
      const r = await agent.infer(split.inputs);
      assert.ok(compareOutputs(split.expected, r.outputs, { atol: 1e-4, rtol: 1e-4 }).ok, `outputs at split ${r.split} differ`);
      splits.push(r.split);
      if (done(r.split)) return { splits, reached: true };
      await sleep(30);
    }
    return { splits, reached: false };
  }

  test("fast link: offloads; 1 Mbit/s: moves toward the device; recovered: offloads again", async () => {
    const n = split.manifest.segments.length;
    // Learning phase: the device's real (stretched) speed, the link, the worker's speed.
    const warm = await runUntil((k) => k < n, 40);
    assert.ok(warm.reached, `on a 100 Mbit/s link a slow device should offload; splits ${warm.splits.join(",")}\n${JSON.stringify(agent.status().plan?.rows.map((r) => [r.k, Math.round(r.predicted.totalMs)]))} ${JSON.stringify(agent.status().network)} probes ${agent.probes}`);
    const fastSplit = agent.status().split!;

    link.setLink({ upBitsPerSec: 1 * MBIT, downBitsPerSec: 1 * MBIT });
    const slow = await runUntil((k) => k > fastSplit, 25);
    assert.ok(slow.reached, `after the drop to 1 Mbit/s the split should move above ${fastSplit}; splits ${slow.splits.join(",")}\n${JSON.stringify(agent.status().network)}`);

    link.setLink({ upBitsPerSec: 100 * MBIT, downBitsPerSec: 100 * MBIT });
    const back = await runUntil((k) => k <= fastSplit, 60);
    assert.ok(back.reached, `after recovery the split should come back to <= ${fastSplit}; splits ${back.splits.join(",")}\n${JSON.stringify(agent.status().network)} ${JSON.stringify(agent.status().plan?.rows.map((r) => [r.k, Math.round(r.predicted.totalMs), r.predicted.localMs]))} probes ${agent.probes} slow ${slow.splits.join(",")}`);
    // Moving to the device is a policy switch, or (faster) the offload timing out against its
    // predicted round trip and the request running all-local at once (a fallback).
    assert.ok(agent.status().switches + agent.fallbacks >= 2, `switches ${agent.status().switches}, fallbacks ${agent.fallbacks}`);
  });
});
