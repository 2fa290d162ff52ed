/**
 * The generation part of `npm run demo`: a tiny GPT with a KV cache, split at its block
 * boundaries; 32 greedy tokens generated with the whole model on the "device" (the reference), then
 * split (the front blocks here, the rest on the worker, which keeps its layers' cache and samples),
 * printing tokens per second and the bytes each decode step sends.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Graph } from "../sdk/graph/graph.js";
import { analyze, symbolicTypeOf } from "../sdk/graph/analyze.js";
import { candidateCuts } from "../sdk/graph/cuts.js";
import { assignmentFromFronts } from "../sdk/graph/segmentation.js";
import { partition } from "../sdk/graph/partition.js";
import { writeSplit } from "../sdk/graph/split.js";
import type { Manifest } from "../sdk/graph/manifest.js";
import { buildModel } from "../sdk/graph/models/index.js";
import { saveModel } from "../sdk/graph/model-io.js";
import { SplitGenerator, type GenerationStats } from "../sdk/generate/generator.js";
import { wholeModelManifest } from "../sdk/generate/whole-model.js";
import type { OffloadClient } from "../sdk/offload/client.js";

const OPTS = { layers: 4, dModel: 64, heads: 4, vocab: 256, maxPositions: 160, kvCache: true } as const;
const PROMPT = [72, 101, 108, 108, 111, 44, 32, 101, 100, 103, 101];
const NEW_TOKENS = 32;

/** Builds (or reuses) the KV model in `cache` and writes its split into `dir`. */
export async function prepareGenerationSplit(cache: string, dir: string): Promise<{ manifest: Manifest; dir: string }> {
  const file = path.join(cache, `tiny-gpt-kv-${OPTS.layers}x${OPTS.dModel}.onnx`);
  if (!fs.existsSync(file)) saveModel(buildModel("tiny-gpt", OPTS), file, { sourceDir: cache });
  const g = Graph.load(file);
  const a = analyze(g, { shapes: { input_ids: [1, 8], attention_mask: [1, 8] }, dims: { past_sequence: 0 } });
  const fronts = candidateCuts(g, a.metrics, { constants: a.constants }).filter((c) => c.localMin).map((c) => c.front);
  const p = partition(g, fronts.length + 1, assignmentFromFronts(g, fronts, a.constants), a.constants);
  const manifest = await writeSplit(g, p, dir, {
    modelPath: file, typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  return { manifest, dir };
}

async function run(gen: SplitGenerator): Promise<{ ids: number[]; stats: GenerationStats }> {
  const ids: number[] = [];
  const it = gen.generate(PROMPT, { maxNewTokens: NEW_TOKENS });
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return { ids, stats: r.value };
      ids.push(r.value.id);
    }
  } finally {
    await gen.close();
  }
}

/** Generates locally and split, and prints the comparison. */
export async function generationDemo(client: OffloadClient, split: { manifest: Manifest; dir: string }): Promise<void> {
  const whole = wholeModelManifest(split.manifest, split.dir);
  const k = Math.ceil(split.manifest.segments.length / 2);
  const local = await run(new SplitGenerator({ manifest: whole.manifest, dir: whole.dir, split: 1 }));
  const remote = await run(new SplitGenerator({ manifest: split.manifest, dir: split.dir, split: k, client }));
  const same = local.ids.length === remote.ids.length && local.ids.every((t, i) => t === remote.ids[i]);
  if (!same) throw new Error(`split generation differs from the whole model: ${remote.ids.join(",")} vs ${local.ids.join(",")}`);
  const steps = remote.stats.stepBytesUp;
  const hidden = 4 * OPTS.dModel;
  console.log(`\ngeneration (tiny-gpt with a KV cache, ${split.manifest.segments.length} segments, ${split.manifest.state.length} cache tensors): ${NEW_TOKENS} greedy tokens`);
  console.log(`  whole model here:        ${local.stats.tokensPerSecond.toFixed(0)} tokens/s`);
  console.log(`  split at ${k} over MQTT:    ${remote.stats.tokensPerSecond.toFixed(0)} tokens/s; each side keeps its layers' cache, the worker samples`);
  console.log(`  per decode step: ${Math.max(...steps)} bytes up (the hidden state is ${hidden}); per token ${Math.round(remote.stats.bytesDown / NEW_TOKENS)} bytes down on average (a token id and its logprob)`);
  console.log(`  the same ${NEW_TOKENS} tokens both ways: ${remote.ids.slice(0, 12).join(" ")} ...`);
}
