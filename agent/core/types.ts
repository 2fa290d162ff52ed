/**
 * What the agent core offers its front ends (the local HTTP API, the in-process SDK, the CLI):
 * synchronous inference, durable queued requests under an Idempotency-Key, the live status and
 * plan table, health, and events the metrics and telemetry count. The core is agent/core/agent.ts;
 * front ends depend on this interface only, so they are tested against a fake core.
 */
import type { InferOptions, InferResult, TensorSignature } from "../../sdk/infer/types.js";
import type { AgentGeneration } from "../../sdk/infer/generate-types.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import type { NetworkEstimateDetail } from "../network/estimator.js";
import type { DeviceSample } from "../monitor/types.js";
import type { Plan } from "../planner/types.js";

/** The state of a queued request (GET /v1/requests/<id>). */
export type RequestState =
  | { id: string; key: string; status: "queued" | "running"; createdAt: number; attempts: number }
  | { id: string; key: string; status: "done"; createdAt: number; finishedAt: number; attempts: number; result: InferResult }
  | { id: string; key: string; status: "failed"; createdAt: number; finishedAt: number; attempts: number; error: { code: string; message: string } };

/** What submit() did. */
export interface SubmitResult {
  /** The request's id (GET /v1/requests/<id>). */
  id: string;
  /** False when the Idempotency-Key was known: the existing request is returned, nothing is run again. */
  created: boolean;
  status: RequestState["status"];
}

/** GET /v1/status. Times are ms on the agent's clock; bytes are bytes. */
export interface AgentStatus {
  deviceId: string;
  version: string;
  /** The split being served: its manifest's splitId and segment count. */
  model: { splitId: string; segments: number; manifest: string };
  /** The split point in use (null before the first feasible plan or while no split can run). */
  split: number | null;
  /** What the agent does now: offload, local, queue (holding requests for the cloud), fail. */
  action: Plan["action"];
  /** Why the policy made its last decision. */
  reason: string;
  /** The last plan table. */
  plan: Plan | null;
  device: DeviceSample | null;
  network: NetworkEstimateDetail;
  /**
   * The worker's reported compute (ms) for segments k..n-1, by split point k = 0..n-1 (null where
   * no request ran at k yet; smoothed), and its queueing.
   */
  cloud: { computeMsFrom: (number | null)[]; queueMs: number };
  /** Queued requests waiting or running. */
  queueDepth: number;
  /** Requests being run now. */
  inFlight: number;
  /** Split switches since start. */
  switches: number;
  uptimeMs: number;
  ready: boolean;
}

/** /healthz and /readyz. */
export interface AgentHealth {
  /** The process works (event loop, store). False means: restart me. */
  live: boolean;
  /** Takes requests now (started, not draining, some split can run or requests can queue). */
  ready: boolean;
  /** Why not live or not ready (empty when both hold). */
  reasons: string[];
}

/** One finished request, for metrics and telemetry. */
export interface RequestEvent {
  requestId: string;
  /** "direct" for infer(), "queued" for a job from the durable queue. */
  kind: "direct" | "queued";
  split: number | null;
  outcome: "ok" | "error";
  /** The error code when outcome is "error". */
  code?: string;
  /** Present when outcome is "ok". */
  breakdown?: InferResult["breakdown"];
}

/** A change of the split point. */
export interface SwitchEvent {
  from: number | null;
  to: number | null;
  reason: string;
}

/** Events the core emits. */
export interface AgentEvents {
  request: (e: RequestEvent) => void;
  switch: (e: SwitchEvent) => void;
}

/** The agent core (see the module comment). */
export interface AgentCore {
  /** Runs one request now (at the planner's split unless options.split says otherwise). */
  infer(inputs: TensorMap, options?: InferOptions): Promise<InferResult>;
  /**
   * Queues a request durably under `key` (written to the store before this returns) and runs it in
   * the background; the same key returns the existing request and never runs it twice.
   */
  submit(key: string, inputs: TensorMap): SubmitResult;
  /** A queued request by id, or undefined. */
  getRequest(id: string): RequestState | undefined;
  /** The model's inputs and outputs (for validating API bodies). */
  signature(): { inputs: TensorSignature[]; outputs: TensorSignature[] };
  status(): AgentStatus;
  health(): AgentHealth;
  on<E extends keyof AgentEvents>(event: E, fn: AgentEvents[E]): void;
  /**
   * Streams generated tokens (POST /v1/generate; agent/core/generation.ts). Absent from cores
   * that cannot generate at all (the API then answers E_NOT_GENERATIVE).
   */
  generate?: AgentGeneration["generate"];
}
