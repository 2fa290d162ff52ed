// The split planner on synthetic profiles: its choice against an independent brute force over a
// grid of bandwidth, RTT, CPU load and RAM; monotonic moves (slower network -> toward the device,
// more load -> toward the cloud); the RAM constraint; privacy rules; the throughput objective
// balancing stages where latency disagrees; cloud-down behaviour; geometry from a manifest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { geometryFromManifest, plan, type PlanInputs, type PlannerConfigInput } from "../../agent/planner/index.js";
import type { NetworkEstimate } from "../../agent/network/index.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import { EdgecutError } from "../../sdk/errors.js";

const MB = 1_000_000;

/** A CNN-like 6-segment profile: cut bytes shrink with depth, cost grows. */
function profile(o: { bw?: number; rtt?: number; load?: number; ram?: number; reachable?: boolean } = {}): PlanInputs {
  const network: NetworkEstimate = { rttMs: o.rtt ?? 20, upBytesPerSec: o.bw ?? 10 * MB, downBytesPerSec: o.bw ?? 10 * MB, confidence: 1, reachable: o.reachable ?? true };
  return {
    segments: [
      { localMs: 5, flops: 5e9, memBytes: 40 * MB },
      { localMs: 8, flops: 8e9, memBytes: 60 * MB },
      { localMs: null, flops: 12e9, memBytes: 80 * MB }, // unprofiled: 12e9 / 1e9 = 12 ms
      { localMs: 12, flops: 12e9, memBytes: 80 * MB },
      { localMs: 15, flops: 15e9, memBytes: 100 * MB },
      { localMs: 20, flops: 20e9, memBytes: 150 * MB },
    ],
    cuts: [600_000, 300_000, 100_000, 40_000, 8_000].map((bytes, i) => ({ bytes, tensors: [`h${i}`], modelInputs: [] })),
    inputBytes: 800_000,
    outputBytes: 4_000,
    device: { cpuLoadPercent: o.load ?? 0, ramAvailableBytes: o.ram ?? 4000 * MB, flopsPerMs: 1e9 },
    network,
    cloud: { speedup: 5, queueMs: 3 },
  };
}

const CODEC = 2e-6;
const MARGIN = 64 * 1024 * 1024;
const BASE: PlannerConfigInput = { codecMsPerByte: CODEC, ramMarginBytes: MARGIN, maxCpuLoad: 0.9 };

/** The brute force, written from the cost model's definition and not from the planner's code. */
function bruteForce(p: PlanInputs, objective: "latency" | "throughput" = "latency"): { k: number; totalMs: number } {
  const idle = p.segments.map((s) => s.localMs ?? s.flops! / p.device.flopsPerMs);
  const u = Math.min(p.device.cpuLoadPercent / 100, 0.9);
  const n = idle.length;
  let best = { k: -1, totalMs: Infinity, period: Infinity };
  for (let k = 0; k <= n; k++) {
    const mem = p.segments.slice(0, k).reduce((a, s) => a + s.memBytes, 0);
    if (mem > p.device.ramAvailableBytes - MARGIN) continue;
    const local = idle.slice(0, k).reduce((a, b) => a + b, 0) / (1 - u);
    let t = local;
    // Pipelined stages for throughput: device (front + codec), link (up + down), cloud (back).
    let period = local;
    if (k < n) {
      const up = k === 0 ? p.inputBytes : p.cuts[k - 1]!.bytes;
      const down = p.outputBytes;
      const link = (up / p.network.upBytesPerSec) * 1000 + (down / p.network.downBytesPerSec) * 1000;
      const cloud = idle.slice(k).reduce((a, b) => a + b, 0) / p.cloud.speedup!;
      t += (up + down) * CODEC + p.network.rttMs + link + cloud + p.cloud.queueMs;
      period = Math.max(local + (up + down) * CODEC, link, cloud);
    }
    const better = objective === "latency"
      ? t < best.totalMs || (t === best.totalMs && k > best.k)
      : period < best.period || (period === best.period && (t < best.totalMs || (t === best.totalMs && k > best.k)));
    if (better) best = { k, totalMs: t, period };
  }
  return { k: best.k, totalMs: best.totalMs };
}

