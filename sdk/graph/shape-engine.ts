/**
 * The inference engine: runs the op rules node by node over a scope of known types and values,
 * recursing into subgraphs (If/Loop/Scan bodies, which also see the outer scope) and into
 * model-local functions (which do not). A rule that throws or does not exist leaves the node's
 * outputs unknown; inference itself never throws for a bad or unusual model.
 */
import type { AttributeProto, FunctionProto, GraphProto, NodeProto, TypeProto } from "./onnx/onnx_pb.js";
import { functionKey, normDomain } from "./graph.js";
import { decodeValues, VALUE_LIMIT, type OpCtx, type OpRule } from "./shape-ctx.js";
import { CONTROL_RULES } from "./shape-ops-control.js";
import { CONV_RULES } from "./shape-ops-conv.js";
import { ELEMENTWISE_RULES } from "./shape-ops-elementwise.js";
import { LINALG_RULES } from "./shape-ops-linalg.js";
import { TENSOR_RULES } from "./shape-ops-tensor.js";
import { VALUE_RULES } from "./shape-ops-values.js";
import type { DimBindings } from "./shape-sym.js";
import { isConcrete, mergeDeclared, typeFromProto, typeOfSparse, typeOfTensor, type Dim, type TensorType } from "./shape-types.js";

/** Rules by "op" (ai.onnx) or "domain:op". */
const RULES: ReadonlyMap<string, OpRule> = new Map(Object.entries({
  ...ELEMENTWISE_RULES, ...LINALG_RULES, ...CONV_RULES, ...TENSOR_RULES, ...VALUE_RULES, ...CONTROL_RULES,
}));

/** Subgraph nesting beyond this is not followed (outputs stay unknown). */
const MAX_DEPTH = 32;

/** Types and values visible at one graph level; lookups fall back to the enclosing scope. */
export class Scope {
  readonly types: Map<string, TensorType>;
  readonly values: Map<string, Dim[]>;
  /** `types`/`values` may be existing maps (e.g. a ShapeResult's) to view without copying. */
  constructor(readonly parent?: Scope, types?: Map<string, TensorType>, values?: Map<string, Dim[]>) {
    this.types = types ?? new Map();
    this.values = values ?? new Map();
  }

  /** Type of a name here or in an enclosing scope. */
  type(name: string): TensorType | undefined {
    return this.types.get(name) ?? this.parent?.type(name);
  }

  /** Known values of a name here or in an enclosing scope. */
  value(name: string): Dim[] | undefined {
    return this.values.get(name) ?? this.parent?.value(name);
  }
}

/** What stays fixed while inferring one model. */
export interface EngineEnv {
  opsets: ReadonlyMap<string, number>;
  functions: ReadonlyMap<string, FunctionProto>;
  /** Folder external data is relative to (for small constant values). */
  dir: string;
  bindings: DimBindings;
  depth: number;
}

/** Declared type lookup for the current graph level. */
export type DeclaredLookup = (name: string) => TensorType | undefined;

function valueFits(t: TensorType, v: Dim[]): boolean {
  if (!isConcrete(t.dims) || (t.kind ?? "tensor") !== "tensor") return false;
  const n = t.dims.reduce((a, b) => a * b, 1);
  return n === v.length && n <= VALUE_LIMIT;
}

function makeCtx(env: EngineEnv, scope: Scope, node: NodeProto, vals: Map<number, Dim[]>): OpCtx {
  const domain = normDomain(node.domain);
  const name = (i: number): string => node.input[i] ?? "";
  const ctx: OpCtx = {
    node, opType: node.opType, domain,
    opset: env.opsets.get(domain) ?? 1,
    nOut: node.output.length,
    has: (i) => name(i) !== "",
    in: (i) => (name(i) ? scope.type(name(i)) : undefined),
    dims: (i) => ctx.in(i)?.dims ?? null,
    elem: (i) => ctx.in(i)?.elemType ?? 0,
    val: (i) => (name(i) ? scope.value(name(i)) : undefined),
    nums: (i) => {
      const v = ctx.val(i);
      return v && v.every((x) => typeof x === "number") ? (v as number[]) : undefined;
    },
    setVal: (i, v) => void vals.set(i, v),
    tensorValues: (t) => decodeValues(t, env.dir),
    inferBody: (g, inputs) => inferBody(env, scope, g, inputs),
  };
  return ctx;
}

