// Generation sessions under failure: the worker holding a session dies (another rebuilds it by
// replay), the session expires or is evicted (rebuilt), a session larger than the cap is refused,
// and concurrent sessions on one worker stay isolated. Every case ends with the reference's tokens.
import assert from "node:assert/strict";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { EdgecutError } from "../../sdk/errors.js";
import { collect, memoryCloud, reference, tempDir, tinyGptKvSplit, type GenSplit } from "./support.js";

const PROMPT = [11, 22, 33, 44];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("generation sessions", () => {
  const root = tempDir("sessions");
  const models = path.join(root, "models");
  let split: GenSplit;
  let expected: number[];

  before(async () => {
    split = await tinyGptKvSplit(models, "gpt");
    expected = await reference(split, PROMPT, { maxNewTokens: 40 });
  });

  test("a worker dying mid-generation: another rebuilds the session by replay, same tokens", async () => {
    const cloud = await memoryCloud(models, 2);
    try {
      const gen = cloud.generator(split, 2, { timeoutMs: 300, retries: 0 });
      const it = gen.generate(PROMPT, { maxNewTokens: 40 });
      const ids: number[] = [];
      let killed = -1;
      for (;;) {
        const r = await it.next();
        if (r.done) {
          assert.equal(r.value.rebuilds, 1);
          assert.notEqual(r.value.workerId, cloud.workers[killed]!.workerId, "the session ended on the surviving worker");
          break;
        }
        ids.push(r.value.id);
        if (r.value.index === 15) {
          killed = cloud.workers.findIndex((w) => w.metrics().generation.sessions > 0);
          assert.ok(killed >= 0, "one worker holds the session");
          await cloud.kill(killed);
        }
      }
      assert.deepEqual(ids, expected);
      const survivor = cloud.workers[1 - killed]!.metrics().generation;
      assert.equal(survivor.opened, 1, "the survivor rebuilt it once");
    } finally {
      await cloud.close();
    }
  });

  test("an expired session is rebuilt and continues with the same tokens", async () => {
    const cloud = await memoryCloud(models, 1, { generation: { ttlMs: 40, maxBytes: 64 * 2 ** 20, maxSessions: 16 } });
    try {
      const gen = cloud.generator(split, 1);
      const it = gen.generate(PROMPT, { maxNewTokens: 12 });
      const ids: number[] = [];
      for (;;) {
        const r = await it.next();
        if (r.done) {
          assert.ok(r.value.rebuilds >= 1, `rebuilds: ${r.value.rebuilds}`);
          break;
        }
        ids.push(r.value.id);
        if (r.value.index === 5) await sleep(120);
      }
      assert.deepEqual(ids, expected.slice(0, 12));
      assert.ok(cloud.workers[0]!.metrics().generation.expired >= 1);
    } finally {
      await cloud.close();
    }
  });

  test("concurrent sessions on one worker stay isolated", async () => {
    const prompts = [[1, 2, 3], [200, 100], [7, 7, 7, 7, 7]];
    const refs = await Promise.all(prompts.map((p) => reference(split, p, { maxNewTokens: 24 })));
    const cloud = await memoryCloud(models, 1);
    try {
      const runs = await Promise.all(prompts.map((p) => collect(cloud.generator(split, 1), p, { maxNewTokens: 24 })));
      runs.forEach((r, i) => assert.deepEqual(r.ids, refs[i], `prompt ${i}`));
      assert.equal(cloud.workers[0]!.metrics().generation.opened, 3);
    } finally {
      await cloud.close();
    }
  });

  test("the memory cap holds: sessions evict each other and are rebuilt; one over the cap alone is refused", async () => {
    // One session of this model at 24 tokens holds its layers' cache (up to 3 layers x K and V x 4
    // heads x 16 dims x 4 bytes = 1.5 KB per token, ~37 KB) plus its last tensors: a cap of 50 KB
    // fits one, not two.
    const cap = 50_000;
    const cloud = await memoryCloud(models, 1, { generation: { ttlMs: 60_000, maxBytes: cap, maxSessions: 16 } });
    try {
      const refB = await reference(split, [9, 8, 7], { maxNewTokens: 20 });
      const a = cloud.generator(split, 1).generate(PROMPT, { maxNewTokens: 20 });
      const b = cloud.generator(split, 1).generate([9, 8, 7], { maxNewTokens: 20 });
      const ids: [number[], number[]] = [[], []];
      let rebuilds = 0;
      for (let done = 0; done < 2;) {
        done = 0;
        for (const [i, it] of [a, b].entries()) {
          const r = await it.next();
          if (r.done) { done++; if (r.value !== undefined) rebuilds += r.value.rebuilds; continue; }
          ids[i]!.push(r.value.id);
          assert.ok(cloud.workers[0]!.metrics().generation.bytes <= cap, "the store stays under its cap");
        }
      }
      assert.deepEqual(ids[0], expected.slice(0, 20));
      assert.deepEqual(ids[1], refB);
      const g = cloud.workers[0]!.metrics().generation;
      assert.ok(g.evicted >= 1, `evicted ${g.evicted}`);
      assert.ok(rebuilds >= 1);
    } finally {
      await cloud.close();
    }
    const tiny = await memoryCloud(models, 1, { generation: { ttlMs: 60_000, maxBytes: 2_000, maxSessions: 16 } });
    try {
      await assert.rejects(collect(tiny.generator(split, 1), PROMPT, { maxNewTokens: 8 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_SESSION_FULL");
    } finally {
      await tiny.close();
    }
  });
});
