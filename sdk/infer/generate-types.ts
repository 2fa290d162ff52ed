/**
 * Text generation through the agent: the one generate() both the agent client (connectAgent:
 * POST /v1/generate, JSON lines) and the in-process inference (createInference: the agent core
 * itself) offer, with the shape of TextGenerator.generate (sdk/generate/index.ts).
 */
import type { GenerationStats } from "../generate/generator.js";
import type { StreamedToken, TextGenerateOptions } from "../generate/index.js";

/**
 * Options of one generate() call through the agent: TextGenerateOptions without `until` (a
 * callback cannot travel to the agent service; stop on `stop` ids or texts, or stop reading).
 */
export interface AgentGenerateOptions extends Omit<TextGenerateOptions, "until"> {
  /**
   * The worker runs segments split..n-1 (n: everything on the device). Default: the split the
   * agent's policy chose for inference at the start of the call. Fixed for the whole call.
   */
  split?: number;
}

/** What can generate text through the agent. */
export interface AgentGeneration {
  /**
   * Streams new tokens after `input` (text, when the agent has a tokenizer, or token ids);
   * greedy unless sampling options say otherwise. The iterator's return value is the run's stats.
   * Errors are EdgecutErrors: E_NOT_GENERATIVE (the model has no KV cache), E_USAGE (bad options,
   * text without a tokenizer), E_NO_SPLIT, E_ABORTED (the signal), and the offload's codes.
   */
  generate(input: string | readonly number[], opts: AgentGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats>;
}

export type { GenerationStats, StreamedToken };
