// Next-token picking: greedy, temperature, top-k, top-p, the (seed, step) PRNG, logprobs, lastRow.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_SAMPLING, lastRow, sampleToken, SamplingSchema, type SamplingOptions } from "../../sdk/generate/sampling.js";
import { throwsCode } from "../support/throws.js";

const opts = (o: Partial<SamplingOptions>): SamplingOptions => ({ ...DEFAULT_SAMPLING, ...o });
const softmax = (l: readonly number[], t = 1): number[] => {
  const m = Math.max(...l);
  const e = l.map((v) => Math.exp((v - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
/** Frequencies of each token over `n` draws (seed i, step 0) or (fixed seed, step i). */
function frequencies(logits: readonly number[], o: Partial<SamplingOptions>, n: number, vary: "seed" | "step" = "seed"): number[] {
  const l = Float32Array.from(logits);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) {
    const { token } = vary === "seed" ? sampleToken(l, opts({ ...o, seed: i }), 0) : sampleToken(l, opts({ ...o, seed: 12345 }), i);
    counts[token]!++;
  }
  return counts.map((c) => c / n);
}
const maxAbsDiff = (a: readonly number[], b: readonly number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

// Probabilities 0.4, 0.3, 0.2, 0.1 at temperature 1.
const P4 = [0.4, 0.3, 0.2, 0.1];
const L4 = P4.map(Math.log);

describe("sampleToken", () => {
  test("greedy (the default) is the argmax, lowest index on ties", () => {
    assert.deepEqual(DEFAULT_SAMPLING, { temperature: 0, topK: 0, topP: 1, seed: 0 });
    assert.equal(sampleToken(Float32Array.from([0.1, 3, -2, 2.9]), DEFAULT_SAMPLING, 0).token, 1);
    assert.equal(sampleToken(Float32Array.from([1, 5, 5, -Infinity, 5]), DEFAULT_SAMPLING, 7).token, 1);
    assert.equal(sampleToken(Float32Array.from([-Infinity, -Infinity, -4]), opts({ seed: 9, topK: 3 }), 2).token, 2);
  });

  test("topK 1 is the argmax at any temperature, seed and step", () => {
    const l = Float32Array.from([0.5, 0.2, 0.49, 0.1, 0.5]);
    for (const temperature of [0.01, 1, 5, 1000]) {
      for (let s = 0; s < 50; s++) assert.equal(sampleToken(l, { temperature, topK: 1, topP: 1, seed: s }, s * 3).token, 0);
    }
  });

  test("same (seed, step) draws the same token; other steps and seeds vary", () => {
    const l = Float32Array.from(new Array(16).fill(0));
    const o = opts({ temperature: 1, seed: 42 });
    const first = Array.from({ length: 64 }, (_, step) => sampleToken(l, o, step).token);
    // Replaying step 37 alone, or the steps in reverse, changes nothing: draws depend only on (seed, step).
    assert.equal(sampleToken(l, o, 37).token, first[37]);
    assert.deepEqual(Array.from({ length: 64 }, (_, i) => sampleToken(l, o, 63 - i).token).reverse(), first);
    assert.ok(new Set(first).size >= 8, `steps vary: ${first.join(",")}`);
    const bySeed = Array.from({ length: 64 }, (_, seed) => sampleToken(l, opts({ temperature: 1, seed }), 5).token);
    assert.ok(new Set(bySeed).size >= 8, `seeds vary: ${bySeed.join(",")}`);
    assert.ok(first.some((t, step) => t !== sampleToken(l, opts({ temperature: 1, seed: 43 }), step).token));
  });

  test("frequencies over 20k draws match the softmax (over seeds, over steps, at temperature 2)", () => {
    assert.ok(maxAbsDiff(frequencies(L4, { temperature: 1 }, 20000), P4) < 0.02);
    assert.ok(maxAbsDiff(frequencies(L4, { temperature: 1 }, 20000, "step"), P4) < 0.02);
    const hot = frequencies(L4, { temperature: 2 }, 20000);
    assert.ok(maxAbsDiff(hot, softmax(L4, 2)) < 0.02, `temperature 2: ${hot.join(", ")}`);
    assert.ok(maxAbsDiff(softmax(L4, 2), P4) > 0.05, "temperature 2 is a different distribution");
  });

  test("topP 0.5 keeps only the nucleus {0, 1}, renormalised", () => {
    const f = frequencies(L4, { temperature: 1, topP: 0.5 }, 8000);
    assert.equal(f[2], 0);
    assert.equal(f[3], 0);
    assert.ok(maxAbsDiff(f, [4 / 7, 3 / 7, 0, 0]) < 0.03, f.join(", "));
    // topP 0.35 is reached by the first token alone (0.4; exactly 0.4 is left to rounding).
    assert.deepEqual(frequencies(L4, { temperature: 1, topP: 0.35 }, 500), [1, 0, 0, 0]);
  });

  test("topK 2 keeps the two most likely; topP then applies to the top-k distribution", () => {
    const k2 = frequencies(L4, { temperature: 1, topK: 2 }, 8000);
    assert.ok(maxAbsDiff(k2, [4 / 7, 3 / 7, 0, 0]) < 0.03, k2.join(", "));
    // Top 3 renormalised: 0.444, 0.333, 0.222; topP 0.75 stops after two (0.778). On the raw
    // distribution the first two reach only 0.7, so a wrong order of the filters would keep token 2.
    const k3p = frequencies(L4, { temperature: 1, topK: 3, topP: 0.75 }, 4000);
    assert.equal(k3p[2], 0);
    assert.equal(k3p[3], 0);
  });

  test("top-k over a large vocabulary draws only, and all of, the k largest", () => {
    const l = new Float32Array(5000);
    for (let i = 0; i < l.length; i++) l[i] = Math.sin(i * 12.9898) * 10; // fixed, irregular
    const top = [...l.keys()].sort((a, b) => l[b]! - l[a]! || a - b).slice(0, 10);
    const seen = new Set<number>();
    for (let seed = 0; seed < 3000; seed++) seen.add(sampleToken(l, { temperature: 50, topK: 10, topP: 1, seed }, 1).token);
    assert.deepEqual([...seen].sort((a, b) => a - b), [...top].sort((a, b) => a - b));
  });

  test("logprob is log softmax of the raw logits, whatever the sampling settings", () => {
    const raw = [1.5, -0.25, 3, 0, 2.75];
    const l = Float32Array.from(raw);
    const direct = softmax(raw).map(Math.log);
    for (const o of [DEFAULT_SAMPLING, opts({ temperature: 0.3, topK: 2, seed: 3 }), opts({ temperature: 7, topP: 0.9, seed: 8 })]) {
      for (let step = 0; step < 20; step++) {
        const { token, logprob } = sampleToken(l, o, step);
        assert.ok(Math.abs(logprob - direct[token]!) < 1e-9, `${logprob} vs ${direct[token]}`);
      }
    }
    // Stable for huge logits: log(e^1000 / (e^1000 + e^999)) = -log(1 + e^-1).
    const big = sampleToken(Float32Array.from([1000, 999, -Infinity]), DEFAULT_SAMPLING, 0);
    assert.equal(big.token, 0);
    assert.ok(Math.abs(big.logprob + Math.log1p(Math.exp(-1))) < 1e-12, String(big.logprob));
    for (let seed = 0; seed < 200; seed++) assert.notEqual(sampleToken(Float32Array.from([1000, 999, -Infinity]), opts({ temperature: 100, seed }), 0).token, 2);
  });

  test("bad options are E_USAGE; NaN, +Infinity, all -Infinity or no logits are E_RUNTIME", () => {
    const l = Float32Array.from([1, 2]);
    for (const bad of [{ temperature: -1 }, { temperature: Number.NaN }, { temperature: Infinity }, { topK: 1.5 }, { topK: -1 }, { topP: 0 }, { topP: 1.01 }, { seed: -1 }, { seed: 2 ** 32 }, { seed: 0.5 }]) {
      const field = Object.keys(bad)[0]!;
      assert.equal(SamplingSchema.safeParse(opts(bad)).success, false, JSON.stringify(bad));
      throwsCode(() => sampleToken(l, opts(bad), 0), "E_USAGE", new RegExp(`sampling ${field}`));
    }
    throwsCode(() => sampleToken(l, { ...DEFAULT_SAMPLING, extra: 1 } as SamplingOptions, 0), "E_USAGE");
    for (const step of [-1, 0.5, Number.NaN]) throwsCode(() => sampleToken(l, DEFAULT_SAMPLING, step), "E_USAGE", /step/);
    throwsCode(() => sampleToken(Float32Array.from([0, Number.NaN, 1]), DEFAULT_SAMPLING, 0), "E_RUNTIME", /logit NaN for token 1/);
    throwsCode(() => sampleToken(Float32Array.from([0, Infinity]), opts({ temperature: 1 }), 0), "E_RUNTIME", /Infinity/);
    throwsCode(() => sampleToken(Float32Array.from([-Infinity, -Infinity]), DEFAULT_SAMPLING, 0), "E_RUNTIME", /-Infinity/);
    throwsCode(() => sampleToken(new Float32Array(0), DEFAULT_SAMPLING, 0), "E_RUNTIME", /no logits/);
    assert.equal(SamplingSchema.safeParse({ temperature: 0.7, topK: 40, topP: 0.95, seed: 4294967295 }).success, true);
  });
});

describe("lastRow", () => {
  test("the last position of [1, seq, vocab], as a view", () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => i);
    const row = lastRow(data, [1, 3, 4]);
    assert.deepEqual([...row], [8, 9, 10, 11]);
    assert.equal(row.buffer, data.buffer);
    assert.deepEqual([...lastRow(data, [1, 1, 12])], [...data]);
  });

  test("other shapes are E_UNSUPPORTED; a length that does not match the dims is E_TENSOR_DATA", () => {
    const data = new Float32Array(12);
    for (const dims of [[2, 3, 2], [3, 4], [1, 0, 4], [1, 12, 1, 1]]) throwsCode(() => lastRow(data, dims), "E_UNSUPPORTED", /\[1, sequence, vocab\]/);
    throwsCode(() => lastRow(data, [1, 2, 5]), "E_TENSOR_DATA", /12 values/, /need 10/);
  });
});
