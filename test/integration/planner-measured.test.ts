// The planner's choice against measurement: for a few link settings (link shaper) and a device
// stretched to a slow board's speed, every split point of tiny-gpt is run for real (a real worker
// on the memory bus, real onnxruntime sessions) and timed; the best split is the measured one, not
// the planner's formula. After those runs the agent's plan must pick a split whose measured
// latency is within 25% (and 3 ms) of the measured best.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { Agent } from "../../agent/core/agent.js";
import { systemClock } from "../../agent/clock.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { shapeTransport, type ShapedTransport } from "../../sdk/transport/shaper.js";
import { buildSplit, tempDir, type E2ESplit } from "../e2e/support.js";

const MBIT = 1e6;
const root = tempDir("planner-measured");

const SETTINGS = [
  { name: "fast link (100 Mbit/s, 1 ms)", up: 100 * MBIT, down: 100 * MBIT, delayMs: 1 },
  { name: "middling link (8 Mbit/s, 5 ms)", up: 8 * MBIT, down: 8 * MBIT, delayMs: 5 },
  { name: "slow link (1 Mbit/s, 20 ms)", up: 1 * MBIT, down: 1 * MBIT, delayMs: 20 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe("planner vs measured best split", () => {
  let split: E2ESplit;
  let worker: Worker;
  let store: AgentStore;
  let link: ShapedTransport;
  let agent: Agent;

  before(async () => {
    split = await buildSplit(path.join(root, "models"), "pm-gpt", "tiny-gpt", { layers: 4 }, { input_ids: [1, 32] }, { segments: 3 });
    const bus = createMemoryBus();
    worker = await startWorker({ transport: bus.connect(), models: path.join(root, "models"), logger: pino({ level: "silent" }), intraOpThreads: 1 });
    store = openStore(":memory:");
    link = shapeTransport(bus.connect());
    agent = await Agent.start({
      deviceId: "pm-pi", manifestPath: split.manifestPath, store, transport: link, sampler: new FakeSampler({ clock: systemClock }),
      localSlowdown: 10, intraOpThreads: 1, sampleIntervalMs: 60_000, telemetry: { flushIntervalMs: 1000, publishIntervalMs: 0 },
      planner: { ramMarginBytes: 0 }, network: { probeIntervalMs: 600_000 },
    });
  });
  after(async () => {
    await agent?.stop();
    await link?.close();
    await worker?.stop();
    store?.close();
  });

  for (const s of SETTINGS) {
    test(s.name, async (t) => {
      link.setLink({ upBitsPerSec: s.up, downBitsPerSec: s.down, delayMs: s.delayMs });
      const n = split.manifest.segments.length;
      const times: number[][] = Array.from({ length: n + 1 }, () => []);
      // Interleaved rounds over every split point: drift on a shared machine hits them alike.
      for (let round = 0; round < 8; round++) {
        for (let k = 0; k <= n; k++) {
          const r = await agent.infer(split.inputs, { split: k });
          if (round >= 2) times[k]!.push(r.breakdown.totalMs);
        }
      }
      const measured = times.map(median);
      const bestMeasured = Math.min(...measured);
      const p = agent.plan!;
      assert.notEqual(p.best, null);
      const chosen = p.best!;
      const detail = `measured ${measured.map((m, k) => `k${k}=${m.toFixed(1)}`).join(" ")}; predicted ${p.rows.map((r) => `k${r.k}=${r.predicted.totalMs.toFixed(1)}`).join(" ")}; chosen k${chosen}`;
      t.diagnostic(detail);
      assert.ok(measured[chosen]! <= bestMeasured * 1.25 + 3, detail);
    });
  }
});
