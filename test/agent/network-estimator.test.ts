// The agent's network estimator on synthetic round trips with a fake clock: it recovers a known
// RTT and up/down bandwidth through noise and retry outliers, falls back to one bandwidth when up
// and down sizes move together, follows a bandwidth drop within a bounded number of round trips,
// asks for probes on time, and goes unreachable after consecutive failures.
import { uniformRng } from "../../sdk/graph/models/rng.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { NetworkEstimator, type NetworkObservation } from "../../agent/network/index.js";
import { EdgecutError } from "../../sdk/errors.js";

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
const rng = uniformRng;

interface Link {
  rttMs: number;
  up: number;
  down: number;
}

/** A round trip over `link` with ±noise relative jitter and the worker's compute/queue added on top. */
function roundTrip(link: Link, bytesUp: number, bytesDown: number, at: number, r: () => number, noise = 0.05): NetworkObservation {
  const net = link.rttMs + (bytesUp / link.up) * 1000 + (bytesDown / link.down) * 1000;
  const cloudComputeMs = 5 + 20 * r();
  const cloudQueueMs = 10 * r();
  return { bytesUp, bytesDown, roundTripMs: net * (1 + noise * (2 * r() - 1)) + cloudComputeMs + cloudQueueMs, cloudComputeMs, cloudQueueMs, at };
}

const near = (got: number, want: number, rel: number, what: string): void =>
  assert.ok(Math.abs(got - want) <= rel * want, `${what}: got ${got.toFixed(2)}, want ${want} ±${rel * 100}%`);

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) test(`seed ${seed}: recovers RTT and up/down bandwidth from noisy round trips of varied sizes, despite retry outliers`, () => {
  const r = rng(seed);
  const link = { rttMs: 40, up: 1_000_000, down: 4_000_000 };
  let t = 0;
  const est = new NetworkEstimator({ now: () => t });
  for (let i = 0; i < 64; i++) {
    t += 100;
    const o = roundTrip(link, 100 + Math.floor(200_000 * r()), 100 + Math.floor(200_000 * r()), t, r);
    // One round trip in 12 took a retry: 300 ms more than the link explains.
    if (i % 12 === 5) o.roundTripMs += 300;
    est.observe(o);
  }
  const d = est.detail();
  assert.equal(d.basis, "up-down");
  assert.equal(d.samples, 32, "jitter and single outliers are not mistaken for a changed link (the window was never restarted)");
  // Tolerances from 200 simulated seeds (99th percentile: rtt 19%, up 6%, down 21%): the
  // download (at most 50 ms of a round trip here) is the hardest to see through ±5% jitter.
  near(d.rttMs, 40, 0.25, "rtt");
  near(d.upBytesPerSec, 1_000_000, 0.1, "up");
  near(d.downBytesPerSec, 4_000_000, 0.25, "down");
  assert.ok(d.reachable);
  assert.ok(d.confidence > 0.6, `confidence ${d.confidence}`);
});

test("up and down sizes that move together give one bandwidth (basis total)", () => {
  const r = rng(2);
  const link = { rttMs: 25, up: 500_000, down: 500_000 };
  let t = 0;
  const est = new NetworkEstimator({ now: () => t });
  for (let i = 0; i < 40; i++) {
    t += 50;
    const up = 1000 + Math.floor(100_000 * r());
    est.observe(roundTrip(link, up, Math.floor(up / 10), t, r, 0.03));
  }
  const d = est.detail();
  assert.equal(d.basis, "total");
  near(d.rttMs, 25, 0.2, "rtt");
  near(d.upBytesPerSec, 500_000, 0.1, "bandwidth");
  assert.equal(d.upBytesPerSec, d.downBytesPerSec);
});

test("follows a bandwidth drop within 5 round trips (the level-shift test restarts the window)", () => {
  const r = rng(3);
  let t = 0;
  const est = new NetworkEstimator({ now: () => t });
  const before = { rttMs: 30, up: 2_000_000, down: 2_000_000 };
  const after = { rttMs: 30, up: 250_000, down: 250_000 };
  const sizes = (): [number, number] => [200 + Math.floor(150_000 * r()), 200 + Math.floor(30_000 * r())];
  for (let i = 0; i < 40; i++) {
    t += 100;
    est.observe(roundTrip(before, ...sizes(), t, r));
  }
  near(est.estimate().upBytesPerSec, 2_000_000, 0.15, "before the drop");
  let reacted = -1;
  for (let i = 1; i <= 30 && reacted < 0; i++) {
    t += 100;
    est.observe(roundTrip(after, ...sizes(), t, r));
    if (Math.abs(est.estimate().upBytesPerSec - 250_000) <= 0.3 * 250_000) reacted = i;
  }
  assert.ok(reacted > 0 && reacted <= 5, `estimate within 30% of the new bandwidth after ${reacted} round trips`);
});

test("messages of one size keep the prior RTT; nextProbeBytes asks for small, then large probes", () => {
  let t = 0;
  const est = new NetworkEstimator({ now: () => t, config: { priorRttMs: 20, smallProbeBytes: 64, largeProbeBytes: 65536 } });
  assert.equal(est.detail().basis, "prior");
  assert.equal(est.estimate().confidence, 0);
  assert.equal(est.nextProbeBytes(), 64);
  const link = { rttMs: 20, up: 1_000_000, down: 1_000_000 };
  const r = rng(4);
  for (let i = 0; i < 10; i++) est.observe(roundTrip(link, 50_000, 50_000, (t += 10), r, 0));
  const d = est.detail();
  assert.equal(d.basis, "rtt-held");
  near(d.rttMs, 20, 1e-9, "held rtt");
  near(d.upBytesPerSec, 1_000_000, 0.01, "bandwidth with the rtt held");
  assert.equal(est.nextProbeBytes(), 64, "no small message yet: probe the RTT");
  est.observe(roundTrip(link, 64, 64, (t += 10), r, 0));
  assert.equal(est.detail().basis, "total", "a small probe gives the spread to fit both");
  assert.equal(est.nextProbeBytes(), 64, "spread present: small probes keep the RTT fresh");
});

