/**
 * Checks on user-named cuts (`--cut t1 --cut t2` = one cut carrying exactly t1 and t2) and on
 * whether a model can be cut at all at the top level. Re-exported from cuts.ts.
 */
import type { Graph, GraphNode } from "./graph.js";
import type { GraphProto } from "./onnx/onnx_pb.js";
import { describeNode, nodeSubgraphs } from "./graph.js";
import { canCross, frontOf, type ConstantInfo } from "./partition.js";
import { fail } from "../errors.js";

/** Ops that only move, reshape or relabel data: no real work of their own. */
const TRIVIAL_OPS = new Set([
  "Identity", "Cast", "CastLike", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Shape", "Size", "Transpose",
  "Concat", "Slice", "Split", "Expand",
]);

/**
 * The front (non-constant node indices) of one cut that carries exactly `names`.
 * Throws E_UNKNOWN_TENSOR (no such tensor), E_CUT_INSIDE_SUBGRAPH (the name lives only in an
 * If/Loop/Scan body), E_CUT_NON_TENSOR (a sequence/map/optional value), E_CUT_NOT_SEPARATING (a
 * model input, weight or constant; a tensor that would not cross; a tensor the back needs from
 * the front that is missing; nothing left after the cut), E_USAGE (no names).
 */
export function frontForTensors(g: Graph, names: string[], constants: ConstantInfo): Set<number> {
  const wanted = [...new Set(names)];
  if (wanted.length === 0) throw fail("E_USAGE", "a cut needs at least one tensor name; `edgecut inspect` lists the candidate cuts");
  for (const name of wanted) {
    const e = g.tensors.get(name);
    if (!e) {
      const owner = subgraphOwner(g, name);
      if (owner) {
        throw fail("E_CUT_INSIDE_SUBGRAPH", `"${name}" is inside a subgraph of ${describeNode(owner)}; only top-level tensors can cross a cut: cut before that node (at its inputs) or after it (at ${owner.outputs.map((o) => `"${o}"`).join(", ")})`);
      }
      g.tensor(name); // throws E_UNKNOWN_TENSOR with the standard hint
    }
    const entry = g.tensor(name);
    if (entry.origin === "input") {
      throw fail("E_CUT_NOT_SEPARATING", `"${name}" is a model input: every segment can read it, so a cut there separates nothing; name a tensor computed from it`);
    }
    if (constants.tensors.has(name)) {
      const what = entry.origin === "node" ? `computed from weights and constants alone (by ${describeNode(g.nodes[entry.producer!]!)})` : "a weight";
      throw fail("E_CUT_NOT_SEPARATING", `"${name}" is ${what}: it is copied into every segment that needs it and never crosses a cut; name a tensor that depends on a model input`);
    }
    if (!canCross(g, name)) {
      throw fail("E_CUT_NON_TENSOR", `"${name}" is not a dense tensor (a sequence, map or optional value) and cannot cross a cut; cut before or after the node that makes it`);
    }
  }

  const front = frontOf(g, wanted, constants);
  const back = g.order.filter((i) => !constants.nodes.has(i) && !front.has(i));
  if (back.length === 0) {
    throw fail("E_CUT_NOT_SEPARATING", `a cut at ${wanted.map((n) => `"${n}"`).join(", ")} leaves nothing after it: every node that computes anything is needed to make ${wanted.length > 1 ? "those tensors" : "it"}; cut earlier`);
  }
  // What the back reads from the front, in topological order of its first reader.
  const crossing = new Map<string, number>();
  for (const i of back) {
    const n = g.nodes[i]!;
    for (const t of [...n.inputs, ...n.implicitInputs]) {
      const p = g.tensors.get(t)?.producer;
      if (p !== null && p !== undefined && front.has(p) && !crossing.has(t)) crossing.set(t, i);
    }
  }
  for (const [t, reader] of crossing) {
    if (!wanted.includes(t)) {
      const p = g.nodes[g.tensors.get(t)!.producer!]!;
      throw fail("E_CUT_NOT_SEPARATING", `the cut does not carry "${t}", which ${describeNode(p)} before the cut makes and ${describeNode(g.nodes[reader]!)} after it reads; add it to the cut (--cut ${[...wanted, t].join(",")}) or choose a block boundary from \`edgecut inspect\``);
    }
  }
  for (const t of wanted) {
    if (!crossing.has(t)) {
      throw fail("E_CUT_NOT_SEPARATING", `"${t}" would not cross this cut: nothing after the cut reads it (it is only used to compute the other cut tensors, or only a model output); drop it from the cut`);
    }
  }
  return front;
}

/**
 * Throws E_CUT_CONTROL_FLOW_ONLY when the model's work sits inside one control-flow node (If,
 * Loop, Scan) and the top level holds only trivial reshaping around it, naming the node and the
 * only cuts that exist (before/after it).
 */
export function assertCuttable(g: Graph, constants: ConstantInfo): void {
  const work = g.order.filter((i) => !constants.nodes.has(i));
  const flow = work.filter((i) => g.nodes[i]!.subgraphs.length > 0);
  if (flow.length !== 1) return;
  const c = g.nodes[flow[0]!]!;
  const others = work.filter((i) => i !== c.index);
  if (others.some((i) => !TRIVIAL_OPS.has(g.nodes[i]!.opType))) return;
  const inner = c.subgraphs.reduce((s, sg) => s + countNodes(sg), 0);
  const pos = work.indexOf(c.index);
  const sides = [pos > 0 ? "before" : "", pos < work.length - 1 ? "after" : ""].filter(Boolean);
  const exist = sides.length === 0
    ? "no cut exists at the top level"
    : `the only cuts are ${sides.join("/")} it, leaving just ${others.map((i) => g.nodes[i]!.opType).join(", ")} on the other side`;
  throw fail("E_CUT_CONTROL_FLOW_ONLY", `the model's work sits inside ${describeNode(c)}, whose ${c.opType === "If" ? "branches hold" : "body holds"} ${inner} node${inner === 1 ? "" : "s"}; edgecut cuts only the top-level graph, and ${exist}. Export the model with the ${c.opType === "If" ? "branch" : "loop"} unrolled or traced instead of scripted, or run it whole`);
}

function countNodes(sg: GraphProto): number {
  let n = 0;
  for (const node of sg.node) n += 1 + nodeSubgraphs(node).reduce((s, x) => s + countNodes(x), 0);
  return n;
}

/** The top-level node whose subgraphs (at any depth) define `name`, if any. */
function subgraphOwner(g: Graph, name: string): GraphNode | undefined {
  const defines = (sg: GraphProto): boolean =>
    sg.input.some((v) => v.name === name) || sg.initializer.some((t) => t.name === name) ||
    sg.node.some((n) => n.output.includes(name) || nodeSubgraphs(n).some(defines));
  return g.nodes.find((n) => n.subgraphs.some(defines));
}
