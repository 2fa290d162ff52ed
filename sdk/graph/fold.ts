/**
 * Fixing model inputs to constants, and folding the `If` nodes whose condition that makes constant.
 *
 * Made for merged decoders (optimum's decoder_model_merged.onnx): the whole model sits in one
 * top-level `If` on `use_cache_branch`, which edgecut cannot cut inside. Fixing that input to true
 * (decode) or false (prefill) turns the If into the plain graph of the chosen branch, which cuts
 * like any other decoder.
 *
 * Folding an If: the chosen branch's nodes replace the If node in the parent graph; branch-local
 * names that clash with a name anywhere in the parent (any depth) get a `__<n>` suffix, reads of
 * outer-scope names stay as they are, branch initializers move to the top level, and the branch's
 * outputs are renamed to (or, when they are not produced by a branch node, wired through an
 * Identity to) the If's outputs. The other branch is dropped. Folding repeats while a top-level If
 * has a constant condition (an inlined branch may hold Ifs of its own); Ifs nested inside other
 * subgraphs are left alone.
 *
 * Afterwards, nodes whose outputs nothing reads and initializers nothing reads are removed (also
 * ones that were already dead in the source model). Declared graph inputs are kept even when no
 * node reads them any more (e.g. the past inputs after use_cache_branch=false), so the model keeps
 * its interface; `dropUnusedInputs` removes those.
 */
