/**
 * The zod schema of the agent's configuration file (agent/edgecut-agent.example.yaml shows every
 * field with its default). Every object is strict: an unknown key is an error, so a misspelt
 * setting cannot be silently ignored. Paths are checked for shape here and resolved and checked
 * on disk in resolve.ts, which also turns `api.listen` and `api.socketMode` into their parsed forms.
 */
import { z } from "zod";
import { PlannerConfigSchema } from "../planner/config.js";
import { PolicyConfigSchema } from "../planner/policies.js";
import { NetworkEstimatorConfigSchema } from "../network/config.js";
import { idProblem, topics } from "../../sdk/transport/topics.js";
import { redactUrl } from "../../sdk/transport/mqtt.js";
import { parseListenAddress } from "./listen.js";

/** `broker.url` for the in-process aedes broker (for trying things out; see the template). */
export const EMBEDDED_BROKER = "embedded";

/** Broker URL schemes the agent accepts. */
const BROKER_SCHEMES = new Set(["mqtt:", "mqtts:", "ws:", "wss:"]);
const TLS_SCHEMES = new Set(["mqtts:", "wss:"]);

const MiB = 1024 * 1024;
const DAY_MS = 24 * 3600_000;

/** pino's level names ("silent" logs nothing). */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** Encodings the agent may send float32 tensors in ("raw" is for non-float tensors only). */
export const OFFLOAD_ENCODINGS = ["fp32", "fp16", "int8-tensor", "int8-row"] as const;

/** The MQTT broker connection. */
export const BrokerConfigSchema = z.strictObject({
  /** mqtt://, mqtts://, ws:// or wss:// URL, or "embedded" (an aedes broker inside the agent, on 127.0.0.1). */
  url: z.string().min(1).default(EMBEDDED_BROKER),
  username: z.string().min(1).optional(),
  /** Prefer $EDGECUT_BROKER_PASSWORD_FILE (systemd credentials) to a password in the file. */
  password: z.string().min(1).optional(),
  /** MQTT keep-alive (MQTT 3.1.1 §3.1.2.10): the broker drops a silent connection after 1.5x this. */
  keepaliveSec: z.int().min(1).max(600).default(10),
  /** Topic prefix, shared with the cloud workers (may have several levels: "site-3/edgecut"). */
  prefix: z.string().default("edgecut").superRefine((p, ctx) => {
    try {
      topics(p);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
    }
  }),
  /** PEM file of the CA that signed the broker's certificate (mqtts:// and wss:// only). */
  ca: z.string().min(1).optional(),
  /** PEM client certificate and its key, for brokers that authenticate devices by certificate. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** Check the broker's certificate (turn off only to debug a test broker). */
  rejectUnauthorized: z.boolean().default(true),
  /** TCP port of the embedded broker on 127.0.0.1 (0: any free port); unused with a remote broker. */
  embeddedPort: z.int().min(0).max(65535).default(1883),
}).superRefine((b, ctx) => {
  const issue = (path: string, message: string): void => ctx.addIssue({ code: "custom", path: [path], message });
  if (b.url === EMBEDDED_BROKER) {
    for (const k of ["username", "password", "ca", "cert", "key"] as const) {
      if (b[k] !== undefined) issue(k, `applies to a remote broker only, but url is "${EMBEDDED_BROKER}"; remove it or set url to the broker's mqtt:// or mqtts:// URL`);
    }
    return;
  }
  const shown = redactUrl(b.url);
  let scheme: string;
  try {
    scheme = new URL(b.url).protocol;
  } catch {
    issue("url", `${JSON.stringify(shown)} is not a URL; expected e.g. mqtt://broker.lan:1883, mqtts://broker.lan:8883 or "${EMBEDDED_BROKER}"`);
    return;
  }
  if (!BROKER_SCHEMES.has(scheme)) {
    issue("url", `${shown} has scheme ${scheme}; expected mqtt://, mqtts://, ws:// or wss:// (or "${EMBEDDED_BROKER}")`);
    return;
  }
  if (!TLS_SCHEMES.has(scheme)) {
    for (const k of ["ca", "cert", "key"] as const) {
      if (b[k] !== undefined) issue(k, `is a TLS setting but url ${shown} does not use TLS; use mqtts:// or wss://, or remove it`);
    }
  }
  if ((b.cert === undefined) !== (b.key === undefined)) {
    issue(b.cert === undefined ? "cert" : "key", "cert and key go together (a client certificate needs its private key); set both or neither");
  }
});

/** The local HTTP API (it has no authentication: keep it on loopback or a unix socket). */
export const ApiConfigSchema = z.strictObject({
  /** "host:port" ("[::1]:8787" for IPv6) or "unix:/path/to.sock". */
  listen: z.string().default("127.0.0.1:8787").superRefine((s, ctx) => {
    const r = parseListenAddress(s);
    if (typeof r === "string") ctx.addIssue({ code: "custom", message: r });
  }),
  /** Allow a TCP listen address that is not loopback: anyone who can reach it can run inference. */
  allowNonLoopback: z.boolean().default(false),
  /** Permissions of the unix socket, an octal string. */
  socketMode: z.string({
    error: (iss) => typeof iss.input === "number"
      ? 'must be a quoted octal string such as "0660" (unquoted, YAML reads 0660 as the decimal number 660)'
      : undefined,
  }).regex(/^0?[0-7]{3}$/, 'must be an octal mode such as "0660"').default("0660"),
  /** Largest request body (bytes); larger ones are refused with E_BODY_TOO_LARGE. */
  maxBodyBytes: z.int().min(1024).max(1024 * MiB).default(64 * MiB),
}).superRefine((a, ctx) => {
  const r = parseListenAddress(a.listen);
  if (typeof r === "string" || r.kind !== "tcp" || r.loopback || a.allowNonLoopback) return;
  ctx.addIssue({
    code: "custom",
    path: ["listen"],
    message: `${a.listen} is not a loopback address and the API has no authentication; listen on 127.0.0.1, [::1] or a unix: socket, or set api.allowNonLoopback: true if a firewall or proxy guards it`,
  });
});

