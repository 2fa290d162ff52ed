/**
 * edgecut's public API: the graph library (sdk/graph), running models and verifying splits
 * (sdk/runtime, backed by onnxruntime-node), and the error catalogue.
 */
export * from "./graph/index.js";
export { OrtSession, type OrtSessionOptions } from "./runtime/ort.js";
export { verifySplit, type VerifyOptions, type VerifyReport } from "./runtime/verify.js";
export { parseTensorFile, readTensorFile, formatTensorFile, writeTensorFile } from "./runtime/tensor-file.js";
export { sampleInputs, resolveInputShapes } from "./runtime/sample-inputs.js";
export { compareOutputs } from "./runtime/compare.js";
export { ortProbeRunner } from "./runtime/probe.js";
export type { HostTensor, HostType, TensorMap } from "./runtime/tensor.js";
export { EdgecutError, ERRORS, fail, type ErrorCode, type ErrorKind } from "./errors.js";
export * as wire from "./wire/index.js";
export {
  connectMqtt, createMemoryBus, startEmbeddedBroker, probeSharedSubscription, topics,
  type Transport, type MqttOptions,
} from "./transport/index.js";
export { OffloadClient, SplitRunner, ReplyError, type OffloadResult, type RunResult, type RunBreakdown } from "./offload/index.js";
export {
  createInference, connectAgent, type Inference, type InferOptions, type InferResult, type InferBreakdown, type TensorSignature,
  type InProcessInference, type InProcessOptions, type AgentClient, type AgentClientOptions, type WaitOptions,
  type AgentStatus, type RequestState, type SubmitResult,
} from "./infer/index.js";
export { shapeTransport, type ShapedTransport, type LinkSettings } from "./transport/index.js";
export { parseRate, parseDuration as parseDurationMs, parseSize } from "./units.js";
export {
  createGenerator, SplitGenerator, loadTokenizer, TokenTextStream, DEFAULT_SAMPLING,
  type GeneratorOptions, type TextGenerator, type TextGenerateOptions, type StreamedToken, type GenerateOptions, type GenerationStats,
  type TextTokenizer, type SamplingOptions,
} from "./generate/index.js";
