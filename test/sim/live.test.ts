// The live simulator on real parts: the agent core, an embedded broker and an in-process worker
// serving a real tiny-gpt split, the link shaped to a scenario played at half speed: 100 Mbit/s,
// then 1 up / 2 down Mbit/s (the 64 KiB of logits coming back take ~0.26 s, so the Pi 4-stretched
// device, ~0.1 s, wins), then a cloud outage. Checks the SimResult's shape and that the adaptive agent followed the conditions; no
// latency figure is asserted beyond what the conditions force (the machine is shared and noisy).
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { runLive } from "../../device-profiles/sim/live.js";
import { conditionsAt } from "../../device-profiles/sim/live-timeline.js";
import { parseScenario, type Scenario } from "../../device-profiles/sim/scenario.js";
import type { SimResult } from "../../device-profiles/sim/types.js";
import { EdgecutError } from "../../sdk/errors.js";
import { buildSplit, tempDir, type E2ESplit } from "../e2e/support.js";

const root = tempDir("live");
const DROP_AT = 2500;
const OUTAGE_AT = 10_000;
const DURATION = 11_500;

/**
 * Fast link, a drop to 1 up / 2 down Mbit/s, then the cloud down: 11.5 scenario seconds, 5.75 real
 * ones. The slow phase is long because its rounds are (all-cloud takes ~0.3 s or more then): on a
 * loaded machine it still holds several rounds for the estimator and the policy to react in.
 */
function scenario(preset: string): Scenario {
  return parseScenario({
    format: 1, name: "live-test", description: "fast, a bandwidth drop, a cloud outage", preset,
    durationMs: DURATION, interArrivalMs: 250, cloudSpeedup: 4,
    events: [
      { from: 0, to: DROP_AT, upMbit: 100, downMbit: 100, rttMs: 10 },
      { from: DROP_AT, to: OUTAGE_AT, upMbit: 1, downMbit: 2, rttMs: 10, note: "the link drops" },
      { from: OUTAGE_AT, upMbit: 100, downMbit: 100, rttMs: 10, cloudUp: false, note: "the cloud is down" },
    ],
  }, "live-test");
}

const isUsage = (e: unknown): boolean => e instanceof EdgecutError && e.code === "E_USAGE";

