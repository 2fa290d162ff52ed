/**
 * The computational graph of an ONNX model: nodes, tensors with their producer and consumers,
 * inputs, outputs, weights, and a topological order.
 *
 * Identity rules (ONNX IR spec, "Graphs" and "Names Within a Graph"):
 * - a node is identified by its position in `graph.node`, never by its name (often empty or duplicated);
 * - a tensor is identified by its name; the empty string marks an omitted optional input/output;
 * - an initializer also listed in `graph.input` is a weight with a default, not a model input;
 * - a subgraph (If/Loop/Scan body) may read outer-scope tensors: those reads are implicit inputs
 *   of the node that owns the subgraph.
 */
import type {
  FunctionProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto, TypeProto, ValueInfoProto,
} from "./onnx/onnx_pb.js";
import { TensorProto_DataLocation } from "./onnx/onnx_pb.js";
import { byteLength, dtypeName } from "./dtypes.js";
import { forEachNodeTensor, forEachTensor, loadModel, tensorNumel, tensorRawBytes, type LoadedModel } from "./model-io.js";
import { fail } from "../errors.js";

/** One node of the top-level graph. */
export interface GraphNode {
  /** Position in the model's `graph.node` list: the node's identity. */
  readonly index: number;
  readonly proto: NodeProto;
  readonly opType: string;
  /** Operator domain; "" is the default ONNX domain (ai.onnx). */
  readonly domain: string;
  /** Explicit inputs, in order, without the empty names of omitted optional inputs. */
  readonly inputs: readonly string[];
  /** Outer-scope tensors its subgraphs read (If/Loop/Scan bodies); dependencies like inputs. */
  readonly implicitInputs: readonly string[];
  /** Outputs without the empty names of omitted optional outputs. */
  readonly outputs: readonly string[];
  /** Subgraphs held in attributes (If branches, Loop/Scan bodies). */
  readonly subgraphs: readonly GraphProto[];
  /** The model-local function this node calls, if any. */
  readonly fn?: FunctionProto;
}

/** Where a tensor's value comes from. */
export type TensorOrigin = "input" | "initializer" | "sparse-initializer" | "node";

/** One tensor of the top-level graph. */
export interface TensorEntry {
  readonly name: string;
  readonly origin: TensorOrigin;
  /** Producing node's index when origin is "node", else null. */
  readonly producer: number | null;
  /** Indices of nodes reading it (explicitly or from a subgraph), ascending, without repeats. */
  readonly consumers: readonly number[];
  /** True when it is one of the model's outputs. */
  readonly isOutput: boolean;
  /** Declared type (graph input/output/value_info), if any. Initializers carry their own. */
  readonly declared?: TypeProto;
}

/** Ops that draw random numbers: their outputs differ run to run (never constant, warned about). */
export const RANDOM_OPS: ReadonlySet<string> = new Set(["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"]);

/** An operator domain as edgecut keys it: "ai.onnx" and "" are the same default domain. */
export function normDomain(domain: string): string {
  return domain === "ai.onnx" ? "" : domain;
}

/** Key of a model-local function: (domain, name, overload) per IR 10. Pass a normDomain'd domain. */
export function functionKey(domain: string, name: string, overload = ""): string {
  return `${domain}\u0000${name}\u0000${overload}`;
}

/** A node for messages: `node #3 (MatMul "name")`. */
export function describeNode(n: GraphNode): string {
  return `node #${n.index} (${n.opType}${n.proto.name ? ` "${n.proto.name}"` : ""})`;
}

/** Names a subgraph reads from outer scopes (recursively), in first-read order. */
export function outerScopeReads(g: GraphProto): string[] {
  const defined = new Set<string>();
  for (const v of g.input) defined.add(v.name);
  for (const t of g.initializer) defined.add(t.name);
  for (const s of g.sparseInitializer) if (s.values) defined.add(s.values.name);
  for (const n of g.node) for (const o of n.output) if (o) defined.add(o);
  const reads: string[] = [];
  const seen = new Set<string>();
  const add = (name: string): void => {
    if (name && !defined.has(name) && !seen.has(name)) {
      seen.add(name);
      reads.push(name);
    }
  };
  for (const n of g.node) {
    for (const i of n.input) add(i);
    for (const sg of nodeSubgraphs(n)) for (const r of outerScopeReads(sg)) add(r);
  }
  for (const o of g.output) add(o.name);
  return reads;
}

