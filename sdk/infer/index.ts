/**
 * The inference interface apps program against, and its two implementations: in-process
 * (createInference: the app embeds the agent core) and the agent client (connectAgent: the app
 * calls the local agent service over HTTP).
 */
export type { Inference, InferOptions, InferResult, InferBreakdown, TensorSignature } from "./types.js";
export { connectAgent, type AgentClient, type AgentClientOptions, type WaitOptions } from "./agent-client.js";
export { createInference, type InProcessInference, type InProcessOptions } from "./in-process.js";
export type { AgentGeneration, AgentGenerateOptions, GenerationStats, StreamedToken } from "./generate-types.js";
export type { AgentStatus, AgentHealth, AgentEvents, RequestEvent, SwitchEvent, RequestState, SubmitResult } from "../../agent/core/types.js";
