// GET /metrics: the Prometheus text after requests, parsed and checked value by value; the
// private registry (nothing in prom-client's global one, two APIs in one process do not clash).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { register as globalRegister } from "prom-client";
import { startApi, type ApiServer } from "../../agent/api/index.js";
import { formatTensorFile } from "../../sdk/runtime/tensor-file.js";
import { FAKE_BREAKDOWN, FakeCore } from "../support/fake-core.js";
import { contractInputs } from "../support/inference-contract.js";
import { call, postInfer } from "./api-http.js";

/** One sample line: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the exposition text format (the subset prom-client writes: no timestamps). */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hit.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hit.length} samples`);
  return hit[0]?.value;
}

describe("agent API: /metrics", () => {
  let core: FakeCore;
  let api: ApiServer;
  before(async () => {
    core = new FakeCore();
    api = await startApi(core, { listen: "127.0.0.1:0", version: "test" });
  });
  after(() => api.close());

  const scrape = async (): Promise<ReturnType<typeof parseMetrics>> => {
    const r = await call(api.address, { path: "/metrics" });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    return parseMetrics(r.body.toString("utf8"));
  };
  const infer = (extra = ""): ReturnType<typeof postInfer> => postInfer(api.address, `{"inputs": ${formatTensorFile(contractInputs(1))}${extra}}`);

  test("before any request: the series exist with their types, gauges from core.status()", async () => {
    const { samples, types } = await scrape();
    assert.equal(types.get("edgecut_requests_total"), "counter");
    assert.equal(types.get("edgecut_request_duration_seconds"), "histogram");
    assert.equal(types.get("edgecut_current_split"), "gauge");
    assert.equal(value(samples, "edgecut_bytes_up_total"), 0);
    assert.equal(value(samples, "edgecut_bytes_down_total"), 0);
    assert.equal(value(samples, "edgecut_split_switches_total"), 0);
    assert.equal(value(samples, "edgecut_current_split"), 2);
    assert.equal(value(samples, "edgecut_queue_depth"), 0);
    assert.equal(value(samples, "edgecut_inflight"), 0);
    // prom-client's default process metrics, under the edgecut_ prefix.
    assert.ok(value(samples, "edgecut_process_resident_memory_bytes")! > 0);
    assert.ok(samples.some((s) => s.name === "edgecut_nodejs_eventloop_lag_seconds"));
  });

  test("requests, errors, bytes, durations and switches are counted", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await infer()).status, 200);
    assert.equal((await infer(`, "split": 0`)).status, 200);
    core.failNext("E_TIMEOUT");
    assert.equal((await infer()).status, 504);
    core.split = null;
    assert.equal((await infer()).status, 503);
    core.split = 2;
    core.switchTo(3, "cpu busy");
    core.switchTo(2, "cpu idle");
    const q = await postInfer(api.address, `{"inputs": ${formatTensorFile(contractInputs(1))}, "mode": "queue"}`, { "Idempotency-Key": "metrics-1" });
    const { id } = q.json() as { id: string };
    for (let i = 0; i < 100 && core.getRequest(id)?.status !== "done"; i++) await new Promise((r) => setTimeout(r, 5));

    const { samples } = await scrape();
    const req = (labels: Record<string, string>): number | undefined => value(samples, "edgecut_requests_total", labels);
    assert.equal(req({ kind: "direct", outcome: "ok", split: "2", code: "none" }), 3);
    assert.equal(req({ kind: "direct", outcome: "ok", split: "0", code: "none" }), 1);
    assert.equal(req({ kind: "direct", outcome: "error", split: "2", code: "E_TIMEOUT" }), 1);
    assert.equal(req({ kind: "direct", outcome: "error", split: "none", code: "E_NO_SPLIT" }), 1);
    assert.equal(req({ kind: "queued", outcome: "ok", split: "2", code: "none" }), 1);
    assert.equal(samples.filter((s) => s.name === "edgecut_requests_total").reduce((a, s) => a + s.value, 0), 7);

    assert.equal(value(samples, "edgecut_bytes_up_total"), 5 * FAKE_BREAKDOWN.bytesUp);
    assert.equal(value(samples, "edgecut_bytes_down_total"), 5 * FAKE_BREAKDOWN.bytesDown);
    assert.equal(value(samples, "edgecut_split_switches_total"), 2);
    assert.equal(value(samples, "edgecut_request_duration_seconds_count", { split: "2" }), 4);
    assert.equal(value(samples, "edgecut_request_duration_seconds_count", { split: "0" }), 1);
    assert.ok(Math.abs(value(samples, "edgecut_request_duration_seconds_sum", { split: "2" })! - 4 * FAKE_BREAKDOWN.totalMs / 1000) < 1e-9);
    // totalMs is 25 ms, which lands in le="0.025" (bucket bounds are inclusive).
    assert.equal(value(samples, "edgecut_request_duration_seconds_bucket", { split: "2", le: "0.01" }), 0);
    assert.equal(value(samples, "edgecut_request_duration_seconds_bucket", { split: "2", le: "0.025" }), 4);
    assert.equal(value(samples, "edgecut_request_duration_seconds_bucket", { split: "2", le: "+Inf" }), 4);
  });

  test("gauges follow core.status() at each scrape: split, queue depth, in-flight", async () => {
    const release = core.holdQueue();
    const held = core.hold();
    try {
      for (const key of ["g-1", "g-2"]) {
        await postInfer(api.address, `{"inputs": ${formatTensorFile(contractInputs(1))}, "mode": "queue"}`, { "Idempotency-Key": key });
      }
      const running = infer();
      await held.started;
      core.switchTo(null, "cloud down");
      const { samples } = await scrape();
      assert.equal(value(samples, "edgecut_queue_depth"), 2);
      assert.equal(value(samples, "edgecut_inflight"), 1);
      assert.equal(value(samples, "edgecut_current_split"), -1);
      held.release();
      assert.equal((await running).status, 200);
    } finally {
      held.release();
      release();
      core.switchTo(2, "cloud back");
    }
    const { samples } = await scrape();
    assert.equal(value(samples, "edgecut_inflight"), 0);
    assert.equal(value(samples, "edgecut_current_split"), 2);
  });

  test("the registry is private: nothing lands in prom-client's global registry, and a second API counts apart", async () => {
    assert.equal((await globalRegister.metrics()).includes("edgecut_"), false);
    const other = await startApi(new FakeCore(), { listen: "127.0.0.1:0", version: "test" });
    try {
      const r = await call(other.address, { path: "/metrics" });
      const { samples } = parseMetrics(r.body.toString("utf8"));
      assert.equal(samples.filter((s) => s.name === "edgecut_requests_total").length, 0);
      assert.equal(value(samples, "edgecut_bytes_up_total"), 0);
    } finally {
      await other.close();
    }
  });

  test("a status() that throws at scrape time still gives a scrape", async () => {
    const original = core.status.bind(core);
    core.status = () => { throw new Error("store locked"); };
    try {
      const { samples } = await scrape();
      assert.ok(value(samples, "edgecut_requests_total", { kind: "direct", outcome: "ok", split: "2", code: "none" })! >= 3);
    } finally {
      core.status = original;
    }
  });
});
