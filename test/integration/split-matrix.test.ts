/**
 * The graph core's promise, checked on real models: every candidate cut and every k = 2..4
 * balanced segmentation of each generated model and each torch-exported fixture verifies against
 * the whole model in onnxruntime, at the split's shape and at another shape.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildModel, type ModelKind, type ModelOptions } from "../../sdk/graph/models/index.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { Graph } from "../../sdk/graph/graph.js";
import { analyze, symbolicTypeOf, type Analysis, type ShapeBindings } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { assignmentFromFronts, segmentByBalance } from "../../sdk/graph/segmentation.js";
import { partition } from "../../sdk/graph/partition.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { verifySplit } from "../../sdk/runtime/verify.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-matrix-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

interface Case {
  name: string;
  file: () => string;
  at: ShapeBindings;
  other: { shapes?: Record<string, number[]>; dims?: Record<string, number> };
  /** Fewest candidate cuts the model must offer. */
  minCandidates: number;
  /** Most segments its candidates nest into, when fewer than 4. */
  maxK?: number;
}

function generated(kind: ModelKind, opts: ModelOptions, label: string): () => string {
  return () => {
    const file = path.join(tmp, `${label}.onnx`);
    if (!fs.existsSync(file)) fs.writeFileSync(file, serializeModel(buildModel(kind, opts), { sourceDir: tmp }));
    return file;
  };
}
const fixture = (name: string) => (): string => path.join(import.meta.dirname, "..", "fixtures", "torch", name);

const kvAt = { dims: { batch: 1, sequence: 8, past_sequence: 3 } };
const kvOther = { dims: { batch: 2, sequence: 5, past_sequence: 0 } };
const CASES: Case[] = [
  { name: "tiny-gpt", file: generated("tiny-gpt", { layers: 3 }, "tiny-gpt"), at: { shapes: { input_ids: [1, 8] } }, other: { shapes: { input_ids: [2, 5] } }, minCandidates: 4 },
  { name: "tiny-gpt --kv-cache", file: generated("tiny-gpt", { layers: 3, kvCache: true }, "tiny-gpt-kv"), at: kvAt, other: kvOther, minCandidates: 4 },
  { name: "tiny-gpt --int8-weights", file: generated("tiny-gpt", { layers: 2, int8Weights: true }, "tiny-gpt-int8"), at: { shapes: { input_ids: [1, 8] } }, other: { shapes: { input_ids: [2, 5] } }, minCandidates: 3 },
  { name: "tiny-gpt --kv-cache --int8-weights", file: generated("tiny-gpt", { layers: 2, kvCache: true, int8Weights: true }, "tiny-gpt-kv-int8"), at: kvAt, other: kvOther, minCandidates: 3 },
  { name: "tiny-cnn", file: generated("tiny-cnn", {}, "tiny-cnn"), at: { shapes: { pixels: [1, 3, 32, 32] } }, other: { shapes: { pixels: [3, 3, 32, 32] } }, minCandidates: 3 },
  { name: "mlp", file: generated("mlp", {}, "mlp"), at: { shapes: { x: [1, 32] } }, other: { shapes: { x: [4, 32] } }, minCandidates: 2 },
  { name: "torch gpt2-tiny", file: fixture("gpt2-tiny.onnx"), at: { shapes: { input_ids: [1, 8], attention_mask: [1, 8] } }, other: { shapes: { input_ids: [2, 5], attention_mask: [2, 5] } }, minCandidates: 3 },
  { name: "torch gpt2-tiny at opset 14 (LayerNorm spelled out)", file: fixture("gpt2-tiny-opset14.onnx"), at: { shapes: { input_ids: [1, 8], attention_mask: [1, 8] } }, other: { shapes: { input_ids: [2, 5], attention_mask: [2, 5] } }, minCandidates: 3 },
  { name: "torch gpt2-tiny-kv", file: fixture("gpt2-tiny-kv.onnx"), at: kvAt, other: kvOther, minCandidates: 3 },
  { name: "torch resnet-tiny", file: fixture("resnet-tiny.onnx"), at: { shapes: { pixels: [1, 3, 32, 32] } }, other: { shapes: { pixels: [2, 3, 32, 32] } }, minCandidates: 3 },
  { name: "torch control-flow (If)", file: fixture("control-flow.onnx"), at: { shapes: { x: [1, 16] } }, other: { shapes: { x: [3, 16] } }, minCandidates: 2, maxK: 3 },
];

let n = 0;
async function splitAndVerify(a: Analysis, file: string, fronts: ReadonlySet<number>[], c: Case, label: string): Promise<void> {
  const g = a.graph;
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const out = path.join(tmp, `split-${n++}`);
  const m = await writeSplit(g, p, out, {
    modelPath: file, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  assert.equal(m.segments.length, fronts.length + 1);
  const manifest = path.join(out, "manifest.json");
  const here = await verifySplit(manifest, { ...(c.at.dims ? { dims: c.at.dims } : {}), ...(c.at.shapes ? { shapes: c.at.shapes } : {}) });
  assert.ok(here.ok, `${c.name} ${label} at the split's shape: ${JSON.stringify(here.outputs)}`);
  const there = await verifySplit(manifest, c.other);
  assert.ok(there.ok, `${c.name} ${label} at another shape: ${JSON.stringify(there.outputs)}`);
  fs.rmSync(out, { recursive: true, force: true });
}

for (const c of CASES) {
  test(`${c.name}: every candidate cut and k = 2..4 segmentations verify at two shapes`, async () => {
    const file = c.file();
    const g = Graph.load(file);
    const a = analyze(g, c.at);
    const cands = candidateCuts(g, a.metrics, { constants: a.constants });
    assert.ok(cands.length >= c.minCandidates, `${c.name}: ${cands.length} candidates, expected at least ${c.minCandidates}`);
    for (const cut of cands) await splitAndVerify(a, file, [cut.front], c, `cut @${cut.index} after ${cut.after}`);
    const maxK = c.maxK ?? 4;
    for (let k = 2; k <= maxK; k++) {
      const picks = segmentByBalance(g, a.metrics, k, "flops", cands);
      await splitAndVerify(a, file, picks.map((i) => cands[i]!.front), c, `k=${k}`);
    }
    if (maxK < 4) assert.throws(() => segmentByBalance(g, a.metrics, maxK + 1, "flops", cands), { code: "E_SEGMENTS" });
  });
}