import { create } from "@bufbuild/protobuf";
import {
  GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, TensorProtoSchema,
  type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from "./onnx/onnx_pb.js";
import { Graph, nodeSubgraphs, normDomain, outerScopeReads } from "./graph.js";
import { tensorNumel, tensorRawBytes } from "./model-io.js";
import { dtypeCode, dtypeName, type DTypeName } from "./dtypes.js";
import { fail } from "../errors.js";

/** A value to fix an input to: text as on the command line ("true", "3", "0.5", "1,2,3") or JS values. */
export type FixValue = string | boolean | number | bigint | readonly (boolean | number | bigint)[];

/** How fixInputs treats what folding leaves behind. */
export interface FixInputsOptions {
  /** Remove declared graph inputs no node reads after folding (default false: they stay declared). */
  dropUnusedInputs?: boolean;
}

/** What fixInputs did. */
export interface FixInputsResult {
  /** The new model; the source ModelProto is not modified. Its tensors' external data is still relative to the source folder. */
  model: ModelProto;
  /** The graph view of `model` (same folder as the source). */
  graph: Graph;
  /** Inputs turned into initializers, in the order given. */
  fixed: string[];
  /** Number of If nodes replaced by one of their branches. */
  foldedIfs: number;
  /** Graph inputs removed because no node reads them (only with dropUnusedInputs). */
  droppedInputs: string[];
  /** Declared graph inputs no node reads after folding (kept, unless dropUnusedInputs). */
  unusedInputs: string[];
  /** Top-level initializers removed because nothing reads them any more (fixed inputs included). */
  removedInitializers: string[];
}

/**
 * Turns each named graph input into an initializer holding `values[name]`, then folds every
 * top-level If whose condition became constant (the condition itself, or through Identity, Cast
 * and Not of constants). Errors: E_USAGE for an unknown input or a value that does not fit the
 * input's declared type and shape; E_UNSUPPORTED when an If's condition depends on a fixed input
 * in a way this folding does not evaluate.
 */
export function fixInputs(g: Graph, values: Readonly<Record<string, FixValue>>, opts: FixInputsOptions = {}): FixInputsResult {
  const names = Object.keys(values);
  const fixedTensors = names.map((name) => fixedInputTensor(g, name, values[name]!));
  const fixedSet = new Set(names);
  const src = g.graph;
  let nodes = [...src.node];
  const initializers = [...src.initializer, ...fixedTensors];
  const sparse = [...src.sparseInitializer];
  const valueInfo = [...src.valueInfo];
  const inputs = src.input.filter((v) => !fixedSet.has(v.name));

  let foldedIfs = 0;
  for (;;) {
    const consts = constantSource(nodes, initializers, g.dir);
    const at = nodes.findIndex((n) => isIf(n) && consts(n.input[0] ?? "") !== undefined);
    if (at < 0) break;
    const ifNode = nodes[at]!;
    const cond = consts(ifNode.input[0]!)!;
    const branch = ifNode.attribute.find((a) => a.name === (cond ? "then_branch" : "else_branch"))?.g;
    if (!branch) throw fail("E_MODEL_INVALID", `If node "${ifNode.name}" has no ${cond ? "then" : "else"}_branch graph`);
    const parent = { ...src, node: nodes, initializer: initializers, sparseInitializer: sparse, valueInfo, input: inputs };
    const inlined = inlineBranch(parent, at, branch);
    nodes = [...nodes.slice(0, at), ...inlined.nodes, ...nodes.slice(at + 1)];
    initializers.push(...inlined.initializers);
    sparse.push(...inlined.sparse);
    valueInfo.push(...inlined.valueInfo);
    foldedIfs++;
  }
  checkNoDependentIf(nodes, fixedSet, constantSource(nodes, initializers, g.dir));

  const outputNames = new Set(src.output.map((o) => o.name));
  nodes = removeDeadNodes(nodes, outputNames);
  const read = readNames(nodes, outputNames);
  const produced = new Set(nodes.flatMap((n) => n.output));
  // An initializer also listed in graph.input is an overridable default: it stays with its input.
  const declaredInputs = new Set(inputs.map((v) => v.name));
  const removedInitializers = initializers.filter((t) => !read.has(t.name) && !declaredInputs.has(t.name)).map((t) => t.name);
  const removed = new Set(removedInitializers);
  const unusedInputs = g.inputs.filter((n) => !fixedSet.has(n) && !read.has(n));
  const dropped = opts.dropUnusedInputs ? new Set(unusedInputs) : new Set<string>();
  const graph = create(GraphProtoSchema, {
    ...src,
    node: nodes,
    initializer: initializers.filter((t) => !removed.has(t.name)),
    sparseInitializer: sparse.filter((s) => read.has(s.values?.name ?? "") || declaredInputs.has(s.values?.name ?? "")),
    input: inputs.filter((v) => !dropped.has(v.name)),
    valueInfo: valueInfo.filter((v) => read.has(v.name) || produced.has(v.name)),
  });
  const model = create(ModelProtoSchema, { ...g.model, graph });
  return {
    model, graph: Graph.fromModel(model, g.dir), fixed: names, foldedIfs,
    droppedInputs: [...dropped], unusedInputs: opts.dropUnusedInputs ? [] : unusedInputs, removedInitializers,
  };
}

function isIf(n: NodeProto): boolean {
  return n.opType === "If" && normDomain(n.domain) === "";
}

const BOOL_TEXT: Readonly<Record<string, boolean>> = { true: true, false: false, "1": true, "0": false };
const INT_RANGE: Partial<Record<DTypeName, [bigint, bigint]>> = {
  int8: [-128n, 127n], uint8: [0n, 255n], int16: [-32768n, 32767n], uint16: [0n, 65535n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n], uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n],
};
const FLOAT_BYTES: Partial<Record<DTypeName, 4 | 8>> = { float32: 4, float64: 8 };

/**
 * The initializer a graph input becomes when fixed to `value`. The type is the input's declared
 * element type (bool: true/false/1/0; integers in range; float32/float64). The shape is the declared
 * one when it is static; a rank-1 input with a symbolic length takes the number of values; any
 * other symbolic shape takes one value (every dim 1).
 */
