/**
 * The error catalogue: every error edgecut raises on purpose has a stable code listed here.
 * Codes never change meaning; new ones are appended. The CLI maps `usage`/`input` errors to
 * exit code 2 and `check` errors to exit code 1.
 */

/** How an error is reported by the CLI (exit code 2 for usage/input, 1 for check, 3 for internal). */
export type ErrorKind = "usage" | "input" | "check" | "internal";

/** Stable error codes with their kind and a one-line description (listed by `edgecut errors`). */
export const ERRORS = {
  // Usage (CLI flags, API arguments)
  E_USAGE: ["usage", "A command-line flag or API argument is missing, malformed or contradictory."],
  E_BAD_SHAPE_FLAG: ["usage", "A --shape/--dim value is not name=AxBxC / dim=N."],
  E_OUTPUT_EXISTS: ["usage", "The output directory exists and is not empty."],

  // Model files
  E_MODEL_READ: ["input", "The model file cannot be read (missing, unreadable, or a directory)."],
  E_MODEL_PARSE: ["input", "The file is not a valid ONNX ModelProto (truncated, corrupt or not ONNX)."],
  E_MODEL_INVALID: ["input", "The ONNX model is structurally invalid (missing graph, bad fields)."],
  E_EXTERNAL_DATA: ["input", "An external data file is missing, outside the model folder, or too short."],
  E_TENSOR_DATA: ["input", "A tensor's data does not match its type and dims."],
  E_UNSUPPORTED: ["input", "The model uses a feature edgecut does not support (named in the message)."],

  // Graph structure
  E_GRAPH_CYCLE: ["input", "The graph has a cycle (the message names a tensor on it)."],
  E_DUPLICATE_PRODUCER: ["input", "Two nodes (or a node and an input/initializer) produce the same tensor."],
  E_DUPLICATE_INITIALIZER: ["input", "Two initializers share a name."],
  E_DANGLING_INPUT: ["input", "A node reads a tensor that nothing produces."],
  E_UNKNOWN_TENSOR: ["input", "A tensor named by the user does not exist in the graph."],
  E_SHAPE_INFERENCE: ["input", "Shapes could not be inferred and no probe run could resolve them."],

  // Cuts and splits
  E_CUT_NOT_SEPARATING: ["input", "The cut does not separate the graph into a non-empty front and back."],
  E_CUT_INSIDE_SUBGRAPH: ["input", "The cut names a tensor inside an If/Loop/Scan body; cut before or after the node."],
  E_CUT_CONTROL_FLOW_ONLY: ["input", "The model's work sits inside one control-flow node: no cut exists at the top level."],
  E_CUT_NON_TENSOR: ["input", "The cut would carry a sequence, map or optional value; only tensors can cross."],
  E_CUT_ORDER: ["input", "Cuts are not in dependency order, or two cuts coincide."],
  E_NO_CANDIDATES: ["input", "The model offers no candidate cut points."],
  E_SEGMENTS: ["usage", "The requested number of segments is not possible for this model."],

  // Manifests and tensor files
  E_MANIFEST: ["input", "manifest.json is missing fields, has wrong types, or names missing files."],
  E_MANIFEST_HASH: ["check", "A file's sha256 does not match the manifest."],
  E_TENSOR_FILE: ["input", "A tensor file (JSON) is malformed: wrong type, dims, data length or unknown keys."],
  E_INPUT_MISSING: ["input", "A required model input was not given."],

  // Runtime and verification
  E_RUNTIME: ["input", "onnxruntime refused to load or run a model with these inputs (its message is included)."],
  E_IO: ["input", "Reading or writing a file failed (disk full, permissions, ...; the system's message is included)."],
  E_VERIFY_MISMATCH: ["check", "The chained segments' outputs differ from the whole model's."],
  E_INTERNAL: ["internal", "A bug in edgecut: please report it with the command line."],

  // Wire format and offload (frames on the broker, the cloud worker, the device's split runner)
  E_PROTOCOL_VERSION: ["input", "A frame speaks another protocol version than this peer."],
  E_FRAME: ["input", "A frame is malformed: bad magic, header, tensor table, offsets or lengths."],
  E_FRAME_LIMIT: ["input", "A frame exceeds a configured limit (bytes, tensors, rank, elements)."],
  E_FRAGMENT: ["input", "Fragments of a frame are inconsistent, too large, or did not all arrive in time."],
  E_DEVICE_MISMATCH: ["input", "A frame's device id differs from the device its topic names."],
  E_UNKNOWN_SPLIT: ["input", "The worker serves no split with this splitId."],
  E_SEGMENT_RANGE: ["input", "The requested segment range does not exist in the split."],
  E_BUSY: ["input", "The worker's queue is full; retry later or elsewhere."],
  E_TIMEOUT: ["input", "No reply arrived within the request's timeout (after its retries)."],
  E_EXPIRED: ["input", "The request's ttl ran out before the worker could run it."],
  E_BROKER: ["input", "The MQTT broker could not be reached or refused the connection."],
  E_TOOL_MISSING: ["input", "A tool the command or test needs (e.g. mosquitto) is not installed."],

  // Device agent
  E_PROFILE: ["input", "A device profile file is missing, not JSON, or fails its schema (the message names the file and field)."],

  // The device agent's local store (SQLite)
  E_STORE: ["input", "The agent's store cannot be opened, read or written (bad path, not a database, locked; the message names the file)."],
  E_STORE_FULL: ["input", "The agent's store is full (disk full or its size limit reached); the failed write was not applied."],
  E_JOB_ABANDONED: ["input", "A queued job's runner died (crash, kill) on every allowed attempt; it is not retried again."],

  // The agent service and its local API
  E_CONFIG: ["usage", "The agent configuration file is missing, unreadable, or fails its schema (the message names the field and what to do)."],
  E_ABORTED: ["usage", "The caller aborted the request (AbortSignal); work already sent may still run on the worker."],
  E_NOT_READY: ["check", "The agent is starting, or stopping, and takes no requests now; retry shortly."],
  E_NOT_FOUND: ["usage", "No request with that id (or Idempotency-Key) is known to the agent."],
  E_BODY_TOO_LARGE: ["usage", "The request body is over the agent API's size limit (api.maxBodyBytes)."],
  E_AGENT_UNREACHABLE: ["input", "The local agent's API cannot be reached (agent not running, wrong address or socket, permissions)."],
  E_NO_SPLIT: ["check", "No split point can run now (e.g. the cloud is down and all-local does not fit); the message says why."],

  // LLM generation sessions (sdk/generate, cloud-stub/generation)
  E_SESSION_LOST: ["input", "The worker holds no such generation session (evicted, expired, or another worker); the device rebuilds it by replay."],
  E_SESSION_STEP: ["input", "A generation step arrived out of order for its session; the device rebuilds the session."],
  E_SESSION_FULL: ["input", "The worker's session memory cap cannot hold this session even after evicting idle ones."],
  E_NOT_GENERATIVE: ["usage", "The model or split cannot generate: no logits output, or no KV cache pairs where the request needs them."],
} as const satisfies Record<string, readonly [ErrorKind, string]>;

/** A stable error code from the catalogue. */
export type ErrorCode = keyof typeof ERRORS;

/** The one error type edgecut throws on purpose; `code` is stable, `message` says what to do. */
export class EdgecutError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EdgecutError";
    this.code = code;
  }
  /** usage | input | check | internal, from the catalogue. */
  get kind(): ErrorKind {
    return ERRORS[this.code][0];
  }
}

/** Shorthand used across the code base: `throw fail("E_...", "what was wrong; what to do")`. */
export function fail(code: ErrorCode, message: string, cause?: unknown): EdgecutError {
  return new EdgecutError(code, message, cause === undefined ? undefined : { cause });
}

/**
 * `e` itself when it is an EdgecutError, else an EdgecutError with `code` whose message is
 * `context: <e's message>` (e kept as the cause): for catch blocks that must hand on one error type.
 */
export function asEdgecutError(e: unknown, code: ErrorCode, context: string): EdgecutError {
  return e instanceof EdgecutError ? e : fail(code, `${context}: ${(e as Error)?.message ?? String(e)}`, e);
}

/** Exit code the CLI uses for an error of this kind. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof EdgecutError) {
    const k = err.kind;
    return k === "check" ? 1 : k === "internal" ? 3 : 2;
  }
  return 3;
}