test("needsProbe on a fake clock: at start, after probeIntervalMs of silence, once per interval while down", () => {
  let t = 1000;
  const est = new NetworkEstimator({ now: () => t, config: { probeIntervalMs: 5000, failuresUntilDown: 2, confirmProbeMs: 1000 } });
  assert.equal(est.needsProbe(t), true, "never measured");
  // Until shiftRun (3) round trips size the link, probes come every confirmProbeMs.
  est.observe({ bytesUp: 64, bytesDown: 64, roundTripMs: 30, cloudComputeMs: 0, cloudQueueMs: 0, at: t });
  for (let i = 1; i < 3; i++) {
    assert.equal(est.urgent, true);
    assert.equal(est.needsProbe(t + 999), false);
    assert.equal(est.needsProbe(t + 1000), true);
    t += 1000;
    est.observe({ bytesUp: 64 + 10_000 * i, bytesDown: 64, roundTripMs: 30 + i, cloudComputeMs: 0, cloudQueueMs: 0, at: t });
  }
  assert.equal(est.urgent, false);
  assert.equal(est.needsProbe(t + 4999), false);
  assert.equal(est.needsProbe(t + 5000), true);
  t += 5000;
  est.observeFailure(t);
  assert.equal(est.estimate().reachable, true, "one timeout is not down");
  assert.equal(est.needsProbe(t + 1), false, "a failed probe counts as an attempt: no probe storm");
  t += 5000;
  assert.equal(est.needsProbe(), true, "uses the injected clock when no time is given");
  const c1 = est.estimate().confidence;
  est.observeFailure(t);
  const down = est.estimate();
  assert.equal(down.reachable, false, "two timeouts in a row: down");
  assert.ok(down.confidence < c1, "each failure lowers the confidence");
  assert.equal(est.urgent, true, "while down, probes come every confirmProbeMs");
  assert.equal(est.needsProbe(t + 999), false);
  t += 1000;
  assert.equal(est.needsProbe(), true, "probing continues while down");
  est.observeFailure(t + 10, t - 5000);
  assert.equal(est.estimate().reachable, false);
  est.observe({ bytesUp: 64, bytesDown: 64, roundTripMs: 30, cloudComputeMs: 0, cloudQueueMs: 0, at: t });
  assert.equal(est.estimate().reachable, true, "one success: reachable again");
});

test("confidence falls as the last observation ages; bad config and bad observations are rejected", () => {
  let t = 0;
  const est = new NetworkEstimator({ now: () => t, config: { probeIntervalMs: 1000 } });
  const r = rng(5);
  const link = { rttMs: 10, up: 1e6, down: 1e6 };
  for (let i = 0; i < 20; i++) est.observe(roundTrip(link, i % 2 ? 64 : 100_000, 64, (t += 10), r, 0.01));
  const fresh = est.estimate().confidence;
  t += 10_000;
  assert.ok(est.estimate().confidence < fresh / 5, "10 intervals old");
  assert.throws(() => new NetworkEstimator({ now: () => 0, config: { window: 2 } }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && /window/.test(e.message));
  assert.throws(() => est.observe({ bytesUp: -1, bytesDown: 0, roundTripMs: 1, cloudComputeMs: 0, cloudQueueMs: 0, at: t }), RangeError);
});

for (const seed of [5, 6, 7, 8]) test(`seed ${seed}: a link back to full speed after a short slow spell is noticed within 4 probes, though the window mixes both regimes`, () => {
  const r = rng(seed);
  let t = 0;
  const est = new NetworkEstimator({ now: () => t });
  const fast = { rttMs: 3, up: 12_500_000, down: 12_500_000 };
  const slow = { rttMs: 40, up: 125_000, down: 125_000 };
  // A device's round trips are noisy (30% jitter, a fifth of them delayed by a GC pause or a busy event loop).
  const obs = (l: Link, up: number, down: number): void => {
    t += 100;
    const net = l.rttMs + (up / l.up) * 1000 + (down / l.down) * 1000;
    est.observe({ bytesUp: up, bytesDown: down, roundTripMs: net * (1 + 0.3 * (2 * r() - 1)) + 1 + (r() < 0.2 ? 15 * r() : 0), cloudComputeMs: 1, cloudQueueMs: 0, at: t });
  };
  // Probe sizes as the agent sends them: small, large up, small, large echoed; requests send 640 B for 33 KB back.
  const probes: [number, number][] = [[400, 150], [65_900, 150], [400, 150], [65_900, 65_700]];
  for (let i = 0; i < 10; i++) obs(fast, 640, 33_088);
  for (let i = 0; i < 3; i++) obs(fast, ...probes[i % 4]!);
  for (let i = 0; i < 3 + (seed % 4); i++) obs(slow, 640, 33_088);
  for (let i = 0; i < 3; i++) obs(slow, ...probes[i % 4]!);
  assert.ok(est.estimate().downBytesPerSec < 2_000_000, `the slow spell is seen: ${JSON.stringify(est.estimate())}`);
  for (let i = 0; i < 4; i++) obs(fast, ...probes[i % 4]!);
  const e = est.estimate();
  assert.ok(e.upBytesPerSec > 5_000_000 && e.downBytesPerSec > 5_000_000 && e.rttMs < 20, `after 4 fast probes: ${JSON.stringify(est.detail())}`);
});
