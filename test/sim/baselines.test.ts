// The baselines: all-local fails when the front does not fit, all-cloud holds requests through an
// outage (or fails them past the hold timeout), best-static is the best single split, and the
// adaptive agent's own handling of an outage (timeouts, then all-local) and of a full board.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { outcomes, run, scenario } from "./support.js";

describe("baselines", () => {
  test("all-local fails (E_NO_SPLIT) while the front does not fit in the RAM left, and runs otherwise", () => {
    // 4 x 13 MB = 52 MB; 100 MiB available minus the planner's 64 MiB margin leaves 36 MiB.
    const r = run("pi4-4gb", scenario({ events: [{ from: "20s", to: "40s", ramAvailableBytes: "100mb" }] }));
    const local = outcomes(r, "all-local");
    for (const [i, q] of r.requests.entries()) {
      const squeezed = q.t >= 20_000 && q.t < 40_000;
      assert.equal(local[i]!.latencyMs === null, squeezed, `request at ${q.t} ms`);
      if (squeezed) assert.equal(local[i]!.code, "E_NO_SPLIT");
    }
    assert.equal(r.summary["all-local"].failed, 20);
    // The oracle (and the adaptive agent) run fronts that fit, or the cloud.
    assert.equal(r.summary.oracle.failed, 0);
    assert.equal(r.summary.adaptive.failed, 0);
  });

  test("all-cloud holds requests through an outage: the latency includes the wait until the cloud is back", () => {
    const r = run("pi4-4gb", scenario({ durationMs: "90s", events: [{ from: "30s", to: "50s", cloudUp: false }] }));
    const cloud = outcomes(r, "all-cloud");
    for (const [i, q] of r.requests.entries()) {
      const o = cloud[i]!;
      assert.equal(o.split, 0);
      if (q.t >= 30_000 && q.t < 50_000) assert.ok(o.latencyMs! >= 50_000 - q.t, `request at ${q.t}: ${o.latencyMs} ms includes the wait`);
      else assert.ok(o.latencyMs! < 1000);
    }
    assert.equal(r.summary["all-cloud"].failed, 0);
    // All-local does not care; the oracle runs locally during the outage.
    assert.equal(r.summary["all-local"].failed, 0);
    assert.ok(outcomes(r, "oracle").slice(31, 49).every((o) => o.split === 4));
  });

  test("all-cloud fails with E_TIMEOUT a request the outage would hold past holdTimeoutMs", () => {
    const r = run("pi4-4gb", scenario({ durationMs: "90s", holdTimeoutMs: "10s", events: [{ from: "30s", to: "60s", cloudUp: false }] }));
    const cloud = outcomes(r, "all-cloud");
    for (const [i, q] of r.requests.entries()) {
      if (q.t >= 30_000 && q.t < 50_000) assert.equal(cloud[i]!.code, "E_TIMEOUT", `request at ${q.t} waits over 10 s`);
      if (q.t >= 50_000 && q.t < 60_000) assert.equal(cloud[i]!.outcome, "ok", `request at ${q.t} waits under 10 s`);
    }
  });

  test("best-static is the split with the fewest failures, then the lowest mean", () => {
    const r = run("pi4-4gb", scenario({ events: [{ from: "20s", to: "40s", ramAvailableBytes: "100mb" }] }));
    const ks = new Set(outcomes(r, "best-static").map((o) => o.split));
    assert.deepEqual([...ks], [0], "k = 0 never fails and is the fastest on good Wi-Fi");
    assert.equal(r.summary["best-static"].meanMs, r.summary["all-cloud"].meanMs);
  });

  test("the adaptive agent sees an outage only through timed-out offloads, then runs all-local until probes find the cloud", () => {
    const r = run("pi4-4gb", scenario({ durationMs: "150s", events: [{ from: "30s", to: "90s", cloudUp: false }] }));
    const ad = outcomes(r, "hysteresis");
    // The first request into the outage waits out one attempt (its timeout sized from the
    // prediction: 250 ms at least), with no retry since all-local fits, then runs all-local.
    const first = ad[30]!;
    assert.ok(first.split === 4 && first.latencyMs! >= 250 && first.latencyMs! < 3000, `first request into the outage: ${JSON.stringify(first)}`);
    // Once two offloads or probes have failed, the plan says all-local.
    assert.ok(ad.slice(65, 89).every((o) => o.split === 4 && o.latencyMs! < 1000));
    // Well after it, back in the cloud.
    assert.ok(ad.slice(120).every((o) => o.split === 0));
  });

  test("with the cloud down and all-local not fitting, the agent holds requests (queue) until the cloud is back", () => {
    const r = run("pi4-4gb", scenario({
      durationMs: "120s", events: [{ from: "20s", to: "100s", ramAvailableBytes: "80mb" }, { from: "40s", to: "60s", cloudUp: false }],
    }));
    const ad = outcomes(r, "hysteresis");
    const held = ad.filter((o, i) => r.requests[i]!.t > 75_000 && r.requests[i]!.t < 80_000);
    assert.ok(held.every((o) => o.split === 0), "runs in the cloud again");
    // Requests deep in the outage were held (or timed out and failed), none ran a front that does not fit.
    assert.ok(ad.every((o) => o.split === null || o.split <= 1));
    assert.ok(ad.slice(50, 58).some((o) => o.latencyMs !== null && o.latencyMs > 2000), "held requests waited for the cloud");
  });
});
