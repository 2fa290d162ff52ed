// The virtual-time simulator end to end on a synthetic model: determinism, the result's format,
// the oracle as a per-request bound, and the adaptive policy following the link.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadScenario, listScenarios } from "../../device-profiles/sim/scenario.js";
import { outcomes, run, scenario } from "./support.js";

const POLICY_KEYS = ["hysteresis", "all-local", "all-cloud", "best-static", "oracle"];

describe("simulate", () => {
  test("the same seed gives byte-identical JSON; another seed gives other draws", () => {
    const sc = loadScenario("flaky-lte");
    const a = JSON.stringify(run("pi4-4gb", sc, { seed: 7 }));
    const b = JSON.stringify(run("pi4-4gb", sc, { seed: 7 }));
    assert.equal(a, b);
    assert.notEqual(JSON.stringify(run("pi4-4gb", sc, { seed: 8 })), a);
  });

  test("the result has SimResult's fields, one request per arrival and every policy's outcome", () => {
    const sc = scenario({ durationMs: "30s", interArrivalMs: "500ms" });
    const r = run("pi5-8gb", sc, { seed: 3 });
    assert.deepEqual(Object.keys(r), ["meta", "summary", "splits", "timeline", "requests"]);
    assert.deepEqual(r.meta, {
      format: 1, seed: 3, gitSha: r.meta.gitSha, profile: "pi5-8gb", preset: "wifi-good", scenario: "test", policy: "hysteresis",
      model: "synthetic", segments: 4, durationMs: 30_000, requests: 60, mode: "virtual",
    });
    assert.deepEqual(Object.keys(r.summary), ["adaptive", "all-local", "all-cloud", "best-static", "oracle", "adaptiveOverOracle"]);
    assert.equal(r.summary.adaptiveOverOracle, r.summary.adaptive.meanMs / r.summary.oracle.meanMs);
    assert.equal(r.requests.length, 60);
    assert.deepEqual(r.requests.map((q) => q.t).slice(0, 3), [250, 750, 1250]);
    for (const q of r.requests) assert.deepEqual(Object.keys(q.outcomes), POLICY_KEYS);
    assert.deepEqual(r.splits.map((s) => s.split), [0, 1, 2, 3, 4]);
    for (const s of r.splits) assert.ok(Math.abs(s.breakdown.deviceMs + s.breakdown.transferMs + s.breakdown.cloudMs - s.totalMs) < 1e-9);
    // All-local on a Pi 5: 200 ms on the reference / 2.5.
    assert.ok(Math.abs(r.splits[4]!.breakdown.deviceMs - 80) < 1, `deviceMs ${r.splits[4]!.breakdown.deviceMs}`);
    assert.deepEqual(r.timeline.map((s) => s.t), [0]);
    assert.deepEqual(Object.keys(r.timeline[0]!.conditions), ["upMbit", "downMbit", "rttMs", "lossPct", "cpuLoadPercent", "ramAvailableBytes", "cloudUp"]);
  });

  test("the oracle is never slower than any policy on any request of any shipped scenario, and never fails where one ran", () => {
    for (const name of listScenarios()) {
      for (const profile of ["pi4-4gb", "x86-n100"]) {
        const r = run(profile, loadScenario(name), { seed: 2 });
        for (const q of r.requests) {
          const o = q.outcomes.oracle!;
          for (const [key, p] of Object.entries(q.outcomes)) {
            if (p.latencyMs === null) continue;
            assert.notEqual(o.latencyMs, null, `${name} ${profile} request ${q.i}: the oracle failed where ${key} ran`);
            assert.ok(o.latencyMs! <= p.latencyMs * (1 + 1e-9), `${name} ${profile} request ${q.i}: oracle ${o.latencyMs} > ${key} ${p.latencyMs}`);
          }
        }
      }
    }
  });

  test("in bandwidth-drop the adaptive policy moves the split to the device during the drop, and back after", () => {
    const r = run("pi5-8gb", loadScenario("bandwidth-drop"), { seed: 1 });
    const ks = outcomes(r, "hysteresis").map((o) => o.split);
    const n = r.meta.segments;
    const during = ks.slice(100, 200);
    assert.ok(ks.slice(10, 85).every((k) => k === 0), "before the drop: all in the cloud");
    assert.ok(during.filter((k) => k === n).length >= 95, `during the drop: on the device (got ${during.join("")})`);
    assert.ok(ks.slice(260).every((k) => k === 0), "well after the recovery: back in the cloud");
    assert.ok(r.summary.adaptive.meanMs < Math.min(r.summary["all-local"].meanMs, r.summary["all-cloud"].meanMs));
  });

  test("--policy static:K holds K; greedy is the plan's best; the policy's name keys its outcomes", () => {
    const sc = scenario({});
    const st = run("pi4-4gb", sc, { policy: { name: "static", split: 2 } });
    assert.equal(st.meta.policy, "static");
    assert.ok(outcomes(st, "static").every((o) => o.split === 2));
    const gr = run("pi4-4gb", sc, { policy: { name: "greedy" } });
    assert.equal(gr.meta.policy, "greedy");
    assert.ok(gr.requests.every((q) => q.outcomes.greedy !== undefined));
  });

  test("a CPU hog slows the device's compute by 1 / (1 - load)", () => {
    const r = run("pi4-4gb", scenario({ events: [{ from: 0, cpuLoadPercent: 75 }] }));
    const local = r.splits[4]!;
    assert.ok(Math.abs(local.breakdown.deviceMs - 800) < 10, `all-local at 75% load: ${local.breakdown.deviceMs} ms, expected about 4 x 200`);
  });
});
