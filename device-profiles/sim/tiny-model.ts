/**
 * `--model tiny-gpt`: the generated tiny-gpt model, built and split once into a cache folder (as
 * scripts/demo.ts and bench/agent-splits.ts do), so a simulation needs no model of the user's.
 * The size is the agent bench's: 4 blocks of width 512 at 16 tokens, about 0.4 GFLOP and 50 MB of
 * weights, cut into 4 segments balanced by FLOPs: a few hundred ms on a Raspberry Pi 4, so the
 * device's compute and the link both matter.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { analyze, symbolicTypeOf } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { Graph } from "../../sdk/graph/graph.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { buildModel, type ModelKind, type ModelOptions } from "../../sdk/graph/models/index.js";
import { partition } from "../../sdk/graph/partition.js";
import { assignmentFromFronts, segmentByBalance } from "../../sdk/graph/segmentation.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { fail } from "../../sdk/errors.js";

/** A generated model the simulator can build. */
interface GeneratedModel {
  kind: ModelKind;
  options: ModelOptions;
  shapes: Record<string, number[]>;
  segments: number;
}

/** The generated models `--model` accepts. */
export const SIM_MODELS: Readonly<Record<string, GeneratedModel>> = {
  "tiny-gpt": { kind: "tiny-gpt", options: { layers: 4, dModel: 512, heads: 8, vocab: 256 }, shapes: { input_ids: [1, 16] }, segments: 4 },
};

/**
 * The manifest path of generated model `name`'s split under `cacheDir` (`<cacheDir>/models/<name>/`),
 * built and split on first use. E_USAGE for an unknown name.
 */
export async function ensureModelSplit(name: string, cacheDir: string): Promise<string> {
  const m = SIM_MODELS[name];
  if (m === undefined) throw fail("E_USAGE", `--model ${name}: unknown; the simulator builds ${Object.keys(SIM_MODELS).join(", ")} (or give --manifest)`);
  const root = path.join(cacheDir, "models", name);
  const manifestPath = path.join(root, "split", "manifest.json");
  if (fs.existsSync(manifestPath)) return manifestPath;
  // Built in a temp sibling and renamed: a run killed half-way leaves no half split behind.
  const tmp = `${root}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    const modelPath = path.join(tmp, `${name}.onnx`);
    fs.writeFileSync(modelPath, serializeModel(buildModel(m.kind, m.options), { sourceDir: tmp }));
    const g = Graph.load(modelPath);
    const a = analyze(g, { shapes: m.shapes });
    const cands = candidateCuts(g, a.metrics, { constants: a.constants });
    const picks = segmentByBalance(g, a.metrics, m.segments, "flops", cands);
    const fronts = picks.map((i) => cands[i]!.front);
    const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
    await writeSplit(g, p, path.join(tmp, "split"), {
      modelPath, typeOf: symbolicTypeOf(a),
      concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
    });
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(root), { recursive: true });
    fs.renameSync(tmp, root);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return manifestPath;
}
