// Greedy generation split at every split point (and U-shaped) gives the same token ids as the
// whole model run locally with its own KV cache, for 64 new tokens; the bytes per decode step
// are the hidden state plus a small header.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { collect, memoryCloud, reference, tempDir, tinyGptKvSplit, type Cloud, type GenSplit } from "./support.js";

const PROMPT = [5, 17, 42, 99, 3, 250, 7, 64];
const NEW = 64;

describe("split generation (tiny-gpt --kv-cache, memory bus)", () => {
  const root = tempDir("split");
  let split: GenSplit;
  let cloud: Cloud;
  let expected: number[];

  before(async () => {
    split = await tinyGptKvSplit(path.join(root, "models"), "tiny-gpt-kv");
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

  test("every split point gives the reference's tokens", async () => {
    const n = split.manifest.segments.length;
    for (let k = 0; k <= n; k++) {
      const { ids, stats } = await collect(cloud.generator(split, k), PROMPT, { maxNewTokens: NEW });
      assert.deepEqual(ids, expected, `split ${k}`);
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
    const k = 1;
    const cut = split.manifest.cuts[k - 1]!;
    const hidden = cut.tensors.find((t) => t.shape.length === 3 && t.type === "float32")!;
    const d = hidden.shape[2] as number;
    const hiddenBytes = 4 * d;
    const { stats } = await collect(cloud.generator(split, k), PROMPT, { maxNewTokens: 16 });
    for (const b of stats.stepBytesUp) assert.ok(b <= 1.1 * hiddenBytes + 64, `step bytes ${b} vs hidden ${hiddenBytes}`);
  });
});
