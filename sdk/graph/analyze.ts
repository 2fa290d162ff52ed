/**
 * One analysis of a model at given shapes: symbolic types (what segments declare), concrete
 * types (what bytes and FLOPs are computed at), per-node costs, and the metrics cut finding uses.
 * `inspect` and `split` both start here.
 */
import { create } from "@bufbuild/protobuf";
import { TensorShapeProtoSchema, TensorShapeProto_DimensionSchema, TypeProtoSchema, TypeProto_TensorSchema, ValueInfoProtoSchema, type ValueInfoProto } from "./onnx/onnx_pb.js";
import type { Graph } from "./graph.js";
import { constantInfo, type ConstantInfo } from "./partition.js";
import { inferShapes, probeShapes, resolveBindings, tensorBytes, type Dim, type ProbeRunner, type ShapeResult, type TensorType } from "./shapes.js";
import { dimSymbols, normDim } from "./shape-sym.js";
import { tensorTypeDims } from "./shape-types.js";
import { graphCost, type NodeCost } from "./cost.js";
import type { CutMetrics } from "./cuts.js";
import { initializerBytes } from "./model-io.js";
import { fail } from "../errors.js";

/** Shapes the user gave (`--shape`, `--dim`). */
export interface ShapeBindings {
  /** Concrete dims per model input. */
  shapes?: Record<string, number[]>;
  /** Values of symbolic dims. */
  dims?: Record<string, number>;
}

/** The result of analyze(). */
export interface Analysis {
  graph: Graph;
  constants: ConstantInfo;
  /** Types with the model's symbolic dims (no bindings). */
  symbolic: ShapeResult;
  /** Types at the concrete shapes below. */
  concrete: ShapeResult;
  /** Concrete dims of every model input used for `concrete`. */
  inputShapes: Record<string, number[]>;
  /** Values of every symbolic dim used (given or assumed). */
  dims: Record<string, number>;
  /** Symbolic dims nobody bound, taken as 1. */
  assumedDims: string[];
  cost: { flops: number; unknownNodes: number; weightBytes: number; perNode: NodeCost[] };
  metrics: CutMetrics;
}

function declaredDims(g: Graph, name: string): Dim[] | null {
  return tensorTypeDims(g.valueInfo(name)?.type);
}

/** Every symbolic dim name the model declares on its inputs, outputs and value_info. */
function declaredSymbols(g: Graph): Set<string> {
  const out = new Set<string>();
  for (const v of [...g.graph.input, ...g.graph.output, ...g.graph.valueInfo]) {
    for (const d of declaredDims(g, v.name) ?? []) {
      if (typeof d !== "string") continue;
      out.add(d);
      for (const s of dimSymbols(d)) out.add(s);
    }
  }
  return out;
}

/**
 * Infers shapes (symbolic and concrete) and costs. Dims bind from `--dim` values, then from
 * `--shape`s (an expression such as "past_sequence + sequence" is solved for its one unknown);
 * symbolic dims nobody bound count as 1.
 */
export function analyze(g: Graph, bindings: ShapeBindings = {}): Analysis {
  const given = bindings.shapes ?? {};
  for (const [name, shape] of Object.entries(given)) {
    if (!g.inputs.includes(name)) {
      throw fail("E_UNKNOWN_TENSOR", `--shape ${name}: the model has no input named "${name}"; its inputs are ${g.inputs.join(", ")}`);
    }
    const decl = declaredDims(g, name);
    if (decl && decl.length !== shape.length) {
      throw fail("E_BAD_SHAPE_FLAG", `--shape ${name}=${shape.join("x")}: the input has rank ${decl.length} (${decl.map((d) => d ?? "?").join("x")})`);
    }
    decl?.forEach((d, i) => {
      if (typeof d === "number" && d !== shape[i]) throw fail("E_BAD_SHAPE_FLAG", `--shape ${name}: dim ${i} is fixed at ${d} in the model, not ${shape[i]}`);
    });
  }
  const symbols = declaredSymbols(g);
  for (const name of Object.keys(bindings.dims ?? {})) {
    if (!symbols.has(name)) {
      throw fail("E_BAD_SHAPE_FLAG", `--dim ${name}: the model has no symbolic dim named "${name}"; its dims are ${[...symbols].join(", ") || "(none: every dim is fixed)"}`);
    }
  }
  const b = resolveBindings(g, { inputShapes: given, dims: bindings.dims ?? {} });
  const assumed: string[] = [];
  const inputShapes: Record<string, number[]> = {};
  for (const name of g.inputs) {
    const decl = declaredDims(g, name);
    for (const d of decl ?? []) {
      for (const s of dimSymbols(d)) if (!b.has(s)) { b.set(s, 1); assumed.push(s); }
    }
    const shape = given[name] ?? decl?.map((d) => {
      const v = normDim(d, b);
      return typeof v === "number" ? v : 1;
    });
    if (shape) inputShapes[name] = shape;
  }
  const dims = Object.fromEntries(b);
  const symbolic = inferShapes(g, {});
  const concrete = inferShapes(g, { inputShapes, dims });
  return withCosts({ graph: g, constants: constantInfo(g), symbolic, concrete, inputShapes, dims, assumedDims: assumed });
}

