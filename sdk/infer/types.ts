/**
 * The one inference interface apps program against. Two implementations: in-process (the app
 * embeds the agent core: runner, planner, offload client; agent/core) and the agent client (the
 * app calls the local agent service over HTTP; sdk/infer/agent-client.ts). Both take and return
 * the same tensors, so an app can move from one to the other by changing how it builds its
 * `Inference`.
 */
import type { RunBreakdown } from "../offload/split-runner.js";
import type { TensorMap } from "../runtime/tensor.js";

/** Options of one infer() call. */
export interface InferOptions {
  /** Gives up after this many ms (E_TIMEOUT). Default: the implementation's. */
  timeoutMs?: number;
  /** Aborts the call (E_ABORTED); work already sent may still run on the worker. */
  signal?: AbortSignal;
  /**
   * Runs at this split point instead of the planner's choice (0 = all cloud, n = all local).
   * For experiments and benchmarks; privacy and memory rules still apply (E_USAGE when it breaks one).
   */
  split?: number;
}

/**
 * Where one request's time and bytes went (ms on the device's monotonic clock, bytes on the
 * transport): SplitRunner's breakdown without the split point (InferResult.split says it), its
 * totalMs the whole request as the agent measured it.
 */
export type InferBreakdown = Omit<RunBreakdown, "k" | "segments">;

/** What infer() returns. */
export interface InferResult {
  /** The model outputs, by name, in the manifest's order. */
  outputs: TensorMap;
  /** The split point the request ran at: segments 0..split-1 on the device. */
  split: number;
  /** The agent's id for this request (a queued request's id, or one made for a direct call). */
  requestId: string;
  breakdown: InferBreakdown;
}

/** A model input or output as the agent serves it. */
export interface TensorSignature {
  name: string;
  type: string;
  /** Fixed sizes as numbers, symbolic or unknown ones as their name or null. */
  shape: (number | string | null)[];
}

/** The inference interface (see the module comment). */
export interface Inference {
  /** Runs the model once on `inputs` (every model input, nothing else) and returns its outputs. */
  infer(inputs: TensorMap, options?: InferOptions): Promise<InferResult>;
  /** The model's inputs and outputs. */
  signature(): Promise<{ inputs: TensorSignature[]; outputs: TensorSignature[] }>;
  /** Releases what the implementation holds (sessions, connections). Idempotent. */
  close(): Promise<void>;
}
