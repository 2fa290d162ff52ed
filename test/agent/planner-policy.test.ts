// SplitPolicy's hysteresis over real plans: it never flaps on inputs that oscillate between two
// regimes, ignores gains below the bar, switches after N consistent decisions (not before),
// moves at once off a split that became infeasible, and passes queue/fail through.
import { test } from "node:test";
import assert from "node:assert/strict";
import { plan, SplitPolicy, type Plan, type PlanInputs } from "../../agent/planner/index.js";

const MB = 1_000_000;

/** Four 10 ms segments with shrinking cuts; bandwidth decides between the cloud and the device. */
function inputs(bw: number, o: { reachable?: boolean; ram?: number } = {}): PlanInputs {
  return {
    segments: Array.from({ length: 4 }, () => ({ localMs: 10, flops: 1e9, memBytes: 10 * MB })),
    cuts: [200_000, 50_000, 10_000].map((bytes, i) => ({ bytes, tensors: [`h${i}`], modelInputs: [] })),
    inputBytes: 400_000,
    outputBytes: 1_000,
    device: { cpuLoadPercent: 0, ramAvailableBytes: o.ram ?? 1000 * MB, flopsPerMs: 1e8 },
    network: { rttMs: 5, upBytesPerSec: bw, downBytesPerSec: bw, confidence: 1, reachable: o.reachable ?? true },
    cloud: { speedup: 10, queueMs: 0 },
  };
}

const FAST = plan(inputs(1000 * MB)); // all in the cloud
const SLOW = plan(inputs(50_000)); // all local
const cfg = { minRelativeGain: 0.1, minAbsoluteGainMs: 2, confirmations: 3 };

test("the two regimes the tests alternate pick different splits", () => {
  assert.equal(FAST.best, 0);
  assert.equal(SLOW.best, 4);
});

test("an oscillating input never flaps: alternate regimes, and pairs of one then one of the other", () => {
  for (const pattern of [[FAST, SLOW], [FAST, FAST, SLOW], [SLOW, SLOW, FAST]]) {
    const policy = new SplitPolicy(cfg);
    const first = policy.decide(pattern[0]!);
    assert.equal(first.switched, true, "the first plan is adopted");
    const k0 = first.k;
    for (let i = 1; i < 60; i++) {
      const d = policy.decide(pattern[i % pattern.length]!);
      assert.equal(d.k, k0, `decision ${i}: ${d.reason}`);
      assert.equal(d.switched, false);
    }
  }
});

test("switches after exactly N consistent decisions, with pending counting up", () => {
  const policy = new SplitPolicy(cfg);
  policy.decide(FAST);
  assert.equal(policy.current, 0);
  const d1 = policy.decide(SLOW);
  const d2 = policy.decide(SLOW);
  assert.deepEqual([d1.k, d1.pending, d1.switched, d2.k, d2.pending, d2.switched], [0, 1, false, 0, 2, false]);
  const d3 = policy.decide(SLOW);
  assert.equal(d3.switched, true, d3.reason);
  assert.equal(d3.k, 4);
  assert.equal(d3.action, "local");
  assert.equal(policy.current, 4);
  assert.equal(policy.decide(SLOW).switched, false, "stays");
});

test("gains below the relative or absolute bar never switch, however often", () => {
  // Bandwidths around the k = 3 / k = 4 crossover (~2.76 MB/s): the best split changes, the gain stays under 2 ms.
  const near = [2_500_000, 3_000_000, 3_200_000, 2_600_000].map((bw) => plan(inputs(bw)));
  assert.deepEqual(near.map((p) => p.best), [4, 3, 3, 4]);
  const policy = new SplitPolicy(cfg);
  const k0 = policy.decide(near[0]!).k;
  for (let i = 0; i < 40; i++) assert.equal(policy.decide(near[i % near.length]!).k, k0, "a consistent but small gain");
  const eager = new SplitPolicy({ ...cfg, minAbsoluteGainMs: 0, minRelativeGain: 0, confirmations: 1 });
  eager.decide(near[0]!);
  assert.equal(eager.decide(near[1]!).switched, true, "with no bar the same inputs would switch");
  const strict = new SplitPolicy({ ...cfg, minRelativeGain: 0, minAbsoluteGainMs: 1e6 });
  strict.decide(FAST);
  for (let i = 0; i < 10; i++) assert.equal(strict.decide(SLOW).k, 0, "a 1e6 ms absolute bar");
});

test("an infeasible current split is left at once; the way back waits for N confirmations", () => {
  const policy = new SplitPolicy(cfg);
  policy.decide(FAST);
  const down = plan(inputs(1000 * MB, { reachable: false }));
  assert.equal(down.action, "local");
  const d = policy.decide(down);
  assert.equal(d.switched, true);
  assert.equal(d.k, 4);
  assert.match(d.reason, /infeasible.*at once/);
  assert.equal(policy.decide(FAST).k, 4);
  assert.equal(policy.decide(FAST).k, 4);
  assert.equal(policy.decide(FAST).k, 0, "third consistent decision");
});

test("queue and fail plans pass through and keep the current split for when the cloud returns", () => {
  const policy = new SplitPolicy(cfg);
  policy.decide(FAST);
  const queued: Plan = plan(inputs(1000 * MB, { reachable: false, ram: 80 * MB }), { ramMarginBytes: 50 * MB });
  assert.equal(queued.action, "queue");
  const q = policy.decide(queued);
  assert.equal(q.action, "queue");
  assert.equal(q.switched, false);
  const failed = policy.decide(plan(inputs(1000 * MB, { reachable: false, ram: 80 * MB }), { ramMarginBytes: 50 * MB, onCloudDown: "local-or-fail" }));
  assert.deepEqual([failed.action, failed.k], ["fail", null]);
  assert.equal(policy.current, 0);
  assert.equal(policy.decide(FAST).switched, false, "back to the split it had");
  policy.reset();
  assert.equal(policy.current, null);
  assert.throws(() => new SplitPolicy({ confirmations: 0 }), /confirmations/);
});

test("with the time given: a move toward the device must also last confirmMs; a move toward the cloud needs the decisions only", () => {
  const policy = new SplitPolicy({ ...cfg, confirmMs: 5000 });
  assert.equal(policy.decide(FAST, 0).k, 0);
  // Toward the device: three decisions within a second are not enough...
  for (const t of [100, 200, 300, 900]) assert.equal(policy.decide(SLOW, t).k, 0, `t = ${t}`);
  // ...five seconds of them are.
  assert.equal(policy.decide(SLOW, 5100).switched, true);
  assert.equal(policy.current, 4);
  // Toward the cloud: three decisions, whatever the time.
  assert.equal(policy.decide(FAST, 5200).k, 4);
  assert.equal(policy.decide(FAST, 5201).k, 4);
  const back = policy.decide(FAST, 5202);
  assert.equal(back.switched, true);
  assert.equal(back.k, 0);
  // A streak that is broken starts its time again.
  policy.decide(SLOW, 6000);
  policy.decide(FAST, 9000);
  for (const t of [10_000, 12_000, 14_000]) assert.equal(policy.decide(SLOW, t).k, 0, `t = ${t}: the streak began at 10 000`);
  assert.equal(policy.decide(SLOW, 15_000).k, 4);
});