export function fixedInputTensor(g: Graph, name: string, value: FixValue): TensorProto {
  if (!g.inputs.includes(name)) {
    const why = g.initializers.has(name) || g.sparseInitializers.has(name) ? "it is a weight (an initializer), not an input" : "the model has no such input";
    throw fail("E_USAGE", `cannot fix "${name}": ${why}; fixable inputs: ${g.inputs.join(", ") || "(none)"}`);
  }
  const tt = g.tensor(name).declared?.value;
  if (tt?.case !== "tensorType") throw fail("E_UNSUPPORTED", `cannot fix input "${name}": it is not a plain tensor (${tt?.case ?? "untyped"})`);
  const type = dtypeName(tt.value.elemType);
  if (type === undefined || (type !== "bool" && !INT_RANGE[type] && !FLOAT_BYTES[type])) {
    throw fail("E_UNSUPPORTED", `cannot fix input "${name}" of type ${type ?? tt.value.elemType}: only bool, integer, float32 and float64 inputs can be fixed`);
  }
  const items = typeof value === "string" ? value.split(",").map((s) => s.trim()) : Array.isArray(value) ? value : [value];
  const what = `input "${name}" (${type})`;
  if (items.length === 0 || items.some((x) => x === "")) throw fail("E_USAGE", `${what}: "${String(value)}" holds an empty value; give a value or a comma list like 1,2,3`);
  const dims = fixedDims(name, tt.value.shape?.dim, items.length);
  const raw = new Uint8Array(items.length * (type === "bool" ? 1 : FLOAT_BYTES[type] ?? Number(intBytes(type))));
  const view = new DataView(raw.buffer);
  items.forEach((x, i) => writeItem(view, i, type, x, what));
  return create(TensorProtoSchema, { name, dataType: dtypeCode(type)!, dims: dims.map((d) => BigInt(d)), rawData: raw });
}

function intBytes(type: DTypeName): number {
  return { int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8 }[type as "int8"];
}

type ProtoDim = { value: { case: "dimValue"; value: bigint } | { case: "dimParam"; value: string } | { case: undefined; value?: undefined } };

function fixedDims(name: string, declared: readonly ProtoDim[] | undefined, count: number): number[] {
  if (!declared) throw fail("E_UNSUPPORTED", `cannot fix input "${name}": it declares no shape, so the tensor's rank is unknown`);
  const show = `[${declared.map((d) => (d.value.case === "dimValue" ? String(d.value.value) : d.value.value ?? "?")).join(", ")}]`;
  if (declared.every((d) => d.value.case === "dimValue")) {
    const dims = declared.map((d) => Number(d.value.value));
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== count) throw fail("E_USAGE", `input "${name}" has shape ${show} (${n} value${n === 1 ? "" : "s"}), but ${count} ${count === 1 ? "was" : "were"} given`);
    return dims;
  }
  if (declared.length === 1) return [count];
  if (count === 1) return declared.map(() => 1);
  throw fail("E_USAGE", `input "${name}" has the symbolic shape ${show}: only a single value (every dim 1) or a static shape can be fixed`);
}

function writeItem(view: DataView, i: number, type: DTypeName, x: string | boolean | number | bigint, what: string): void {
  const bad = (expected: string): never => { throw fail("E_USAGE", `${what}: ${JSON.stringify(String(x))} is not ${expected}`); };
  if (type === "bool") {
    const b = typeof x === "boolean" ? x : typeof x === "string" ? BOOL_TEXT[x.toLowerCase()] : x === 1 || x === 1n ? true : x === 0 || x === 0n ? false : undefined;
    if (b === undefined) bad("true or false");
    view.setUint8(i, b ? 1 : 0);
    return;
  }
  const fb = FLOAT_BYTES[type];
  if (fb) {
    const v = typeof x === "string" && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(x) ? Number(x) : typeof x === "number" ? x : NaN;
    if (!Number.isFinite(v)) bad("a finite number");
    if (fb === 4) view.setFloat32(i * 4, v, true); else view.setFloat64(i * 8, v, true);
    return;
  }
  const [lo, hi] = INT_RANGE[type]!;
  let v: bigint | undefined;
  if (typeof x === "bigint") v = x;
  else if (typeof x === "number" && Number.isSafeInteger(x)) v = BigInt(x);
  else if (typeof x === "string" && /^[+-]?\d+$/.test(x)) v = BigInt(x);
  if (v === undefined || v < lo || v > hi) bad(`an integer in [${lo}, ${hi}]`);
  const size = intBytes(type);
  const at = i * size;
  const signed = !type.startsWith("u");
  if (size === 8) { if (signed) view.setBigInt64(at, v!, true); else view.setBigUint64(at, v!, true); }
  else if (size === 4) { if (signed) view.setInt32(at, Number(v), true); else view.setUint32(at, Number(v), true); }
  else if (size === 2) { if (signed) view.setInt16(at, Number(v), true); else view.setUint16(at, Number(v), true); }
  else if (signed) view.setInt8(at, Number(v)); else view.setUint8(at, Number(v));
}

