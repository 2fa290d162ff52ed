/**
 * Made-up model inputs for verification and probing: right types and shapes, values that keep a
 * model in its valid domain (token ids inside the vocabulary, attention masks all ones).
 */
import type { Graph } from "../graph/graph.js";
import { dtypeName } from "../graph/dtypes.js";
import { fail } from "../errors.js";
import { resolveBindings } from "../graph/shapes.js";
import { dimSymbols, normDim } from "../graph/shape-sym.js";
import { protoDims, type Dim } from "../graph/shape-types.js";
import { Mulberry32, streamSeed } from "../graph/models/rng.js";
import { floatToHalf, numel, type HostTensor, type HostType, type TensorMap } from "./tensor.js";

/** How sampleInputs sizes and seeds the inputs. */
export interface SampleInputOptions {
  /** Whole shapes of some inputs, e.g. { input_ids: [1, 64] }; their symbolic dims are learned from them. */
  shapes?: Record<string, number[]>;
  /** Values of symbolic dims, e.g. { batch: 1, sequence: 64, past_sequence: 0 }. */
  dims?: Record<string, number>;
  /** PRNG seed (default 0): the same seed gives the same tensors. */
  seed?: number;
}

/** Ops an index tensor may pass through on its way to a Gather (first input only). */
const PASS_THROUGH = new Set(["Cast", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Flatten"]);
/** Exclusive upper bound of the small int types, so a large table's row count cannot overflow them. */
const INT_LIMIT: Partial<Record<HostType, number>> = { int8: 128, uint8: 256, int16: 32768, uint16: 65536, int32: 2 ** 31 };
const SAMPLE_TYPES = new Set<HostType>(["float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool"]);

interface InputDecl {
  name: string;
  type: HostType;
  /** Declared dims: value, dim_param text, or null (unknown); null shape = rank unknown. */
  shape: Dim[] | null;
}

function declaredInputs(graph: Graph): InputDecl[] {
  return graph.inputs.map((name) => {
    const tt = graph.tensor(name).declared?.value;
    if (tt?.case !== "tensorType") {
      throw fail("E_UNSUPPORTED", `input "${name}" is not a plain tensor (it is ${tt?.case ?? "untyped"}); pass its value in an inputs file`);
    }
    const type = dtypeName(tt.value.elemType);
    if (type === undefined || !SAMPLE_TYPES.has(type as HostType)) {
      throw fail("E_UNSUPPORTED", `input "${name}" has type ${type ?? tt.value.elemType}, for which edgecut cannot make sample values; pass it in an inputs file`);
    }
    return { name, type: type as HostType, shape: protoDims(tt.value.shape) };
  });
}

/**
 * The concrete shape of every real model input: `shapes[name]` when given (checked against the
 * declared rank and fixed dims), else the declared shape with symbolic dims taken from `dims` or
 * learned from the given shapes. A dim still unknown is an E_USAGE error saying which flag to pass.
 */
export function resolveInputShapes(graph: Graph, opts: Pick<SampleInputOptions, "shapes" | "dims"> = {}): Record<string, number[]> {
  return resolve(graph, declaredInputs(graph), opts);
}

function resolve(graph: Graph, decls: readonly InputDecl[], opts: Pick<SampleInputOptions, "shapes" | "dims">): Record<string, number[]> {
  const shapes = opts.shapes ?? {};
  for (const [name, given] of Object.entries(shapes)) {
    const d = decls.find((x) => x.name === name);
    if (!d) throw fail("E_USAGE", `--shape names "${name}", which is not a model input (inputs: ${decls.map((x) => x.name).join(", ")})`);
    if (!d.shape) continue;
    if (given.length !== d.shape.length) {
      throw fail("E_USAGE", `--shape ${name}=${given.join("x")} has rank ${given.length}, but the model declares [${d.shape.map((x) => x ?? "?").join(", ")}] (rank ${d.shape.length})`);
    }
    d.shape.forEach((decl, i) => {
      if (typeof decl === "number" && decl !== given[i]) throw fail("E_USAGE", `--shape ${name}=${given.join("x")}: dim ${i} is fixed to ${decl} by the model`);
    });
  }
  // Same binding rules as shape inference: --dim values, then what the given shapes imply.
  const known = resolveBindings(graph, { inputShapes: shapes, dims: opts.dims ?? {} });
  const out: Record<string, number[]> = {};
  for (const d of decls) {
    const given = shapes[d.name];
    if (given) {
      out[d.name] = [...given];
      continue;
    }
    if (!d.shape) throw fail("E_USAGE", `input "${d.name}" declares no shape; pass --shape ${d.name}=AxB...`);
    out[d.name] = d.shape.map((decl, i) => {
      if (typeof decl === "number") return decl;
      const v = normDim(decl, known);
      if (typeof v === "number") {
        if (v < 0) throw fail("E_USAGE", `input "${d.name}" dim ${i} ("${decl}") comes out as ${v}; check the --dim values`);
        return v;
      }
      const missing = dimSymbols(decl).filter((m) => !known.has(m));
      const what = decl === null ? "has no name" : `is "${decl}"`;
      const hint = missing.length ? missing.map((m) => `--dim ${m}=N`).join(" ") : `--shape ${d.name}=${d.shape!.map(() => "N").join("x")}`;
      throw fail("E_USAGE", `input "${d.name}" dim ${i} ${what} and its value is unknown; pass ${hint} (or --shape ${d.name}=...)`);
    });
  }
  return out;
}

/**
 * Rows of the embedding tables an integer input indexes: the smallest dims[axis] over every Gather
 * that reads it as indices (directly or through Cast/Reshape/Unsqueeze/...) from an initializer.
 */
export function indexRange(graph: Graph, input: string): number | undefined {
  let rows: number | undefined;
  const seen = new Set<string>();
  const queue = [input];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const ci of graph.tensor(name).consumers) {
      const node = graph.nodes[ci]!;
      if (PASS_THROUGH.has(node.opType) && node.domain === "" && node.inputs[0] === name) queue.push(...node.outputs);
      if (node.opType !== "Gather" || node.domain !== "" || node.inputs[1] !== name) continue;
      const table = graph.initializers.get(node.inputs[0] ?? "");
      if (!table) continue;
      const axisAttr = node.proto.attribute.find((a) => a.name === "axis");
      let axis = axisAttr ? Number(axisAttr.i) : 0;
      if (axis < 0) axis += table.dims.length;
      const n = table.dims[axis];
      if (n === undefined) continue;
      rows = Math.min(rows ?? Infinity, Number(n));
    }
  }
  return rows;
}

