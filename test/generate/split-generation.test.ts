// Greedy generation split at every split point (and U-shaped) gives the same token ids as the
// whole model run locally with its own KV cache, for 64 new tokens; the bytes per decode step
// are the hidden state plus a small header.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { fixInputs } from "../../sdk/graph/fold.js";
import { Graph } from "../../sdk/graph/graph.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import * as fs from "node:fs";
import { collect, logprobGap, memoryCloud, reference, referenceRun, splitAtBlocks, tempDir, tinyGptKvSplit, type Cloud, type GenSplit } from "./support.js";

const FIXTURES = path.resolve(import.meta.dirname, "..", "fixtures", "torch");

const PROMPT = [5, 17, 42, 99, 3, 250, 7, 64];
const NEW = 64;

describe("split generation (tiny-gpt --kv-cache, memory bus)", () => {
  const root = tempDir("split");
  let split: GenSplit;
  let cloud: Cloud;
  let expected: number[];

  before(async () => {
    split = await tinyGptKvSplit(path.join(root, "models"), "tiny-gpt-kv", {}, true);
    cloud = await memoryCloud(path.join(root, "models"));
    expected = await reference(split, PROMPT, { maxNewTokens: NEW });
  });
  after(async () => cloud?.close());

  test("the split lists a cache pair per layer, owned where its block runs", () => {
    assert.equal(split.manifest.state.length, 6);
    for (const p of split.manifest.state) assert.match(p.past, /^past_key_values\.\d\.(key|value)$/);
    assert.ok(split.manifest.segments.length >= 3, `segments: ${split.manifest.segments.length}`);
    assert.equal(expected.length, NEW);
    assert.ok(new Set(expected).size > 1, "the reference generates more than one distinct token");
  });

  test("every split point gives the reference's tokens and logprobs", async () => {
    const n = split.manifest.segments.length;
    const ref = await referenceRun(split, PROMPT, { maxNewTokens: NEW });
    for (let k = 0; k <= n; k++) {
      const { ids, logprobs, stats } = await collect(cloud.generator(split, k), PROMPT, { maxNewTokens: NEW });
      assert.deepEqual(ids, expected, `split ${k}`);
      assert.ok(logprobGap(logprobs, ref.logprobs) < 1e-4, `split ${k}: logprobs differ`);
      assert.equal(stats.tokens, NEW);
      if (k < n) {
        assert.equal(stats.stepBytesUp.length, NEW - 1, `split ${k}: one message per decode step`);
        assert.ok(stats.workerId !== undefined);
      } else assert.equal(stats.bytesUp, 0, "all-local sends nothing");
    }
  });

  test("a U-shaped split (embedding and head on the device) gives the same tokens", async () => {
    const n = split.manifest.segments.length;
    const { ids, stats } = await collect(cloud.generator(split, { from: 1, to: n - 1 }), PROMPT, { maxNewTokens: NEW });
    assert.deepEqual(ids, expected);
    assert.equal(stats.split.to, n - 1);
  });

  test("a decode step sends the hidden state plus at most 64 bytes of header", async () => {
    // A block boundary: the cut with the fewest crossing bytes.
    const cut = [...split.manifest.cuts].sort((a, b) => a.tensors.reduce((n, t) => n + t.bytes, 0) - b.tensors.reduce((n, t) => n + t.bytes, 0))[0]!;
    const k = cut.after + 1;
    const hidden = cut.tensors.find((t) => t.shape.length === 3 && t.type === "float32")!;
    const d = hidden.shape[2] as number;
    const hiddenBytes = 4 * d;
    const { stats } = await collect(cloud.generator(split, k), PROMPT, { maxNewTokens: 16 });
    for (const b of stats.stepBytesUp) assert.ok(b <= 1.1 * hiddenBytes + 64, `step bytes ${b} vs hidden ${hiddenBytes}`);
  });
});

describe("split generation (torch-exported GPT-2-like fixtures)", () => {
  const root = tempDir("torch");
  const models = path.join(root, "models");
  let cloud: Cloud;
  let kvEvery: GenSplit;
  let kvBlocks: GenSplit;
  let merged: GenSplit;
  before(async () => {
    fs.mkdirSync(models, { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, "gpt2-tiny-kv.onnx"), path.join(models, "gpt2-tiny-kv.onnx"));
    kvEvery = await splitAtBlocks(path.join(models, "gpt2-tiny-kv.onnx"), models, "kv", true);
    kvBlocks = await splitAtBlocks(path.join(models, "gpt2-tiny-kv.onnx"), models, "kv-blocks");
    // The folded model keeps its weights where the merged model has them (embedded).
    const folded = fixInputs(Graph.load(path.join(FIXTURES, "gpt2-tiny-merged.onnx")), { use_cache_branch: "true" });
    const file = path.join(models, "merged-folded.onnx");
    fs.writeFileSync(file, serializeModel(folded.model, { sourceDir: FIXTURES }));
    merged = await splitAtBlocks(file, models, "merged");
    cloud = await memoryCloud(models);
  });
  after(async () => cloud?.close());

  // This export's random tied embeddings make greedy decoding repeat the last prompt token, so
  // the tokens alone would not show a wrong split: the logprobs (every layer's work) must match too.
  test("gpt2-tiny-kv.onnx: every split point gives the whole model's 64 greedy tokens and logprobs", async () => {
    const split = kvEvery;
    assert.equal(split.manifest.state.length, 4);
    const expected = await referenceRun(split, PROMPT, { maxNewTokens: NEW });
    const n = split.manifest.segments.length;
    assert.ok(n >= 5, `segments: ${n}`);
    for (let k = 0; k <= n; k++) {
      const got = await collect(cloud.generator(split, k), PROMPT, { maxNewTokens: NEW });
      assert.deepEqual(got.ids, expected.ids, `split ${k}`);
      assert.ok(logprobGap(got.logprobs, expected.logprobs) < 1e-4, `split ${k}: logprobs differ by ${logprobGap(got.logprobs, expected.logprobs)}`);
    }
  });

  test("the optimum-style merged decoder, folded with use_cache_branch=true, generates like the KV export", async () => {
    assert.equal(merged.manifest.model.inputs.some((t) => t.name === "use_cache_branch"), false);
    const expected = await reference(kvBlocks, PROMPT, { maxNewTokens: 32 });
    const { ids } = await collect(cloud.generator(merged, 1), PROMPT, { maxNewTokens: 32 });
    assert.deepEqual(ids, expected);
  });
});
