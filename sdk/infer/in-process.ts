/**
 * The in-process implementation of {@link Inference}: the app embeds the agent core
 * (agent/core/agent.ts) — the split runner, the planner, the offload client, the durable queue —
 * instead of calling an agent service over HTTP (agent-client.ts). It offers the agent client's
 * calls too (generate, submit, request, waitFor, status), with the same arguments, results and
 * error codes, so an app can move between the two by changing how it makes its client.
 *
 * ```ts
 * const inf = await createInference({ manifest: "models/cnn-split/manifest.json", broker: "mqtt://10.0.0.2:1883" });
 * const { outputs, split } = await inf.infer({ pixels: { type: "float32", dims: [1, 3, 32, 32], data } });
 * await inf.close();
 * ```
 */
import { abortableSleep, abortedError } from "./abort.js";
import { z } from "zod";
import { checkInputs } from "../../agent/api/check-inputs.js";
import { Agent, type AgentOptions } from "../../agent/core/agent.js";
import type { AgentLog } from "../../agent/core/log.js";
import type { AgentEvents, AgentHealth, AgentStatus, RequestState, SubmitResult } from "../../agent/core/types.js";
import { createSystemSampler } from "../../agent/monitor/system-sampler.js";
import type { SystemSampler } from "../../agent/monitor/types.js";
import type { PlannerConfigInput } from "../../agent/planner/config.js";
import type { PolicyConfigInput, SplitPolicyLike } from "../../agent/planner/policies.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
// The CLI's rule, so one device keeps one id across `edgecut infer` and apps.
import { defaultDeviceId } from "../transport/topics.js";
import { fail } from "../errors.js";
import { loadSplitOrPack } from "../../agent/planner/pack.js";
import type { TensorMap } from "../runtime/tensor.js";
import { connectMqtt, type MqttOptions } from "../transport/mqtt.js";
import { assertId } from "../transport/topics.js";
import type { Transport } from "../transport/transport.js";
import type { AgentClient, WaitOptions } from "./agent-client.js";
import type { InferOptions, InferResult, TensorSignature } from "./types.js";
import type { AgentGenerateOptions, GenerationStats, StreamedToken } from "./generate-types.js";

/** Options of {@link createInference}. */
export interface InProcessOptions {
  /** The split's manifest.json (a full split or a packed one). */
  manifest: string;
  /** This device's id on the offload topics (default: the hostname, made a valid topic level). */
  deviceId?: string;
  /**
   * The broker: a URL (`mqtt://host:1883`; connected here and closed by close()), MQTT options
   * (for credentials and TLS; likewise), or a Transport the app made (used as is, never closed
   * here). Absent: no cloud; every request runs all-local on this device.
   */
  broker?: string | MqttOptions | Transport;
  /**
   * The SQLite file of the durable request queue, telemetry and profiles (created if missing).
   * Default ":memory:": requests queued with submit() are then lost when the process ends, and a
   * restart does not run them; give a file for queued requests to survive a crash or reboot.
   */
  store?: string;
  planner?: PlannerConfigInput;
  /** A policy configuration ({ name: "static", split: 2 }, ...) or a policy object. */
  policy?: PolicyConfigInput | SplitPolicyLike;
  /** Offload settings: per-attempt timeout, retries, float32 wire encoding, topic prefix, backoff. */
  offload?: AgentOptions["offload"];
  /** The device sampler (default createSystemSampler(): RAM, CPU load, a Pi's temperature and throttling). */
  sampler?: SystemSampler;
  /** Where the core logs (pino's shape; a pino logger fits). Default: silent. */
  log?: AgentLog;
  /** Device sampling and re-planning period in ms (default 2000). */
  sampleIntervalMs?: number;
  /** onnxruntime intra-op threads per session (default: onnxruntime's choice). */
  intraOpThreads?: number;
  /** Queued requests run at once (default 1). */
  concurrency?: number;
  /** A Hugging Face tokenizer.json: generate() then takes prompt text and streams text (without it, token ids only). */
  tokenizer?: string;
}

/** The in-process inference: the agent client's calls, plus the core's health and events. */
export interface InProcessInference extends AgentClient {
  /** Whether the core takes requests now, and why not. */
  health(): AgentHealth;
  /** Listens to finished requests ("request") and split changes ("switch"). */
  on<E extends keyof AgentEvents>(event: E, fn: AgentEvents[E]): void;
}

/** An Idempotency-Key: 1 to 200 printable ASCII characters (what the agent's API accepts). */
const KEY_PATTERN = /^[\x20-\x7e]{1,200}$/;
const DEFAULT_WAIT_MS = 30_000;

const Plain = z.object({
  manifest: z.string().min(1, "must be the path of a split's manifest.json"),
  store: z.string().min(1, 'must be a file path or ":memory:"').optional(),
  sampleIntervalMs: z.number().positive().optional(),
  intraOpThreads: z.int().positive().optional(),
  concurrency: z.int().positive().optional(),
  tokenizer: z.string().min(1, "must be the path of a tokenizer.json").optional(),
});

function isTransport(b: InProcessOptions["broker"]): b is Transport {
  return typeof b === "object" && b !== null && typeof (b as Transport).publish === "function";
}

function closedError(): Error {
  return fail("E_USAGE", "this inference is closed; make another with createInference()");
}

function aborted(): Error {
  return abortedError("work already sent may still run on the worker");
}

class InProcess implements InProcessInference {
  private closing: Promise<void> | undefined;
  private readonly sig: { inputs: TensorSignature[]; outputs: TensorSignature[] };

