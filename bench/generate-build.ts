/**
 * Child of bench/generate.ts: writes one decoder with a KV cache (tiny-gpt, or the GPT-2-small-sized
 * one with external data, as bench/graph-build.ts does) and splits it into two segments at its
 * middle block boundary: the candidate cut after block floor(layers / 2) - 1's output, so the device
 * runs the embedding and the first half of the blocks, the worker the rest and the head. Prints
 * JSON (BuiltSplit): the manifest path, the cut, the model's bytes, dModel.
 * Usage: tsx bench/generate-build.ts <tiny|gpt2> <outDir>
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { analyze, symbolicTypeOf } from "../sdk/graph/analyze.js";
import { candidateCuts } from "../sdk/graph/cuts.js";
import { Graph } from "../sdk/graph/graph.js";
import { ExternalDataWriter, saveModel } from "../sdk/graph/model-io.js";
import { buildModel, type ModelOptions } from "../sdk/graph/models/index.js";
import { partition } from "../sdk/graph/partition.js";
import { assignmentFromFronts } from "../sdk/graph/segmentation.js";
import { writeSplit } from "../sdk/graph/split.js";

/** The two models of the bench (the issue's). */
export const GEN_MODELS = {
  tiny: { kvCache: true, layers: 3, maxPositions: 1100 },
  gpt2: { kvCache: true, layers: 12, dModel: 768, heads: 12, vocab: 50257, maxPositions: 1100 },
} as const satisfies Record<string, ModelOptions>;
export type GenModelName = keyof typeof GEN_MODELS;

/** What the build prints. */
export interface BuiltSplit {
  manifestPath: string;
  modelPath: string;
  modelBytes: number;
  dModel: number;
  /** Layers on the device (blocks before the cut) and in total. */
  deviceBlocks: number;
  layers: number;
  /** The tensor the cut follows and what crosses it. */
  cutAfter: string;
  cutTensors: string[];
  buildSec: number;
}

/** Analysis shapes of a decoder's inputs: batch 1, 8 new tokens, no past. */
function shapesOf(g: Graph): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const name of g.inputs) {
    const type = g.valueInfo(name)?.type?.value;
    const dims = type?.case === "tensorType" ? type.value.shape?.dim ?? [] : [];
    shapes[name] = dims.map((d, axis) => (d.value.case === "dimValue" ? Number(d.value.value) : axis === 0 ? 1 : name.startsWith("past") ? 0 : 8));
  }
  return shapes;
}

async function main(): Promise<void> {
  const [which, out] = process.argv.slice(2);
  if ((which !== "tiny" && which !== "gpt2") || out === undefined) throw new Error("usage: generate-build.ts <tiny|gpt2> <outDir>");
  const t0 = performance.now();
  const opts = GEN_MODELS[which];
  fs.mkdirSync(out, { recursive: true });
  const modelPath = path.join(out, `${which}.onnx`);
  const writer = new ExternalDataWriter(`${modelPath}.data`);
  try {
    saveModel(buildModel("tiny-gpt", opts), modelPath, { sourceDir: out, externalData: writer });
  } finally {
    writer.close();
  }
  const modelBytes = fs.statSync(modelPath).size + fs.statSync(`${modelPath}.data`).size;
  const g = Graph.load(modelPath);
  const a = analyze(g, { shapes: shapesOf(g) });
  const cands = candidateCuts(g, a.metrics, { constants: a.constants });
  // The middle block boundary: the last candidate whose front holds exactly the first half of the
  // blocks' caches (the block's output; the next candidate would start the next block's attention).
  const layers = opts.layers;
  const blocksBefore = (c: (typeof cands)[number]): number => {
    let n = 0;
    for (let l = 0; l < layers; l++) if (c.front.has(g.tensors.get(`present.${l}.key`)?.producer ?? -1)) n++;
    return n;
  };
  const half = Math.floor(layers / 2);
  const mid = cands.filter((c) => blocksBefore(c) === half).pop();
  if (mid === undefined) throw new Error(`${which}: no candidate cut after block ${half - 1} among ${cands.map((c) => c.after).join(", ")}`);
  const p = partition(g, 2, assignmentFromFronts(g, [mid.front], a.constants), a.constants);
  const splitDir = path.join(out, "split");
  await writeSplit(g, p, splitDir, {
    modelPath, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  const built: BuiltSplit = {
    manifestPath: path.join(splitDir, "manifest.json"), modelPath, modelBytes, dModel: (opts as ModelOptions).dModel ?? 64,
    deviceBlocks: blocksBefore(mid), layers, cutAfter: mid.after, cutTensors: mid.tensors.map((t) => t.name), buildSec: (performance.now() - t0) / 1e3,
  };
  console.log(JSON.stringify(built));
}

await main();