/** Subgraphs held in a node's attributes. */
export function nodeSubgraphs(n: NodeProto): GraphProto[] {
  const out: GraphProto[] = [];
  for (const a of n.attribute) {
    if (a.g) out.push(a.g);
    out.push(...a.graphs);
  }
  return out;
}

/** A validated, indexed view of a model's top-level graph. The ModelProto is not modified. */
export class Graph {
  readonly model: ModelProto;
  readonly graph: GraphProto;
  /** Folder external data locations are relative to. */
  readonly dir: string;
  readonly nodes: readonly GraphNode[];
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** Real model inputs (initializers listed in graph.input excluded), in declaration order. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly initializers: ReadonlyMap<string, TensorProto>;
  readonly sparseInitializers: ReadonlyMap<string, SparseTensorProto>;
  /** Node indices in a topological order (file order wherever file order is already valid). */
  readonly order: readonly number[];
  /** Opset version per domain ("" = ai.onnx). */
  readonly opsets: ReadonlyMap<string, number>;
  /** Model-local functions by functionKey (of the normDomain'd domain). */
  readonly functions: ReadonlyMap<string, FunctionProto>;
  /** Warnings about the model (training-mode Dropout, random ops, ...). */
  readonly warnings: readonly string[];
  private readonly valueInfos: ReadonlyMap<string, ValueInfoProto>;