test("the latency and throughput choices match an independent brute force over a grid of bandwidth, RTT, load and RAM", () => {
  const seen = new Set<number>();
  for (const bw of [50_000, 500_000, 5 * MB, 50 * MB, 500 * MB]) {
    for (const rtt of [1, 20, 150]) {
      for (const load of [0, 50, 85, 99]) {
        for (const ram of [4000 * MB, 250 * MB]) {
          const p = profile({ bw, rtt, load, ram });
          const got = plan(p, BASE);
          const want = bruteForce(p);
          const where = `bw ${bw} rtt ${rtt} load ${load} ram ${ram}`;
          assert.equal(got.best, want.k, where);
          assert.ok(Math.abs(got.rows[want.k]!.predicted.totalMs - want.totalMs) < 1e-9, `${where}: totalMs`);
          assert.equal(got.rows.length, 7);
          seen.add(want.k);
          assert.equal(plan(p, { ...BASE, objective: "throughput" }).best, bruteForce(p, "throughput").k, `${where}: throughput`);
        }
      }
    }
  }
  assert.ok(seen.size >= 3, `the grid exercises several split points (${[...seen].join(", ")})`);
});

test("slower network moves the split toward the device; higher load moves it toward the cloud", () => {
  const bws = [1000 * MB, 100 * MB, 10 * MB, 2 * MB, 500_000, 100_000, 10_000];
  const ks = bws.map((bw) => plan(profile({ bw, rtt: 5 }), BASE).best!);
  for (let i = 1; i < ks.length; i++) assert.ok(ks[i]! >= ks[i - 1]!, `bandwidths ${bws.join(", ")} gave k = ${ks.join(", ")}`);
  assert.ok(ks[0]! < ks[ks.length - 1]!, `k moves at all: ${ks.join(", ")}`);

  const rtts = [0, 5, 20, 80, 300];
  const kr = rtts.map((rtt) => plan(profile({ bw: 5 * MB, rtt }), BASE).best!);
  for (let i = 1; i < kr.length; i++) assert.ok(kr[i]! >= kr[i - 1]!, `RTTs ${rtts.join(", ")} gave k = ${kr.join(", ")}`);

  const loads = [0, 20, 40, 60, 80, 95];
  const kl = loads.map((load) => plan(profile({ bw: 2 * MB, rtt: 10, load }), BASE).best!);
  for (let i = 1; i < kl.length; i++) assert.ok(kl[i]! <= kl[i - 1]!, `loads ${loads.join(", ")} gave k = ${kl.join(", ")}`);
  assert.ok(kl[0]! > kl[kl.length - 1]!, `k moves at all: ${kl.join(", ")}`);
});

test("the load factor is 1/(1-load), clamped at maxCpuLoad", () => {
  const at = (load: number) => plan(profile({ load }), BASE).rows[6]!.predicted.localMs;
  const idle = 5 + 8 + 12 + 12 + 15 + 20;
  assert.ok(Math.abs(at(0) - idle) < 1e-9);
  assert.ok(Math.abs(at(50) - 2 * idle) < 1e-9);
  assert.ok(Math.abs(at(100) - 10 * idle) < 1e-9, "clamped at 0.9: 10x");
});

test("RAM: a front that does not fit in available RAM minus the margin is infeasible, with the reason", () => {
  // Fronts: 40, 100, 180, 260, 360, 510 MB; 250 MB available - 64 MiB margin = ~183 MB: k <= 3.
  const p = plan(profile({ bw: 10_000, rtt: 300, ram: 250 * MB }), BASE);
  assert.equal(p.best, 3, "the network is so slow that it would run all local if it fit");
  for (const r of p.rows) {
    assert.equal(r.feasible, r.k <= 3, `k = ${r.k}`);
    if (!r.feasible) assert.match(r.reason!, /the front needs \d+ B, \d+ B available/);
  }
  assert.equal(p.rows[4]!.memBytes, 260 * MB);
});

