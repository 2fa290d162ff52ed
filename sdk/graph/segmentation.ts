/**
 * k-way segmentation: choosing k-1 nested candidate cuts that balance the segments, and turning
 * nested fronts into the segment assignment partition() takes.
 */
import { describeNode, type Graph } from "./graph.js";
import type { CandidateCut, CutMetrics } from "./cuts.js";
import { constantInfo, type ConstantInfo } from "./partition.js";
import { FrontIndex, forEachBit, isSubset, minus, countBits } from "./front-sets.js";
import { fail } from "../errors.js";

/** What a balanced split evens out: compute (FLOPs) or the weight bytes each segment holds. */
export type BalanceBy = "flops" | "weights";

/**
 * Chooses k-1 candidate indices (increasing, each front strictly inside the next) minimizing the
 * largest segment cost: FLOPs (unknown counted as 0) or bytes of the weights a segment uses (a
 * weight shared by two segments counts in both). Dynamic programming over the candidate list,
 * O(k * C^2) for C candidates. Throws E_SEGMENTS when k is not possible.
 */
export function segmentByBalance(g: Graph, m: CutMetrics, k: number, by: BalanceBy, candidates: readonly CandidateCut[], constants?: ConstantInfo): number[] {
  if (!Number.isInteger(k) || k < 1) throw fail("E_SEGMENTS", `the number of segments must be a whole number >= 1 (got ${k})`);
  if (by !== "flops" && by !== "weights") throw fail("E_USAGE", `balance by "flops" or "weights" (got "${String(by)}")`);
  if (k === 1) return [];
  const C = candidates.length;
  if (k - 1 > C) {
    throw fail("E_SEGMENTS", `${k} segments need ${k - 1} cuts, but this model has ${C} candidate cut${C === 1 ? "" : "s"}, so at most ${C + 1} segments are possible; ask for fewer`);
  }
  const fi = new FrontIndex(g, constants ?? constantInfo(g));
  // Points: 0 = empty front, 1..C = candidates, C+1 = every node.
  const full = new Uint32Array(fi.words);
  for (let p = 0; p < fi.size; p++) full[p >>> 5]! |= 1 << (p & 31);
  const bits = [new Uint32Array(fi.words), ...candidates.map((c) => fi.bitsOf(c.front)), full];
  const P = bits.length;
  const nested = (i: number, j: number): boolean => isSubset(bits[i]!, bits[j]!) && countBits(minus(bits[j]!, bits[i]!)) > 0;

  const flops = new Float64Array(fi.size);
  for (let p = 0; p < fi.size; p++) flops[p] = m.nodeFlops(fi.nodeAt[p]!) ?? 0;
  const stamp = new Map<string, number>();
  let round = 0;
  const cost = (i: number, j: number): number => {
    let total = 0;
    round++;
    forEachBit(minus(bits[j]!, bits[i]!), (p) => {
      if (by === "flops") total += flops[p]!;
      else {
        for (const w of fi.weightsOf(fi.nodeAt[p]!)) {
          if (stamp.get(w) === round) continue;
          stamp.set(w, round);
          total += m.weightBytes(w);
        }
      }
    });
    return total;
  };

  // dp[s][j]: least possible largest cost of s segments ending at point j.
  const dp: Float64Array[] = [];
  const from: Int32Array[] = [];
  const costs = new Map<number, number>();
  const pairCost = (i: number, j: number): number => {
    const key = i * P + j;
    let c = costs.get(key);
    if (c === undefined) costs.set(key, (c = cost(i, j)));
    return c;
  };
  dp[1] = new Float64Array(P).fill(Infinity);
  from[1] = new Int32Array(P).fill(-1);
  for (let j = 1; j < P; j++) if (nested(0, j)) { dp[1][j] = pairCost(0, j); from[1][j] = 0; }
  for (let s = 2; s <= k; s++) {
    dp[s] = new Float64Array(P).fill(Infinity);
    from[s] = new Int32Array(P).fill(-1);
    for (let j = 1; j < P; j++) {
      for (let i = 1; i < j; i++) {
        if (dp[s - 1]![i] === Infinity || !nested(i, j)) continue;
        const v = Math.max(dp[s - 1]![i]!, pairCost(i, j));
        if (v < dp[s]![j]!) { dp[s]![j] = v; from[s]![j] = i; }
      }
    }
  }
  if (dp[k]![P - 1] === Infinity) {
    let most = 1;
    for (let s = 1; s <= k; s++) if (dp[s]![P - 1] !== Infinity) most = s;
    throw fail("E_SEGMENTS", `${k} segments are not possible: the candidate cuts nest into at most ${most} segment${most === 1 ? "" : "s"}; ask for fewer`);
  }
  const chosen: number[] = [];
  for (let s = k, j = P - 1; s > 1; s--) {
    j = from[s]![j]!;
    chosen.push(j - 1);
  }
  return chosen.reverse();
}

/**
 * Turns nested fronts (each strictly inside the next, in cut order) into a segment assignment
 * for partition(): a node runs in the segment of the first front that holds it, or in the last.
 * Throws E_CUT_ORDER when two fronts coincide, are out of order, or cross each other.
 */
export function assignmentFromFronts(g: Graph, fronts: readonly ReadonlySet<number>[], constants: ConstantInfo): (node: number) => number {
  const clean = fronts.map((f) => new Set([...f].filter((i) => !constants.nodes.has(i))));
  for (let i = 0; i + 1 < clean.length; i++) {
    const a = clean[i]!;
    const b = clean[i + 1]!;
    const aOnly = [...a].find((x) => !b.has(x));
    if (aOnly === undefined && a.size === b.size) {
      throw fail("E_CUT_ORDER", `cuts ${i + 1} and ${i + 2} coincide (they leave the same nodes before them); remove one`);
    }
    if (aOnly !== undefined) {
      const bOnly = [...b].find((x) => !a.has(x));
      const tail = bOnly === undefined
        ? `cut ${i + 2} comes before cut ${i + 1}; list cuts in dependency order`
        : `the two cuts cross (${describeNode(g.nodes[bOnly]!)} is before cut ${i + 2} but not before cut ${i + 1}); choose cuts on one path, e.g. from \`edgecut inspect\``;
      throw fail("E_CUT_ORDER", `${describeNode(g.nodes[aOnly]!)} is before cut ${i + 1} but after cut ${i + 2}: ${tail}`);
    }
  }
  const segmentOf = new Map<number, number>();
  clean.forEach((f, s) => { for (const i of f) if (!segmentOf.has(i)) segmentOf.set(i, s); });
  return (node: number) => segmentOf.get(node) ?? clean.length;
}
