// The agent core (agent/core/agent.ts) on a real tiny-gpt split: real onnxruntime sessions, a real
// worker (cloud-stub) on the in-process memory bus, the SQLite store in memory, a scripted sampler.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { Agent, type AgentOptions } from "../../agent/core/agent.js";
import type { RequestEvent, SwitchEvent } from "../../agent/core/types.js";
import { systemClock } from "../../agent/clock.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { EdgecutError } from "../../sdk/errors.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { createMemoryBus, type MemoryBus } from "../../sdk/transport/memory.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { gptSplit, type SplitFixture } from "../offload/support.js";

let split: SplitFixture;
let bus: MemoryBus;
let worker: Worker;
const exact = { atol: 1e-5, rtol: 1e-5 };

before(async () => {
  split = await gptSplit();
  bus = createMemoryBus();
  worker = await startWorker({ transport: bus.connect(), models: path.dirname(path.dirname(split.manifestPath)), logger: pino({ level: "silent" }) });
});
after(async () => {
  await worker.stop();
});

interface Harness {
  agent: Agent;
  store: AgentStore;
  sampler: FakeSampler;
  transport: Transport;
  close(): Promise<void>;
}

async function startAgent(over: Partial<AgentOptions> = {}, withCloud = true): Promise<Harness> {
  const store = openStore(":memory:");
  const sampler = new FakeSampler({ clock: systemClock });
  const transport = bus.connect();
  const agent = await Agent.start({
    deviceId: "pi-test", manifestPath: split.manifestPath, store, sampler, sampleIntervalMs: 60_000,
    telemetry: { flushIntervalMs: 0, publishIntervalMs: 0 }, offload: { timeoutMs: 5000, retries: 0 },
    ...(withCloud ? { transport } : {}), ...over,
  });
  return { agent, store, sampler, transport, close: async () => { await agent.stop(); await transport.close(); store.close(); } };
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("agent core", () => {
  test("every split point gives the whole model's outputs; breakdown and telemetry recorded", async () => {
    const h = await startAgent();
    const events: RequestEvent[] = [];
    h.agent.on("request", (e) => events.push(e));
    try {
      const n = split.manifest.segments.length;
      for (let k = 0; k <= n; k++) {
        const r = await h.agent.infer(split.inputs, { split: k });
        assert.equal(r.split, k);
        assert.ok(compareOutputs(split.expected, r.outputs, exact).ok, `split ${k} outputs differ`);
        if (k < n) assert.ok(r.breakdown.bytesUp > 0 && r.breakdown.attempts === 1, `split ${k} went to the worker`);
        else assert.equal(r.breakdown.bytesUp, 0, "all-local sends nothing");
      }
      assert.equal(events.length, n + 1);
      assert.ok(events.every((e) => e.outcome === "ok" && e.kind === "direct"));
      const rows = h.store.recentTelemetry(60_000);
      assert.equal(rows.length, n + 1, "one telemetry sample per request (flushed at once in this test)");
      assert.deepEqual(rows.map((r) => r.split), [...Array(n + 1).keys()]);
      // Default choice: the planner's, within the split points.
      const auto = await h.agent.infer(split.inputs);
      assert.ok(auto.split >= 0 && auto.split <= n);
      assert.equal(auto.split, h.agent.status().split);
    } finally {
      await h.close();
    }
  });

  test("bad inputs are refused with the reason before anything runs", async () => {
    const h = await startAgent();
    try {
      await assert.rejects(h.agent.infer({}), (e: unknown) => e instanceof EdgecutError && e.code === "E_INPUT_MISSING");
      const ids = split.inputs["input_ids"]!;
      await assert.rejects(h.agent.infer({ ...split.inputs, extra: ids }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && /extra/.test(e.message));
      await assert.rejects(h.agent.infer({ input_ids: { type: "float32", dims: ids.dims, data: new Float32Array(ids.data.length) } }), /int64/);
      await assert.rejects(h.agent.infer(split.inputs, { split: 99 }), /split 99 does not exist/);
      assert.throws(() => h.agent.submit("k1", {}), (e: unknown) => e instanceof EdgecutError && e.code === "E_INPUT_MISSING");
    } finally {
      await h.close();
    }
  });

  test("queued requests: written first, run once per key, results fetched by id", async () => {
    const h = await startAgent();
    try {
      const a = h.agent.submit("key-a", split.inputs);
      assert.equal(a.created, true);
      const again = h.agent.submit("key-a", split.inputs);
      assert.deepEqual([again.id, again.created], [a.id, false], "the same key is the same request");
      assert.throws(() => h.agent.submit("key-a", { input_ids: { ...split.inputs["input_ids"]!, data: new BigInt64Array(split.inputs["input_ids"]!.data.length) } } as never),
        /used before for a different request/);
      await until(() => h.agent.getRequest(a.id)?.status === "done", "the queued request");
      const st = h.agent.getRequest(a.id)!;
      assert.equal(st.status, "done");
      if (st.status === "done") assert.ok(compareOutputs(split.expected, st.result.outputs, exact).ok);
      assert.equal(h.agent.submit("key-a", split.inputs).status, "done", "after it ran, the key still maps to it");
      assert.equal(h.agent.getRequest("999999"), undefined);
      assert.equal(h.agent.getRequest("not-a-number"), undefined);
      assert.equal(h.store.jobCounts().done, 1, "ran once");
    } finally {
      await h.close();
    }
  });

  test("no cloud: all-local when it fits; a too-small device cannot run anything and says why", async () => {
    const h = await startAgent({}, false);
    try {
      const r = await h.agent.infer(split.inputs);
      assert.equal(r.split, split.manifest.segments.length);
      assert.ok(compareOutputs(split.expected, r.outputs, exact).ok);
      assert.equal(h.agent.status().action, "local");
    } finally {
      await h.close();
    }
    const tiny = await startAgent({ planner: { ramMarginBytes: 0 } }, false);
    try {
      tiny.sampler.set({ ramAvailableBytes: 1 });
      await tiny.agent.refresh();
      await assert.rejects(tiny.agent.infer(split.inputs), (e: unknown) => e instanceof EdgecutError && e.code === "E_NO_SPLIT" && /RAM|needs/.test(e.message));
      assert.equal(tiny.agent.health().ready, false);
    } finally {
      await tiny.close();
    }
  });

  test("the broker going away moves requests local at once and back when it returns", async () => {
    const h = await startAgent({ policy: { name: "static", split: 1 } });
    const switches: SwitchEvent[] = [];
    h.agent.on("switch", (e) => switches.push(e));
    try {
      assert.equal((await h.agent.infer(split.inputs)).split, 1);
      bus.stop();
      await until(() => h.agent.status().network.reachable === false, "the agent to notice");
      // Static split 1 needs the cloud: the policy holds requests rather than silently moving.
      await assert.rejects(h.agent.infer(split.inputs), (e: unknown) => e instanceof EdgecutError && e.code === "E_NO_SPLIT");
      const q = h.agent.submit("while-down", split.inputs);
      assert.equal(h.agent.getRequest(q.id)?.status, "queued", "held in the outbox while the cloud is away");
      bus.start();
      await until(() => h.agent.getRequest(q.id)?.status === "done", "the held request after the broker returned");
    } finally {
      await h.close();
    }
  });

  test("idle probes: with no requests the agent measures the link through the worker (segments from = to)", async () => {
    const h = await startAgent({ sampleIntervalMs: 20, network: { probeIntervalMs: 30 } });
    try {
      await until(() => h.agent.probes >= 2, "two probes");
      const net = h.agent.status().network;
      assert.ok(net.samples >= 2 && net.reachable, JSON.stringify(net));
      assert.equal(h.store.recentTelemetry(60_000).length, 0, "probes are not requests");
    } finally {
      await h.close();
    }
  });

  test("fleet telemetry: a periodic JSON summary on edgecut/v1/telemetry/<deviceId>, without tensors or secrets", async () => {
    const watcher = bus.connect();
    const got: { topic: string; body: Record<string, unknown> }[] = [];
    await watcher.subscribe("edgecut/v1/telemetry/+", (topic, payload) => got.push({ topic, body: JSON.parse(Buffer.from(payload).toString()) as Record<string, unknown> }));
    const h = await startAgent({ telemetry: { flushIntervalMs: 0, publishIntervalMs: 150 } });
    try {
      for (let i = 0; i < 3; i++) await h.agent.infer(split.inputs);
      await assert.rejects(h.agent.infer({}));
      await until(() => got.some((g) => (g.body["requests"] as { ok: number }).ok >= 3), "a summary counting the requests");
      const s = got.find((g) => (g.body["requests"] as { ok: number }).ok >= 3)!;
      assert.equal(s.topic, "edgecut/v1/telemetry/pi-test");
      assert.equal(s.body["format"], 1);
      assert.equal(s.body["deviceId"], "pi-test");
      assert.deepEqual((s.body["requests"] as { error: number; errors: Record<string, number> }).errors, { E_INPUT_MISSING: 1 });
      for (const k of ["split", "action", "health", "latencyMs", "bytesUp", "queueDepth", "switches", "network", "device", "versions"]) assert.ok(k in s.body, `summary has ${k}`);
      const text = JSON.stringify(s.body);
      assert.ok(!text.includes("input_ids") && !text.includes("logits"), "no tensor names or data in the summary");
    } finally {
      await h.close();
      await watcher.close();
    }
  });

  test("a full store: queueing fails with E_STORE_FULL (nothing half-written), direct requests still run, the file stays sound", async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-core-full-"));
    const store = openStore(path.join(dir, "agent.db"), { maxPageCount: 40 });
    const transport = bus.connect();
    const agent = await Agent.start({
      deviceId: "pi-full", manifestPath: split.manifestPath, store, transport, sampler: new FakeSampler({ clock: systemClock }), sampleIntervalMs: 60_000,
      telemetry: { flushIntervalMs: 0, publishIntervalMs: 0 }, policy: { name: "static", split: 1 },
    });
    // Exactly once: runs that ended in success, per queued job id.
    const okRuns = new Map<string, number>();
    agent.on("request", (e) => { if (e.kind === "queued" && e.outcome === "ok") okRuns.set(e.requestId, (okRuns.get(e.requestId) ?? 0) + 1); });
    const computedBefore = worker.metrics().computed;
    try {
      bus.stop(); // hold queued jobs in the outbox
      await until(() => agent.status().network.reachable === false, "the agent to notice");
      let full: unknown;
      const accepted: string[] = [];
      for (let i = 0; i < 500 && full === undefined; i++) {
        try { accepted.push(agent.submit(`fill-${i}`, split.inputs).id); } catch (e) { full = e; }
      }
      assert.ok(full instanceof EdgecutError && full.code === "E_STORE_FULL", `expected E_STORE_FULL, got ${String(full)}`);
      assert.ok(accepted.length > 0);
      assert.deepEqual(store.check(), ["ok"]);
      assert.equal(store.pendingCount(), accepted.length, "the refused request left nothing behind");
      bus.start();
      // Each accepted request ends with its result, or, when the result itself does not fit, with E_STORE_FULL recorded.
      await until(() => store.pendingCount() === 0, `the accepted requests (${JSON.stringify(store.jobCounts())})`, 30_000);
      for (const id of accepted) {
        const st = agent.getRequest(id)!;
        assert.ok(st.status === "done" || (st.status === "failed" && st.error.code === "E_STORE_FULL"), JSON.stringify(st));
        assert.equal(okRuns.get(id), 1, `job ${id} ran to success ${okRuns.get(id) ?? 0} times`);
      }
      assert.equal(okRuns.size, accepted.length, "no run for a job that was refused");
      const counts = store.jobCounts();
      // The worker counts the agent's probes as computed too: what is left beyond the jobs and the
      // answered probes is work done again, or a probe whose reply the stopped bus dropped.
      const computed = worker.metrics().computed - computedBefore;
      t.diagnostic(`full store: ${accepted.length} accepted (${counts.done} done, ${counts.failed} failed E_STORE_FULL), each run to success once; ` +
        `worker computations ${computed} for ${accepted.length} jobs and ${agent.probes} probes answered: recomputations (or unanswered probes) ${computed - agent.probes - accepted.length}`);
      const r = await agent.infer(split.inputs);
      assert.ok(compareOutputs(split.expected, r.outputs, exact).ok, "requests still run with a full store");
    } finally {
      bus.start();
      await agent.stop();
      await transport.close();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the broker dropping mid-request fails the pending offload at once (no wait for the timeout); outages are not switches", async () => {
    const h = await startAgent({ policy: { name: "static", split: 1 }, offload: { timeoutMs: 20_000, retries: 0 } });
    try {
      await h.agent.infer(split.inputs);
      const t0 = Date.now();
      const pending = h.agent.infer(split.inputs);
      bus.stop();
      await assert.rejects(pending, (e: unknown) => e instanceof EdgecutError && e.code === "E_BROKER");
      assert.ok(Date.now() - t0 < 5000, "failed on the disconnect, not after the 20 s timeout");
      bus.start();
      await until(() => h.agent.status().network.reachable, "the broker back");
      assert.equal((await h.agent.infer(split.inputs)).split, 1);
      assert.equal(h.agent.status().switches, 0, "queue -> offload at the same split is no switch");
    } finally {
      bus.start();
      await h.close();
    }
  });

  test("stop: finishes in-flight work, refuses new requests, keeps queued ones for the next start", async () => {
    const h = await startAgent();
    const running = h.agent.infer(split.inputs);
    const stopping = h.agent.stop();
    await assert.rejects(h.agent.infer(split.inputs), (e: unknown) => e instanceof EdgecutError && e.code === "E_NOT_READY");
    assert.throws(() => h.agent.submit("late", split.inputs), (e: unknown) => e instanceof EdgecutError && e.code === "E_NOT_READY");
    const r = await running;
    assert.ok(compareOutputs(split.expected, r.outputs, exact).ok, "the in-flight request completed");
    await stopping;
    await h.transport.close();
    h.store.close();
  });
});
