/**
 * Shape and type inference for the top-level graph, in pure TypeScript.
 *
 * inferShapes walks the nodes in topological order with one rule per op (shape-ops-*.ts),
 * keeping symbolic dims ("batch", "past_sequence + sequence") and the values of small integer
 * tensors (Shape chains) so Reshape/Expand/Slice targets resolve. Declared value_info/output
 * types fill what inference leaves unknown. What stays unknown is listed in `unresolved`;
 * probeShapes can then ask a real runtime (injected, so this module never loads onnxruntime).
 *
 * A symbolic dim counts as resolved (its name is known); `unresolved` lists tensors of unknown
 * element type, unknown rank or some unknown (null) dim. Sequence/map/optional values are never
 * listed: a probe run cannot return them.
 */
import { create } from "@bufbuild/protobuf";
import {
  GraphProtoSchema, ModelProtoSchema, TypeProtoSchema, TypeProto_TensorSchema, ValueInfoProtoSchema,
  type ModelProto, type ValueInfoProto,
} from "./onnx/onnx_pb.js";
import { byteLength } from "./dtypes.js";
import type { Graph } from "./graph.js";
import { EdgecutError, fail } from "../errors.js";
import { isIntType } from "./shape-ctx.js";
import { addInitializers, inferNode, Scope, type EngineEnv } from "./shape-engine.js";
import { normDim, solveDim } from "./shape-sym.js";
import { isConcrete, isUnresolved, typeFromProto, type Dim, type ShapeOptions, type ShapeResult, type TensorType } from "./shape-types.js";

export type { Dim, ShapeOptions, ShapeResult, TensorType, ValueKind } from "./shape-types.js";

