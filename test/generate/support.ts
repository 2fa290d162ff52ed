// Shared pieces of the generation tests: a decoder with a KV cache split at every local-minimum
// candidate cut (block boundaries), a worker on the memory bus, and greedy reference runs.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { startWorker, type Worker, type WorkerOptions } from "../../cloud-stub/worker.js";
import { analyze, symbolicTypeOf } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { Graph } from "../../sdk/graph/graph.js";
import { loadManifest, type Manifest } from "../../sdk/graph/manifest.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { buildModel, type ModelOptions } from "../../sdk/graph/models/index.js";
import { partition } from "../../sdk/graph/partition.js";
import { assignmentFromFronts } from "../../sdk/graph/segmentation.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { SplitGenerator, type GenerateOptions, type GenerationStats, type SplitGeneratorOptions } from "../../sdk/generate/generator.js";
import { wholeModelManifest } from "../../sdk/generate/whole-model.js";
import { OffloadClient } from "../../sdk/offload/client.js";
import { createMemoryBus, type MemoryBus } from "../../sdk/transport/memory.js";

export const silent = pino({ level: "silent" });

/** A fresh temp folder removed at exit. */
export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `edgecut-gen-${label}-`));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A split on disk: its manifest and folder. */
export interface GenSplit {
  manifest: Manifest;
  dir: string;
  modelPath: string;
}

/** Concrete shapes of a decoder's inputs for analysis: batch 1, `seq` new tokens, `past` cached. */
function decoderShapes(g: Graph, seq: number, past: number): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const name of g.inputs) {
    const type = g.valueInfo(name)?.type?.value;
    const dims = type?.case === "tensorType" ? type.value.shape?.dim ?? [] : [];
    shapes[name] = dims.map((d, axis) => {
      if (d.value.case === "dimValue") return Number(d.value.value);
      if (axis === 0) return 1;
      if (name.startsWith("past")) return past;
      if (name === "attention_mask") return past + seq;
      return seq;
    });
  }
  return shapes;
}

/** Splits the model file at every local-minimum candidate cut into `<root>/<name>/`. */
export async function splitAtBlocks(modelPath: string, root: string, name: string): Promise<GenSplit> {
  const g = Graph.load(modelPath);
  const a = analyze(g, { shapes: decoderShapes(g, 8, 0) });
  const cands = candidateCuts(g, a.metrics, { constants: a.constants });
  const fronts = cands.filter((c) => c.localMin).map((c) => c.front);
  assert.ok(fronts.length > 0, `${name}: no local-minimum cut`);
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const out = path.join(root, name);
  await writeSplit(g, p, out, {
    modelPath, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  const loaded = loadManifest(path.join(out, "manifest.json"));
  return { manifest: loaded.manifest, dir: loaded.dir, modelPath };
}

/** tiny-gpt with a KV cache, written to `<root>/<name>.onnx` and split at its block boundaries. */
export async function tinyGptKvSplit(root: string, name: string, opts: ModelOptions = {}): Promise<GenSplit> {
  fs.mkdirSync(root, { recursive: true });
  const modelPath = path.join(root, `${name}.onnx`);
  fs.writeFileSync(modelPath, serializeModel(buildModel("tiny-gpt", { layers: 3, maxPositions: 160, ...opts, kvCache: true }), { sourceDir: root }));
  return splitAtBlocks(modelPath, root, name);
}

/** Runs a generator to the end: the token ids and the stats. */
export async function collect(gen: SplitGenerator, prompt: number[], opts: GenerateOptions): Promise<{ ids: number[]; stats: GenerationStats }> {
  const ids: number[] = [];
  const it = gen.generate(prompt, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) return { ids, stats: r.value };
    ids.push(r.value.id);
  }
}

/** The whole model run locally with its own cache: the reference. */
export async function reference(split: GenSplit, prompt: number[], opts: GenerateOptions): Promise<number[]> {
  const whole = wholeModelManifest(split.manifest, split.dir);
  const gen = new SplitGenerator({ manifest: whole.manifest, dir: whole.dir, split: 1, intraOpThreads: 1 });
  try {
    return (await collect(gen, prompt, opts)).ids;
  } finally {
    await gen.close();
  }
}

/** A memory bus with workers serving `models` and a started device client. */
export interface Cloud {
  bus: MemoryBus;
  workers: Worker[];
  client: OffloadClient;
  generator(split: GenSplit, at: SplitGeneratorOptions["split"], extra?: Partial<SplitGeneratorOptions>): SplitGenerator;
  close(): Promise<void>;
}

export async function memoryCloud(models: string, workers = 1, worker: Partial<WorkerOptions> = {}, deviceId = "pi-gen"): Promise<Cloud> {
  const bus = createMemoryBus();
  const ws: Worker[] = [];
  for (let i = 0; i < workers; i++) ws.push(await startWorker({ transport: bus.connect(), models, logger: silent, intraOpThreads: 1, ...worker }));
  const client = new OffloadClient({ transport: bus.connect(), deviceId, timeoutMs: 5000, retries: 1 });
  await client.start();
  const gens: SplitGenerator[] = [];
  return {
    bus, workers: ws, client,
    generator: (split, at, extra = {}) => {
      const g = new SplitGenerator({ manifest: split.manifest, dir: split.dir, split: at, client, intraOpThreads: 1, ...extra });
      gens.push(g);
      return g;
    },
    close: async () => {
      for (const g of gens) await g.close();
      await client.close();
      for (const w of ws) await w.stop();
    },
  };
}
