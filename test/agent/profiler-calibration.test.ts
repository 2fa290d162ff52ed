// The profiler's pure parts and the device calibration: shape buckets, the median, the load
// correction, the RSS note, calibrate() on a real onnxruntime MatMul, calibrationFromProfiles
// arithmetic on hand-made profiles against a real split's manifest, and predictMs.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  calibrate, calibrationFromProfiles, idleLatencyMs, manifestBucket, median, nextPow2, NO_INPUTS_BUCKET, predictMs, rssNote, shapeBucket,
} from "../../agent/profiler/index.js";
import type { SegmentProfile } from "../../agent/store/index.js";
import { EdgecutError } from "../../sdk/errors.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import { splitFixture, type SplitFixture } from "../offload/support.js";
import { throwsCode } from "../support/throws.js";


describe("shapeBucket", () => {
  test("every dim rounds up to a power of two; 0 and 1 stay", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 40, 64, 65, 1000].map(nextPow2), [0, 1, 2, 4, 4, 8, 64, 64, 128, 1024]);
    assert.equal(shapeBucket({ input_ids: [1, 40] }), "input_ids:1x64");
    assert.equal(shapeBucket({ input_ids: [1, 64] }), "input_ids:1x64");
    assert.equal(shapeBucket({ input_ids: [1, 65] }), "input_ids:1x128");
    assert.equal(shapeBucket({ past: [1, 4, 0, 16] }), "past:1x4x0x16", "an empty KV cache is its own bucket");
  });

  test("tensors and plain shapes give the same name; inputs are sorted by name", () => {
    const tensors = {
      input_ids: { type: "int64" as const, dims: [2, 33], data: new BigInt64Array(66) },
      attention_mask: { type: "int64" as const, dims: [2, 33], data: new BigInt64Array(66) },
    };
    assert.equal(shapeBucket(tensors), "attention_mask:2x64,input_ids:2x64");
    assert.equal(shapeBucket({ input_ids: [2, 40], attention_mask: [2, 64] }), shapeBucket(tensors));
    assert.equal(shapeBucket({ step: [] }), "step:scalar");
    assert.equal(shapeBucket({}), NO_INPUTS_BUCKET);
    assert.equal(shapeBucket({ "a:b,c": [3] }), "a%3ab%2cc:4", "separators inside names are escaped");
  });

  test("dims that are not integers >= 0 are E_USAGE naming the input", () => {
    throwsCode(() => shapeBucket({ x: [1, -1] }), "E_USAGE", /input "x" dim 1 is -1/);
    throwsCode(() => shapeBucket({ x: [1.5] }), "E_USAGE", /input "x" dim 0 is 1\.5/);
    throwsCode(() => shapeBucket({ x: 3 } as unknown as Record<string, number[]>), "E_USAGE", /"x" is neither a dims array nor a tensor/);
  });
});

describe("measure", () => {
  test("median of odd and even counts, order-independent", () => {
    assert.equal(median([5]), 5);
    assert.equal(median([9, 1, 4]), 4);
    assert.equal(median([4, 1, 9, 2]), 3);
    throwsCode(() => median([]), "E_INTERNAL", /no values/);
  });

  test("idleLatencyMs undoes the planner's 1/(1-load), load clamped to maxCpuLoad", () => {
    assert.equal(idleLatencyMs({ latencyMs: 20, cpuLoad: 0 }), 20);
    assert.equal(idleLatencyMs({ latencyMs: 20, cpuLoad: 0.5 }), 10);
    assert.ok(Math.abs(idleLatencyMs({ latencyMs: 100, cpuLoad: 1 }, 0.9) - 10) < 1e-9);
  });

  test("rssNote speaks up only for a delta under half the weights of a segment of 4 MiB or more", () => {
    const MiB = 1 << 20;
    assert.equal(rssNote(0, MiB), undefined, "small segments: page granularity dominates");
    assert.equal(rssNote(5 * MiB, 8 * MiB), undefined);
    assert.match(rssNote(MiB, 8 * MiB) ?? "", /RSS grew by 1048576 bytes .* 8388608 weight bytes/);
  });
});

