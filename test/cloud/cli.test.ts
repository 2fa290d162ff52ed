// `edgecut cloud` as a separate process against the embedded aedes broker: it logs JSON lines,
// answers a request over real MQTT (aedes has no shared subscriptions: it warns and subscribes
// plainly), and on SIGTERM finishes, disconnects and exits 0.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { startEmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { FakeDevice, makeSplit, maxAbsDiff, referenceChain, tempDir } from "./support.js";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const MAIN_TS = path.join(ROOT, "sdk", "cli", "main.ts");

test("edgecut cloud: one request/reply over the embedded broker, SIGTERM -> exit 0", { timeout: 60_000 }, async () => {
  const models = tempDir("cli");
  const split = await makeSplit("mlp", { layers: 2 }, { x: [2, 32] }, 2, path.join(models, "mlp", "split"));
  const ref = await referenceChain(split);
  const broker = await startEmbeddedBroker();
  const child = spawn(process.execPath, ["--import", "tsx", MAIN_TS, "cloud", "--broker", broker.url, "--models", models, "--json-logs", "--client-id", "cloud-test"], {
    cwd: ROOT, env: { ...process.env, NODE_NO_WARNINGS: "1" }, stdio: ["ignore", "pipe", "pipe"],
  });
  const records: Array<Record<string, unknown>> = [];
  let stderr = "";
  let wake: (() => void) | undefined;
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    const lines = stderr.split("\n");
    stderr = lines.pop()!;
    for (const line of lines) {
      if (line.trim() === "") continue;
      try { records.push(JSON.parse(line) as Record<string, unknown>); } catch { records.push({ raw: line }); }
    }
    wake?.();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const waitFor = async (msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = records.find((x) => x.msg === msg);
      if (r) return r;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no "${msg}" log line; got ${JSON.stringify(records)} ${stderr}`);
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 100); });
    }
  };
  const device = await new FakeDevice(await connectMqtt({ url: broker.url }), "pi-cli").start();
  try {
    const ready = await waitFor("worker ready");
    assert.equal(ready.shared, false, "aedes has no shared subscriptions");
    assert.deepEqual(ready.splits, [split.manifest.splitId]);
    assert.ok(records.some((r) => r.level === 40 && /second worker/.test(String(r.msg))));
    const reply = await device.request({
      requestId: "cli-1", deviceId: "pi-cli", splitId: split.manifest.splitId, segments: { from: 0, to: 2 }, ttlMs: 10_000,
    }, { x: ref.get("x")! });
    assert.ok(reply.header.ok, JSON.stringify(reply.header));
    assert.ok(maxAbsDiff(reply.tensors.y!, ref.get("y")!) <= 1e-6);
    child.kill("SIGTERM");
    assert.equal(await exited, 0, JSON.stringify(records.slice(-5)));
    assert.ok(records.some((r) => r.msg === "stopped"));
    assert.ok(records.every((r) => !("raw" in r)), "every log line is JSON");
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    await device.transport.close();
    await broker.close();
  }
});