test("privacy: private inputs never leave (k = 0 or a cut carrying one); attention_mask may when not private; minSegmentsBeforeCloud", () => {
  const base = profile({ bw: 1000 * MB, rtt: 1, load: 90 }); // everything wants the cloud
  const p: PlanInputs = {
    ...base,
    inputNames: ["input_ids", "attention_mask"],
    cuts: base.cuts.map((c, i) => ({ ...c, modelInputs: i === 0 ? ["attention_mask"] : i === 1 ? ["input_ids", "attention_mask"] : [] })),
  };
  assert.equal(plan(p, BASE).best, 0, "no rule: all in the cloud");

  const priv = plan(p, { ...BASE, privateInputs: ["input_ids"] });
  assert.equal(priv.rows[0]!.feasible, false);
  assert.match(priv.rows[0]!.reason!, /k = 0 sends the private model input\(s\) input_ids/);
  assert.equal(priv.rows[1]!.feasible, true, "the cut after segment 0 carries attention_mask only, which is not private");
  assert.equal(priv.rows[2]!.feasible, false);
  assert.match(priv.rows[2]!.reason!, /cut after segment 1 sends the private model input\(s\) input_ids/);
  assert.equal(priv.best, 1);

  const both = plan(p, { ...BASE, privateInputs: ["input_ids", "attention_mask"] });
  assert.equal(both.rows[1]!.feasible, false, "attention_mask named private: it may not cross either");
  assert.equal(both.best, 3);

  const minSeg = plan(p, { ...BASE, privateInputs: ["input_ids"], minSegmentsBeforeCloud: 4 });
  for (const k of [0, 1, 2, 3]) assert.equal(minSeg.rows[k]!.feasible, false, `k = ${k}`);
  assert.match(minSeg.rows[1]!.reason!, /privacy rule wants 4/);
  assert.equal(minSeg.rows[6]!.feasible, true, "all local sends nothing");
  assert.equal(minSeg.best, 4);

  const { inputNames: _drop, ...unnamed } = p;
  assert.equal(plan(unnamed, { ...BASE, privateInputs: ["input_ids"] }).rows[0]!.feasible, false, "without input names, k = 0 counts as sending them");
  assert.equal(plan(p, { ...BASE, privateInputs: ["token_type_ids"] }).rows[0]!.feasible, true, "a private name the model does not take blocks nothing");
});

test("throughput picks the balanced split where latency picks all-local", () => {
  // Four 10 ms segments; the cloud is no faster (speedup 1); 100 kB cross every cut at 10 MB/s
  // (10 ms); RTT 30 ms. Latency: all local, 40 ms, beats any offload (>= 80 ms). Throughput:
  // pipelined stages at k = 2 are device 20 ms, link 10 ms, cloud 20 ms: ~49 req/s, where k = 4
  // (one 40 ms stage) gives 25 and k = 0 (the cloud's 40 ms) gives 25.
  const p: PlanInputs = {
    segments: Array.from({ length: 4 }, () => ({ localMs: 10, flops: 1e9, memBytes: MB })),
    cuts: [0, 1, 2].map((i) => ({ bytes: 100_000, tensors: [`h${i}`], modelInputs: [] })),
    inputBytes: 100_000,
    outputBytes: 1_000,
    device: { cpuLoadPercent: 0, ramAvailableBytes: 1000 * MB, flopsPerMs: 1e8 },
    network: { rttMs: 30, upBytesPerSec: 10 * MB, downBytesPerSec: 10 * MB, confidence: 1, reachable: true },
    cloud: { speedup: 1, queueMs: 0 },
  };
  const lat = plan(p, { ...BASE, objective: "latency" });
  const thr = plan(p, { ...BASE, objective: "throughput" });
  assert.equal(lat.best, 4);
  assert.equal(lat.action, "local");
  assert.equal(thr.best, 2);
  assert.equal(thr.objective, "throughput");
  assert.equal(thr.action, "offload");
  const r = thr.rows[2]!.predicted;
  const stage = Math.max(r.localMs + r.encodeMs, r.upMs + r.downMs, r.cloudMs);
  assert.ok(Math.abs(r.throughputPerSec - 1000 / stage) < 1e-9);
  for (const row of thr.rows) assert.ok(row.predicted.throughputPerSec <= r.throughputPerSec, `k = ${row.k}`);
  // Worker reports override the speedup: a fast cloud back makes k = 1 the balanced point.
  const reported = plan({ ...p, cloud: { msPerSegment: [2, 2, 2, 2], queueMs: 0 } }, { ...BASE, objective: "throughput" });
  assert.equal(reported.rows[1]!.predicted.cloudMs, 6);
});

