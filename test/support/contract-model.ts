/**
 * A real ONNX model that computes what the fake core computes (test/support/fake-core.ts), so the
 * Inference contract (inference-contract.ts) can run against implementations that execute models:
 *   inputs  x: float32 [batch, 4], ids: int64 [batch]
 *   outputs y = x * 2 (float32 [batch, 4]), next = ids + 1 (int64 [batch])
 * split with the project's split tools into 3 segments:
 *   segment 0: a = x * 2,  b = ids + 1
 *   segment 1: c = a * 1,  d = b * 1
 *   segment 2: y = c * 1,  next = d * 1
 * Multiplying by 2 and by 1 is exact in IEEE arithmetic (-0, NaN, ±Infinity, subnormals and the
 * overflow of the largest float32 all come out as float32 `x * 2` does), and no int64 step can
 * wrap for ids below 2^63 - 1, so outputs match fakeModel() bit for bit at every split point.
 * The two chains cross both cuts, so every split point sends tensors and returns model outputs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { analyze, symbolicTypeOf } from "../../sdk/graph/analyze.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { frontForTensors } from "../../sdk/graph/cuts.js";
import { Graph } from "../../sdk/graph/graph.js";
import { loadManifest, type Manifest } from "../../sdk/graph/manifest.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import type { ModelProto } from "../../sdk/graph/onnx/onnx_pb.js";
import { partition } from "../../sdk/graph/partition.js";
import { assignmentFromFronts } from "../../sdk/graph/segmentation.js";
import { writeSplit } from "../../sdk/graph/split.js";

/** The contract model's split on disk. */
export interface ContractModel {
  /** The folder holding the split folder (a worker's `models`). */
  modelsDir: string;
  /** The split's manifest.json. */
  manifestPath: string;
  manifest: Manifest;
  /** The whole model (.onnx). */
  modelPath: string;
  /** Segments of the split (3). */
  segments: number;
}

/** The tensors each cut carries, in order. */
const CUTS = [["a", "b"], ["c", "d"]] as const;

/** Builds the whole contract model (see the module comment). */
export function buildContractModel(): ModelProto {
  const b = new GraphBuilder({ name: "contract" });
  b.input("x", "float32", ["batch", 4]);
  b.input("ids", "int64", ["batch"]);
  b.initializer("two", "float32", [], Float32Array.of(2));
  b.initializer("one_f", "float32", [], Float32Array.of(1));
  b.initializer("one_i", "int64", [], BigInt64Array.of(1n));
  b.op("Mul", ["x", "two"], {}, { output: "a" });
  b.op("Add", ["ids", "one_i"], {}, { output: "b" });
  b.op("Mul", ["a", "one_f"], {}, { output: "c" });
  b.op("Mul", ["b", "one_i"], {}, { output: "d" });
  b.op("Mul", ["c", "one_f"], {}, { output: "y" });
  b.op("Mul", ["d", "one_i"], {}, { output: "next" });
  b.output("y", "float32", ["batch", 4]);
  b.output("next", "int64", ["batch"]);
  return b.build();
}

let cached: Promise<ContractModel> | undefined;

/** The contract model, built and split once per process into a temp folder removed at exit. */
export function contractModel(): Promise<ContractModel> {
  cached ??= makeContractModel();
  return cached;
}

async function makeContractModel(): Promise<ContractModel> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-contract-"));
  process.on("exit", () => fs.rmSync(root, { recursive: true, force: true }));
  const modelPath = path.join(root, "contract.onnx");
  fs.writeFileSync(modelPath, serializeModel(buildContractModel(), { sourceDir: root }));
  // The split goes in its own folder so a worker pointed at modelsDir finds only it.
  const modelsDir = path.join(root, "models");
  const out = path.join(modelsDir, "contract");
  const g = Graph.load(modelPath);
  const a = analyze(g, { dims: { batch: 2 } });
  const fronts = CUTS.map((names) => frontForTensors(g, [...names], a.constants));
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  await writeSplit(g, p, out, {
    modelPath, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  const manifestPath = path.join(out, "manifest.json");
  const manifest = loadManifest(manifestPath).manifest;
  return { modelsDir, manifestPath, manifest, modelPath, segments: manifest.segments.length };
}
