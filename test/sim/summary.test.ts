// Summary rows and the fair comparison of two policies (failures first, then the mean).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { atLeastAsGood, summarize } from "../../device-profiles/sim/summary.js";
import type { SimOutcome, SimSummaryRow } from "../../device-profiles/sim/types.js";

const ok = (split: number, latencyMs: number, bytesUp = 100): SimOutcome => ({ split, latencyMs, outcome: "ok", bytesUp });
const failed: SimOutcome = { split: null, latencyMs: null, outcome: "failed", code: "E_TIMEOUT", bytesUp: 0 };
const row = (meanMs: number, failedN: number): SimSummaryRow => ({ meanMs, p95Ms: meanMs, switches: 0, bytesUp: 0, failed: failedN });

describe("summary", () => {
  test("mean and p95 of the requests that ran, switches between them, bytes, failures", () => {
    const outs = [ok(0, 10), ok(0, 20), failed, ok(4, 30, 0), ok(4, 40, 0), ok(0, 100)];
    const s = summarize(outs);
    assert.equal(s.meanMs, 40);
    assert.equal(s.p95Ms, 100);
    assert.equal(s.switches, 2);
    assert.equal(s.bytesUp, 300);
    assert.equal(s.failed, 1);
    const none = summarize([failed]);
    assert.ok(Number.isNaN(none.meanMs));
    assert.equal(JSON.parse(JSON.stringify(none)).meanMs, null, "no mean is null in the JSON");
  });

  test("at least as good: fewer failures win whatever the mean; with as many, the lower mean (within rounding)", () => {
    assert.equal(atLeastAsGood(row(500, 0), row(100, 1)), true);
    assert.equal(atLeastAsGood(row(100, 1), row(500, 0)), false);
    assert.equal(atLeastAsGood(row(100, 0), row(100 * (1 + 1e-12), 0)), true);
    assert.equal(atLeastAsGood(row(100 * (1 + 1e-12), 0), row(100, 0)), true);
    assert.equal(atLeastAsGood(row(101, 0), row(100, 0)), false);
  });
});
