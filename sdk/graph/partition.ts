/**
 * Partitions: which node runs in which segment, and what each segment reads and writes.
 *
 * Tensors computable from weights and constants alone (Constant nodes, Shape of a weight,
 * ConstantOfShape/Trilu masks over constants, ...) never cross a cut: the nodes that make them
 * are copied into every segment that needs them. Everything else is assigned to exactly one segment.
 */
import { describeNode, RANDOM_OPS, type Graph } from "./graph.js";
import { fail } from "../errors.js";

/** Ops producing non-tensor values (sequences, optionals, maps), which cannot cross a cut. */
const NON_TENSOR_OPS = new Set([
  "SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceErase", "SplitToSequence", "Optional",
  "SequenceMap", "ZipMap",
]);

/** Which tensors and nodes are constant (computable from weights and constants alone). */
export interface ConstantInfo {
  tensors: ReadonlySet<string>;
  /** Node indices whose every output is constant. */
  nodes: ReadonlySet<number>;
}

/** Finds constant tensors: initializers, and outputs of deterministic nodes whose inputs are all constant. */
export function constantInfo(g: Graph): ConstantInfo {
  const tensors = new Set<string>([...g.initializers.keys(), ...g.sparseInitializers.keys()]);
  const nodes = new Set<number>();
  for (const i of g.order) {
    const n = g.nodes[i]!;
    if (RANDOM_OPS.has(n.opType) || n.outputs.length === 0) continue; // differs run to run: never constant
    if ([...n.inputs, ...n.implicitInputs].every((t) => tensors.has(t))) {
      nodes.add(i);
      for (const o of n.outputs) tensors.add(o);
    }
  }
  return { tensors, nodes };
}

/** One segment's contents and interface. */
export interface SegmentIO {
  index: number;
  /** Every node the segment runs, in topological order: its assigned nodes plus the constant nodes they need. */
  nodes: number[];
  /** The non-constant nodes assigned to it. */
  computeNodes: number[];
  /** What it reads: model inputs (model order) then tensors from earlier segments (production order). */
  inputs: string[];
  /** What it writes: tensors later segments read, and model outputs it produces (production order). */
  outputs: string[];
  /** The subset of `outputs` that are model outputs. */
  modelOutputs: string[];
  /** Initializer (and sparse initializer) names it uses, directly or through constant nodes. */
  weights: string[];
}

/** What crosses the boundary after segment `after`. */
export interface CutBoundary {
  after: number;
  /** Tensors produced at or before `after` and read after it (production order). */
  tensors: string[];
  /** Model inputs read by segments after `after` (model order). */
  modelInputs: string[];
}

/** A checked partition of a graph into segments. */
export interface Partition {
  segments: SegmentIO[];
  cuts: CutBoundary[];
  constants: ConstantInfo;
  /** Segment of each node index; -1 for constant nodes (copied where needed). */
  segmentOf: Int32Array;
}

/**
 * Checks an assignment of every non-constant node to a segment 0..count-1 and derives each
 * segment's nodes, inputs, outputs and weights, and what crosses each cut.
 * `assign(nodeIndex)` is only asked about non-constant nodes.
 */
