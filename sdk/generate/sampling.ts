/**
 * Picking the next token from a step's logits: greedy, or temperature + top-k + top-p sampling.
 *
 * A draw depends only on (seed, step) and the logits, never on earlier draws, so replaying step N
 * (after a retry, a resumed stream or on another machine) picks the same token.
 */
import { z } from "zod";
import { fail } from "../errors.js";
import { Mulberry32 } from "../graph/models/rng.js";

/** How to pick tokens. */
export interface SamplingOptions {
  /** 0 = greedy (argmax); otherwise logits are divided by it before the softmax. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 = all. */
  topK: number;
  /** Keep the smallest most-likely set whose probability reaches topP (nucleus); 1 = all. */
  topP: number;
  /** PRNG seed (uint32); with the step number it fixes every draw. */
  seed: number;
}

/** Validates sampling options from outside (flags, API bodies). */
export const SamplingSchema = z.object({
  temperature: z.number().finite().min(0),
  topK: z.number().int().min(0),
  topP: z.number().gt(0).max(1),
  seed: z.number().int().min(0).max(0xffffffff),
}).strict();

/** Greedy decoding: temperature 0, no top-k, no top-p, seed 0. */
export const DEFAULT_SAMPLING: Readonly<SamplingOptions> = Object.freeze({ temperature: 0, topK: 0, topP: 1, seed: 0 });

/** The picked token and its natural-log probability under the model (softmax of the raw logits). */
export interface SampledToken {
  token: number;
  logprob: number;
}

/** Parses sampling options; throws E_USAGE naming the bad field and the accepted range. */
export function parseSampling(input: unknown): SamplingOptions {
  const r = SamplingSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.join(".") || "options";
  throw fail("E_USAGE", `sampling ${field}: ${issue?.message ?? "invalid"}; temperature is a finite number >= 0 (0 = greedy), topK an integer >= 0 (0 = off), topP in (0, 1], seed an integer from 0 to 4294967295`);
}

/**
 * Picks the token for generation step `step` (an integer >= 0) from one position's logits.
 * temperature 0 gives the argmax (lowest index on ties); otherwise softmax(logits / temperature),
 * cut to the topK most likely (0 = all), then to the smallest set reaching topP, renormalised,
 * and drawn with a PRNG seeded from (seed, step) alone. Throws E_USAGE for bad options and
 * E_RUNTIME for NaN or +Infinity logits, or when every logit is -Infinity.
 */
export function sampleToken(logits: Float32Array, opts: SamplingOptions, step: number): SampledToken {
  const o = parseSampling(opts);
  if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) {
    throw fail("E_USAGE", `sampling step must be an integer from 0 to 4294967295, got ${String(step)}`);
  }
  const n = logits.length;
  if (n === 0) throw fail("E_RUNTIME", "the model returned no logits (vocab of 0); check the model's output");
  let max = -Infinity;
  let argmax = -1;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (Number.isNaN(v) || v === Infinity) {
      throw fail("E_RUNTIME", `the model returned logit ${v} for token ${i}; the model or its inputs are broken (overflow in a layer?), so no token can be picked`);
    }
    if (v > max) { max = v; argmax = i; }
  }
  if (argmax < 0) throw fail("E_RUNTIME", "every logit the model returned is -Infinity; no token can be picked");
  const token = o.temperature === 0 ? argmax : draw(logits, max, o, step);
  return { token, logprob: logProb(logits, max, token) };
}

/**
 * The logits of the last position of a [1, sequence, vocab] logits tensor, as a view (no copy).
 * Throws E_UNSUPPORTED for another shape (batch > 1, wrong rank) and E_TENSOR_DATA when the
 * data length does not match the dims.
 */
export function lastRow(logits: Float32Array, dims: readonly number[]): Float32Array {
  if (dims.length !== 3 || dims[0] !== 1 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw fail("E_UNSUPPORTED", `the model's logits have dims [${dims.join(", ")}]; generation needs [1, sequence, vocab] (batch 1, a causal language model's logits output)`);
  }
  const seq = dims[1]!;
  const vocab = dims[2]!;
  if (logits.length !== seq * vocab) {
    throw fail("E_TENSOR_DATA", `the logits hold ${logits.length} values but their dims [${dims.join(", ")}] need ${seq * vocab}`);
  }
  return logits.subarray((seq - 1) * vocab, seq * vocab);
}

/** log softmax(logits)[token], stably: logit - (max + log sum exp(logit - max)). */
function logProb(logits: Float32Array, max: number, token: number): number {
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[token]! - max - Math.log(sum);
}

/** The PRNG seed of one draw: murmur3's finaliser over seed and step, so nearby pairs are unrelated. */
export function drawSeed(seed: number, step: number): number {
  return fmix32((fmix32(seed >>> 0) ^ Math.imul(fmix32((step >>> 0) ^ 0x9e3779b9), 0x85ebca6b)) >>> 0);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform double in [0, 1) with 53 random bits, from two mulberry32 outputs. */
function uniform(seed: number): number {
  const r = new Mulberry32(seed);
  const hi = r.nextU32() >>> 5; // 27 bits
  const lo = r.nextU32() >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

function draw(logits: Float32Array, max: number, o: SamplingOptions, step: number): number {
  const n = logits.length;
  // Unnormalised probabilities at this temperature; the max logit has weight 1, so nothing overflows.
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.exp((logits[i]! - max) / o.temperature);
  let keep: number[];
  if (o.topK > 0 && o.topK < n) {
    keep = topKIndices(w, o.topK);
  } else {
    keep = [];
    for (let i = 0; i < n; i++) if (w[i]! > 0) keep.push(i);
  }
  if (o.topP < 1) {
    // Smallest most-likely-first prefix whose renormalised probability reaches topP.
    keep.sort((a, b) => w[b]! - w[a]! || a - b);
    let total = 0;
    for (const i of keep) total += w[i]!;
    let cum = 0;
    for (let j = 0; j < keep.length; j++) {
      cum += w[keep[j]!]!;
      if (cum >= o.topP * total) { keep.length = j + 1; break; }
    }
  }
  let total = 0;
  for (const i of keep) total += w[i]!;
  let u = uniform(drawSeed(o.seed, step)) * total;
  let last = keep[0]!;
  for (const i of keep) {
    if (w[i]! === 0) continue;
    last = i;
    u -= w[i]!;
    if (u < 0) return i;
  }
  return last; // rounding left u just above 0: the last kept token with weight
}

/** Indices of the k largest weights (ties: lower index first), in no particular order. O(n log k). */
function topKIndices(w: Float64Array, k: number): number[] {
  // Min-heap of size k, ordered so the root is the weakest kept token.
  const heap: number[] = [];
  const weaker = (a: number, b: number): boolean => w[a]! < w[b]! || (w[a]! === w[b]! && a > b);
  const swap = (i: number, j: number): void => { const t = heap[i]!; heap[i] = heap[j]!; heap[j] = t; };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && weaker(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && weaker(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let i = 0; i < w.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0;) {
        const p = (c - 1) >> 1;
        if (!weaker(heap[c]!, heap[p]!)) break;
        swap(c, p);
        c = p;
      }
    } else if (weaker(heap[0]!, i)) {
      heap[0] = i;
      down(0);
    }
  }
  return heap;
}
