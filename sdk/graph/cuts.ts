/**
 * Candidate cut points: the places where the data flow narrows to one tensor (a block boundary),
 * found from the graph's structure, not from op names.
 *
 * For each non-constant node v, the front F(v) is v and everything it depends on. What crosses a
 * cut right after v is every tensor made in F(v) and read outside it. v is a candidate when that
 * crossing set is one output t of v plus "side" tensors only: tensors at most 1/16 of t (the
 * attention mask derived from `attention_mask` beside a hidden state), Shape/Size metadata, or
 * outputs of short side chains (front 8x smaller) no bigger than t, which also covers unknown
 * sizes. Model inputs the back still reads do not disqualify a cut (they are listed apart).
 * Fronts are bitsets and crossing sets come from one topological sweep (front-sets.ts), so the
 * cost per node is about the graph's width, with an early exit at the first disqualifying tensor.
 *
 * Then two filters keep the list O(blocks): a front whose nodes use no real weights is
 * preprocessing (position ids, mask chains), not a cut point; and of a run of candidates joined by
 * a weightless, size-preserving chain (Conv -> Relu, Add -> Relu, If -> Relu) only the last stays,
 * so a residual block ends at its final activation.
 */
import type { Graph } from "./graph.js";
import { canCross, constantInfo, type ConstantInfo } from "./partition.js";
import { FrontIndex, forEachBit, isSubset, minus, popcount, type Crossing } from "./front-sets.js";

export { frontForTensors, assertCuttable } from "./cut-check.js";

/** Sizes and costs a cut analysis needs, supplied by the caller (shape inference, cost model). */
export interface CutMetrics {
  /** Bytes of a tensor at the split's concrete shapes, or null when unknown. */
  tensorBytes(name: string): number | null;
  /** FLOPs of a node (by index), null when unknown. */
  nodeFlops(node: number): number | null;
  /** Bytes of an initializer. */
  weightBytes(name: string): number;
}

/** One candidate cut point. */
export interface CandidateCut {
  /** 0-based position in the returned list. */
  index: number;
  /** The main tensor the cut follows (e.g. a block's output hidden state). */
  after: string;
  /** What crosses (partition's cut tensors), in production order. */
  tensors: { name: string; bytes: number | null }[];
  /** Model inputs the back still reads. */
  modelInputs: string[];
  /** Sum of crossing tensor bytes (null if any is unknown). */
  bytes: number | null;
  /** Bytes of the weights the front uses (weights shared with the back included). */
  frontWeightBytes: number;
  /** FLOPs of the front, null if any node's FLOPs are unknown. */
  frontFlops: number | null;
  /** Crossing bytes are <= both neighbours' in this list (ends compare with their one neighbour). */
  localMin: boolean;
  /** Non-constant node indices of the front. */
  front: ReadonlySet<number>;
}

/** A side tensor is at most this fraction of the main tensor's bytes (an MLP's 4x-8x expansion must not make the residual "side"). */
const SIDE_RATIO = 16;
/** With unknown or similar sizes, a side chain's front is at most this fraction of the main front. */
const SIDE_FRONT_RATIO = 8;
/** Weights up to this many bytes (scalars) do not make a chain "real work". */
const SCALAR_WEIGHT_BYTES = 16;

interface Raw {
  pos: number;
  main: string;
  row: Uint32Array;
  crossing: Crossing[];
}

/**
 * Candidate cut points of a graph, ordered by front size (earliest first). Every candidate is a
 * valid two-way split: a non-empty front and back, nothing computable from constants crossing.
 */
export function candidateCuts(g: Graph, m: CutMetrics, opts: { constants?: ConstantInfo } = {}): CandidateCut[] {
  const constants = opts.constants ?? constantInfo(g);
  const fi = new FrontIndex(g, constants);
  const bytesMemo = new Map<string, number | null>();
  const bytes = (t: string): number | null => {
    if (!bytesMemo.has(t)) bytesMemo.set(t, m.tensorBytes(t));
    return bytesMemo.get(t)!;
  };

  // The main tensor of a cut right after node p: its largest output that is read later.
  const mains: (string | null)[] = [];
  for (let p = 0; p < fi.size; p++) {
    // Readers of p's outputs come after p, so they are never in F(p).
    const leaving = g.nodes[fi.nodeAt[p]!]!.outputs.filter((t) => (fi.readers.get(t) ?? []).length > 0);
    const empty = leaving.length === 0 || fi.frontSize[p] === fi.size; // nothing crosses, or nothing left behind
    mains.push(empty ? null : leaving.reduce((a, b) => ((bytes(b) ?? -1) > (bytes(a) ?? -1) ? b : a)));
  }
  const isSide = (p: number, main: string, c: Crossing): boolean => {
    const bs = bytes(c.name);
    const bt = bytes(main);
    if (bs !== null && bt !== null && bs * SIDE_RATIO <= bt) return true;
    const op = g.nodes[fi.nodeAt[c.producerPos]!]!.opType;
    if (op === "Shape" || op === "Size") return true;
    return fi.frontSize[c.producerPos]! * SIDE_FRONT_RATIO <= fi.frontSize[p]! && (bs === null || bt === null || bs <= bt);
  };
  const raw: Raw[] = [];
  fi.sweepCrossings(
    (p, crossing) => { if (crossing && mains[p]) raw.push({ pos: p, main: mains[p]!, row: fi.row(p), crossing }); },
    (p, c) => {
      const main = mains[p];
      return !main || !canCross(g, c.name) || (c.name !== main && !isSide(p, main, c));
    },
  );
  raw.sort((a, b) => fi.frontSize[a.pos]! - fi.frontSize[b.pos]! || a.pos - b.pos);

  // A front whose nodes use no real weights is preprocessing (position ids, mask, shape
  // arithmetic), not a place worth offloading from; kept only in models without real weights.
  const heavy = new Uint32Array(fi.words);
  for (let p = 0; p < fi.size; p++) {
    const wb = fi.weightsOf(fi.nodeAt[p]!).reduce((s, w) => s + m.weightBytes(w), 0);
    if (wb > SCALAR_WEIGHT_BYTES) heavy[p >>> 5] = heavy[p >>> 5]! | (1 << (p & 31));
  }
  const anyHeavy = heavy.some((w) => w !== 0);
  const working = raw.filter((r) => !anyHeavy || r.row.some((w, i) => (w & heavy[i]!) !== 0));

  // Keep the last of a run joined by weightless, size-preserving chains.
  const kept = working.filter((a, i) => {
    const b = working[i + 1];
    return !(b && isSubset(a.row, b.row) && isPlainChain(g, fi, m, a, b, bytes));
  });

  const cuts: CandidateCut[] = chain(fi, kept, bytes).map((r, index) => describe(g, fi, m, r, index, bytes));
  cuts.forEach((c, i) => {
    const prev = cuts[i - 1]?.bytes;
    const next = cuts[i + 1]?.bytes;
    c.localMin = c.bytes !== null && (prev === undefined || (prev !== null && c.bytes <= prev)) && (next === undefined || (next !== null && c.bytes <= next));
  });
  return cuts;
}