export function partition(g: Graph, count: number, assign: (node: number) => number, constants: ConstantInfo = constantInfo(g)): Partition {
  if (!Number.isInteger(count) || count < 1) throw fail("E_SEGMENTS", `a split needs at least one segment (got ${count})`);
  const segmentOf = new Int32Array(g.nodes.length).fill(-1);
  for (const n of g.nodes) {
    if (constants.nodes.has(n.index)) continue;
    const s = assign(n.index);
    if (!Number.isInteger(s) || s < 0 || s >= count) throw fail("E_INTERNAL", `${describeNode(n)} assigned to segment ${s} of ${count}`);
    segmentOf[n.index] = s;
  }
  const position = new Int32Array(g.nodes.length);
  g.order.forEach((node, pos) => { position[node] = pos; });
  const segOfTensor = (name: string): number => {
    const p = g.tensors.get(name)?.producer;
    return p === null || p === undefined ? -1 : segmentOf[p]!;
  };

  // Dependencies may only point backwards (ONNX IR: a graph is a DAG; a segment chain must be one too).
  for (const n of g.nodes) {
    const s = segmentOf[n.index]!;
    if (s < 0) continue;
    for (const t of [...n.inputs, ...n.implicitInputs]) {
      const from = segOfTensor(t);
      if (from > s) {
        throw fail("E_CUT_NOT_SEPARATING", `the cut does not separate the graph: ${describeNode(n)} in segment ${s} reads "${t}", which segment ${from} computes; add "${t}" to the cut or move the cut later`);
      }
    }
  }

  const segments: SegmentIO[] = [];
  for (let s = 0; s < count; s++) {
    const compute = g.order.filter((i) => segmentOf[i] === s);
    if (compute.length === 0) {
      throw fail("E_CUT_NOT_SEPARATING", `segment ${s} would be empty: every cut must leave work on both sides`);
    }
    // Constant nodes this segment needs, found by walking back from its reads.
    const needed = new Set<number>();
    const weights = new Set<string>();
    const stack: string[] = [];
    for (const i of compute) stack.push(...g.nodes[i]!.inputs, ...g.nodes[i]!.implicitInputs);
    const seen = new Set<string>();
    while (stack.length) {
      const t = stack.pop()!;
      if (seen.has(t) || !constants.tensors.has(t)) continue;
      seen.add(t);
      const e = g.tensors.get(t)!;
      if (e.origin === "initializer" || e.origin === "sparse-initializer") weights.add(t);
      else if (e.producer !== null && !needed.has(e.producer)) {
        needed.add(e.producer);
        const p = g.nodes[e.producer]!;
        stack.push(...p.inputs, ...p.implicitInputs);
      }
    }
    const nodes = [...compute, ...needed].sort((a, b) => position[a]! - position[b]!);
    const produced = new Set<string>();
    for (const i of nodes) for (const o of g.nodes[i]!.outputs) produced.add(o);
    const readsOrdered: string[] = [];
    const readSet = new Set<string>();
    for (const i of nodes) {
      for (const t of [...g.nodes[i]!.inputs, ...g.nodes[i]!.implicitInputs]) {
        if (!produced.has(t) && !constants.tensors.has(t) && !readSet.has(t)) {
          readSet.add(t);
          readsOrdered.push(t);
        }
      }
    }
    const modelInputs = g.inputs.filter((t) => readSet.has(t));
    const crossingIn = readsOrdered.filter((t) => !g.inputs.includes(t))
      .sort((a, b) => position[g.tensors.get(a)!.producer!]! - position[g.tensors.get(b)!.producer!]!);
    segments.push({ index: s, nodes, computeNodes: compute, inputs: [...modelInputs, ...crossingIn], outputs: [], modelOutputs: [], weights: [...weights].sort() });
  }

  // Model outputs: each comes from exactly one segment. One that no segment computes (a model input,
  // a weight, a constant) is passed out by the first segment, which also gets what it needs to make it.
  for (const name of g.outputs) {
    const s = segOfTensor(name);
    const seg = segments[s >= 0 ? s : 0]!;
    if (seg.modelOutputs.includes(name)) continue;
    seg.modelOutputs.push(name);
    if (s < 0) {
      const e = g.tensors.get(name)!;
      if (e.origin === "input" && !seg.inputs.includes(name)) seg.inputs.unshift(name);
      if (e.origin === "initializer" || e.origin === "sparse-initializer") { if (!seg.weights.includes(name)) seg.weights.push(name); }
      if (e.origin === "node" && e.producer !== null) addConstantClosure(g, constants, seg, e.producer, position);
    }
  }
  for (const seg of segments) {
    const later = new Set<string>();
    for (const other of segments) if (other.index > seg.index) for (const t of other.inputs) later.add(t);
    const outs = seg.computeNodes.flatMap((i) => g.nodes[i]!.outputs).filter((t) => later.has(t) || seg.modelOutputs.includes(t));
    for (const t of seg.modelOutputs) if (!outs.includes(t)) outs.push(t);
    seg.outputs = outs;
  }

  const cuts: CutBoundary[] = [];
  for (let s = 0; s < count - 1; s++) {
    const tensors: string[] = [];
    const modelInputs: string[] = [];
    for (const later of segments.slice(s + 1)) {
      for (const t of later.inputs) {
        if (g.inputs.includes(t)) { if (!modelInputs.includes(t)) modelInputs.push(t); }
        else if (segOfTensor(t) <= s && !tensors.includes(t)) tensors.push(t);
      }
    }
    tensors.sort((a, b) => position[g.tensors.get(a)!.producer!]! - position[g.tensors.get(b)!.producer!]!);
    modelInputs.sort((a, b) => g.inputs.indexOf(a) - g.inputs.indexOf(b));
    for (const t of tensors) checkTensorValued(g, t);
    cuts.push({ after: s, tensors, modelInputs });
  }
  return { segments, cuts, constants, segmentOf };
}

function addConstantClosure(g: Graph, constants: ConstantInfo, seg: SegmentIO, node: number, position: Int32Array): void {
  const stack = [node];
  while (stack.length) {
    const i = stack.pop()!;
    if (seg.nodes.includes(i)) continue;
    seg.nodes.push(i);
    for (const t of [...g.nodes[i]!.inputs, ...g.nodes[i]!.implicitInputs]) {
      const e = g.tensors.get(t)!;
      if (e.origin === "node" && e.producer !== null && constants.nodes.has(e.producer)) stack.push(e.producer);
      else if ((e.origin === "initializer" || e.origin === "sparse-initializer") && !seg.weights.includes(t)) seg.weights.push(t);
    }
  }
  seg.nodes.sort((a, b) => position[a]! - position[b]!);
}

/** Only dense tensors can cross a cut (sequence, map and optional values have no wire form). */
function checkTensorValued(g: Graph, name: string): void {
  if (!canCross(g, name)) {
    const e = g.tensors.get(name)!;
    const declared = e.declared?.value.case;
    const op = e.producer !== null ? g.nodes[e.producer]!.opType : undefined;
    throw fail("E_CUT_NON_TENSOR", `the cut would carry "${name}", a ${declared ?? `${op} result`} value, not a tensor; cut before or after the node that makes it`);
  }
}

/** Non-constant node indices that `tensors` depend on (their producers included): the front of a cut at them. */
export function frontOf(g: Graph, tensors: Iterable<string>, constants: ConstantInfo): Set<number> {
  const front = new Set<number>();
  const stack = [...tensors];
  while (stack.length) {
    const t = stack.pop()!;
    const p = g.tensors.get(t)?.producer;
    if (p === null || p === undefined || front.has(p) || constants.nodes.has(p)) continue;
    front.add(p);
    stack.push(...g.nodes[p]!.inputs, ...g.nodes[p]!.implicitInputs);
  }
  return front;
}

/** Whether a tensor may cross a cut: a dense tensor, not a sequence, map or optional value. */
export function canCross(g: Graph, name: string): boolean {
  const e = g.tensors.get(name);
  if (!e) return false;
  const declared = e.declared?.value.case;
  const op = e.producer !== null ? g.nodes[e.producer]!.opType : undefined;
  return !((declared && declared !== "tensorType") || (op !== undefined && NON_TENSOR_OPS.has(op)));
}