/** Reads a one-element constant as a number, bigint or boolean, or undefined when not a supported scalar. */
function scalarOf(t: TensorProto, dir: string): number | bigint | boolean | undefined {
  if (tensorNumel(t) !== 1) return undefined;
  const raw = tensorRawBytes(t, dir);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dtypeName(t.dataType)) {
    case "bool": return v.getUint8(0) !== 0;
    case "int8": return v.getInt8(0);
    case "uint8": return v.getUint8(0);
    case "int16": return v.getInt16(0, true);
    case "uint16": return v.getUint16(0, true);
    case "int32": return v.getInt32(0, true);
    case "uint32": return v.getUint32(0, true);
    case "int64": return v.getBigInt64(0, true);
    case "uint64": return v.getBigUint64(0, true);
    case "float32": return v.getFloat32(0, true);
    case "float64": return v.getFloat64(0, true);
    default: return undefined;
  }
}

/** ONNX Cast of one scalar (float to int truncates, anything to bool is "non-zero"). */
function castScalar(x: number | bigint | boolean, to: DTypeName | undefined): number | bigint | boolean | undefined {
  const num = typeof x === "boolean" ? Number(x) : x;
  if (to === "bool") return typeof num === "bigint" ? num !== 0n : num !== 0;
  if (to === "float32") return Math.fround(Number(num));
  if (to === "float64") return Number(num);
  const range = to && INT_RANGE[to];
  if (range) {
    if (typeof num === "number" && !Number.isFinite(num)) return undefined;
    const i = typeof num === "bigint" ? num : BigInt(Math.trunc(num));
    return i >= range[0] && i <= range[1] ? i : undefined; // out of range: undefined behaviour in ONNX
  }
  return undefined;
}

/**
 * The truth value of a tensor when it is a one-element constant of the top-level graph: an
 * initializer, a Constant node, or Identity/Cast/Not of one. undefined otherwise.
 */
function constantSource(nodes: readonly NodeProto[], initializers: readonly TensorProto[], dir: string): (name: string) => boolean | undefined {
  const inits = new Map(initializers.map((t) => [t.name, t]));
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output) if (o) producer.set(o, n);
  const value = (name: string, depth: number): number | bigint | boolean | undefined => {
    const t = inits.get(name);
    if (t) return scalarOf(t, dir);
    const n = producer.get(name);
    if (!n || normDomain(n.domain) !== "" || depth > 64) return undefined;
    const attr = (a: string) => n.attribute.find((x) => x.name === a);
    switch (n.opType) {
      case "Constant": {
        if (attr("value")?.t) return scalarOf(attr("value")!.t!, dir);
        if (attr("value_int")) return attr("value_int")!.i;
        if (attr("value_float")) return attr("value_float")!.f;
        return undefined;
      }
      case "Identity": return value(n.input[0] ?? "", depth + 1);
      case "Cast": {
        const x = value(n.input[0] ?? "", depth + 1);
        return x === undefined ? undefined : castScalar(x, dtypeName(Number(attr("to")?.i ?? 0)));
      }
      case "Not": {
        const x = value(n.input[0] ?? "", depth + 1);
        return typeof x === "boolean" ? !x : undefined;
      }
      default: return undefined;
    }
  };
  return (name) => {
    const v = value(name, 0);
    return v === undefined ? undefined : typeof v === "boolean" ? v : typeof v === "bigint" ? v !== 0n : v !== 0;
  };
}

