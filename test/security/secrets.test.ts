// No broker password in anything the agent writes or serves: its logs at level trace, the local
// API (/v1/status, /metrics, /healthz, /readyz, /v1/signature), the fleet telemetry it publishes,
// `--check`, and its store. The agent runs as `edgecut agent --config` does, on a mosquitto that
// requires the password (provisioned), with the password from EDGECUT_BROKER_PASSWORD_FILE, and
// in-process with a wrong password and with the password inside the broker URL. Each check has a
// positive control (the logs were captured, telemetry did arrive, the password was used).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { startWorker, type Worker } from "../../cloud-stub/index.js";
import { parseAgentConfig, type AgentConfig } from "../../agent/config/index.js";
import { startAgentService } from "../../agent/service/service.js";
import type { ProvisionResult } from "../../sdk/provision/index.js";
import { connectAgent } from "../../sdk/infer/agent-client.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { freePort, mosquittoSkipReason, type MosquittoHandle } from "../support/brokers.js";
import { Inbox } from "../support/inbox.js";
import { mlpSplit, type SplitFixture } from "../offload/support.js";
import { connectAs, fleet, passwordOf, startSecureMosquitto, type Fleet } from "./support.js";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const MAIN_TS = path.join(ROOT, "sdk", "cli", "main.ts");

/** GET a path of the agent's API: the raw body. */
function get(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: p }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => { body += c; });
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

/** Every file of the agent's state folder (the SQLite store and its journal), as one latin1 string. */
function stateBytes(dir: string): string {
  return fs.readdirSync(dir).map((n) => fs.readFileSync(path.join(dir, n)).toString("latin1")).join("\n");
}

function assertNoSecret(where: string, text: string, secret: string): void {
  assert.ok(!text.includes(secret), `the password appears in ${where}:\n${text.slice(Math.max(0, text.indexOf(secret) - 300), text.indexOf(secret) + 100)}`);
}

