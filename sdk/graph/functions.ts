/**
 * Model-local functions (ModelProto.functions) a set of nodes needs: the closure over calls from
 * the nodes, from nodes inside their subgraphs, and from function bodies to other functions.
 * A segment model must carry exactly these, so a function used only by the back of a split does
 * not ship to the device.
 */
import type { FunctionProto, NodeProto } from "./onnx/onnx_pb.js";
import { functionKey, nodeSubgraphs, normDomain, type Graph } from "./graph.js";

/** The model-local function a node calls, if any. */
function calledFunction(g: Graph, n: NodeProto): FunctionProto | undefined {
  return g.functions.get(functionKey(normDomain(n.domain), n.opType, n.overload));
}

/**
 * Model-local functions the given top-level nodes call, directly, from their subgraphs (If/Loop/Scan
 * bodies, at any depth) or through other functions. Returned in the model's declaration order, so
 * a segment lists its functions in the same order as the source model.
 */
export function usedFunctions(g: Graph, nodeIndices: Iterable<number>): FunctionProto[] {
  if (g.functions.size === 0) return [];
  const used = new Set<FunctionProto>();
  const stack: NodeProto[] = [];
  for (const i of nodeIndices) {
    const n = g.nodes[i];
    if (n) stack.push(n.proto);
  }
  while (stack.length > 0) {
    const n = stack.pop()!;
    for (const sg of nodeSubgraphs(n)) stack.push(...sg.node);
    const f = calledFunction(g, n);
    if (f && !used.has(f)) {
      used.add(f);
      stack.push(...f.node);
    }
  }
  return g.model.functions.filter((f) => used.has(f));
}
