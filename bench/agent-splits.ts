/**
 * Splits of the generated models for `npm run bench agent`, written to a folder the bench owns
 * (the same steps as `edgecut model` + `edgecut split --segments N`, through the graph library):
 * the model built deterministically, cut into `segments` pieces balanced by FLOPs, with sample
 * inputs at the shapes the split's bytes and FLOPs were computed at.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { analyze, symbolicTypeOf, type ShapeBindings } from "../sdk/graph/analyze.js";
import { candidateCuts } from "../sdk/graph/cuts.js";
import { Graph } from "../sdk/graph/graph.js";
import { serializeModel } from "../sdk/graph/model-io.js";
import { buildModel, type ModelKind, type ModelOptions } from "../sdk/graph/models/index.js";
import { partition } from "../sdk/graph/partition.js";
import { segmentByBalance } from "../sdk/graph/segmentation.js";
import { assignmentFromFronts } from "../sdk/graph/segmentation.js";
import { writeSplit } from "../sdk/graph/split.js";
import { sampleInputs } from "../sdk/runtime/sample-inputs.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";

/** One model the bench runs: what to build, at which input shapes, in how many segments. */
export interface BenchModel {
  name: string;
  kind: ModelKind;
  options: ModelOptions;
  at: ShapeBindings;
  segments: number;
}

/**
 * The bench's models: big enough that device compute is a real part of a request at every
 * link setting (a few ms per segment on one thread), small enough that the whole bench stays
 * within minutes on a 2-core machine.
 */
export const BENCH_MODELS: readonly BenchModel[] = [
  { name: "tiny-gpt", kind: "tiny-gpt", options: { layers: 4, dModel: 512, heads: 8, vocab: 256 }, at: { shapes: { input_ids: [1, 16] } }, segments: 4 },
  { name: "tiny-cnn", kind: "tiny-cnn", options: { layers: 4, dModel: 32, vocab: 10 }, at: { shapes: { pixels: [1, 3, 32, 32] } }, segments: 4 },
];

/** A split on disk and inputs for it. */
export interface BenchSplit {
  name: string;
  /** `<root>/<name>/manifest.json`; the worker serves every split under `<root>`. */
  manifestPath: string;
  segments: number;
  inputs: TensorMap;
}

/**
 * Builds `m` into `<root>/<name>.onnx` and splits it into `<root>/<name>/`, `m.segments` segments
 * balanced by FLOPs (fewer when the candidate cuts do not allow as many).
 */
export async function makeSplit(root: string, m: BenchModel): Promise<BenchSplit> {
  fs.mkdirSync(root, { recursive: true });
  const modelPath = path.join(root, `${m.name}.onnx`);
  fs.writeFileSync(modelPath, serializeModel(buildModel(m.kind, m.options), { sourceDir: root }));
  const g = Graph.load(modelPath);
  const a = analyze(g, m.at);
  const cands = candidateCuts(g, a.metrics, { constants: a.constants });
  let picks: number[] = [];
  for (let k = Math.min(m.segments, cands.length + 1); k >= 2 && picks.length === 0; k--) {
    try {
      picks = segmentByBalance(g, a.metrics, k, "flops", cands);
    } catch {
      // Not this many segments: try fewer.
    }
  }
  if (picks.length === 0) throw new Error(`bench agent: ${m.name} has no candidate cut to split at`);
  const fronts = picks.map((i) => cands[i]!.front);
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const manifest = await writeSplit(g, p, path.join(root, m.name), {
    modelPath, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  // The worker searches `root` for manifests; the whole model must not sit in a split folder.
  return { name: m.name, manifestPath: path.join(root, m.name, "manifest.json"), segments: manifest.segments.length, inputs: sampleInputs(g, { ...m.at, seed: 7 }) };
}