  constructor(private readonly agent: Agent, private readonly store: AgentStore, private readonly owned: Transport | undefined) {
    this.sig = agent.signature();
  }

  private get closed(): boolean {
    return this.closing !== undefined;
  }

  async infer(inputs: TensorMap, options: InferOptions = {}): Promise<InferResult> {
    if (this.closed) throw closedError();
    // The core would start the run before noticing the signal; an aborted call must not run.
    if (options.signal?.aborted) throw aborted();
    checkInputs(inputs, this.sig.inputs);
    return this.agent.infer(inputs, options);
  }

  async *generate(input: string | readonly number[], opts: AgentGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats> {
    if (this.closed) throw closedError();
    if (opts.signal?.aborted) throw aborted();
    return yield* this.agent.generate(input, opts);
  }

  async signature(): Promise<{ inputs: TensorSignature[]; outputs: TensorSignature[] }> {
    if (this.closed) throw closedError();
    return structuredClone(this.sig);
  }

  async submit(key: string, inputs: TensorMap, options: { signal?: AbortSignal } = {}): Promise<SubmitResult> {
    if (this.closed) throw closedError();
    if (options.signal?.aborted) throw aborted();
    if (typeof key !== "string" || !KEY_PATTERN.test(key)) {
      throw fail("E_USAGE", `the Idempotency-Key must be 1 to 200 printable ASCII characters, unique per request; got ${typeof key === "string" ? `${key.length} characters` : typeof key}`);
    }
    checkInputs(inputs, this.sig.inputs);
    return this.agent.submit(key, inputs);
  }

  async request(id: string, options: { signal?: AbortSignal } = {}): Promise<RequestState> {
    if (this.closed) throw closedError();
    if (options.signal?.aborted) throw aborted();
    const s = this.agent.getRequest(id);
    if (s === undefined) throw fail("E_NOT_FOUND", `no request with id ${JSON.stringify(id)} is known to the agent; use the id submit() returned`);
    return s;
  }

  async waitFor(id: string, options: WaitOptions = {}): Promise<RequestState> {
    const pollMs = options.pollMs ?? 200;
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = await this.request(id, { signal: options.signal });
      if (s.status === "done" || s.status === "failed") return s;
      const left = deadline - performance.now();
      if (left <= 0) throw fail("E_TIMEOUT", `request ${id} is still ${s.status} after ${timeoutMs} ms; wait longer or check status()`);
      await abortableSleep(Math.min(pollMs, left), options.signal, aborted);
    }
  }

  async status(options: { signal?: AbortSignal } = {}): Promise<AgentStatus> {
    if (this.closed) throw closedError();
    if (options.signal?.aborted) throw aborted();
    return this.agent.status();
  }

  health(): AgentHealth {
    if (this.closed) return { live: false, ready: false, reasons: ["closed"] };
    return this.agent.health();
  }

  on<E extends keyof AgentEvents>(event: E, fn: AgentEvents[E]): void {
    this.agent.on(event, fn);
  }

  /**
   * Stops the core (in-flight requests finish; queued ones not started stay in the store), then
   * closes the broker connection if createInference made it, then the store. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.agent.stop();
      } finally {
        try {
          await this.owned?.close();
        } finally {
          this.store.close();
        }
      }
    })();
    return this.closing;
  }
}


/**
 * Starts the agent core inside this process on the split `opts.manifest` and returns it as an
 * {@link InProcessInference}. Checks the options (E_USAGE) and the manifest (E_MANIFEST) before
 * touching the network; connects to the broker when given a URL or MQTT options (E_BROKER naming
 * the URL when it cannot, within the connect timeout: 5 s unless the options say otherwise);
 * opens the store (E_STORE). Whatever it opened is closed again when a later step fails.
 */
export async function createInference(opts: InProcessOptions): Promise<InProcessInference> {
  const r = Plain.safeParse(opts);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail("E_USAGE", `createInference: ${issue.path.map(String).join(".") || "options"}: ${issue.message}`);
  }
  const deviceId = opts.deviceId ?? defaultDeviceId();
  assertId("deviceId", deviceId);
  // Checked before any connection is made; a pack (edgecut pack) is a valid manifest here too.
  loadSplitOrPack(opts.manifest);
  const store = openStore(opts.store ?? ":memory:");
  let owned: Transport | undefined;
  try {
    let transport: Transport | undefined;
    if (isTransport(opts.broker)) transport = opts.broker;
    else if (opts.broker !== undefined) {
      owned = await connectMqtt(typeof opts.broker === "string" ? { url: opts.broker } : opts.broker);
      transport = owned;
    }
    const agent = await Agent.start({
      deviceId, manifestPath: opts.manifest, store, sampler: opts.sampler ?? createSystemSampler(),
      ...(transport !== undefined ? { transport } : {}),
      ...(opts.planner !== undefined ? { planner: opts.planner } : {}),
      ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
      ...(opts.offload !== undefined ? { offload: opts.offload } : {}),
      ...(opts.log !== undefined ? { log: opts.log } : {}),
      ...(opts.sampleIntervalMs !== undefined ? { sampleIntervalMs: opts.sampleIntervalMs } : {}),
      ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.tokenizer !== undefined ? { tokenizer: opts.tokenizer } : {}),
    });
    return new InProcess(agent, store, owned);
  } catch (e) {
    await owned?.close().catch(() => undefined);
    store.close();
    throw e;
  }
}
