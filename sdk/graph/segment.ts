/**
 * One segment of a partition as a standalone ONNX model.
 *
 * The segment model reuses the source's message objects (NodeProtos with their subgraphs,
 * TensorProtos of weights, FunctionProtos) rather than copying them: an ExternalDataWriter shared
 * by all segments of a split dedupes by TensorProto identity, so a weight two segments use (a tied
 * embedding / LM head) lands in the data file once. Nothing here modifies the source model.
 */
import { create } from "@bufbuild/protobuf";
import {
  GraphProtoSchema, ModelProtoSchema, TypeProtoSchema, TypeProto_TensorSchema, ValueInfoProtoSchema,
  type ModelProto, type SparseTensorProto, type TensorProto, type ValueInfoProto,
} from "./onnx/onnx_pb.js";
import { DT } from "./dtypes.js";
import type { Graph } from "./graph.js";
import type { SegmentIO } from "./partition.js";
import { usedFunctions } from "./functions.js";
import { fail } from "../errors.js";

/** Looks up the (symbolic) type of a tensor; built by the caller from shape inference. */
export type TypeLookup = (name: string) => ValueInfoProto | undefined;

/**
 * Element type of a tensor that carries its own type: an initializer, a sparse initializer or a
 * Constant node's output. Used when neither shape inference nor the model declares the tensor.
 */
function intrinsicElemType(g: Graph, name: string): number | undefined {
  const init = g.initializers.get(name);
  if (init) return init.dataType;
  const sparse = g.sparseInitializers.get(name);
  if (sparse?.values) return sparse.values.dataType;
  const p = g.tensors.get(name)?.producer;
  if (p === null || p === undefined) return undefined;
  const n = g.nodes[p]!;
  if (n.opType !== "Constant" || n.domain !== "") return undefined;
  const a = n.proto.attribute[0];
  if (!a) return undefined;
  const t: TensorProto | undefined = a.t ?? a.sparseTensor?.values;
  if (t) return t.dataType;
  // value_float(s) / value_int(s) / value_string(s) (ONNX Constant, opset 12+)
  if (a.name.startsWith("value_float")) return DT.FLOAT;
  if (a.name.startsWith("value_int")) return DT.INT64;
  if (a.name.startsWith("value_string")) return DT.STRING;
  return undefined;
}

/**
 * The ValueInfo a segment declares for one of its inputs or outputs: `typeOf` first (symbolic
 * shapes from inference, so a split computed at 1x64 still runs at 2x17), then the model's own
 * declaration, then the tensor's element type with no shape. `what` names the role in errors.
 */
export function segmentValueInfo(g: Graph, name: string, typeOf: TypeLookup, what: string): ValueInfoProto {
  const vi = typeOf(name) ?? g.valueInfo(name);
  if (vi?.type) {
    return create(ValueInfoProtoSchema, { name, type: vi.type, docString: vi.docString, metadataProps: vi.metadataProps });
  }
  const elemType = intrinsicElemType(g, name);
  if (elemType === undefined) {
    throw fail("E_SHAPE_INFERENCE", `the type of ${what} "${name}" is unknown: shape inference did not type it and the model does not declare it; pass its shape (--shape) or add a value_info for it to the model`);
  }
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: "tensorType", value: create(TypeProto_TensorSchema, { elemType }) } }),
  });
}

/**
 * Builds segment `seg` of a partition as a standalone, valid ModelProto:
 * - graph inputs/outputs are `seg.inputs`/`seg.outputs`, typed via `typeOf` (see segmentValueInfo);
 * - nodes are `seg.nodes` in order (the source NodeProtos, subgraphs included);
 * - initializers are `seg.weights` only (the source TensorProtos, dense and sparse);
 * - ir_version, every opset_import (custom domains kept), producer fields and metadata are the source's;
 * - model-local functions are only those the segment calls (transitively, see usedFunctions);
 * - value_info keeps only tensors the segment computes or holds that are not its inputs/outputs.
 * The graph is named `<source graph name>_seg<index>`. Training info is dropped (it describes the whole model).
 */
export function extractSegment(g: Graph, seg: SegmentIO, typeOf: TypeLookup): ModelProto {
  const src = g.graph;
  const nodes = seg.nodes.map((i) => {
    const n = g.nodes[i];
    if (!n) throw fail("E_INTERNAL", `segment ${seg.index} names node #${i}, which the graph does not have`);
    return n;
  });

  const initializer: TensorProto[] = [];
  const sparseInitializer: SparseTensorProto[] = [];
  for (const w of seg.weights) {
    const dense = g.initializers.get(w);
    const sparse = g.sparseInitializers.get(w);
    if (dense) initializer.push(dense);
    else if (sparse) sparseInitializer.push(sparse);
    else throw fail("E_INTERNAL", `segment ${seg.index} lists weight "${w}", which is not an initializer of the model`);
  }

  const io = new Set([...seg.inputs, ...seg.outputs]);
  const present = new Set<string>([...seg.inputs, ...seg.weights]);
  for (const n of nodes) for (const o of n.outputs) present.add(o);
  // Stale value_info (tensors of other segments) would declare names the segment never defines.
  const valueInfo = src.valueInfo.filter((v) => present.has(v.name) && !io.has(v.name));
  const quantizationAnnotation = src.quantizationAnnotation.filter((q) => present.has(q.tensorName));

  const graph = create(GraphProtoSchema, {
    name: `${src.name || "model"}_seg${seg.index}`,
    docString: src.docString,
    node: nodes.map((n) => n.proto),
    input: seg.inputs.map((t) => segmentValueInfo(g, t, typeOf, `segment ${seg.index} input`)),
    output: seg.outputs.map((t) => segmentValueInfo(g, t, typeOf, `segment ${seg.index} output`)),
    initializer,
    sparseInitializer,
    valueInfo,
    quantizationAnnotation,
    metadataProps: src.metadataProps,
  });
  // Fields newer than our schema ride along (protobuf-es keeps them as unknown fields).
  if (src.$unknown) graph.$unknown = src.$unknown;

  const m = g.model;
  const model = create(ModelProtoSchema, {
    irVersion: m.irVersion,
    opsetImport: m.opsetImport,
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    domain: m.domain,
    modelVersion: m.modelVersion,
    docString: m.docString,
    metadataProps: m.metadataProps,
    configuration: m.configuration,
    graph,
    functions: usedFunctions(g, seg.nodes),
  });
  if (m.$unknown) model.$unknown = m.$unknown;
  return model;
}