/** How segments are profiled on the device (see agent/profiler/). */
export const ProfilerConfigSchema = z.strictObject({
  /** Untimed runs per segment before timing (the first also measures memory). */
  warmupRuns: z.int().min(1).max(100).default(2),
  /** Timed runs per segment; the median is kept. */
  timedRuns: z.int().min(1).max(1000).default(5),
  /** A profile older than this (ms) is measured again. */
  staleAfterMs: z.int().positive().default(7 * DAY_MS),
  /** Measure again when the CPU load (0..1) differs from the profile's by more than this. */
  loadChangeThreshold: z.number().min(0).max(1).default(0.3),
  /** How often (ms) the agent checks, while idle, for profiles gone stale or taken under other load, and re-measures them (0: only at start). */
  recheckIntervalMs: z.int().nonnegative().default(300_000),
});

/** Requests to the cloud worker. */
export const OffloadConfigSchema = z.strictObject({
  /** Per-attempt timeout (ms), also the request's ttl on the worker. */
  timeoutMs: z.int().min(100).max(600_000).default(10_000),
  /** Retries after a timeout or a busy/expired reply. */
  retries: z.int().min(0).max(10).default(2),
  /** Encoding of float32 tensors on the wire (docs/wire-format.md): fp16 halves the bytes, int8 quarters them, lossy. */
  encoding: z.enum(OFFLOAD_ENCODINGS).default("fp32"),
});

/** Telemetry kept in the store and published to the broker. */
export const TelemetryConfigSchema = z.strictObject({
  /** Publish a summary to the broker every this many ms (0: never). */
  publishIntervalMs: z.int().min(0).max(DAY_MS).default(60_000)
    .refine((v) => v === 0 || v >= 1000, "must be 0 (off) or at least 1000 ms"),
  /** Batch telemetry writes to the store for this long (ms), sparing SD cards (0: write each sample at once). */
  flushIntervalMs: z.int().min(0).max(600_000).default(5000),
  /** Telemetry rows kept in the store (the oldest go first). */
  maxRows: z.int().min(1).max(10_000_000).default(10_000),
});

/** Limits of the SQLite store (agent/store/); absent: the store's defaults. */
export const StoreConfigSchema = z.strictObject({
  /** Size limit in 4 KiB pages; writes beyond fail with E_STORE_FULL (default: no limit but the disk). */
  maxPageCount: z.int().positive().optional(),
  /** Finished requests are kept this long (ms; store default 7 days)... */
  finishedMaxAgeMs: z.int().positive().optional(),
  /** ...and at most this many (store default 10 000). */
  finishedMaxCount: z.int().positive().optional(),
});

/** Files that come with the model besides its split. */
export const ModelConfigSchema = z.strictObject({
  /** A Hugging Face tokenizer.json: POST /v1/generate then takes prompt text and streams text (without it, token ids only). */
  tokenizer: z.string().min(1).optional(),
});

/** Logging. */
export const LogConfigSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).default("info"),
});

/** The configuration file, as written (paths unresolved). */
export const AgentConfigFileSchema = z.strictObject({
  /** This device's id: one MQTT topic level (no / + #, no control characters, at most 128 UTF-8 bytes). */
  deviceId: z.string().superRefine((id, ctx) => {
    const problem = idProblem(id);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  }),
  /** The split's manifest.json (from `edgecut split`); relative to the config file's folder. */
  manifest: z.string().min(1),
  model: ModelConfigSchema.prefault({}),
  /** Folder of the store (agent.db). Default: $STATE_DIRECTORY (systemd) or ./edgecut-state. */
  stateDir: z.string().min(1).optional(),
  broker: BrokerConfigSchema.prefault({}),
  api: ApiConfigSchema.prefault({}),
  /** A device-profiles id ("pi4-4gb") or profile file, for calibration before profiling. */
  profile: z.string().min(1).optional(),
  planner: PlannerConfigSchema.prefault({}),
  policy: PolicyConfigSchema.refine(
    (p) => p.name === "static" || p.split === undefined,
    { message: 'applies to the "static" policy only; remove it or set policy.name: static', path: ["split"] },
  ).prefault({}),
  network: NetworkEstimatorConfigSchema.prefault({}),
  profiler: ProfilerConfigSchema.prefault({}),
  offload: OffloadConfigSchema.prefault({}),
  telemetry: TelemetryConfigSchema.prefault({}),
  /** Device monitor period (ms). */
  sampleIntervalMs: z.int().min(100).max(3_600_000).default(2000),
  /** Planner period (ms). */
  planIntervalMs: z.int().min(10).max(3_600_000).default(1000),
  /** onnxruntime intra-op threads per session (default: onnxruntime's choice, one per core). */
  intraOpThreads: z.int().min(1).max(256).optional(),
  log: LogConfigSchema.prefault({}),
  store: StoreConfigSchema.prefault({}),
});

/** The file's settings with defaults filled in, before path resolution. */
export type AgentConfigFile = z.output<typeof AgentConfigFileSchema>;
/** What a file may hold. */
export type AgentConfigFileInput = z.input<typeof AgentConfigFileSchema>;
