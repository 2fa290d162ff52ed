import { test } from "node:test";
import { uniformRng } from "../../sdk/graph/models/rng.js";
import assert from "node:assert/strict";
import * as path from "node:path";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { constantInfo, partition } from "../../sdk/graph/partition.js";
import { optimalCut, predictSplit, type SplitCostModel } from "../../sdk/graph/mincut.js";
import { FlowNetwork } from "../../sdk/graph/maxflow.js";
import type { CutMetrics } from "../../sdk/graph/cuts.js";
import { inferShapes, tensorBytes } from "../../sdk/graph/shapes.js";
import { tensorByteSize } from "../../sdk/graph/model-io.js";
import { EdgecutError } from "../../sdk/errors.js";

const close = (a: number, b: number, what = ""): void => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)), `${what} ${a} != ${b}`);

/** x -> n0 -> a -> n1 -> b -> n2 -> y, with the sizes and FLOPs given. */
function chain(): Graph {
  const b = new GraphBuilder();
  const x = b.input("x", "float32", [4]);
  const a = b.op("Relu", [x], {}, { output: "a" });
  const c = b.op("Relu", [a], {}, { output: "b" });
  const y = b.op("Relu", [c], {}, { output: "y" });
  b.output(y, "float32", [4]);
  return Graph.fromModel(b.build(), ".");
}

function metrics(bytes: Record<string, number | null>, flops: (number | null)[]): CutMetrics {
  return { tensorBytes: (n) => bytes[n] ?? null, nodeFlops: (i) => flops[i] ?? null, weightBytes: () => 0 };
}

// Device 1 GFLOP/s, cloud 100 GFLOP/s, 1 MB/s up, 10 ms round trip.
const COST: SplitCostModel = { bandwidthBytesPerSec: 1e6, rttSec: 0.01, deviceFlopsPerSec: 1e9, cloudFlopsPerSec: 1e11 };
const CHAIN_BYTES = { x: 1e5, a: 1e6, b: 10, y: 10 };
const CHAIN_FLOPS = [1e6, 1e6, 1e9];

test("chain: the cut lands after the tiny tensor, at the hand-computed cost", () => {
  const g = chain();
  const r = optimalCut(g, metrics(CHAIN_BYTES, CHAIN_FLOPS), COST);
  assert.equal(r.kind, "split");
  assert.deepEqual([...r.front].sort(), [0, 1]);
  // device 2 ms + upload 10 us + cloud 10 ms + download 10 us + rtt 10 ms
  close(r.predictedSec, 2e-3 + 1e-5 + 1e-2 + 1e-5 + 1e-2, "predicted");
  close(r.allLocalSec, 1e-3 + 1e-3 + 1, "all local");
  close(r.allCloudSec, 0.1 + 1.002e9 / 1e11 + 1e-5 + 0.01, "all cloud");
  assert.equal(r.crossingBytes, 10);
  assert.equal(r.upBytes, 10);
  assert.equal(r.downBytes, 10);
  assert.deepEqual(r.notes, []);
});

test("fast network goes all-cloud, slow network all-local", () => {
  const g = chain();
  const m = metrics(CHAIN_BYTES, CHAIN_FLOPS);
  const fast = optimalCut(g, m, { ...COST, bandwidthBytesPerSec: 1e12, rttSec: 0 });
  assert.equal(fast.kind, "all-cloud");
  assert.equal(fast.front.size, 0);
  close(fast.predictedSec, fast.allCloudSec);
  const slow = optimalCut(g, m, { ...COST, bandwidthBytesPerSec: 1, rttSec: 1 });
  assert.equal(slow.kind, "all-local");
  assert.equal(slow.front.size, 3);
  close(slow.predictedSec, slow.allLocalSec);
  // A round trip dearer than all the work on the device keeps everything local even on a fast link.
  const rtt = optimalCut(g, m, { ...COST, bandwidthBytesPerSec: 1e12, rttSec: 2 });
  assert.equal(rtt.kind, "all-local");
});