describe("calibrate", () => {
  test("times a real MatMul: positive, finite FLOPs/ms from 2*M*N*K over the median run", async () => {
    const c = await calibrate({ size: 64, runs: 3, warmupRuns: 1, intraOpThreads: 1 });
    assert.equal(c.source, "matmul");
    assert.equal(c.flops, 2 * 64 ** 3);
    assert.equal(c.samples, 3);
    assert.ok(c.ms > 0 && Number.isFinite(c.flopsPerMs) && c.flopsPerMs > 0, JSON.stringify(c));
    assert.ok(Math.abs(c.flopsPerMs - c.flops / c.ms) < 1e-6 * c.flopsPerMs);
  });

  test("an injected clock decides the median; a clock that never moves is E_RUNTIME", async () => {
    let t = 0;
    const steps = [3, 1, 2];
    let calls = 0;
    const now = (): number => (calls++ % 2 === 0 ? t : (t += steps[((calls - 2) / 2) % 3]!));
    const c = await calibrate({ size: 16, runs: 3, warmupRuns: 0, now });
    assert.equal(c.ms, 2);
    assert.equal(c.flopsPerMs, (2 * 16 ** 3) / 2);
    await assert.rejects(calibrate({ size: 8, runs: 2, now: () => 5 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_RUNTIME" && /took 0 ms/.test(e.message));
    await assert.rejects(calibrate({ runs: 0 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && /runs must be an integer >= 1/.test(e.message));
  });
});

describe("calibrationFromProfiles and predictMs", () => {
  let fx: SplitFixture;
  before(async () => {
    fx = await splitFixture("profiler-cal-gpt", "tiny-gpt", { layers: 2 }, { shapes: { input_ids: [1, 40] } }, 3);
  });

  const prof = (m: Manifest, segmentIndex: number, over: Partial<SegmentProfile> = {}): SegmentProfile => ({
    modelSha256: m.model.sha256, segmentIndex, deviceId: "d", shapeBucket: "input_ids:1x64",
    latencyMs: 10, rssBytes: 0, runs: 5, measuredAt: 1_700_000_000_000, cpuLoad: 0, ...over,
  });

  test("sum of FLOPs over sum of idle latency, only this model's profiles in the manifest's bucket", () => {
    const m = fx.manifest;
    assert.equal(manifestBucket(m), "input_ids:1x64");
    const [f0, f1] = [m.segments[0]!.flops!, m.segments[1]!.flops!];
    const c = calibrationFromProfiles([
      prof(m, 0, { latencyMs: 10 }),
      prof(m, 1, { latencyMs: 20, cpuLoad: 0.5 }), // 10 ms at idle
      prof(m, 2, { shapeBucket: "input_ids:1x128", latencyMs: 1 }), // FLOPs counted at another size
      prof(m, 2, { modelSha256: "00".repeat(32), latencyMs: 1 }), // another model
      prof(m, 7, { latencyMs: 1 }), // no such segment
    ], m);
    assert.deepEqual(c, { flopsPerMs: (f0 + f1) / 20, source: "profiles", flops: f0 + f1, ms: 20, samples: 2 });
  });

  test("segments of unknown FLOPs are skipped; nothing usable gives undefined", () => {
    const m: Manifest = { ...fx.manifest, segments: fx.manifest.segments.map((s, i) => (i === 0 ? { ...s, flops: null } : s)) };
    const c = calibrationFromProfiles([prof(m, 0, { latencyMs: 1 }), prof(m, 2, { latencyMs: 4 })], m);
    assert.equal(c?.flopsPerMs, m.segments[2]!.flops! / 4);
    assert.equal(calibrationFromProfiles([prof(m, 0)], m), undefined);
    assert.equal(calibrationFromProfiles([], m), undefined);
  });

  test("predictMs is flops / flopsPerMs, null for unknown FLOPs", () => {
    assert.equal(predictMs({ flops: 1_000_000 }, 250_000), 4);
    assert.equal(predictMs({ flops: null }, 250_000), null);
    throwsCode(() => predictMs({ flops: 1 }, 0), "E_USAGE", /flopsPerMs must be a positive finite number, got 0/);
    throwsCode(() => predictMs({ flops: 1 }, Number.POSITIVE_INFINITY), "E_USAGE", /flopsPerMs/);
  });
});
