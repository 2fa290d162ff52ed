/**
 * The worker's configuration: every plain option validated once with zod, defaults filled in,
 * the result frozen. Objects that cannot be described by a schema (the transport, the logger, the
 * clock, the session factory) travel next to it in WorkerOptions and are checked by hand.
 */
import { z } from "zod";
import { fail } from "../sdk/errors.js";
import { DEFAULT_PREFIX, idProblem, topics } from "../sdk/transport/topics.js";
import { DEFAULT_LIMITS, type WireLimits } from "../sdk/wire/types.js";

/** Message cap when neither the options nor the broker name one (the issue's 128 MiB; sdk/transport/limits.ts). */
export { DEFAULT_MAX_MESSAGE_BYTES } from "../sdk/transport/limits.js";

/** Share group when none is configured (one group per set of splits served, see README). */
export const DEFAULT_GROUP = "edgecut-workers";

const PositiveInt = z.int().positive();
const NonNegInt = z.int().nonnegative();
const Bytes = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

const LimitsSchema = z.strictObject({
  maxFrameBytes: Bytes.optional(),
  maxTensors: PositiveInt.optional(),
  maxRank: NonNegInt.optional(),
  maxElements: PositiveInt.optional(),
  maxHeaderBytes: PositiveInt.optional(),
});

/** The zod schema of the worker's plain options (what `edgecut cloud` flags map to). */
export const WorkerConfigSchema = z.strictObject({
  /** Folder searched recursively for split manifests (manifest.json). */
  models: z.string().min(1),
  /** Topic prefix (default "edgecut"). */
  prefix: z.string().default(DEFAULT_PREFIX),
  /** Shared-subscription group (default "edgecut-workers"). */
  group: z.string().default(DEFAULT_GROUP),
  /** Requests run at once (default 1: one onnxruntime run already uses every core). */
  concurrency: PositiveInt.default(1),
  /** Requests waiting beyond those running; one more is answered E_BUSY (default 16; 0 = no queue). */
  queue: NonNegInt.default(16),
  /** Estimated bytes of onnxruntime sessions kept loaded (default 2 GiB); see sessions.ts for the estimate. */
  memoryBudgetBytes: Bytes.default(2 * 2 ** 30),
  /** Largest reply message; larger replies are fragmented. Default: the broker's limit when known, else 128 MiB. */
  maxMessageBytes: Bytes.optional(),
  /**
   * Largest value a symbolic dim (batch, sequence, ...) of a request tensor may take; a larger one
   * is refused with E_FRAME_LIMIT before the request is queued. Default 2^28, the wire format's
   * element limit (a request must carry the bytes its dims claim anyway); operators serving
   * sequence models lower it to bound what one request can make the worker compute.
   */
  maxDim: PositiveInt.default(2 ** 28),
  /** Decoder limits (docs/wire-format.md §6) over DEFAULT_LIMITS. */
  limits: LimitsSchema.default({}),
  /** Reassembly of fragmented requests: bytes of partial frames held at once, and time to complete one. */
  reassembly: z.strictObject({
    maxBytes: Bytes.optional(),
    timeoutMs: z.number().positive().default(10_000),
    maxPending: PositiveInt.default(64),
  }).default({ timeoutMs: 10_000, maxPending: 64 }),
  /** Replies kept for retries, by (deviceId, requestId): at most this many, this old, this many bytes. */
  replyCache: z.strictObject({
    maxEntries: NonNegInt.default(1024),
    maxAgeMs: z.number().nonnegative().default(60_000),
    maxBytes: NonNegInt.default(64 * 2 ** 20),
  }).default({ maxEntries: 1024, maxAgeMs: 60_000, maxBytes: 64 * 2 ** 20 }),
  /** How long the shared-subscription probe waits for its message (default 500 ms). */
  probeTimeoutMs: z.number().positive().default(500),
  /** How often timed-out partial frames and stale cache entries are swept (default 1000 ms). */
  sweepIntervalMs: z.number().positive().default(1000),
  /** onnxruntime intra-op threads per session (default: onnxruntime's choice, every core). */
  intraOpThreads: PositiveInt.optional(),
  /**
   * This worker's id: the topic level of its generation sessions (`<prefix>/v1/req/+/+/<workerId>`).
   * Default: random per start, so a restarted worker never answers for sessions it lost.
   */
  workerId: z.string().optional(),
  /** Generation sessions (KV caches of the worker's layers): idle time before one is dropped, memory cap, count cap. */
  generation: z.strictObject({
    ttlMs: z.number().positive().default(300_000),
    maxBytes: Bytes.default(512 * 2 ** 20),
    maxSessions: PositiveInt.default(256),
  }).default({ ttlMs: 300_000, maxBytes: 512 * 2 ** 20, maxSessions: 256 }),
});

/** Plain worker options as given (defaults optional). */
export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;

/** The validated, frozen configuration the worker runs with. */
export interface WorkerConfig extends Readonly<Omit<z.output<typeof WorkerConfigSchema>, "limits">> {
  /** Full decoder limits: DEFAULT_LIMITS with the configured ones over them. */
  readonly limits: Readonly<WireLimits>;
  /** Reassembly bound in bytes (default: limits.maxFrameBytes). */
  readonly reassemblyMaxBytes: number;
}

/** Formats a zod issue path as `reassembly.timeoutMs`. */
function fieldPath(p: readonly PropertyKey[]): string {
  return p.map(String).join(".") || "(options)";
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates the plain options once and returns them frozen with defaults filled in. Throws
 * E_USAGE naming the option for anything wrong (a bad prefix or group included).
 */
export function resolveConfig(input: WorkerConfigInput): WorkerConfig {
  const r = WorkerConfigSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail("E_USAGE", `worker option ${fieldPath(issue.path)}: ${issue.message}`);
  }
  const c = r.data;
  topics(c.prefix); // throws E_USAGE for a bad prefix
  if (c.workerId !== undefined) {
    const workerProblem = idProblem(c.workerId);
    if (workerProblem !== undefined) throw fail("E_USAGE", `worker option workerId ${JSON.stringify(c.workerId)} ${workerProblem}`);
  }
  const groupProblem = idProblem(c.group);
  if (groupProblem !== undefined) throw fail("E_USAGE", `worker option group ${JSON.stringify(c.group)} ${groupProblem}`);
  const limits: WireLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(c.limits) as [keyof WireLimits, number | undefined][]) if (v !== undefined) limits[k] = v;
  return deepFreeze({ ...c, limits, reassemblyMaxBytes: c.reassembly.maxBytes ?? limits.maxFrameBytes });
}