/** Infers one node's outputs into `scope` (declared types fill the gaps). */
export function inferNode(env: EngineEnv, scope: Scope, node: NodeProto, declared: DeclaredLookup): void {
  const domain = normDomain(node.domain);
  const vals = new Map<number, Dim[]>();
  let outs: (TensorType | undefined)[] = [];
  try {
    const rule = RULES.get(domain ? `${domain}:${node.opType}` : node.opType);
    const fn = rule ? undefined : env.functions.get(functionKey(domain, node.opType, node.overload));
    if (rule) {
      const r = rule(makeCtx(env, scope, node, vals));
      outs = Array.isArray(r) ? r : [r];
    } else if (fn) outs = inferFunction(env, scope, node, fn, vals);
  } catch {
    // a rule tripping over a malformed node: its outputs are simply unknown
    outs = [];
    vals.clear();
  }
  node.output.forEach((name, i) => {
    if (!name) return;
    const t = mergeDeclared(outs[i], declared(name));
    if (t) scope.types.set(name, t);
    const v = vals.get(i);
    if (v && t && valueFits(t, v)) scope.values.set(name, v);
  });
}

/** Seeds a scope with a graph's initializers (types, and values of small ones). */
export function addInitializers(scope: Scope, g: GraphProto, dir: string): void {
  for (const t of g.initializer) {
    scope.types.set(t.name, typeOfTensor(t));
    const v = decodeValues(t, dir);
    if (v) scope.values.set(t.name, v);
  }
  for (const s of g.sparseInitializer) if (s.values) scope.types.set(s.values.name, typeOfSparse(s));
}

/** Infers a subgraph (If branch, Loop/Scan body) under `parent`; returns its output types. */
export function inferBody(env: EngineEnv, parent: Scope, g: GraphProto, inputs: readonly (TensorType | undefined)[]): (TensorType | undefined)[] {
  return inferBodyScope(env, parent, g, inputs).outputs;
}

/** inferBody, also returning the subgraph's scope (used by the cost model). */
export function inferBodyScope(env: EngineEnv, parent: Scope, g: GraphProto, inputs: readonly (TensorType | undefined)[]): { outputs: (TensorType | undefined)[]; scope: Scope } {
  const scope = new Scope(parent);
  if (env.depth >= MAX_DEPTH) return { outputs: g.output.map(() => undefined), scope };
  const sub: EngineEnv = { ...env, depth: env.depth + 1 };
  const declared = new Map<string, TypeProto | undefined>();
  for (const v of [...g.valueInfo, ...g.output]) declared.set(v.name, v.type);
  const lookup: DeclaredLookup = (name) => typeFromProto(declared.get(name), env.bindings);
  g.input.forEach((v, i) => {
    const t = mergeDeclared(inputs[i], typeFromProto(v.type, env.bindings));
    if (t) scope.types.set(v.name, t);
  });
  addInitializers(scope, g, env.dir);
  for (const n of g.node) inferNode(sub, scope, n, lookup);
  return { outputs: g.output.map((v) => mergeDeclared(scope.type(v.name), lookup(v.name))), scope };
}

/** Resolves attribute references (ref_attr_name) of a function body node against the call. */
function bindAttributes(n: NodeProto, call: ReadonlyMap<string, AttributeProto>): NodeProto {
  if (!n.attribute.some((a) => a.refAttrName)) return n;
  const attribute: AttributeProto[] = [];
  for (const a of n.attribute) {
    if (!a.refAttrName) attribute.push(a);
    else {
      const v = call.get(a.refAttrName);
      if (v) attribute.push({ ...v, name: a.name, refAttrName: "" });
    }
  }
  return { ...n, attribute };
}

/** A function call's body, inferred in its own scope from the call's input types and attributes. */
export function inferFunctionScope(env: EngineEnv, caller: Scope, node: NodeProto, fn: FunctionProto): { scope: Scope; env: EngineEnv; body: NodeProto[] } {
  const opsets = new Map(env.opsets);
  for (const o of fn.opsetImport) opsets.set(normDomain(o.domain), Number(o.version));
  const sub: EngineEnv = { ...env, opsets, depth: env.depth + 1 };
  const scope = new Scope(); // a function body does not see the caller's scope
  fn.input.forEach((name, i) => {
    const outer = node.input[i];
    if (!name || !outer) return;
    const t = caller.type(outer);
    const v = caller.value(outer);
    if (t) scope.types.set(name, t);
    if (v) scope.values.set(name, v);
  });
  const call = new Map<string, AttributeProto>();
  for (const a of fn.attributeProto) call.set(a.name, a);
  for (const a of node.attribute) call.set(a.name, a);
  const body = fn.node.map((n) => bindAttributes(n, call));
  if (env.depth < MAX_DEPTH) for (const n of body) inferNode(sub, scope, n, () => undefined);
  return { scope, env: sub, body };
}

function inferFunction(env: EngineEnv, caller: Scope, node: NodeProto, fn: FunctionProto, vals: Map<number, Dim[]>): (TensorType | undefined)[] {
  const { scope } = inferFunctionScope(env, caller, node, fn);
  return fn.output.map((name, i) => {
    const v = scope.value(name);
    if (v) vals.set(i, v);
    return scope.type(name);
  });
}
