// `edgecut status` against a real agent core behind its real local API (all-local, no broker).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Agent } from "../../agent/core/agent.js";
import { startApi, type ApiServer } from "../../agent/api/index.js";
import { systemClock } from "../../agent/clock.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
import { freePort } from "../support/brokers.js";
import { gptSplit } from "../offload/support.js";
import { assertCliError, runCli } from "./helpers.js";

let agent: Agent;
let api: ApiServer;
let store: AgentStore;

before(async () => {
  const split = await gptSplit();
  store = openStore(":memory:");
  agent = await Agent.start({ deviceId: "status-pi", manifestPath: split.manifestPath, store, sampler: new FakeSampler({ clock: systemClock }), sampleIntervalMs: 60_000, telemetry: { publishIntervalMs: 0 } });
  api = await startApi(agent, { listen: "127.0.0.1:0", version: "test" });
  await agent.infer(split.inputs);
});
after(async () => {
  await api.close();
  await agent.stop();
  store.close();
});

test("text: the split in use, why, the estimates and the live plan table with the split marked", async () => {
  const r = await runCli(["status", "--url", api.address]);
  assert.equal(r.code, 0, r.stderr);
  const n = agent.manifest.segments.length;
  assert.match(r.stdout, /agent status-pi/);
  assert.match(r.stdout, new RegExp(`split: ${n} \\(local\\)`));
  assert.match(r.stdout, /network: UNREACHABLE/, "no broker: the cloud is unreachable");
  const marked = r.stdout.split("\n").filter((l) => /^\*\s/.test(l));
  assert.equal(marked.length, 1, r.stdout);
  assert.match(marked[0]!, new RegExp(`^\\*\\s+${n}\\s`));
  assert.match(r.stdout, /x k = 0: the cloud is unreachable/);
});

test("--json: GET /v1/status as it is", async () => {
  const r = await runCli(["status", "--url", api.address, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { deviceId: string; split: number; plan: { rows: unknown[] } };
  assert.equal(s.deviceId, "status-pi");
  assert.equal(s.plan.rows.length, agent.manifest.segments.length + 1);
});

test("no agent there: E_AGENT_UNREACHABLE naming the address", async () => {
  const port = await freePort();
  const r = await runCli(["status", "--url", `http://127.0.0.1:${port}`]);
  assertCliError(r, "E_AGENT_UNREACHABLE", { message: new RegExp(String(port)) });
});