describe("runLive", () => {
  let split: E2ESplit;
  // The events set bandwidth and RTT from t = 0: the preset only names where the run starts.
  const preset = "ethernet";
  before(async () => {
    split = await buildSplit(root, "live-gpt", "tiny-gpt", { layers: 4 }, { input_ids: [1, 64] }, { segments: 3 });
  });

  test("a bandwidth drop and an outage on real parts: a well-formed live SimResult, the split follows", async () => {
    const n = split.manifest.segments.length;
    const r: SimResult = await runLive({
      manifestPath: split.manifestPath, profile: "pi4-4gb", preset, scenario: scenario(preset), policy: { name: "hysteresis", confirmMs: 500 }, seed: 7, durationScale: 0.5,
    });
    const ctx = (): string => r.requests.map((q) => `${Math.round(q.t)} ${q.conditions.downMbit}/${q.conditions.cloudUp ? "up" : "down"}: ${
      Object.entries(q.outcomes).map(([k, o]) => `${k}=${o.split}:${o.latencyMs?.toFixed(0) ?? o.code}`).join(" ")}`).join("\n");

    assert.deepEqual(
      { mode: r.meta.mode, profile: r.meta.profile, preset: r.meta.preset, scenario: r.meta.scenario, policy: r.meta.policy, segments: r.meta.segments, seed: r.meta.seed, durationMs: r.meta.durationMs },
      { mode: "live", profile: "pi4-4gb", preset, scenario: "live-test", policy: "hysteresis", segments: n, seed: 7, durationMs: DURATION },
    );
    assert.equal(r.meta.requests, r.requests.length);
    assert.deepEqual(r.timeline.map((s) => [s.t, s.conditions.downMbit, s.conditions.cloudUp]), [[0, 100, true], [DROP_AT, 2, true], [OUTAGE_AT, 100, false]]);
    assert.deepEqual(r.splits.map((s) => s.split), [...Array(n + 1).keys()]);
    for (const s of r.splits) assert.ok(Math.abs(s.breakdown.deviceMs + s.breakdown.transferMs + s.breakdown.cloudMs - s.totalMs) < 1e-6);
    for (const name of ["adaptive", "all-local", "all-cloud", "best-static", "oracle"] as const) {
      const row = r.summary[name];
      assert.ok(Number.isInteger(row.failed) && Number.isInteger(row.switches) && row.bytesUp >= 0, name);
    }
    assert.ok(r.summary.adaptiveOverOracle > 0 && Number.isFinite(r.summary.adaptiveOverOracle));

    // Every round ran every policy, at the conditions in force when it started.
    r.requests.forEach((q, i) => {
      assert.equal(q.i, i);
      if (i > 0) assert.ok(q.t >= r.requests[i - 1]!.t);
      assert.deepEqual(q.conditions, conditionsAt(r.timeline, q.t));
      assert.deepEqual(Object.keys(q.outcomes).sort(), ["all-cloud", "all-local", "best-static", "hysteresis", "oracle"]);
      for (const o of Object.values(q.outcomes)) {
        assert.equal(o.outcome === "ok", o.latencyMs !== null && o.latencyMs > 0 && o.split !== null && o.breakdown !== undefined, ctx());
        if (o.outcome === "failed") assert.ok(typeof o.code === "string" && o.code.startsWith("E_"));
      }
      if (q.outcomes["all-local"]!.outcome === "ok") assert.equal(q.outcomes["all-local"]!.split, n);
      if (q.outcomes["all-cloud"]!.outcome === "ok") assert.equal(q.outcomes["all-cloud"]!.split, 0);
    });

    const phase = (from: number, to: number): SimResult["requests"] => r.requests.filter((q) => q.t >= from && q.t < to);
    const fast = phase(0, DROP_AT);
    const slow = phase(DROP_AT, OUTAGE_AT);
    const outage = phase(OUTAGE_AT, Infinity);
    assert.ok(fast.length >= 2 && slow.length >= 2 && outage.length >= 1, `rounds per phase ${fast.length}/${slow.length}/${outage.length}\n${ctx()}`);

    // The adaptive outcomes ran; on the fast link the stretched Pi 4 offloads.
    const adaptive = (q: SimResult["requests"][number]): SimResult["requests"][number]["outcomes"][string] => q.outcomes["hysteresis"]!;
    assert.equal(r.summary.adaptive.failed, 0, ctx());
    // The split most fast-link rounds ran at (the last round may straddle the drop: its offload then
    // times out against the fast link's prediction and the request runs on the device at once).
    const fastSplits = fast.map((q) => adaptive(q).split!);
    const fastSplit = Math.min(...fastSplits);
    assert.ok(fastSplits.filter((k) => k < n).length * 2 > fastSplits.length, `on 100 Mbit/s the device should offload\n${ctx()}`);
    // After the drop the split moves toward the device, and stays there.
    assert.ok(adaptive(slow[slow.length - 1]!).split! > fastSplit, `after the drop the split should move above ${fastSplit}\n${ctx()}`);
    // In the outage all-cloud cannot run; the adaptive agent runs on the device.
    for (const q of outage) {
      assert.equal(q.outcomes["all-cloud"]!.outcome, "failed", ctx());
      assert.equal(adaptive(q).split, n, ctx());
    }
    assert.ok(r.summary.adaptive.switches >= 1);
  });

  test("bad options fail before anything starts", async () => {
    const base = { manifestPath: split.manifestPath, profile: "pi4-4gb", preset, scenario: scenario(preset), seed: 1 };
    await assert.rejects(runLive({ ...base, policy: "clairvoyant" }), (e: unknown) => isUsage(e) && /clairvoyant/.test((e as Error).message));
    await assert.rejects(runLive({ ...base, policy: "greedy", durationScale: 0 }), (e: unknown) => isUsage(e) && /durationScale/.test((e as Error).message));
    await assert.rejects(runLive({ ...base, policy: "greedy", preset: "no-such-preset" }), isUsage);
    await assert.rejects(runLive({ ...base, policy: "greedy", scenario: "no-such-scenario" }), isUsage);
  });
});