/**
 * Makes the list a chain of nested fronts, so any increasing selection is a valid multi-way
 * split and "neighbour" means something. Walking from the largest front down, a candidate beside
 * the previous one (parallel branches off a model input: token and position embeddings, the two
 * Gemms before an If) is merged with it into their union, the cut just before the branches meet;
 * a union crosses only tensors its parts crossed.
 */
function chain(fi: FrontIndex, list: Raw[], bytes: (t: string) => number | null): Raw[] {
  const out: Raw[] = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const c = list[i]!;
    const tail = out[out.length - 1];
    if (!tail || (isSubset(c.row, tail.row) && !equal(c.row, tail.row))) { out.push(c); continue; }
    const row = tail.row.map((w, k) => w | c.row[k]!);
    const outer = out[out.length - 2];
    if (outer && (!isSubset(row, outer.row) || equal(row, outer.row))) continue;
    if (row.reduce((n, w) => n + popcount(w), 0) === fi.size) continue; // nothing would be left behind
    const crossing = fi.crossingOf(row);
    const made = crossing.filter((x) => x.producerPos >= 0);
    if (made.length === 0) continue;
    // The union follows its largest crossing tensor (the latest made, on ties).
    const main = made.reduce((a, b) => ((bytes(b.name) ?? -1) >= (bytes(a.name) ?? -1) ? b : a)).name;
    out[out.length - 1] = { pos: Math.max(tail.pos, c.pos), main, row, crossing };
  }
  return out.reverse();
}

function equal(a: Uint32Array, b: Uint32Array): boolean {
  return a.every((w, i) => w === b[i]);
}

/**
 * Whether the nodes between candidates a and b are a chain of one-input nodes from a.main to
 * b.main that use no real weights and keep the size (Relu after Add or Conv, Flatten after a pool).
 */
function isPlainChain(g: Graph, fi: FrontIndex, m: CutMetrics, a: Raw, b: Raw, bytes: (t: string) => number | null): boolean {
  const ba = bytes(a.main);
  if (ba === null || ba !== bytes(b.main)) return false;
  let prev = a.main;
  let ok = true;
  forEachBit(minus(b.row, a.row), (p) => {
    if (!ok) return;
    const node = g.nodes[fi.nodeAt[p]!]!;
    const reads = fi.reads[p]!;
    const wb = fi.weightsOf(node.index).reduce((s, w) => s + m.weightBytes(w), 0);
    if (reads.length !== 1 || reads[0] !== prev || node.outputs.length !== 1 || wb > SCALAR_WEIGHT_BYTES) ok = false;
    else prev = node.outputs[0]!;
  });
  return ok && prev === b.main;
}

function describe(g: Graph, fi: FrontIndex, m: CutMetrics, r: Raw, index: number, bytes: (t: string) => number | null): CandidateCut {
  const produced = r.crossing.filter((c) => c.producerPos >= 0)
    .sort((x, y) => x.producerPos - y.producerPos || outIndex(g, fi, x) - outIndex(g, fi, y));
  const tensors = produced.map((c) => ({ name: c.name, bytes: bytes(c.name) }));
  const modelInputs = r.crossing.filter((c) => c.producerPos < 0).map((c) => c.name);
  let total: number | null = 0;
  for (const t of tensors) total = total === null || t.bytes === null ? null : total + t.bytes;
  const front = fi.nodesOf(r.row);
  const weights = new Set<string>();
  let flops: number | null = 0;
  for (const i of front) {
    for (const w of fi.weightsOf(i)) weights.add(w);
    const f = m.nodeFlops(i);
    flops = flops === null || f === null ? null : flops + f;
  }
  let frontWeightBytes = 0;
  for (const w of weights) frontWeightBytes += m.weightBytes(w);
  return {
    index, after: r.main, tensors, modelInputs, bytes: total, frontWeightBytes, frontFlops: flops,
    localMin: false, front: new Set(front),
  };
}

function outIndex(g: Graph, fi: FrontIndex, c: Crossing): number {
  return g.nodes[fi.nodeAt[c.producerPos]!]!.outputs.indexOf(c.name);
}