/** E_UNSUPPORTED when a top-level If's condition still reads a fixed input (through ops not evaluated here). */
function checkNoDependentIf(nodes: readonly NodeProto[], fixed: ReadonlySet<string>, consts: (name: string) => boolean | undefined): void {
  const producer = new Map<string, NodeProto>();
  for (const n of nodes) for (const o of n.output) if (o) producer.set(o, n);
  for (const n of nodes) {
    if (!isIf(n) || consts(n.input[0] ?? "") !== undefined) continue;
    const seen = new Set<string>();
    const stack = [n.input[0] ?? ""];
    while (stack.length > 0) {
      const name = stack.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      if (fixed.has(name)) {
        const via = producer.get(n.input[0] ?? "")?.opType ?? "?";
        throw fail("E_UNSUPPORTED", `If node "${n.name}" has a condition ("${n.input[0]}", from ${via}) that depends on fixed input "${name}" through ops edgecut does not evaluate (it folds the input itself and Identity/Cast/Not of constants); fix the If's condition input instead, or simplify the model (onnxsim) so the condition becomes a constant`);
      }
      const p = producer.get(name);
      if (p) for (const i of [...p.input, ...nodeSubgraphs(p).flatMap(outerScopeReads)]) if (i) stack.push(i);
    }
  }
}

/** Every tensor name a graph defines or reads, at any depth. */
function collectNames(g: GraphProto, into: Set<string>): void {
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) into.add(v.name);
  for (const t of g.initializer) into.add(t.name);
  for (const s of g.sparseInitializer) if (s.values) into.add(s.values.name);
  for (const n of g.node) {
    for (const x of [...n.input, ...n.output]) if (x) into.add(x);
    for (const sg of nodeSubgraphs(n)) collectNames(sg, into);
  }
}

/** Names a graph defines itself (its inputs, initializers and node outputs). */
function localNames(g: GraphProto): Set<string> {
  const out = new Set<string>(g.input.map((v) => v.name));
  for (const t of g.initializer) out.add(t.name);
  for (const s of g.sparseInitializer) if (s.values) out.add(s.values.name);
  for (const n of g.node) for (const o of n.output) if (o) out.add(o);
  return out;
}

/** Renames names of a graph's own scope, and reads of them from nested subgraphs that do not define them again. */
function renameGraph(g: GraphProto, map: ReadonlyMap<string, string>): GraphProto {
  if (map.size === 0) return g;
  const r = (x: string): string => map.get(x) ?? x;
  const vi = (v: ValueInfoProto): ValueInfoProto => (map.has(v.name) ? { ...v, name: r(v.name) } : v);
  return {
    ...g,
    input: g.input.map(vi), output: g.output.map(vi), valueInfo: g.valueInfo.map(vi),
    initializer: g.initializer.map((t) => (map.has(t.name) ? { ...t, name: r(t.name) } : t)),
    sparseInitializer: g.sparseInitializer.map((s) => (s.values && map.has(s.values.name) ? { ...s, values: { ...s.values, name: r(s.values.name) } } : s)),
    node: g.node.map((n) => renameNode(n, map)),
  };
}

function renameNode(n: NodeProto, map: ReadonlyMap<string, string>): NodeProto {
  const r = (x: string): string => map.get(x) ?? x;
  const inner = (sg: GraphProto): GraphProto => {
    const own = localNames(sg);
    return renameGraph(sg, new Map([...map].filter(([k]) => !own.has(k))));
  };
  return create(NodeProtoSchema, {
    ...n,
    input: n.input.map(r), output: n.output.map(r),
    attribute: n.attribute.map((a) => (a.g || a.graphs.length ? { ...a, g: a.g && inner(a.g), graphs: a.graphs.map(inner) } : a)),
  });
}

