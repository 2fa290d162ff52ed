// Replaying recorded telemetry as a scenario: the agent store's telemetry rows (the link through
// the agent's estimator, failures as outages) and fleet summaries (link, CPU load, RAM per window).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadProfile } from "../../device-profiles/index.js";
import { resolveLink, simDevice } from "../../device-profiles/sim/network.js";
import { Timeline } from "../../device-profiles/sim/timeline.js";
import { scenarioFromTrace, traceFile } from "../../device-profiles/sim/trace.js";
import { run } from "./support.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-trace-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const EPOCH = 1_700_000_000_000;

interface Row { at: number; breakdown: Record<string, number> & { roundTripMs: number } }

/** A telemetry row of an offload: 428 B up, 16 684 B down over `mbit` both ways and `rtt` ms, 10 ms on the worker. */
function row(i: number, mbit: number, rtt: number): Row & Record<string, unknown> {
  const up = 428;
  const down = 16_684;
  const net = rtt + ((up + down) * 8) / (mbit * 1e3);
  return {
    at: EPOCH + i * 1000, split: 0, latencyMs: net + 10, bytesUp: up, bytesDown: down, queueDepth: 0, health: "ok", outcome: "ok",
    breakdown: { localMs: 0, roundTripMs: net + 10, cloudComputeMs: 10, cloudQueueMs: 0, bytesUp: up, bytesDown: down },
  };
}

const PI4 = loadProfile("pi4-4gb");

function timelineOf(file: string, preset = "wifi-good"): Timeline {
  const s = scenarioFromTrace(file, resolveLink(PI4, preset));
  return new Timeline(s, simDevice(PI4), resolveLink(PI4, s.preset));
}

describe("traces", () => {
  test("telemetry rows: the link as the agent's estimator saw it, timeouts as an outage, the rows' rate", () => {
    const rows = [
      ...Array.from({ length: 60 }, (_, i) => row(i, 20, 20)),
      ...Array.from({ length: 20 }, (_, i) => ({ at: EPOCH + (60 + i) * 1000, split: 0, latencyMs: 30_000, bytesUp: 0, bytesDown: 0, queueDepth: 0, health: "degraded", outcome: "error", errorCode: "E_TIMEOUT" })),
      ...Array.from({ length: 40 }, (_, i) => row(80 + i, 2, 20)),
    ];
    const file = path.join(dir, "rows.json");
    fs.writeFileSync(file, JSON.stringify(rows));
    const s = scenarioFromTrace(file, resolveLink(PI4, "wifi-good"));
    assert.equal(s.name, "trace");
    assert.equal(s.interArrivalMs, 1000);
    assert.equal(s.durationMs, 120_000);
    const tl = timelineOf(file);
    assert.equal(tl.at(30_000).rttMs, 3, "one message size: the preset's RTT, the rest as bandwidth");
    const early = tl.at(30_000);
    const late = tl.at(115_000);
    assert.equal(early.cloudUp, true);
    assert.equal(tl.at(70_000).cloudUp, false, "two timeouts in a row: unreachable");
    assert.ok(late.cloudUp);
    // Up and down move together here (one size), so the estimator fits one bandwidth: the time matches.
    const netMs = (c: typeof early): number => c.rttMs + (17_112 * 8) / (c.upMbit * 1e3);
    assert.ok(Math.abs(netMs(early) - row(0, 20, 20).breakdown.roundTripMs + 10) < 2, `early: ${JSON.stringify(early)}`);
    assert.ok(late.upMbit < early.upMbit / 3, `the slower link shows: ${early.upMbit} -> ${late.upMbit}`);
    // It runs as any scenario.
    const r = run("pi4-4gb", s, { seed: 1 });
    assert.equal(r.meta.scenario, "trace");
    assert.equal(r.requests.length, 120);
  });

  test("fleet summaries (JSON lines): each window's link, CPU load and RAM", () => {
    const recs = Array.from({ length: 4 }, (_, i) => ({
      format: 1, deviceId: "d1", version: "0.1.0", at: EPOCH + (i + 1) * 60_000, windowMs: 60_000, split: 0, action: "offload", health: "ok",
      requests: { ok: 120, error: 0, errors: {} }, latencyMs: { p50: 50, p95: 80, mean: 55 }, bytesUp: 1, bytesDown: 1, queueDepth: 0, switches: 0,
      network: { rttMs: 10 + i * 10, upBytesPerSec: 1_000_000 / (i + 1), downBytesPerSec: 2_000_000, reachable: i !== 2 },
      device: i === 3 ? null : { ramAvailableBytes: 500_000_000 - i * 100_000_000, cpuLoadPercent: 10 * i },
      versions: { node: "v20", edgecut: "0.1.0", splitId: "x" },
    }));
    const file = path.join(dir, "fleet.jsonl");
    fs.writeFileSync(file, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const s = scenarioFromTrace(file, resolveLink(PI4, "lte"));
    assert.equal(s.preset, "lte");
    assert.equal(s.durationMs, 240_000);
    assert.equal(s.interArrivalMs, 500, "120 requests a minute");
    const tl = timelineOf(file, "lte");
    assert.deepEqual([tl.at(30_000).rttMs, tl.at(30_000).upMbit, tl.at(30_000).downMbit, tl.at(30_000).cpuLoadPercent, tl.at(30_000).ramAvailableBytes], [10, 8, 16, 0, 500_000_000]);
    assert.deepEqual([tl.at(90_000).rttMs, tl.at(90_000).upMbit, tl.at(90_000).cpuLoadPercent], [20, 4, 10]);
    assert.equal(tl.at(150_000).cloudUp, false);
    assert.equal(tl.at(210_000).cloudUp, true);
    // No device figures in the last window: the board's own.
    assert.equal(tl.at(210_000).cpuLoadPercent, 0);
  });

  test("a file of neither kind, or an empty one, fails naming the record and the field", () => {
    const bad = path.join(dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify([row(0, 10, 10), { at: 5, split: "zero" }]));
    assert.throws(() => scenarioFromTrace(bad, resolveLink(PI4, "wifi-good")), /trace .*bad\.json: record 1: (split|latencyMs): .*telemetry rows/);
    fs.writeFileSync(bad, "[]");
    assert.throws(() => scenarioFromTrace(bad, resolveLink(PI4, "wifi-good")), /holds no records/);
    assert.throws(() => scenarioFromTrace(path.join(dir, "missing.json"), resolveLink(PI4, "wifi-good")), /cannot read trace/);
    assert.equal(traceFile("trace:a/b.json"), "a/b.json");
    assert.equal(traceFile("steady"), undefined);
  });
});