test("cloud unreachable: all local when it fits; else queue or fail fast, as configured", () => {
  const fits = plan(profile({ reachable: false, bw: 1000 * MB }), BASE);
  assert.equal(fits.best, 6);
  assert.equal(fits.action, "local");
  for (const r of fits.rows.slice(0, 6)) assert.match(r.reason!, /the cloud is unreachable/);

  const tight = profile({ reachable: false, bw: 1000 * MB, ram: 250 * MB });
  const queued = plan(tight, { ...BASE, onCloudDown: "local-or-queue" });
  assert.equal(queued.action, "queue");
  assert.equal(queued.best, plan({ ...tight, network: { ...tight.network, reachable: true } }, BASE).best, "resume at the split it would use with the cloud up");
  assert.match(queued.reason!, /queue requests until it is back/);

  const failed = plan(tight, { ...BASE, onCloudDown: "local-or-fail" });
  assert.equal(failed.action, "fail");
  assert.equal(failed.best, null);
  assert.match(failed.reason!, /failing fast/);
});

test("unknown costs and bad inputs or config: infeasible rows, E_USAGE", () => {
  const p = profile();
  p.segments[3] = { localMs: null, flops: null, memBytes: MB };
  const r = plan(p, BASE);
  for (const row of r.rows) {
    // Segment 3's cost is needed on whichever side it runs, and the cloud falls back to the device profile.
    assert.equal(row.feasible, false);
    assert.match(row.reason!, /no cost known for segment\(s\) 3/);
  }
  assert.equal(r.action, "fail");
  p.cloud = { msPerSegment: [1, 1, 1, 1, 1, 1], queueMs: 0 };
  const withReports = plan(p, BASE);
  assert.deepEqual(withReports.rows.map((x) => x.feasible), [true, true, true, true, false, false, false], "segments 0..3 of k <= 3: segment 3 runs in the cloud, which reported it");

  const isUsage = (re: RegExp) => (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && re.test(e.message);
  assert.throws(() => plan({ ...profile(), cuts: [] }, BASE), isUsage(/6 segments need 5 cuts/));
  assert.throws(() => plan(profile({ bw: Number.NaN }), BASE), isUsage(/network.upBytesPerSec/));
  assert.throws(() => plan(profile(), { objective: "fastest" } as unknown as PlannerConfigInput), isUsage(/objective/));
  assert.throws(() => plan(profile(), { ramMarginBytes: -1 }), isUsage(/ramMarginBytes/));
  assert.throws(() => plan(profile(), { typo: 1 } as unknown as PlannerConfigInput), isUsage(/typo/));
});

test("geometryFromManifest: cut bytes add the model inputs carried along; memory defaults to weight bytes", () => {
  const sha = "0".repeat(64);
  const t = (name: string) => ({ name, type: "float32" as const, shape: [1, 8] });
  const manifest: Manifest = {
    format: 1, splitId: sha,
    model: { file: "../m.onnx", sha256: sha, inputs: [{ name: "input_ids", type: "int64", shape: [1, 8] }, { name: "attention_mask", type: "int64", shape: [1, 8] }], outputs: [t("logits")] },
    shapes: {},
    segments: [
      { index: 0, file: "segment-0.onnx", sha256: sha, inputs: [], outputs: [{ ...t("h0"), modelOutput: false }], weightBytes: 1000, flops: 5e6 },
      { index: 1, file: "segment-1.onnx", sha256: sha, inputs: [], outputs: [{ ...t("h1"), modelOutput: false }], weightBytes: 2000, flops: null },
      { index: 2, file: "segment-2.onnx", sha256: sha, inputs: [], outputs: [{ ...t("logits"), modelOutput: true }], weightBytes: 3000, flops: 7e6 },
    ],
    cuts: [
      { after: 0, tensors: [{ ...t("h0"), bytes: 32 }], modelInputs: ["attention_mask"] },
      { after: 1, tensors: [{ ...t("h1"), bytes: 32 }], modelInputs: [] },
    ],
    dataFiles: [], sharedWeights: [], state: [],
  };
  const g = geometryFromManifest(manifest, { inputBytes: { input_ids: 64, attention_mask: 64 }, outputBytes: 128 });
  assert.deepEqual(g.cuts.map((c) => c.bytes), [96, 32]);
  assert.deepEqual(g.cuts[0]!.modelInputs, ["attention_mask"]);
  assert.equal(g.inputBytes, 128);
  assert.deepEqual(g.inputNames, ["input_ids", "attention_mask"]);
  assert.deepEqual(g.segments, [{ localMs: null, flops: 5e6, memBytes: 1000 }, { localMs: null, flops: null, memBytes: 2000 }, { localMs: null, flops: 7e6, memBytes: 3000 }]);
});