/** The parts of `branch` to splice into `parent` in place of its If node at `at`. */
function inlineBranch(parent: GraphProto, at: number, branch: GraphProto): { nodes: NodeProto[]; initializers: TensorProto[]; sparse: GraphProto["sparseInitializer"]; valueInfo: ValueInfoProto[] } {
  const ifNode = parent.node[at]!;
  if (branch.input.length > 0) throw fail("E_MODEL_INVALID", `a branch of If node "${ifNode.name}" declares inputs; If branches take none`);
  if (branch.output.length < ifNode.output.length) {
    throw fail("E_MODEL_INVALID", `If node "${ifNode.name}" has ${ifNode.output.length} outputs but its branch "${branch.name}" only ${branch.output.length}`);
  }
  // Every name the parent uses anywhere (other subgraphs included): a lifted local must not clash with one.
  const outer = new Set<string>();
  collectNames({ ...parent, node: parent.node.filter((_, i) => i !== at) }, outer);
  for (const o of ifNode.output) if (o) outer.add(o);
  const taken = new Set(outer);
  collectNames(branch, taken);
  const fresh = (base: string): string => {
    let k = 1;
    while (taken.has(`${base}__${k}`)) k++;
    taken.add(`${base}__${k}`);
    return `${base}__${k}`;
  };
  const rename = new Map<string, string>();
  for (const name of localNames(branch)) if (outer.has(name)) rename.set(name, fresh(name));
  let body = renameGraph(branch, rename);

  // Branch outputs become the If's outputs: rename a node-produced output, else pass it through an Identity.
  const produced = new Set(body.node.flatMap((n) => n.output.filter(Boolean)));
  const toIf = new Map<string, string>();
  const identities: NodeProto[] = [];
  ifNode.output.forEach((io, i) => {
    const bo = body.output[i]!.name;
    if (!io) return;
    if (produced.has(bo) && !toIf.has(bo)) toIf.set(bo, io);
    else identities.push(create(NodeProtoSchema, { opType: "Identity", name: `${ifNode.name || "If"}/${io}/Identity`, input: [toIf.get(bo) ?? bo], output: [io] }));
  });
  body = renameGraph(body, toIf);

  // Node names need not be unique in ONNX, but tools key on them: keep them apart from the parent's.
  const nodeNames = new Set(parent.node.map((n) => n.name).filter(Boolean));
  const nodes = [...body.node, ...identities].map((n) => {
    let name = n.name;
    for (let k = 1; name && nodeNames.has(name); k++) name = `${n.name}__${k}`;
    nodeNames.add(name);
    return name === n.name ? n : { ...n, name };
  });
  const declared = new Set([...parent.valueInfo, ...parent.input, ...parent.output].map((v) => v.name));
  return { nodes, initializers: body.initializer, sparse: body.sparseInitializer, valueInfo: body.valueInfo.filter((v) => !declared.has(v.name)) };
}

/** Drops nodes none of whose outputs is read (by a node, a subgraph or as a graph output), repeatedly. */
function removeDeadNodes(nodes: NodeProto[], outputs: ReadonlySet<string>): NodeProto[] {
  for (;;) {
    const read = readNames(nodes, outputs);
    const live = nodes.filter((n) => n.output.some((o) => o && read.has(o)));
    if (live.length === nodes.length) return nodes;
    nodes = live;
  }
}

/** Names read by the nodes (explicitly or from their subgraphs) or listed as graph outputs. */
function readNames(nodes: readonly NodeProto[], outputs: ReadonlySet<string>): Set<string> {
  const read = new Set(outputs);
  for (const n of nodes) {
    for (const i of n.input) if (i) read.add(i);
    for (const sg of nodeSubgraphs(n)) for (const r of outerScopeReads(sg)) read.add(r);
  }
  return read;
}
