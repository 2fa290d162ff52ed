/**
 * The agent as the device of a fault test: agent/core in this process on a real MQTT connection,
 * its SQLite outbox on disk, the static policy at split 1 (every request needs the cloud), and a
 * steady stream through it: each tick submits a queued request (Idempotency-Key) and makes a direct
 * one. Afterwards checkStream() asserts exactly-once on the device side: every queued request
 * done with the right outputs and run to success exactly once (the agent's per-request events),
 * every direct one given exactly one result or one clear link-down error.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Agent } from "../../agent/core/agent.js";
import type { RequestEvent } from "../../agent/core/types.js";
import { systemClock } from "../../agent/clock.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { until, type E2ESplit } from "../e2e/support.js";
import { Ledger, steadily } from "./support.js";

const TOL = { atol: 1e-5, rtol: 1e-5 };
/** Errors a direct request may get while the cloud is out of reach: each says so. */
const LINK_DOWN = new Set(["E_TIMEOUT", "E_BROKER", "E_NO_SPLIT"]);

/** An agent started for a fault test, with its success events counted. */
export interface AgentDevice {
  agent: Agent;
  store: AgentStore;
  /** Runs that ended in success, per queued job id (a job run to success twice would be delivered twice). */
  queuedOk: Map<string, number>;
  /** Runs of any outcome per queued job id (a run that failed for want of the cloud puts the job back). */
  queuedRuns: Map<string, number>;
  /** Direct requests that ended in success. */
  directOk(): number;
  /** Asserts a result: split 1, the whole model's outputs. */
  check(r: { outputs: TensorMap; split: number }): void;
  close(): Promise<void>;
}

/** Starts the agent on `transport` with its store in `stateDir`, and runs one request (sessions loaded, link measured). */
export async function startAgentDevice(f: E2ESplit, deviceId: string, transport: Transport, stateDir: string): Promise<AgentDevice> {
  const store = openStore(path.join(stateDir, "agent.db"));
  const agent = await Agent.start({
    deviceId, manifestPath: f.manifestPath, store, transport, sampler: new FakeSampler({ clock: systemClock }), sampleIntervalMs: 1000,
    telemetry: { flushIntervalMs: 0, publishIntervalMs: 0 }, policy: { name: "static", split: 1 },
    offload: { timeoutMs: 2000, retries: 1 }, intraOpThreads: 1,
  });
  const queuedOk = new Map<string, number>();
  const queuedRuns = new Map<string, number>();
  let directOk = 0;
  agent.on("request", (e: RequestEvent) => {
    if (e.kind === "queued") queuedRuns.set(e.requestId, (queuedRuns.get(e.requestId) ?? 0) + 1);
    if (e.outcome !== "ok") return;
    if (e.kind === "queued") queuedOk.set(e.requestId, (queuedOk.get(e.requestId) ?? 0) + 1);
    else directOk++;
  });
  const check = (r: { outputs: TensorMap; split: number }): void => {
    assert.equal(r.split, 1);
    assert.ok(compareOutputs(f.expected, r.outputs, TOL).ok, "outputs");
  };
  check(await agent.infer(f.inputs));
  return {
    agent, store, queuedOk, queuedRuns, check, directOk: () => directOk,
    close: async () => {
      await agent.stop();
      store.close();
    },
  };
}

/** What a stream sent. */
export interface Stream {
  /** Queued requests: key -> job id. */
  jobs: Map<string, string>;
  /** Direct requests' deliveries. */
  direct: Ledger;
}

/** Every `intervalMs`, `count` times: `at(i)` first (the fault's moments), then one queued and one direct request. */
export async function stream(d: AgentDevice, f: E2ESplit, count: number, intervalMs: number, at: (i: number) => void): Promise<Stream> {
  const direct = new Ledger();
  const runs: Promise<void>[] = [];
  const jobs = new Map<string, string>();
  await steadily(count, intervalMs, (i) => {
    at(i);
    const r = d.agent.submit(`q-${i}`, f.inputs);
    assert.equal(r.created, true);
    jobs.set(`q-${i}`, r.id);
    runs.push(direct.track(`d-${i}`, d.agent.infer(f.inputs), (v) => d.check(v)));
  });
  await Promise.all(runs);
  return { jobs, direct };
}

/**
 * Waits for every queued request to finish, then asserts exactly once on the device side (see the
 * module comment) and that the agent offloads again. Returns the direct requests' summary.
 */
export async function checkStream(d: AgentDevice, s: Stream, directOkBefore: number): Promise<ReturnType<Ledger["summary"]>> {
  const { agent, store } = d;
  const states = () => [...s.jobs.values()].map((id) => agent.getRequest(id)!);
  await until(() => states().every((st) => st.status === "done" || st.status === "failed"), "every queued request finished", 60_000,
    () => JSON.stringify(store.jobCounts()));
  for (const [key, id] of s.jobs) {
    const st = agent.getRequest(id)!;
    assert.equal(st.status, "done", `${key}: ${JSON.stringify(st.status === "failed" ? st.error : st.status)}`);
    if (st.status === "done") d.check(st.result);
    assert.equal(d.queuedOk.get(id), 1, `${key} (job ${id}) ran to success ${d.queuedOk.get(id) ?? 0} times`);
  }
  assert.equal(d.queuedOk.size, s.jobs.size, "no success for a job the test did not submit");
  assert.equal(store.pendingCount(), 0);
  s.direct.assertExactlyOnce();
  const sum = s.direct.summary();
  for (const e of s.direct.errorList()) {
    const code = e.split(" -> ")[1]!.split(":")[0]!;
    assert.ok(LINK_DOWN.has(code) && e.length > 20, `an unclear error: ${e}`);
  }
  assert.equal(d.directOk() - directOkBefore, sum.ok, "one success event per direct result");
  await until(() => agent.status().action === "offload", "the agent to offload again", 20_000, () => agent.status().reason);
  return sum;
}

/** How the queued requests ran: most runs of one job, and jobs run more than once (failed runs put back). */
export function queuedRunStats(d: AgentDevice, s: Stream): { maxRuns: number; rerun: number } {
  const runs = [...s.jobs.values()].map((id) => d.queuedRuns.get(id) ?? 0);
  return { maxRuns: Math.max(0, ...runs), rerun: runs.filter((n) => n > 1).length };
}