describe("the agent keeps the broker password out of logs, API, telemetry and its store (mosquitto)", { skip: mosquittoSkipReason() ?? false }, () => {
  let f: Fleet;
  let broker: MosquittoHandle;
  let split: SplitFixture;
  let device: ProvisionResult;
  let workerConn: Transport;
  let worker: Worker;
  let monitor: Transport;
  const telemetry = new Inbox();

  before(async () => {
    f = fleet("secrets");
    device = await f.add({ deviceId: "pi-secret" });
    const w = await f.add({ deviceId: "w1", role: "worker" });
    const mon = await f.add({ deviceId: "mon", role: "monitor" });
    broker = await startSecureMosquitto(f);
    split = await mlpSplit();
    workerConn = await connectAs(broker.url, w, { reconnectPeriodMs: 1000 });
    worker = await startWorker({ transport: workerConn, models: path.dirname(split.manifestPath), logger: pino({ level: "silent" }) });
    monitor = await connectAs(broker.url, mon, { reconnectPeriodMs: 1000 });
    await monitor.subscribe("edgecut/v1/telemetry/+", telemetry.handler);
  });
  after(async () => {
    await monitor?.close();
    await worker?.stop();
    await workerConn?.close();
    await broker?.close();
  });

  test("edgecut agent --config, password from EDGECUT_BROKER_PASSWORD_FILE, logs at trace: the password is nowhere", async (t) => {
    const password = passwordOf(device);
    const apiPort = await freePort();
    const state = path.join(f.dir, "state");
    const config = path.join(f.dir, "agent.yaml");
    fs.writeFileSync(config, [
      "deviceId: pi-secret", `manifest: ${split.manifestPath}`, `stateDir: ${state}`,
      "broker:", `  url: ${broker.url}`, "  username: pi-secret",
      "api:", `  listen: "127.0.0.1:${apiPort}"`,
      // Split 1: the rest of the model runs on the worker, so the password must have worked.
      "policy:", "  name: static", "  split: 1",
      "telemetry:", "  publishIntervalMs: 1000", "  flushIntervalMs: 0",
    ].join("\n"));
    const env = { ...process.env, EDGECUT_BROKER_PASSWORD_FILE: device.files.password, EDGECUT_LOG_LEVEL: "trace", NODE_NO_WARNINGS: "1" };

    const check = spawnSync(process.execPath, ["--import", "tsx", MAIN_TS, "agent", "--config", config, "--check"], { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 });
    assert.equal(check.status, 0, check.stderr);
    assert.equal((JSON.parse(check.stdout) as { broker: { password: string } }).broker.password, "***");
    assertNoSecret("--check", check.stdout + check.stderr, password);

    const agent = spawn(process.execPath, ["--import", "tsx", MAIN_TS, "agent", "--config", config, "--json-logs", "--no-profile"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    agent.stdout.on("data", (b: Buffer) => { output += b.toString(); });
    agent.stderr.on("data", (b: Buffer) => { output += b.toString(); });
    const exited = new Promise<number | null>((resolve) => agent.once("exit", (code) => resolve(code)));
    t.after(() => { agent.kill("SIGKILL"); });

    const deadline = Date.now() + 30_000;
    let client;
    for (;;) {
      try {
        client = await connectAgent({ url: `http://127.0.0.1:${apiPort}`, timeoutMs: 5000 });
        if ((await client.status()).ready) break;
        await client.close();
      } catch {
        // not listening yet
      }
      if (agent.exitCode !== null || Date.now() > deadline) assert.fail(`the agent did not get ready: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await client.infer(split.inputs);
    assert.ok(compareOutputs(split.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
    assert.ok(worker.metrics().computed >= 1, "the worker ran the offloaded segments: the agent logged in with the password");
    await client.close();

    const api = await Promise.all(["/v1/status", "/metrics", "/healthz", "/readyz", "/v1/signature"].map(async (p) => `${p}: ${await get(apiPort, p)}`));
    assert.match(api[0]!, /pi-secret/);
    const [summary] = await telemetry.waitFor(1, 10_000);
    assert.equal(summary!.topic, "edgecut/v1/telemetry/pi-secret");

    agent.kill("SIGTERM");
    assert.equal(await exited, 0, output);
    // The logs were captured (whatever the agent logs up to trace), from start to stop.
    for (const msg of ["connected to the broker", "agent ready", "stopped"]) assert.match(output, new RegExp(`"msg":"${msg}"`));
    for (const [where, text] of [
      ["the agent's logs", output],
      ["the API", api.join("\n")],
      ["fleet telemetry", telemetry.messages.map((m) => new TextDecoder().decode(m.payload)).join("\n")],
      ["the store", stateBytes(state)],
    ] as const) assertNoSecret(where, text, password);
  });

  describe("in-process, with logs at trace", () => {
    async function runService(cfg: AgentConfig, whileUp: (port: number) => Promise<void>): Promise<string> {
      const lines: string[] = [];
      const log = pino({ level: "trace" }, { write: (s: string) => { lines.push(s); } });
      const service = await startAgentService(cfg, { log, profile: false });
      try {
        const port = Number(/:(\d+)$/.exec(service.api.address)?.[1]);
        await whileUp(port);
        lines.push(await get(port, "/v1/status"), await get(port, "/metrics"));
      } finally {
        await service.stop();
      }
      return lines.join("\n");
    }
    const baseConfig = (dir: string, broker: Record<string, unknown>): Record<string, unknown> => ({
      deviceId: "pi-secret", manifest: split.manifestPath, stateDir: path.join(dir, `state-${Math.random().toString(16).slice(2)}`),
      broker, api: { listen: "127.0.0.1:0" }, telemetry: { publishIntervalMs: 0, flushIntervalMs: 0 },
    });

    test("a wrong password: the refusal is logged, the password is not", async () => {
      const wrong = "WrongPassword-7f3a9c1e5b";
      const cfg = parseAgentConfig(baseConfig(f.dir, { url: broker.url, username: "pi-secret" }), "test", f.dir, { EDGECUT_BROKER_PASSWORD: wrong });
      const out = await runService(cfg, async () => undefined);
      assert.match(out, /broker not reachable yet/);
      assert.match(out, /Not authorized/);
      assertNoSecret("the logs and API of an agent with a wrong password", out, wrong);
    });

    test("credentials inside broker.url: used, and shown as *** everywhere", async () => {
      const password = passwordOf(device);
      const url = broker.url.replace("mqtt://", `mqtt://pi-secret:${password}@`);
      const cfg = parseAgentConfig(baseConfig(f.dir, { url }), "test", f.dir, {});
      const out = await runService(cfg, async () => undefined);
      assert.match(out, /connected to the broker/);
      assert.match(out, /mqtt:\/\/\*\*\*@127\.0\.0\.1/);
      assertNoSecret("the logs and API of an agent with the password in its URL", out, password);
    });
  });
});