function checkSize(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw fail("E_USAGE", `${what} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/**
 * Dim bindings from `dims` plus what `inputShapes` implies for the declared names
 * (input_ids declared [batch, sequence] given [1, 64] binds batch=1, sequence=64; an
 * expression with one unbound name, like "past_sequence + sequence", is solved for it).
 * Throws E_UNKNOWN_TENSOR / E_USAGE for shapes that name no input or contradict the model.
 */
export function resolveBindings(graph: Graph, opts: ShapeOptions): Map<string, number> {
  const b = new Map<string, number>();
  for (const [k, v] of Object.entries(opts.dims ?? {})) b.set(k, checkSize(v, `dim ${k}`));
  const given: [string, Dim[], number[]][] = [];
  for (const [name, shape] of Object.entries(opts.inputShapes ?? {})) {
    const t = graph.tensor(name);
    if (t.origin !== "input") throw fail("E_USAGE", `"${name}" is not a model input (it is ${t.origin === "node" ? "computed by a node" : `an ${t.origin}`}); give shapes for inputs only: ${graph.inputs.join(", ")}`);
    if (!Array.isArray(shape)) throw fail("E_USAGE", `the shape of input ${name} must be a list of sizes`);
    shape.forEach((d, i) => checkSize(d, `dim ${i} of input ${name}`));
    const declared = typeFromProto(t.declared, new Map())?.dims;
    if (declared && declared.length !== shape.length) {
      throw fail("E_USAGE", `input ${name} has rank ${declared.length} ([${declared.join(", ")}]) but the given shape [${shape.join(", ")}] has rank ${shape.length}`);
    }
    if (declared) given.push([name, declared, shape]);
  }
  for (let pass = 0; pass < 3; pass++) {
    for (const [, declared, shape] of given) {
      declared.forEach((d, i) => {
        const s = solveDim(d, shape[i]!, b);
        if (s && !b.has(s[0])) b.set(s[0], s[1]);
      });
    }
  }
  for (const [name, declared, shape] of given) {
    declared.forEach((d, i) => {
      const want = normDim(d, b);
      if (typeof want === "number" && want !== shape[i]) {
        throw fail("E_USAGE", `input ${name}: dim ${i} is ${typeof d === "string" ? `"${d}" = ${want}` : want} but the given shape says ${shape[i]}; make --shape and --dim agree with each other and the model`);
      }
    });
  }
  return b;
}

/** Infers types and shapes for the whole top-level graph in topological order. Pure TypeScript. */
export function inferShapes(graph: Graph, opts: ShapeOptions = {}): ShapeResult {
  const bindings = resolveBindings(graph, opts);
  const env: EngineEnv = { opsets: graph.opsets, functions: graph.functions, dir: graph.dir, bindings, depth: 0 };
  const scope = new Scope();
  addInitializers(scope, graph.graph, graph.dir);
  for (const name of graph.inputs) {
    const declared = typeFromProto(graph.tensor(name).declared, bindings);
    const shape = opts.inputShapes?.[name];
    const t: TensorType | undefined = shape ? { elemType: declared?.elemType ?? 0, dims: [...shape] } : declared;
    if (t) scope.types.set(name, t);
  }
  const declared = (name: string): TensorType | undefined => typeFromProto(graph.tensors.get(name)?.declared, bindings);
  for (const i of graph.order) inferNode(env, scope, graph.nodes[i]!.proto, declared);
  return finish(graph, scope);
}

function finish(graph: Graph, scope: Scope): ShapeResult {
  const types = new Map<string, TensorType>();
  const values = new Map<string, Dim[]>();
  for (const name of graph.tensors.keys()) {
    const t = scope.types.get(name);
    if (!t) continue;
    types.set(name, t);
    const v = scope.values.get(name);
    if (v && isIntType(t.elemType)) values.set(name, v);
  }
  const unresolved = [...graph.tensors.keys()].filter((n) => isUnresolved(types.get(n)));
  return { types, values, unresolved };
}

/** Concrete byte size of a tensor when fully known, else undefined. */
export function tensorBytes(t: TensorType | undefined): number | undefined {
  if (!t || (t.kind ?? "tensor") !== "tensor" || !isConcrete(t.dims)) return undefined;
  return byteLength(t.elemType, t.dims.reduce((a, b) => a * b, 1));
}

/**
 * Fallback: asks a runner for the real shapes of the named intermediates (the model run once on
 * sample inputs with those tensors exposed as outputs) and merges them into `result`. The
 * runner is injected so sdk/graph never imports onnxruntime.
 */
export type ProbeRunner = (model: ModelProto, exposed: string[]) => Promise<Record<string, { elemType: number; dims: number[] }>>;

/**
 * Largest tensor (bytes, as inferred at the concrete shapes) a probe run may meet: past it the
 * run would fill sample inputs and allocate activations no machine has (`--shape x=1x1000000000`
 * would otherwise fill 8 GB of sample ids for minutes, or kill the process).
 */
export const PROBE_MAX_TENSOR_BYTES = 2 ** 30;

/**
 * Probes every unresolved tensor a node produces and merges the answers into `result`
 * (which is updated in place and returned). Tensors the runner does not report stay unresolved.
 * E_SHAPE_INFERENCE without running when a known tensor is over PROBE_MAX_TENSOR_BYTES.
 */
export async function probeShapes(graph: Graph, result: ShapeResult, run: ProbeRunner): Promise<ShapeResult> {
  const wanted = result.unresolved.filter((n) => graph.tensors.get(n)?.origin === "node" && (result.types.get(n)?.kind ?? "tensor") === "tensor");
  if (wanted.length === 0) return result;
  let largest: [string, number] | undefined;
  for (const [name, t] of result.types) {
    const bytes = tensorBytes(t);
    if (bytes !== undefined && bytes > (largest?.[1] ?? PROBE_MAX_TENSOR_BYTES)) largest = [name, bytes];
  }
  if (largest !== undefined) {
    throw fail("E_SHAPE_INFERENCE", `the probe run for ${wanted.length} tensors with unknown shapes was not started: at these shapes "${largest[0]}" alone takes ${largest[1]} bytes, over the probe's limit of ${PROBE_MAX_TENSOR_BYTES}; give smaller shapes (--shape) or dims (--dim)`);
  }
  const model = exposeTensors(graph, wanted, result.types);
  let got: Record<string, { elemType: number; dims: number[] }>;
  try {
    got = await run(model, wanted);
  } catch (e) {
    if (e instanceof EdgecutError) throw e;
    throw fail("E_SHAPE_INFERENCE", `the probe run for ${wanted.length} tensors with unknown shapes failed: ${(e as Error).message}; give the inputs' shapes (--shape) or dims (--dim)`, e);
  }
  for (const name of wanted) {
    const r = got[name];
    if (!r || !Array.isArray(r.dims)) continue;
    result.types.set(name, { elemType: r.elemType || (result.types.get(name)?.elemType ?? 0), dims: [...r.dims] });
  }
  result.unresolved = result.unresolved.filter((n) => isUnresolved(result.types.get(n)));
  return result;
}

/** Builds the probe model: a copy of the model with the named tensors added as graph outputs (with their elem types when known). */
export function exposeTensors(graph: Graph, names: string[], types: Map<string, TensorType>): ModelProto {
  const g = graph.graph;
  const extra: ValueInfoProto[] = [];
  const seen = new Set(graph.outputs);
  for (const name of names) {
    graph.tensor(name); // E_UNKNOWN_TENSOR for names not in the top-level graph
    if (seen.has(name)) continue;
    seen.add(name);
    const elemType = types.get(name)?.elemType ?? 0;
    extra.push(create(ValueInfoProtoSchema, {
      name,
      type: elemType ? create(TypeProtoSchema, { value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType }) } }) : undefined,
    }));
  }
  const exposed = new Set(extra.map((v) => v.name));
  return create(ModelProtoSchema, {
    ...graph.model,
    // a stale value_info shape for an exposed tensor could contradict the runtime: drop it
    graph: create(GraphProtoSchema, { ...g, output: [...g.output, ...extra], valueInfo: g.valueInfo.filter((v) => !exposed.has(v.name)) }),
  });
}