  private constructor(model: ModelProto, dir: string) {
    if (!model.graph) throw fail("E_MODEL_INVALID", "the model has no graph");
    this.model = model;
    this.graph = model.graph;
    this.dir = dir;
    const g = model.graph;

    const opsets = new Map<string, number>();
    for (const o of model.opsetImport) opsets.set(normDomain(o.domain), Number(o.version));
    this.opsets = opsets;

    const functions = new Map<string, FunctionProto>();
    for (const f of model.functions) functions.set(functionKey(normDomain(f.domain), f.name, f.overload), f);
    this.functions = functions;

    checkTensors(model);
    checkDeclaredDims(g);
    const initializers = new Map<string, TensorProto>();
    for (const t of g.initializer) {
      if (initializers.has(t.name)) throw fail("E_DUPLICATE_INITIALIZER", `two initializers are named "${t.name}"; names must be unique`);
      initializers.set(t.name, t);
    }
    const sparse = new Map<string, SparseTensorProto>();
    for (const s of g.sparseInitializer) {
      const name = s.values?.name ?? "";
      if (!name) throw fail("E_MODEL_INVALID", "a sparse initializer has no values tensor name");
      if (initializers.has(name) || sparse.has(name)) throw fail("E_DUPLICATE_INITIALIZER", `two initializers are named "${name}"; names must be unique`);
      sparse.set(name, s);
    }
    this.initializers = initializers;
    this.sparseInitializers = sparse;

    const infos = new Map<string, ValueInfoProto>();
    for (const v of [...g.valueInfo, ...g.input, ...g.output]) infos.set(v.name, v);
    this.valueInfos = infos;

    type MutableEntry = { name: string; origin: TensorOrigin; producer: number | null; consumers: number[]; isOutput: boolean; declared?: TypeProto };
    const tensors = new Map<string, MutableEntry>();
    const define = (name: string, origin: TensorOrigin, producer: number | null): void => {
      const prev = tensors.get(name);
      if (prev) {
        const who = (e: { origin: TensorOrigin; producer: number | null }): string =>
          e.origin === "node" ? `node #${e.producer} (${g.node[e.producer ?? 0]?.opType})` : `the ${e.origin}`;
        throw fail("E_DUPLICATE_PRODUCER", `tensor "${name}" is produced twice: by ${who(prev)} and by ${who({ origin, producer })}`);
      }
      tensors.set(name, { name, origin, producer, consumers: [], isOutput: false, declared: infos.get(name)?.type });
    };
    for (const name of initializers.keys()) define(name, "initializer", null);
    for (const name of sparse.keys()) define(name, "sparse-initializer", null);
    const inputs: string[] = [];
    for (const v of g.input) {
      if (initializers.has(v.name) || sparse.has(v.name)) continue; // a weight with a default, not an input
      define(v.name, "input", null);
      inputs.push(v.name);
    }
    this.inputs = inputs;

    const nodes: GraphNode[] = g.node.map((n, index) => {
      const subgraphs = nodeSubgraphs(n);
      const explicit = n.input.filter((x) => x !== "");
      const implicit: string[] = [];
      for (const sg of subgraphs) for (const r of outerScopeReads(sg)) if (!implicit.includes(r) && !explicit.includes(r)) implicit.push(r);
      const domain = normDomain(n.domain);
      const fn = functions.get(functionKey(domain, n.opType, n.overload));
      return {
        index, proto: n, opType: n.opType, domain,
        inputs: explicit, implicitInputs: implicit, outputs: n.output.filter((x) => x !== ""), subgraphs, fn,
      };
    });
    for (const node of nodes) for (const o of node.outputs) define(o, "node", node.index);
    for (const node of nodes) {
      for (const name of [...node.inputs, ...node.implicitInputs]) {
        const t = tensors.get(name);
        if (!t) {
          throw fail("E_DANGLING_INPUT", `${describeNode(node)} reads tensor "${name}", which no node, input or initializer produces`);
        }
        if (t.consumers[t.consumers.length - 1] !== node.index) t.consumers.push(node.index);
      }
    }
    const outputs: string[] = [];
    for (const v of g.output) {
      const t = tensors.get(v.name);
      if (!t) throw fail("E_DANGLING_INPUT", `graph output "${v.name}" is not produced by any node, input or initializer`);
      if (t.isOutput) throw fail("E_MODEL_INVALID", `graph output "${v.name}" is listed twice; ONNX graph outputs must have distinct names`);
      t.isOutput = true;
      outputs.push(v.name);
    }
    this.outputs = outputs;
    this.nodes = nodes;
    this.tensors = tensors;
    this.order = topoOrder(nodes, tensors);

    // training_mode is a constant false when an initializer or a Constant node holds zeros (raw or typed fields).
    const isConstFalse = (name: string): boolean => {
      let t: TensorProto | undefined = initializers.get(name);
      const p = tensors.get(name)?.producer;
      const maker = p === null || p === undefined ? undefined : nodes[p];
      if (!t && maker?.opType === "Constant" && maker.domain === "") t = maker.proto.attribute.find((a) => a.name === "value")?.t;
      if (!t) return false;
      try {
        const raw = tensorRawBytes(t, dir);
        return raw.length > 0 && raw.every((b) => b === 0);
      } catch {
        return false;
      }
    };
    const warnings: string[] = [];
    for (const node of nodes) {
      if (RANDOM_OPS.has(node.opType)) warnings.push(`node #${node.index} (${node.opType}) draws random numbers: outputs will not match run to run`);
      // Positional: node.inputs drops omitted ones, so Dropout(x, "", tm) has tm at proto.input[2].
      const tm = node.opType === "Dropout" ? node.proto.input[2] ?? "" : "";
      if (tm !== "" && !isConstFalse(tm)) {
        warnings.push(`node #${node.index} (Dropout) may run in training mode (training_mode input "${tm}"): outputs will not match run to run`);
      }
    }
    this.warnings = warnings;
  }

  /** Builds the graph view of a parsed model; `dir` is where its external data lives. */
  static fromModel(model: ModelProto, dir: string): Graph {
    return new Graph(model, dir);
  }

  /** Reads, parses and indexes a .onnx file. */
  static load(file: string): Graph {
    const m: LoadedModel = loadModel(file);
    return new Graph(m.proto, m.dir);
  }

  /** The tensor entry, or an E_UNKNOWN_TENSOR error naming it. */
  tensor(name: string): TensorEntry {
    const t = this.tensors.get(name);
    if (!t) throw fail("E_UNKNOWN_TENSOR", `no tensor named "${name}" in the top-level graph; \`edgecut inspect\` lists the cut tensors`);
    return t;
  }

  /** Declared ValueInfo (graph input, output or value_info) of a tensor, if any. */
  valueInfo(name: string): ValueInfoProto | undefined {
    return this.valueInfos.get(name);
  }