test("a tensor read by several cloud nodes is uploaded once", () => {
  const b = new GraphBuilder();
  const x = b.input("x", "float32", [4]);
  const t = b.op("Relu", [x], {}, { output: "t" });
  const outs = [0, 1, 2].map((i) => b.op("Relu", [t], {}, { output: `o${i}` }));
  const y = b.op("Sum", outs, {}, { output: "y" });
  b.output(y, "float32", [4]);
  const g = Graph.fromModel(b.build(), ".");
  const m = metrics({ x: 1e6, t: 1000, o0: 1e6, o1: 1e6, o2: 1e6, y: 10 }, [1e3, 1e9, 1e9, 1e9, 1e3]);
  const r = optimalCut(g, m, COST);
  assert.deepEqual([...r.front], [0]);
  assert.equal(r.crossingBytes, 1000);
  close(r.predictedSec, 1e-6 + 1e-3 + (3e9 + 1e3) / 1e11 + 1e-5 + 0.01);
});

test("unknown FLOPs count as 0 and unknown sizes never cross, with notes", () => {
  const g = chain();
  const r = optimalCut(g, metrics({ ...CHAIN_BYTES, b: null }, [1e6, null, 1e9]), COST);
  assert.ok(!r.front.has(1) || r.front.has(2), "the cut must not carry b, whose size is unknown");
  assert.ok(r.notes.some((n) => /unknown FLOPs.*#1 \(Relu\)/.test(n)), r.notes.join("; "));
  assert.ok(r.notes.some((n) => /"b" has an unknown size/.test(n)), r.notes.join("; "));
});

test("bad cost model values are E_USAGE", () => {
  const g = chain();
  const m = metrics(CHAIN_BYTES, CHAIN_FLOPS);
  for (const bad of [{ bandwidthBytesPerSec: 0 }, { rttSec: -1 }, { deviceFlopsPerSec: Number.NaN }, { downBandwidthBytesPerSec: Infinity }]) {
    assert.throws(() => optimalCut(g, m, { ...COST, ...bad }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && /must be/.test(e.message));
  }
});

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
const rng = uniformRng;

/** Independent cost of a front, straight from the latency model's definition. */
function bruteCost(g: Graph, m: CutMetrics, c: SplitCostModel, onDevice: (i: number) => boolean): number {
  let sec = 0;
  let crosses = false;
  const cloudReads = (t: string): boolean => g.tensor(t).consumers.some((i) => !onDevice(i));
  for (const n of g.nodes) {
    const f = m.nodeFlops(n.index)!;
    sec += onDevice(n.index) ? f / c.deviceFlopsPerSec : f / c.cloudFlopsPerSec;
    for (const t of n.outputs) {
      if (onDevice(n.index) && cloudReads(t)) { sec += m.tensorBytes(t)! / c.bandwidthBytesPerSec; crosses = true; }
      if (!onDevice(n.index) && g.tensor(t).isOutput) { sec += m.tensorBytes(t)! / (c.downBandwidthBytesPerSec ?? c.bandwidthBytesPerSec); crosses = true; }
    }
  }
  for (const x of g.inputs) if (cloudReads(x)) { sec += m.tensorBytes(x)! / c.bandwidthBytesPerSec; crosses = true; }
  return sec + (crosses ? c.rttSec : 0);
}

test("min cut equals the brute-force optimum over every closed front of random DAGs", () => {
  const rand = rng(42);
  let splits = 0;
  for (let trial = 0; trial < 60; trial++) {
    const n = 3 + Math.floor(rand() * 9);
    const b = new GraphBuilder();
    const tensors = [b.input("x0", "float32", [4]), b.input("x1", "float32", [4])];
    const bytes: Record<string, number> = { x0: 1 + rand() * 1e4, x1: 1 + rand() * 1e4 };
    const flops: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = 1 + Math.floor(rand() * 3);
      const ins = [...new Set(Array.from({ length: k }, () => tensors[Math.floor(rand() * tensors.length)]!))];
      const out = b.op("Sum", ins, {}, { output: `t${i}` });
      tensors.push(out);
      bytes[out] = 1 + rand() * 1e4;
      flops.push(rand() < 0.1 ? 0 : rand() * 1e8);
    }
    b.output(`t${n - 1}`, "float32", [4]);
    if (n > 4) b.output(`t${n - 3}`, "float32", [4]);
    const g = Graph.fromModel(b.build(), ".");
    const m = metrics(bytes, flops);
    const cost: SplitCostModel = {
      bandwidthBytesPerSec: 10 ** (4 + rand() * 3), rttSec: rand() < 0.3 ? 0 : rand() * 0.05,
      deviceFlopsPerSec: 1e9, cloudFlopsPerSec: 10 ** (9 + rand() * 2), downBandwidthBytesPerSec: 10 ** (4 + rand() * 3),
    };
    let best = Infinity;
    for (let mask = 0; mask < 1 << n; mask++) {
      const on = (i: number): boolean => ((mask >> i) & 1) === 1;
      const closed = g.nodes.every((node) => !on(node.index) || node.inputs.every((t) => { const p = g.tensor(t).producer; return p === null || on(p); }));
      if (closed) best = Math.min(best, bruteCost(g, m, cost, on));
    }
    const r = optimalCut(g, m, cost);
    close(r.predictedSec, best, `trial ${trial}`);
    close(bruteCost(g, m, cost, (i) => r.front.has(i)), r.predictedSec, `trial ${trial} front cost`);
    close(predictSplit(g, m, cost, r.front).predictedSec, r.predictedSec, `trial ${trial} predictSplit`);
    if (r.kind === "split") {
      splits++;
      partition(g, 2, (i) => (r.front.has(i) ? 0 : 1)); // a valid two-way partition
    }
  }
  assert.ok(splits >= 10, `only ${splits} of 60 random cases were real splits`);
});

test("gpt2-tiny: a slow device and a fast link give a valid split", () => {
  const g = Graph.load(path.resolve(import.meta.dirname, "../fixtures/torch/gpt2-tiny.onnx"));
  const types = inferShapes(g, { dims: { batch: 1, sequence: 8 } }).types;
  const m: CutMetrics = {
    tensorBytes: (n) => tensorBytes(types.get(n)) ?? null,
    nodeFlops: (i) => g.nodes[i]!.outputs.reduce((s, o) => s + (tensorBytes(types.get(o)) ?? 0), 0),
    weightBytes: (w) => tensorByteSize(g.initializers.get(w)!) ?? 0,
  };
  const constants = constantInfo(g);
  const cost = { bandwidthBytesPerSec: 1e6, rttSec: 0.001, deviceFlopsPerSec: 1e7, cloudFlopsPerSec: 1e9 };
  const r = optimalCut(g, m, cost, { constants });
  assert.ok(r.predictedSec <= Math.min(r.allLocalSec, r.allCloudSec) + 1e-12);
  if (r.kind === "split") partition(g, 2, (i) => (r.front.has(i) ? 0 : 1), constants);
  close(predictSplit(g, m, cost, r.front, { constants }).predictedSec, r.predictedSec);
});

test("max flow on a textbook network, with infinite edges", () => {
  const f = new FlowNetwork(6);
  // CLRS figure 26.1: max flow 23.
  for (const [u, v, c] of [[0, 1, 16], [0, 2, 13], [1, 3, 12], [2, 1, 4], [2, 4, 14], [3, 2, 9], [3, 5, 20], [4, 3, 7], [4, 5, 4]] as const) f.addEdge(u, v, c);
  close(f.maxFlow(0, 5), 23);
  const side = f.sourceSide(0);
  assert.deepEqual([...side], [1, 1, 1, 0, 1, 0]);
  const g = new FlowNetwork(3);
  g.addEdge(0, 1, Infinity);
  g.addEdge(1, 2, 0.5);
  close(g.maxFlow(0, 2), 0.5);
  assert.throws(() => g.addEdge(0, 2, -1), RangeError);
});