/** Adds the costs and cut metrics that follow from `concrete`. */
function withCosts(a: Omit<Analysis, "cost" | "metrics">): Analysis {
  const { graph: g, concrete } = a;
  const cost = graphCost(g, concrete);
  const metrics: CutMetrics = {
    tensorBytes: (name) => tensorBytes(concrete.types.get(name)) ?? null,
    nodeFlops: (node) => cost.perNode[node]?.flops ?? null,
    weightBytes: (name) => initializerBytes(g, name),
  };
  return { ...a, cost, metrics };
}

/**
 * analyze(), then, only for what inference left unsized, one probe run (the model run on sample
 * inputs with those tensors exposed) through the injected runner; costs are recomputed after it.
 * `makeRunner` gets the concrete shapes the probe must use.
 */
export async function analyzeWithProbe(
  g: Graph, bindings: ShapeBindings, makeRunner: (shapes: Record<string, number[]>, dims: Record<string, number>) => ProbeRunner,
): Promise<Analysis & { probed: number; probeError?: string }> {
  const a = analyze(g, bindings);
  const wanted = a.concrete.unresolved.filter((n) => g.tensors.get(n)?.origin === "node");
  if (wanted.length === 0) return { ...a, probed: 0 };
  try {
    await probeShapes(g, a.concrete, makeRunner(a.inputShapes, a.dims));
  } catch (e) {
    // The probe is a fallback: if the runtime cannot run the model (a custom op, say), the
    // tensors stay unsized, which matters only if a cut carries one (split then says so).
    return { ...a, probed: 0, probeError: (e as Error).message };
  }
  return { ...withCosts(a), probed: wanted.length };
}

/** A ValueInfoProto from an inferred type (symbolic dims become dim_param; null stays unknown). */
export function valueInfoFromType(name: string, t: TensorType | undefined): ValueInfoProto | undefined {
  if (!t || (t.kind && t.kind !== "tensor")) return undefined;
  const shape = t.dims === null ? undefined : create(TensorShapeProtoSchema, {
    dim: t.dims.map((d) => create(TensorShapeProto_DimensionSchema, {
      value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : typeof d === "string" ? { case: "dimParam", value: d } : { case: undefined },
    })),
  });
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType: t.elemType, shape }) } }),
  });
}

/** Symbolic ValueInfo for a tensor: declared model I/O first, else inferred. */
export function symbolicTypeOf(a: Analysis): (name: string) => ValueInfoProto | undefined {
  return (name) => {
    const g = a.graph;
    if (g.inputs.includes(name) || g.outputs.includes(name)) {
      const v = g.valueInfo(name);
      if (v?.type) return v;
    }
    const sym = a.symbolic.types.get(name);
    const conc = a.concrete.types.get(name);
    if (sym && sym.elemType) return valueInfoFromType(name, sym);
    // Sized only at concrete shapes (probed): keep the element type and rank, dims unknown, so the
    // segment still runs at other shapes.
    if (conc && conc.elemType) return valueInfoFromType(name, { ...conc, dims: conc.dims === null ? null : conc.dims.map(() => null) });
    return valueInfoFromType(name, sym) ?? g.valueInfo(name);
  };
}
