/**
 * The suite every AgentGeneration must pass (the agent client over POST /v1/generate, and the
 * in-process inference on the agent core itself), on tiny-gpt with a KV cache and a real worker:
 * greedy tokens equal the whole model's at the agent's split and at every forced one, text in and
 * out through the tokenizer, stop ids and texts, the same error codes for bad calls, and aborts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EdgecutError } from "../../sdk/errors.js";
import type { TextTokenizer } from "../../sdk/generate/tokenizer.js";
import type { AgentGeneration } from "../../sdk/infer/generate-types.js";
import { drain, PROMPT } from "../generate/agent-support.js";
import { reference, type GenSplit } from "../generate/support.js";

/** One implementation under test. */
export interface GenerationSubject {
  gen: AgentGeneration;
  split: GenSplit;
  tokenizer: TextTokenizer;
  /** The split the agent's policy uses (what a call without `split` runs at). */
  defaultSplit: number;
  /** Stops what start() started. */
  close(): Promise<void>;
}

async function rejectsWith(p: Promise<unknown>, code: string, mention?: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof EdgecutError, `expected an EdgecutError ${code}, got ${e === undefined ? "success" : String(e)}`);
  assert.equal(e.code, code, e.message);
  if (mention) assert.match(e.message, mention);
}

/** Registers the contract suite for one implementation. */
export function generationContract(name: string, start: () => Promise<GenerationSubject>): void {
  describe(`Generation contract: ${name}`, () => {
    let s: GenerationSubject;
    let expected: number[];
    before(async () => {
      s = await start();
      expected = await reference(s.split, PROMPT, { maxNewTokens: 24 });
    });
    after(async () => s?.close());

    test("greedy tokens equal the whole model's, at the agent's split, with the stats", async () => {
      const { tokens, stats } = await drain(s.gen.generate(PROMPT, { maxNewTokens: 24 }));
      assert.deepEqual(tokens.map((t) => t.id), expected);
      assert.deepEqual(tokens.map((t) => t.index), expected.map((_, i) => i));
      for (const t of tokens) assert.ok(Number.isFinite(t.logprob) && t.logprob <= 0, `logprob ${t.logprob}`);
      assert.equal(stats.tokens, 24);
      assert.equal(stats.split.from, s.defaultSplit);
      const n = s.split.manifest.segments.length;
      if (s.defaultSplit < n) {
        assert.equal(stats.stepBytesUp.length, 23, "one message per decode step");
        assert.ok(stats.workerId !== undefined);
      } else assert.equal(stats.bytesUp, 0);
    });

    test("every forced split gives the same tokens, and concurrent calls do not mix", async () => {
      const n = s.split.manifest.segments.length;
      const runs = await Promise.all([0, 1, 3, n].map((k) => drain(s.gen.generate(PROMPT, { maxNewTokens: 24, split: k }))));
      runs.forEach((r, i) => {
        assert.deepEqual(r.tokens.map((t) => t.id), expected, `run ${i}`);
        assert.equal(r.stats.split.from, [0, 1, 3, n][i]);
      });
    });

    test("text in, text out through the agent's tokenizer; stop ids and texts end the stream", async () => {
      const prompt = "Once upon a time";
      const ids = s.tokenizer.encode(prompt);
      const want = await reference(s.split, ids, { maxNewTokens: 12 });
      const { tokens } = await drain(s.gen.generate(prompt, { maxNewTokens: 12 }));
      assert.deepEqual(tokens.map((t) => t.id), want);
      const text = tokens.map((t) => t.text ?? "").join("");
      assert.ok(tokens.every((t) => typeof t.text === "string"));
      assert.ok(s.tokenizer.decode(want).startsWith(text), "the streamed text is the decoded tokens'");

      const stopId = expected[4]!;
      const first = expected.indexOf(stopId);
      const stopped = await drain(s.gen.generate(PROMPT, { maxNewTokens: 24, stop: [stopId] }));
      assert.deepEqual(stopped.tokens.map((t) => t.id), expected.slice(0, first + 1), "ends with the stop token");
      assert.equal(stopped.stats.tokens, first + 1);

      const full = (await drain(s.gen.generate(prompt, { maxNewTokens: 12 }))).tokens;
      const piece = full.map((t) => t.text ?? "").find((p, i) => i >= 2 && p.length > 0);
      if (piece !== undefined) {
        const r = await drain(s.gen.generate(prompt, { maxNewTokens: 12, stop: [piece] }));
        assert.ok(r.tokens.length < 12 || full.length < 12);
        assert.ok(r.tokens.map((t) => t.text ?? "").join("").includes(piece));
      }
    });

    test("seeded sampling repeats itself", async () => {
      const o = { maxNewTokens: 12, temperature: 0.9, topK: 40, seed: 7 };
      const a = (await drain(s.gen.generate(PROMPT, o))).tokens.map((t) => t.id);
      const b = (await drain(s.gen.generate(PROMPT, o))).tokens.map((t) => t.id);
      assert.deepEqual(a, b);
      assert.equal(a.length, 12);
    });

    test("bad calls fail with the same codes before any token", async () => {
      const n = s.split.manifest.segments.length;
      const first = (it: AsyncGenerator<unknown, unknown>): Promise<unknown> => it.next();
      await rejectsWith(first(s.gen.generate(PROMPT, { maxNewTokens: 0 })), "E_USAGE", /maxNewTokens/);
      await rejectsWith(first(s.gen.generate([1, 256], { maxNewTokens: 2 })), "E_USAGE", /256/);
      await rejectsWith(first(s.gen.generate(PROMPT, { maxNewTokens: 2, split: n + 1 })), "E_USAGE", /split/);
      await rejectsWith(first(s.gen.generate(PROMPT, { maxNewTokens: 2, temperature: -1 })), "E_USAGE", /temperature/);
      await rejectsWith(first(s.gen.generate("", { maxNewTokens: 2 })), "E_USAGE");
      const pre = new AbortController();
      pre.abort();
      await rejectsWith(first(s.gen.generate(PROMPT, { maxNewTokens: 2, signal: pre.signal })), "E_ABORTED");
    });

    test("aborting mid-stream ends it with E_ABORTED, and the next call works", async () => {
      const ac = new AbortController();
      const it = s.gen.generate(PROMPT, { maxNewTokens: 24, signal: ac.signal, split: 1 });
      assert.equal((await it.next()).done, false);
      assert.equal((await it.next()).done, false);
      ac.abort();
      await rejectsWith(it.next(), "E_ABORTED");
      const { tokens } = await drain(s.gen.generate(PROMPT, { maxNewTokens: 24 }));
      assert.deepEqual(tokens.map((t) => t.id), expected);
    });
  });
}
