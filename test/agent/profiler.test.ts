// The segment profiler (agent/profiler/profiler.ts) on a real split: tiny-gpt cut into 3 segments
// with the project's splitter, profiled with real onnxruntime sessions into a real (in-memory)
// store. Wall time comes from a FakeClock; run timing and RSS are scripted where a test checks
// the arithmetic, real where it checks that real measurements land in the store.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { FakeClock } from "../../agent/clock.js";
import { Profiler, shapeBucket, type ProfilerOptions } from "../../agent/profiler/index.js";
import { openStore, type AgentStore, type SegmentProfile } from "../../agent/store/index.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { splitFixture, type SplitFixture } from "../offload/support.js";
import { throwsCode } from "../support/throws.js";

const EPOCH = 1_700_000_000_000;
const DAY = 24 * 3600_000;
const BUCKET = "input_ids:1x64";

let fx: SplitFixture;
before(async () => {
  // Sequence 40: its bucket is 1x64, so the rounding shows in every stored key.
  fx = await splitFixture("profiler-gpt", "tiny-gpt", { layers: 2 }, { shapes: { input_ids: [1, 40] } }, 3);
  assert.equal(fx.manifest.segments.length, 3, "the fixture is a 3-segment split");
});

const stores: AgentStore[] = [];
after(() => { for (const s of stores) s.close(); });

interface Rig { profiler: Profiler; store: AgentStore; wall: FakeClock }

function rig(over: Partial<ProfilerOptions> = {}, load = 0.2): Rig {
  const wall = new FakeClock(EPOCH);
  const store = openStore(":memory:", { clock: () => wall.now() });
  stores.push(store);
  const profiler = new Profiler({
    store, deviceId: "pi-test", manifestDir: path.dirname(fx.manifestPath), manifest: fx.manifest,
    clock: () => wall.now(), cpuLoad: () => load, warmupRuns: 1, timedRuns: 3, intraOpThreads: 1, ...over,
  });
  return { profiler, store, wall };
}

