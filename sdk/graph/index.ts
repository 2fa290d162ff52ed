/**
 * edgecut's graph library: parse an ONNX model into a computational graph, infer shapes and
 * costs, find cut points, and write standalone segments with a manifest. No runtime, MQTT or
 * SQLite dependency: running models lives in sdk/runtime (the one place onnxruntime is loaded).
 *
 * Typical use:
 * ```ts
 * const g = Graph.load("model.onnx");
 * const a = analyze(g, { shapes: { input_ids: [1, 64] } });
 * const cuts = candidateCuts(g, a.metrics, { constants: a.constants });
 * const p = partition(g, 2, assignmentFromFronts(g, [cuts[3]!.front], a.constants), a.constants);
 * await writeSplit(g, p, "out/", { modelPath: "model.onnx", typeOf: symbolicTypeOf(a),
 *   concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops });
 * ```
 */
export { Graph, describeNode, functionKey, normDomain, type GraphNode, type TensorEntry, type TensorOrigin } from "./graph.js";
export {
  loadModel, parseModelBytes, saveModel, serializeModel, ExternalDataWriter, externalRef, tensorRawBytes, tensorByteSize,
  tensorNumel, mapGraphTensors, type LoadedModel, type SaveOptions, type ExternalRef,
} from "./model-io.js";
export { analyze, analyzeWithProbe, symbolicTypeOf, valueInfoFromType, type Analysis, type ShapeBindings } from "./analyze.js";
export { inferShapes, tensorBytes, probeShapes, exposeTensors, resolveBindings, type ProbeRunner } from "./shapes.js";
export type { Dim, TensorType, ShapeResult, ShapeOptions } from "./shape-types.js";
export { graphCost, nodeCost, type NodeCost, type GraphCost } from "./cost.js";
export { candidateCuts, frontForTensors, assertCuttable, type CandidateCut, type CutMetrics } from "./cuts.js";
export { optimalCut, predictSplit, type SplitCostModel, type SplitPrediction, type OptimalCut } from "./mincut.js";
export { segmentByBalance, assignmentFromFronts, type BalanceBy } from "./segmentation.js";
export { partition, constantInfo, frontOf, canCross, type Partition, type SegmentIO, type CutBoundary, type ConstantInfo } from "./partition.js";
export { extractSegment, type TypeLookup } from "./segment.js";
export { fixInputs, fixedInputTensor, type FixValue, type FixInputsOptions, type FixInputsResult } from "./fold.js";
export { writeSplit, checkOutDir, segmentFileName, type WriteSplitOptions, type ConcreteShapes } from "./split.js";
export { findStatePairs, defaultStateNaming, type StatePair, type StateNaming } from "./state.js";
export {
  ManifestSchema, parseManifest, loadManifest, computeSplitId, canonicalJson,
  type Manifest, type ManifestSegment, type ManifestCut, type ManifestState, type ManifestTensor, type LoadedManifest,
} from "./manifest.js";
export { buildModel, MODEL_KINDS, defaultOptions, type ModelKind, type ModelOptions } from "./models/index.js";
export { GraphBuilder, makeTensor, makeValueInfo, float, floats } from "./builder.js";
export { dtypeName, dtypeCode, byteLength, type DTypeName } from "./dtypes.js";
export { toDot } from "./dot.js";
