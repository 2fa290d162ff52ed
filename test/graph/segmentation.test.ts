import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { Graph } from "../../sdk/graph/graph.js";
import { constantInfo, frontOf, partition } from "../../sdk/graph/partition.js";
import { candidateCuts, type CandidateCut, type CutMetrics } from "../../sdk/graph/cuts.js";
import { assignmentFromFronts, segmentByBalance, type BalanceBy } from "../../sdk/graph/segmentation.js";
import { inferShapes, tensorBytes } from "../../sdk/graph/shapes.js";
import { tensorByteSize } from "../../sdk/graph/model-io.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

const FIX = path.resolve(import.meta.dirname, "../fixtures/torch");
const load = (name: string): Graph => Graph.load(path.join(FIX, `${name}.onnx`));

/** Bytes from shape inference; FLOPs as output elements times (1 + weight elements read): a proxy. */
function metricsFor(g: Graph): CutMetrics {
  const types = inferShapes(g, { dims: { batch: 1, sequence: 8 } }).types;
  const bytes = (n: string): number | null => tensorBytes(types.get(n)) ?? null;
  return {
    tensorBytes: bytes,
    nodeFlops: (i) => {
      const n = g.nodes[i]!;
      const out = n.outputs.reduce((s, o) => s + (bytes(o) ?? 0) / 4, 0);
      const w = n.inputs.filter((t) => g.initializers.has(t)).reduce((s, t) => s + (tensorByteSize(g.initializers.get(t)!) ?? 0) / 4, 0);
      return out + 2 * w;
    },
    weightBytes: (w) => tensorByteSize(g.initializers.get(w)!) ?? 0,
  };
}

const isError = (code: ErrorCode, re?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof EdgecutError, `expected EdgecutError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

/** Segment costs of a choice, computed directly from a partition. */
function segmentCosts(g: Graph, m: CutMetrics, by: BalanceBy, fronts: ReadonlySet<number>[]): number[] {
  const constants = constantInfo(g);
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, constants), constants);
  return p.segments.map((s) => {
    assert.ok(s.computeNodes.length > 0, `segment ${s.index} is empty`);
    return by === "flops"
      ? s.computeNodes.reduce((a, i) => a + (m.nodeFlops(i) ?? 0), 0)
      : s.weights.reduce((a, w) => a + m.weightBytes(w), 0);
  });
}

/** Every increasing choice of k-1 nested candidates, for a brute-force optimum. */
function* choices(cs: readonly CandidateCut[], r: number, from = 0, prefix: number[] = []): Generator<number[]> {
  if (r === 0) { yield prefix; return; }
  for (let i = from; i < cs.length; i++) {
    const last = prefix.length ? cs[prefix[prefix.length - 1]!]! : undefined;
    if (last && ![...last.front].every((x) => cs[i]!.front.has(x))) continue;
    if (last && last.front.size === cs[i]!.front.size) continue;
    yield* choices(cs, r - 1, i + 1, [...prefix, i]);
  }
}

for (const model of ["gpt2-tiny", "resnet-tiny"]) {
  for (const by of ["flops", "weights"] as const) {
    test(`${model}: k = 2..4 balanced by ${by} gives valid partitions at the brute-force optimum`, (t) => {
      const g = load(model);
      const m = metricsFor(g);
      const cs = candidateCuts(g, m);
      for (let k = 2; k <= 4; k++) {
        const chosen = segmentByBalance(g, m, k, by, cs);
        assert.equal(chosen.length, k - 1);
        for (let i = 1; i < chosen.length; i++) assert.ok(chosen[i]! > chosen[i - 1]!);
        const costs = segmentCosts(g, m, by, chosen.map((i) => cs[i]!.front));
        const worst = Math.max(...costs);
        let best = Infinity;
        for (const c of choices(cs, k - 1)) best = Math.min(best, Math.max(...segmentCosts(g, m, by, c.map((i) => cs[i]!.front))));
        assert.ok(Math.abs(worst - best) <= 1e-9 * best, `k=${k}: max segment ${worst}, brute force ${best}`);
        t.diagnostic(`k=${k} cuts after ${chosen.map((i) => cs[i]!.after).join(", ")}: max/min ${(worst / Math.min(...costs)).toFixed(2)}`);
      }
    });
  }
}

test("gpt2-tiny: two segments by FLOPs split near the middle", () => {
  const g = load("gpt2-tiny");
  const m = metricsFor(g);
  const cs = candidateCuts(g, m);
  const [i] = segmentByBalance(g, m, 2, "flops", cs);
  const costs = segmentCosts(g, m, "flops", [cs[i!]!.front]);
  assert.ok(Math.max(...costs) / Math.min(...costs) < 2, `costs ${costs.join(" / ")}`);
});

test("impossible segment counts are E_SEGMENTS saying how many are possible", () => {
  const g = load("resnet-tiny");
  const m = metricsFor(g);
  const cs = candidateCuts(g, m);
  assert.deepEqual(segmentByBalance(g, m, 1, "flops", cs), []);
  assert.throws(() => segmentByBalance(g, m, cs.length + 2, "flops", cs), isError("E_SEGMENTS", new RegExp(`at most ${cs.length + 1} segments`)));
  assert.throws(() => segmentByBalance(g, m, 0, "flops", cs), isError("E_SEGMENTS"));
  assert.throws(() => segmentByBalance(g, m, 2.5, "flops", cs), isError("E_SEGMENTS"));
  // Candidates listed out of order do not nest into an increasing selection.
  const backwards = [cs[3]!, cs[2]!, cs[1]!];
  assert.throws(() => segmentByBalance(g, m, 3, "flops", backwards), isError("E_SEGMENTS", /nest into at most 2 segments/));
  assert.equal(segmentByBalance(g, m, 2, "weights", backwards).length, 1);
});

test("assignmentFromFronts: nested fronts map to segments; bad orders are E_CUT_ORDER", () => {
  const g = load("resnet-tiny");
  const constants = constantInfo(g);
  const cs = candidateCuts(g, metricsFor(g), { constants });
  const assign = assignmentFromFronts(g, [cs[1]!.front, cs[3]!.front], constants);
  for (const i of cs[1]!.front) assert.equal(assign(i), 0);
  for (const i of cs[3]!.front) if (!cs[1]!.front.has(i)) assert.equal(assign(i), 1);
  assert.equal(assign(g.nodes.length - 1), 2);
  assert.throws(() => assignmentFromFronts(g, [cs[3]!.front, cs[1]!.front], constants), isError("E_CUT_ORDER", /comes before/));
  assert.throws(() => assignmentFromFronts(g, [cs[2]!.front, new Set(cs[2]!.front)], constants), isError("E_CUT_ORDER", /coincide/));
  const cf = load("control-flow");
  const cfc = constantInfo(cf);
  const [pre, side] = [frontOf(cf, ["/pre/Gemm_output_0"], cfc), frontOf(cf, ["/Sigmoid_output_0"], cfc)];
  assert.throws(() => assignmentFromFronts(cf, [pre, side], cfc), isError("E_CUT_ORDER", /cross/));
});