  /** Opset version of the default ONNX domain. */
  get opset(): number {
    return this.opsets.get("") ?? 1;
  }
}

/**
 * Every tensor the model holds (initializers, Constant and other tensor attributes, subgraphs,
 * functions) has an element type ONNX defines (E_MODEL_INVALID), dims whose element count fits
 * (E_TENSOR_DATA via tensorNumel) and, when its bytes are embedded as raw_data, exactly the bytes
 * that type and dims need (E_TENSOR_DATA): a corrupt file is refused here, not by onnxruntime later.
 */
function checkTensors(model: ModelProto): void {
  const check = (t: TensorProto): void => {
    const name = t.name || "(unnamed)";
    const type = dtypeName(t.dataType);
    if (type === undefined) throw fail("E_MODEL_INVALID", `tensor ${name} has element type ${t.dataType}, which ONNX does not define: the file is corrupt`);
    const n = tensorNumel(t);
    if (t.dataLocation === TensorProto_DataLocation.EXTERNAL || t.rawData.length === 0) return;
    const want = byteLength(t.dataType, n);
    if (want !== undefined && t.rawData.length !== want) {
      throw fail("E_TENSOR_DATA", `tensor ${name} (${type} [${t.dims.join(", ")}]) needs ${want} bytes of raw_data but holds ${t.rawData.length}: the file is corrupt or truncated`);
    }
  };
  if (model.graph) forEachTensor(model.graph, check);
  for (const f of model.functions) for (const n of f.node) forEachNodeTensor(n, check);
}

/**
 * Declared dims of the graph's inputs, outputs and value_info fit a tensor (E_MODEL_INVALID
 * otherwise). A negative dim_value stays allowed: converters write -1 for a dynamic dim.
 */
function checkDeclaredDims(g: GraphProto): void {
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) {
    const t = v.type?.value;
    if (t?.case !== "tensorType" && t?.case !== "sparseTensorType") continue;
    t.value.shape?.dim.forEach((d, i) => {
      if (d.value.case === "dimValue" && d.value.value > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw fail("E_MODEL_INVALID", `"${v.name}" declares dim ${i} = ${d.value.value}, larger than any tensor can be: the file is corrupt`);
      }
    });
  }
}

/** Kahn's algorithm, taking the lowest-index ready node first so a valid file order is kept. */
function topoOrder(nodes: readonly GraphNode[], tensors: ReadonlyMap<string, { producer: number | null }>): number[] {
  const indeg = new Array<number>(nodes.length).fill(0);
  const succ: number[][] = nodes.map(() => []);
  for (const n of nodes) {
    const preds = new Set<number>();
    for (const name of [...n.inputs, ...n.implicitInputs]) {
      const p = tensors.get(name)?.producer;
      if (p !== null && p !== undefined) preds.add(p);
    }
    for (const p of preds) {
      succ[p]!.push(n.index);
      indeg[n.index]!++;
    }
  }
  const heap = new MinHeap();
  for (let i = 0; i < nodes.length; i++) if (indeg[i] === 0) heap.push(i);
  const order: number[] = [];
  while (heap.size > 0) {
    const i = heap.pop();
    order.push(i);
    for (const s of succ[i]!) if (--indeg[s]! === 0) heap.push(s);
  }
  if (order.length < nodes.length) {
    // Walk predecessors among the unordered nodes until one repeats: that walk is on a cycle.
    const left = new Set<number>(nodes.map((n) => n.index).filter((i) => indeg[i]! > 0));
    let cur = [...left][0]!;
    const seen = new Set<number>();
    let via = "";
    while (!seen.has(cur)) {
      seen.add(cur);
      const n = nodes[cur]!;
      const next = [...n.inputs, ...n.implicitInputs].find((name) => {
        const p = tensors.get(name)?.producer;
        return p !== null && p !== undefined && left.has(p);
      })!;
      via = next;
      cur = tensors.get(next)!.producer!;
    }
    throw fail("E_GRAPH_CYCLE", `the graph has a cycle through tensor "${via}" (node #${cur}, ${nodes[cur]!.opType}); an ONNX graph must be acyclic`);
  }
  return order;
}

class MinHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