/** Uniform [0, 1) from the (seed, name) stream: each input gets its own stream, so adding an input does not change the others. */
function uniformStream(seed: number, name: string): () => number {
  const r = new Mulberry32(streamSeed(seed, name));
  return () => r.nextU32() / 4294967296;
}

/**
 * Sample values for every real model input. Index inputs (ints feeding a Gather on an
 * initializer) are drawn in [0, rows); inputs whose name contains "mask" are all ones (any
 * type); other ints are in [0, 10); floats are uniform in [-1, 1); bools are random. KV-cache
 * inputs get their declared shape, so `past_sequence: 0` gives empty caches.
 */
export function sampleInputs(graph: Graph, opts: SampleInputOptions = {}): TensorMap {
  const decls = declaredInputs(graph);
  const shapes = resolve(graph, decls, opts);
  const out: TensorMap = {};
  for (const d of decls) {
    const dims = shapes[d.name]!;
    const n = numel(dims);
    const rnd = uniformStream(opts.seed ?? 0, d.name);
    const isMask = /mask/i.test(d.name);
    const hi = d.type.startsWith("float") ? 0 : Math.min(indexRange(graph, d.name) ?? 10, INT_LIMIT[d.type] ?? Infinity);
    const int = (): number => (isMask ? 1 : Math.floor(rnd() * hi));
    out[d.name] = fill(d.type, dims, n, rnd, int, isMask);
  }
  return out;
}

function fill(type: HostType, dims: number[], n: number, rnd: () => number, int: () => number, isMask: boolean): HostTensor {
  const uniform = (): number => (isMask ? 1 : rnd() * 2 - 1);
  switch (type) {
    case "float32": return { type, dims, data: Float32Array.from({ length: n }, uniform) };
    case "float64": return { type, dims, data: Float64Array.from({ length: n }, uniform) };
    case "float16": return { type, dims, data: Uint16Array.from({ length: n }, () => floatToHalf(uniform())) };
    case "bool": return { type, dims, data: Uint8Array.from({ length: n }, () => (isMask || rnd() < 0.5 ? 1 : 0)) };
    case "int8": return { type, dims, data: Int8Array.from({ length: n }, int) };
    case "uint8": return { type, dims, data: Uint8Array.from({ length: n }, int) };
    case "int16": return { type, dims, data: Int16Array.from({ length: n }, int) };
    case "uint16": return { type, dims, data: Uint16Array.from({ length: n }, int) };
    case "int32": return { type, dims, data: Int32Array.from({ length: n }, int) };
    case "uint32": return { type, dims, data: Uint32Array.from({ length: n }, int) };
    case "int64": return { type, dims, data: BigInt64Array.from({ length: n }, () => BigInt(int())) };
    case "uint64": return { type, dims, data: BigUint64Array.from({ length: n }, () => BigInt(int())) };
    case "string": throw fail("E_UNSUPPORTED", "string inputs cannot be sampled; pass them in an inputs file");
  }
}
