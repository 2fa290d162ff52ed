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
import type { Transport } from "../../sdk/transport/transport.js";

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

/** Splits the model file at every local-minimum candidate cut (or every candidate) into `<root>/<name>/`. */
export async function splitAtBlocks(modelPath: string, root: string, name: string, every = false): Promise<GenSplit> {
  const g = Graph.load(modelPath);
  const a = analyze(g, { shapes: decoderShapes(g, 8, 0) });
  const cands = candidateCuts(g, a.metrics, { constants: a.constants });
  const fronts = cands.filter((c) => every || c.localMin).map((c) => c.front);
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
export async function tinyGptKvSplit(root: string, name: string, opts: ModelOptions = {}, every = false): Promise<GenSplit> {
  fs.mkdirSync(root, { recursive: true });
  const modelPath = path.join(root, `${name}.onnx`);
  fs.writeFileSync(modelPath, serializeModel(buildModel("tiny-gpt", { layers: 3, maxPositions: 160, ...opts, kvCache: true }), { sourceDir: root }));
  return splitAtBlocks(modelPath, root, name, every);
}

/** Runs a generator to the end: the token ids and the stats. */
export async function collect(gen: SplitGenerator, prompt: number[], opts: GenerateOptions): Promise<{ ids: number[]; logprobs: number[]; stats: GenerationStats }> {
  const ids: number[] = [];
  const logprobs: number[] = [];
  const it = gen.generate(prompt, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) return { ids, logprobs, stats: r.value };
    ids.push(r.value.id);
    logprobs.push(r.value.logprob);
  }
}

/** Largest difference between two runs' logprobs (they must have the same length). */
export function logprobGap(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i]!)));
}

/** The whole model run locally with its own cache: the reference token ids. */
export async function reference(split: GenSplit, prompt: number[], opts: GenerateOptions): Promise<number[]> {
  return (await referenceRun(split, prompt, opts)).ids;
}

/** The whole model run locally with its own cache: ids and logprobs. */
export async function referenceRun(split: GenSplit, prompt: number[], opts: GenerateOptions): Promise<{ ids: number[]; logprobs: number[] }> {
  const whole = wholeModelManifest(split.manifest, split.dir);
  const gen = new SplitGenerator({ manifest: whole.manifest, dir: whole.dir, split: 1, intraOpThreads: 1 });
  try {
    return await collect(gen, prompt, opts);
  } finally {
    await gen.close();
  }
}

/** A memory bus with workers serving `models` and a started device client. */
export interface Cloud {
  bus: MemoryBus;
  workers: Worker[];
  /** Each worker's connection: closing it plays the worker dying (no goodbye, no replies). */
  links: Transport[];
  client: OffloadClient;
  /** Plays worker i dying: its connection closes, its sessions are gone with it. */
  kill(i: number): Promise<void>;
  generator(split: GenSplit, at: SplitGeneratorOptions["split"], extra?: Partial<SplitGeneratorOptions>): SplitGenerator;
  close(): Promise<void>;
}

export async function memoryCloud(models: string, workers = 1, worker: Partial<WorkerOptions> = {}, deviceId = "pi-gen"): Promise<Cloud> {
  const bus = createMemoryBus();
  const ws: Worker[] = [];
  const links: Transport[] = [];
  for (let i = 0; i < workers; i++) {
    const link = bus.connect();
    links.push(link);
    ws.push(await startWorker({ transport: link, models, logger: silent, intraOpThreads: 1, ...worker }));
  }
  const client = new OffloadClient({ transport: bus.connect(), deviceId, timeoutMs: 5000, retries: 1 });
  await client.start();
  const gens: SplitGenerator[] = [];
  const killed = new Set<number>();
  return {
    bus, workers: ws, links, client,
    kill: async (i) => {
      killed.add(i);
      await links[i]!.close();
    },
    generator: (split, at, extra = {}) => {
      const g = new SplitGenerator({ manifest: split.manifest, dir: split.dir, split: at, client, intraOpThreads: 1, ...extra });
      gens.push(g);
      return g;
    },
    close: async () => {
      for (const g of gens) await g.close();
      await client.close();
      for (const [i, w] of ws.entries()) if (!killed.has(i)) await w.stop();
    },
  };
}
