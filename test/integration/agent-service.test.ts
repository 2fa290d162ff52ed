// `edgecut agent --config` as a process, as systemd runs it: READY=1 and WATCHDOG=1 on a real
// NOTIFY_SOCKET, the local API over HTTP, SIGTERM (STOPPING=1, exit 0); then 100 requests queued
// while the broker is unreachable survive kill -9 and complete, each exactly once, after restart
// with the broker (mosquitto; aedes outside CI when it is missing) and an `edgecut cloud` worker up.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { connectAgent, type AgentClient } from "../../sdk/infer/agent-client.js";
import { openStore } from "../../agent/store/index.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { brokerMatrix, freePort, type BrokerHandle, startMosquitto } from "../support/brokers.js";
import { startListener, toolSkipReason, type Listener } from "../support/notify-listener.js";
import { buildSplit, requestsDone, ROOT, spawnWorker, tempDir, type E2ESplit, type WorkerProcess } from "../e2e/support.js";

const root = tempDir("agent-service");
const models = path.join(root, "models");
const MAIN_TS = path.join(ROOT, "sdk", "cli", "main.ts");
const mosquitto = brokerMatrix().find((b) => b.name === "mosquitto")!;
const useMosquitto = mosquitto.skip === undefined || process.env["CI"] === "true";

