/**
 * Seeded, platform-independent random weights for the generated test models.
 *
 * Every tensor draws from its own stream, keyed by (seed, tensor name): a weight's values do not
 * depend on which other weights exist or in which order they are built, so the KV and int8
 * variants share the float model's weights, and a deeper model shares the first blocks' weights
 * (except the residual projections, whose scale depends on the depth). Only integer arithmetic and +,-,* are used (no Math.log/cos), so the bytes are the
 * same on every platform and Node version.
 */

/** mulberry32: a tiny 32-bit PRNG with good statistical quality for test weights. */
export class Mulberry32 {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Next value in [0, 2^32). */
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
}

/** A seeded generator of floats in [0, 1) (mulberry32), for tests and sample data. */
export function uniformRng(seed: number): () => number {
  const m = new Mulberry32(seed);
  return () => m.nextU32() / 2 ** 32;
}

/** FNV-1a hash of a string, mixed with a seed: the per-tensor stream seed. */
export function streamSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // One extra avalanche round so nearby seeds give unrelated streams.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

const SQRT3 = Math.sqrt(3);
const U16 = 1 / 65536;

/** Draws tensors for one model seed. */
export class WeightRng {
  constructor(readonly seed: number) {}

  /**
   * `n` values, approximately N(mean, std): the Irwin-Hall sum of four 16-bit uniforms, rescaled
   * to unit variance (bounded at +-3.46 std, which keeps weights tame). Written straight into a
   * Float32Array so GPT-2-small sized tensors need no JS number arrays.
   */
  normal(name: string, n: number, std: number, mean = 0): Float32Array {
    const r = new Mulberry32(streamSeed(this.seed, name));
    const out = new Float32Array(n);
    const k = std * SQRT3;
    for (let i = 0; i < n; i++) {
      const a = r.nextU32();
      const b = r.nextU32();
      // Four uniforms in (0, 1) from two 32-bit draws; their sum has mean 2 and variance 1/3.
      const sum = ((a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16) + 2) * U16;
      out[i] = mean + (sum - 2) * k;
    }
    return out;
  }
}
