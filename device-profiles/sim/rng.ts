/**
 * The simulator's seeded randomness: one independent stream per purpose (request noise, the
 * simulated agent's own probes and backoffs), so that what one policy does never changes the
 * draws another sees, and the same seed gives the same run bit for bit.
 */
import { Mulberry32, streamSeed } from "../../sdk/graph/models/rng.js";

/** A seeded stream of uniform, normal and Poisson draws. */
export class Rng {
  private readonly m: Mulberry32;
  private spare: number | undefined;

  /** `stream` names the purpose: the same (seed, stream) always gives the same sequence. */
  constructor(seed: number, stream: string) {
    this.m = new Mulberry32(streamSeed(seed >>> 0, stream));
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.m.nextU32() / 2 ** 32;
  }

  /** Standard normal (Box-Muller; the second value is kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    // 1 - u keeps the logarithm's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    const a = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}

/**
 * The Poisson(mean) count whose CDF first reaches `u` (inverse transform). Taking `u` as an
 * argument lets one uniform draw give consistent counts for messages of different sizes (common
 * random numbers: a bigger message never loses fewer packets than a smaller one on the same draw).
 */
export function poissonQuantile(u: number, mean: number): number {
  if (!(mean > 0)) return 0;
  // A large mean: the normal approximation (exp(-mean) would underflow, the sum take long).
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normalQuantile(u)));
  let k = 0;
  let p = Math.exp(-mean);
  let cdf = p;
  while (cdf < u && k < 1000) {
    k++;
    p *= mean / k;
    cdf += p;
  }
  return k;
}

/** The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(u: number): number {
  const q = Math.min(Math.max(u, 1e-12), 1 - 1e-12);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (r: number): number => (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) / ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
  if (q < 0.02425) return tail(Math.sqrt(-2 * Math.log(q)));
  if (q > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - q)));
  const x = q - 0.5;
  const r = x * x;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * x) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}
