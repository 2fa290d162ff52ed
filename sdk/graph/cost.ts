/**
 * The per-node cost model: FLOPs (multiply-add = 2; rules and constants in cost-ops.ts) and
 * the bytes of weights each node reads. FLOPs need concrete shapes: run inferShapes with
 * inputShapes/dims first. `flops: null` means unknown (an op without a rule, or a dim that is
 * symbolic or unknown); it is never silently 0. Pure data-movement ops are known and cost 0.
 *
 * If costs the more expensive branch (or the taken one when its condition is a constant),
 * Loop costs trip count x body when the trip count is a constant and there is no condition,
 * Scan costs sequence length x body, and a model-local function costs the sum of its body.
 */
import type { FunctionProto, GraphProto, NodeProto } from "./onnx/onnx_pb.js";
import { functionKey, normDomain, type Graph, type GraphNode } from "./graph.js";
import { initializerBytes } from "./model-io.js";
import { FLOP_RULES, ZERO_FLOP_OPS, type CostCtx } from "./cost-ops.js";
import { inferBodyScope, inferFunctionScope, Scope, type EngineEnv } from "./shape-engine.js";
import type { ShapeResult, TensorType } from "./shape-types.js";

/** Cost of one node. */
export interface NodeCost {
  /** Floating-point (or integer, for quantized ops) operations; null = unknown, NOT 0. */
  flops: number | null;
  /** Bytes of initializers it reads (each initializer counted once per node). */
  weightBytes: number;
}

/** Totals over a graph. */
export interface GraphCost {
  /** Sum of the known per-node FLOPs. */
  flops: number;
  /** Nodes whose FLOPs are unknown (not included in `flops`). */
  unknownNodes: number;
  /** Bytes of the distinct initializers the nodes read (a shared weight counted once). */
  weightBytes: number;
  /** Per node, by node index. */
  perNode: NodeCost[];
}

/** Subgraph/function nesting followed when costing. */
const MAX_DEPTH = 16;

interface CostEnv {
  env: EngineEnv;
  depth: number;
}

function weightsRead(graph: Graph, node: GraphNode): string[] {
  const names = new Set([...node.inputs, ...node.implicitInputs]);
  return [...names].filter((n) => graph.initializers.has(n) || graph.sparseInitializers.has(n));
}

/** A weight's bytes; one whose dims are impossible counts 0 here (the cost is an estimate; a split reports it). */
function weightBytesOf(graph: Graph, name: string): number {
  try {
    return initializerBytes(graph, name);
  } catch {
    return 0;
  }
}

/** FLOPs of one node given a scope holding its inputs' and outputs' types. */
function flopsOf(ce: CostEnv, scope: Scope, node: NodeProto): number | null {
  const domain = normDomain(node.domain);
  const rule = FLOP_RULES[domain ? `${domain}:${node.opType}` : node.opType];
  if (!rule) {
    if (!domain && ZERO_FLOP_OPS.has(node.opType)) return 0;
    const fn = ce.env.functions.get(functionKey(domain, node.opType, node.overload));
    return fn ? functionFlops(ce, scope, node, fn) : null;
  }
  const type = (name: string | undefined): TensorType | undefined => (name ? scope.type(name) : undefined);
  const ctx: CostCtx = {
    node,
    dims: (i) => type(node.input[i])?.dims ?? null,
    outDims: (i) => type(node.output[i])?.dims ?? null,
    has: (i) => !!node.input[i],
    val: (i) => (node.input[i] ? scope.value(node.input[i]!) : undefined),
    in: (i) => type(node.input[i]),
    bodyFlops: (g, inputs) => bodyFlops(ce, scope, g, inputs),
  };
  try {
    const f = rule(ctx);
    return f === null || !Number.isFinite(f) ? null : Math.round(f);
  } catch {
    return null;
  }
}

function sumFlops(ce: CostEnv, scope: Scope, nodes: readonly NodeProto[]): number | null {
  let total = 0;
  for (const n of nodes) {
    const f = flopsOf(ce, scope, n);
    if (f === null) return null;
    total += f;
  }
  return total;
}

function bodyFlops(ce: CostEnv, parent: Scope, g: GraphProto, inputs: readonly (TensorType | undefined)[]): number | null {
  if (ce.depth >= MAX_DEPTH) return null;
  const { scope } = inferBodyScope(ce.env, parent, g, inputs);
  return sumFlops({ env: ce.env, depth: ce.depth + 1 }, scope, g.node);
}

/** A function call: infer the body with the call's input types, then cost its nodes. */
function functionFlops(ce: CostEnv, caller: Scope, node: NodeProto, fn: FunctionProto): number | null {
  if (ce.depth >= MAX_DEPTH) return null;
  const { scope, env, body } = inferFunctionScope(ce.env, caller, node, fn);
  return sumFlops({ env, depth: ce.depth + 1 }, scope, body);
}

function costEnv(graph: Graph): CostEnv {
  return { env: { opsets: graph.opsets, functions: graph.functions, dir: graph.dir, bindings: new Map(), depth: 0 }, depth: 0 };
}

function topScope(shapes: ShapeResult): Scope {
  return new Scope(undefined, shapes.types, shapes.values);
}

/** FLOPs and weight bytes of one top-level node at the shapes in `shapes`. */
export function nodeCost(graph: Graph, node: GraphNode, shapes: ShapeResult): NodeCost {
  return {
    flops: flopsOf(costEnv(graph), topScope(shapes), node.proto),
    weightBytes: weightsRead(graph, node).reduce((s, n) => s + weightBytesOf(graph, n), 0),
  };
}

/** Totals; unknown flops counted in `unknownNodes`. */
export function graphCost(graph: Graph, shapes: ShapeResult): GraphCost {
  const ce = costEnv(graph);
  const scope = topScope(shapes);
  const seen = new Set<string>();
  let flops = 0;
  let unknownNodes = 0;
  let weightBytes = 0;
  const perNode = graph.nodes.map((node): NodeCost => {
    const f = flopsOf(ce, scope, node.proto);
    if (f === null) unknownNodes++;
    else flops += f;
    let wb = 0;
    for (const name of weightsRead(graph, node)) {
      const b = weightBytesOf(graph, name);
      wb += b;
      if (!seen.has(name)) {
        seen.add(name);
        weightBytes += b;
      }
    }
    return { flops: f, weightBytes: wb };
  });
  return { flops, unknownNodes, weightBytes, perNode };
}