async function rejectsCode(p: Promise<unknown>, code: ErrorCode, match: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof EdgecutError, `not an EdgecutError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, match);
    return true;
  });
}


const key = (segmentIndex: number, shapeBucket = BUCKET) =>
  ({ modelSha256: fx.manifest.model.sha256, segmentIndex, deviceId: "pi-test", shapeBucket });

describe("profileAll", () => {
  test("measures every segment with real sessions and stores it under the model's key and bucket", async () => {
    const r = rig({ timedRuns: 4 });
    r.wall.advance(1234);
    const got = await r.profiler.profileAll(fx.inputs);
    assert.equal(shapeBucket(fx.inputs), BUCKET);
    assert.equal(got.length, 3);
    got.forEach((p, i) => {
      assert.equal(p.segmentIndex, i);
      assert.equal(p.modelSha256, fx.manifest.model.sha256);
      assert.equal(p.deviceId, "pi-test");
      assert.equal(p.shapeBucket, BUCKET);
      assert.equal(p.runs, 4);
      assert.ok(p.latencyMs > 0 && Number.isFinite(p.latencyMs), `segment ${i} latency ${p.latencyMs}`);
      assert.ok(p.rssBytes >= 0 && Number.isInteger(p.rssBytes), `segment ${i} rss ${p.rssBytes}`);
      assert.equal(p.measuredAt, EPOCH + 1234);
      assert.equal(p.cpuLoad, 0.2);
      assert.deepEqual(r.store.getProfile(key(i)), p);
    });
    assert.deepEqual(r.profiler.profiles(), got);
  });

  test("latency is the median of the timed runs, RSS the clamped delta over create + first run", async () => {
    // Each timed run reads now() twice; the gaps cycle 9, 1, 4 ms -> median 4 per segment (first 9, mean 4.67).
    const gaps = [9, 1, 4];
    let t = 0;
    let calls = 0;
    const now = (): number => {
      if (calls % 2 === 1) t += gaps[((calls - 1) / 2) % gaps.length]!;
      calls++;
      return t;
    };
    // rss() is read before create and after the first run: +300, -500 (-> 0), +7.
    const rssSeq = [1000, 1300, 5000, 4500, 100, 107];
    let ri = 0;
    const rss = (): number => rssSeq[ri++]!;
    const r = rig({ now, rss, timedRuns: 3 });
    const got = await r.profiler.profileAll(fx.inputs);
    assert.deepEqual(got.map((p) => p.latencyMs), [4, 4, 4]);
    assert.deepEqual(got.map((p) => p.rssBytes), [300, 0, 7]);
    assert.equal(calls, 3 * 3 * 2, "now() is read only around timed runs");
    assert.equal(ri, 6);
  });

  test("only: earlier segments run untimed to feed the ones measured; later ones do not run", async () => {
    let rssReads = 0;
    const r = rig({ rss: () => { rssReads++; return process.memoryUsage.rss(); } });
    const got = await r.profiler.profileAll(fx.inputs, { only: [1] });
    assert.deepEqual(got.map((p) => p.segmentIndex), [1]);
    assert.equal(r.store.getProfile(key(0)), undefined);
    assert.ok(r.store.getProfile(key(1)));
    assert.equal(r.store.getProfile(key(2)), undefined);
    assert.equal(rssReads, 4, "segments 0 and 1 were loaded, segment 2 was not");
  });

  test("bad inputs and options fail clearly and store nothing", async () => {
    const r = rig();
    await rejectsCode(r.profiler.profileAll({}), "E_INPUT_MISSING", /model input "input_ids".*missing/);
    const ids = fx.inputs.input_ids!;
    await rejectsCode(r.profiler.profileAll({ ...fx.inputs, extra: ids }), "E_USAGE", /"extra", which is not a model input/);
    const asFloat: TensorMap = { input_ids: { type: "float32", dims: [1, 40], data: new Float32Array(40) } };
    await rejectsCode(r.profiler.profileAll(asFloat), "E_USAGE", /float32 but the model wants int64/);
    const rank1: TensorMap = { input_ids: { type: "int64", dims: [40], data: new BigInt64Array(40) } };
    await rejectsCode(r.profiler.profileAll(rank1), "E_USAGE", /dims \[40\]/);
    await rejectsCode(r.profiler.profileAll(fx.inputs, { only: [3] }), "E_USAGE", /segment 3 does not exist.*0\.\.2/);
    await rejectsCode(rig({}, 1.5).profiler.profileAll(fx.inputs), "E_USAGE", /cpuLoad\(\).*0 to 1, got 1\.5/);
    assert.deepEqual(r.profiler.profiles(), []);
    throwsCode(() => rig({ warmupRuns: 0 }), "E_USAGE", /warmupRuns must be an integer >= 1/);
    throwsCode(() => rig({ timedRuns: 2.5 }), "E_USAGE", /timedRuns/);
    throwsCode(() => rig({ deviceId: "" }), "E_USAGE", /deviceId/);
    throwsCode(() => rig({ maxCpuLoad: 1 }), "E_USAGE", /maxCpuLoad/);
  });

  test("a segment file onnxruntime cannot load is E_RUNTIME naming the file", async () => {
    const r = rig({ manifestDir: path.join(path.dirname(fx.manifestPath), "nowhere") });
    await rejectsCode(r.profiler.profileAll(fx.inputs), "E_RUNTIME", /nowhere.*segment-0\.onnx/);
    assert.deepEqual(r.profiler.profiles(), []);
  });
});

/** A stored profile for the fixture's model on "pi-test". */
const stored = (segmentIndex: number, over: Partial<SegmentProfile> = {}): SegmentProfile => ({
  modelSha256: fx.manifest.model.sha256, segmentIndex, deviceId: "pi-test", shapeBucket: BUCKET,
  latencyMs: 10, rssBytes: 1 << 20, runs: 5, measuredAt: EPOCH, cpuLoad: 0.2, ...over,
});

describe("needsProfiling", () => {
  test("missing, fresh, stale and load-changed profiles", async () => {
    const r = rig({ staleAfterMs: 7 * DAY, loadChangeThreshold: 0.3 });
    assert.deepEqual(r.profiler.needsProfiling(BUCKET, 0.2), [0, 1, 2].map((segmentIndex) => ({ segmentIndex, reason: "missing" })));
    await r.profiler.profileAll(fx.inputs);
    assert.deepEqual(r.profiler.needsProfiling(BUCKET, 0.2), [], "fresh, same load");
    assert.deepEqual(r.profiler.needsProfiling(BUCKET, 0.5), [], "a change of 0.3 is not more than the threshold");
    assert.deepEqual(r.profiler.needsProfiling(BUCKET, 0.55).map((n) => n.reason), ["load-changed", "load-changed", "load-changed"]);
    assert.deepEqual(r.profiler.needsProfiling(BUCKET, 0).map((n) => n.segmentIndex), [], "0.2 down to 0 is within the threshold");
    assert.deepEqual(r.profiler.needsProfiling("input_ids:1x128", 0.2).map((n) => n.reason), ["missing", "missing", "missing"], "buckets are separate");

    r.wall.advance(7 * DAY);
    assert.deepEqual(r.profiler.needsProfiling(BUCKET, 0.2), [], "exactly staleAfterMs old is not stale yet");
    r.wall.advance(1);
    // Segment 1 re-measured now: only 0 and 2 are stale; stale wins over a load change.
    r.store.putProfile(stored(1, { measuredAt: r.wall.now() }));
    assert.deepEqual(r.profiler.needsProfiling(BUCKET, 0.9), [
      { segmentIndex: 0, reason: "stale" }, { segmentIndex: 1, reason: "load-changed" }, { segmentIndex: 2, reason: "stale" },
    ]);
    throwsCode(() => r.profiler.needsProfiling(BUCKET, -0.1), "E_USAGE", /currentLoad.*0 to 1/);
    throwsCode(() => r.profiler.needsProfiling(BUCKET, Number.NaN), "E_USAGE", /currentLoad/);
  });
});

describe("plannerSegments", () => {
  test("profiled segments give idle latency and measured memory; the rest fall back to the manifest", () => {
    const r = rig({ maxCpuLoad: 0.9 });
    const segs = fx.manifest.segments;
    const w1 = segs[1]!.weightBytes;
    r.store.putProfile(stored(0, { latencyMs: 12, cpuLoad: 0, rssBytes: segs[0]!.weightBytes + 4096 }));
    r.store.putProfile(stored(1, { latencyMs: 20, cpuLoad: 0.5, rssBytes: 10 }));
    r.store.putProfile(stored(2, { shapeBucket: "input_ids:1x8", latencyMs: 3 }));
    assert.deepEqual(r.profiler.plannerSegments(BUCKET), [
      { localMs: 12, flops: segs[0]!.flops, memBytes: segs[0]!.weightBytes + 4096 },
      // Measured at load 0.5: the planner's 1/(1-load) is undone, and the weights floor a tiny RSS delta.
      { localMs: 10, flops: segs[1]!.flops, memBytes: w1 },
      { localMs: null, flops: segs[2]!.flops, memBytes: segs[2]!.weightBytes },
    ]);
    r.store.putProfile(stored(0, { latencyMs: 100, cpuLoad: 0.99 }));
    const clamped = r.profiler.plannerSegments(BUCKET)[0]!.localMs!;
    assert.ok(Math.abs(clamped - 10) < 1e-9, `load above maxCpuLoad counts as 0.9: ${clamped}`);
  });
});