interface AgentProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnAgent(config: string, env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN_TS, "agent", "--config", config, "--json-logs"], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => { out += b.toString(); });
  child.stderr!.on("data", (b: Buffer) => { out += b.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  process.on("exit", () => child.kill("SIGKILL"));
  return { child, output: () => out, exited };
}

async function waitReady(url: string, p: AgentProcess): Promise<AgentClient> {
  const t0 = Date.now();
  for (;;) {
    try {
      const c = await connectAgent({ url, timeoutMs: 5000 });
      if ((await c.status()).ready) return c;
      await c.close();
    } catch {
      // not listening yet
    }
    if (p.child.exitCode !== null) assert.fail(`the agent exited: ${p.output()}`);
    if (Date.now() - t0 > 30_000) assert.fail(`the agent did not get ready: ${p.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function writeConfig(name: string, body: string): string {
  const file = path.join(root, name);
  fs.writeFileSync(file, body);
  return file;
}

describe("edgecut agent as a service", () => {
  let split: E2ESplit;
  before(async () => {
    split = await buildSplit(models, "svc-gpt", "tiny-gpt", { layers: 2 }, { input_ids: [1, 8] }, { segments: 2 });
  });

  test("systemd: READY=1, WATCHDOG=1, API serves, SIGTERM gives STOPPING=1 and exit 0", async (t) => {
    const skip = toolSkipReason("systemd-notify", "apt-get install systemd") ?? toolSkipReason("python3", "apt-get install python3");
    if (skip !== undefined) return t.skip(skip);
    const listener: Listener = await startListener(root);
    t.after(() => listener.close());
    const port = await freePort();
    const config = writeConfig("svc.yaml", [
      "deviceId: svc-pi", `manifest: ${split.manifestPath}`, `stateDir: ${path.join(root, "svc-state")}`,
      "broker:", "  url: embedded", "  embeddedPort: 0", "api:", `  listen: "127.0.0.1:${port}"`,
    ].join("\n"));
    const agent = spawnAgent(config, { NOTIFY_SOCKET: listener.socket, WATCHDOG_USEC: "1000000" });
    t.after(() => agent.child.kill("SIGKILL"));
    await listener.waitFor((d) => d.some((x) => x.split("\n").includes("READY=1")), "READY=1");
    await listener.waitFor((d) => d.some((x) => x.split("\n").includes("WATCHDOG=1")), "WATCHDOG=1");
    const client = await waitReady(`http://127.0.0.1:${port}`, agent);
    const r = await client.infer(split.inputs);
    assert.ok(compareOutputs(split.expected, r.outputs, { atol: 1e-5, rtol: 1e-5 }).ok);
    await client.close();
    agent.child.kill("SIGTERM");
    const { code } = await agent.exited;
    assert.equal(code, 0, agent.output());
    await listener.waitFor((d) => d.some((x) => x.split("\n").includes("STOPPING=1")), "STOPPING=1");
    assert.match(agent.output(), /"msg":"stopped"/);
  });

  describe(`queued requests survive kill -9 (${useMosquitto ? "mosquitto" : "aedes"})`, () => {
    let broker: BrokerHandle | undefined;
    let worker: WorkerProcess | undefined;
    after(async () => {
      await worker?.stop();
      await broker?.close();
    });

    test("100 requests queued while the broker is away; kill -9; restart with it back: each completes once", async (t) => {
      const brokerPort = await freePort();
      const apiPort = await freePort();
      const state = path.join(root, "q-state");
      // Split 1 needs the cloud; while the broker is unreachable the agent holds requests in its outbox.
      const config = writeConfig("queue.yaml", [
        "deviceId: q-pi", `manifest: ${split.manifestPath}`, `stateDir: ${state}`,
        "broker:", `  url: mqtt://127.0.0.1:${brokerPort}`, "api:", `  listen: "127.0.0.1:${apiPort}"`,
        "policy:", "  name: static", "  split: 1", "offload:", "  timeoutMs: 5000",
      ].join("\n"));
      const first = spawnAgent(config);
      const url = `http://127.0.0.1:${apiPort}`;
      const c1 = await waitReady(url, first).catch(async () => {
        // Not "ready" (no split can run) is expected: the API still takes queued requests.
        return connectAgent({ url });
      });
      const ids = new Map<string, string>();
      for (let i = 0; i < 100; i++) {
        const r = await c1.submit(`job-${i}`, split.inputs);
        assert.equal(r.created, true);
        ids.set(`job-${i}`, r.id);
      }
      const again = await c1.submit("job-7", split.inputs);
      assert.deepEqual([again.id, again.created], [ids.get("job-7"), false], "a repeated key is the same request");
      assert.equal((await c1.request(ids.get("job-0")!)).status, "queued");
      await c1.close();
      first.child.kill("SIGKILL");
      await first.exited;

      broker = useMosquitto ? await startMosquitto({ port: brokerPort }) : await startAedesOn(brokerPort);
      worker = await spawnWorker({ broker: broker.url, models, clientId: "svc-worker" });
      const second = spawnAgent(config);
      const c2 = await waitReady(url, second);
      const failures: string[] = [];
      for (const [key, id] of ids) {
        const st = await c2.waitFor(id, { timeoutMs: 60_000, pollMs: 50 });
        if (st.status !== "done") failures.push(`${key}: ${JSON.stringify(st)}`);
        else {
          assert.equal(st.key, key);
          assert.equal(st.result.split, 1);
          assert.ok(compareOutputs(split.expected, st.result.outputs, { atol: 1e-5, rtol: 1e-5 }).ok, `${key} outputs`);
        }
      }
      assert.deepEqual(failures, []);
      await c2.close();
      second.child.kill("SIGTERM");
      assert.equal((await second.exited).code, 0, second.output());
      // Exactly once: the worker computed each request once, and the store holds 100 results.
      // Probes (segments from = to, no compute) are the agent measuring the link, not requests.
      const done = requestsDone(worker, "q-pi").filter((r) => { const seg = r["segments"] as { from: number; to: number }; return seg.from < seg.to; });
      assert.equal(new Set(done.map((r) => r["requestId"])).size, 100, "each request computed once");
      assert.equal(done.length, 100, "no request computed twice");
      const store = openStore(path.join(state, "agent.db"));
      assert.equal(store.jobCounts().done, 100);
      assert.equal(store.pendingCount(), 0);
      // On the device: one run to success per request (the agent records each run's outcome; nothing else ran).
      const runs = store.recentTelemetry(Number.MAX_SAFE_INTEGER);
      assert.equal(runs.filter((r) => r.outcome !== "error").length, 100, "each queued request ran to success exactly once");
      store.close();
      t.diagnostic(`kill -9: 100 queued requests, 100 done; worker computations ${done.length} for 100 ids: recomputations ${done.length - 100}; ` +
        `runs that failed and were queued again ${runs.filter((r) => r.outcome === "error").length}`);
    });
  });
});

async function startAedesOn(port: number): Promise<BrokerHandle> {
  const { startEmbeddedBroker } = await import("../../sdk/transport/embedded-broker.js");
  const b = await startEmbeddedBroker({ port });
  return { name: "aedes", url: b.url, port, restart: async () => undefined, close: () => b.close() };
}
