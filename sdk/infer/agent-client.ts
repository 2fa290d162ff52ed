/**
 * The agent client: the {@link Inference} interface over the local agent's HTTP API (agent/api),
 * on TCP or a unix socket, with node:http only. Tensors travel as JSON tensor files (exact for
 * every type: int64 beyond 2^53, NaN, -0). Error bodies become EdgecutErrors with the agent's
 * code; a connection that cannot be made is E_AGENT_UNREACHABLE naming the address, a deadline
 * E_TIMEOUT, an AbortSignal E_ABORTED (the connection is dropped, which aborts the agent's run).
 *
 * ```ts
 * const agent = await connectAgent({ socketPath: "/run/edgecut/agent.sock" });
 * const { outputs } = await agent.infer({ x: { type: "float32", dims: [1, 4], data: new Float32Array(4) } });
 * for await (const t of agent.generate("Once upon a time", { maxNewTokens: 32 })) process.stdout.write(t.text ?? "");
 * ```
 *
 * generate() streams POST /v1/generate's JSON lines as they come (agent-generate.ts).
 */
import { abortableSleep, abortedError } from "./abort.js";
import * as http from "node:http";
import { z } from "zod";
import type { AgentStatus, RequestState, SubmitResult } from "../../agent/core/types.js";
import { ERRORS, EdgecutError, fail, type ErrorCode } from "../errors.js";
import { formatTensorFile, parseTensorObject } from "../runtime/tensor-file.js";
import type { TensorMap } from "../runtime/tensor.js";
import type { Inference, InferOptions, InferResult, TensorSignature } from "./types.js";
import { generateOverHttp } from "./agent-generate.js";
import type { AgentGenerateOptions, AgentGeneration, GenerationStats, StreamedToken } from "./generate-types.js";

/** Options of {@link connectAgent}: `url` or `socketPath` (default url http://127.0.0.1:8787). */
export interface AgentClientOptions {
  /** The API's base URL (http only; a path other than "/" is refused). */
  url?: string;
  /** A unix socket path (the agent's api.listen "unix:<path>"); wins over url. */
  socketPath?: string;
  /** Deadline of each call in ms, unless a call sets its own (default 30000). */
  timeoutMs?: number;
  /** Checks at connect time that the agent answers (GET /healthz); default true. */
  probe?: boolean;
}

/** Options of {@link AgentClient.waitFor}. */
export interface WaitOptions {
  /** Between polls (default 200 ms). */
  pollMs?: number;
  /** Gives up with E_TIMEOUT after this long (default: the client's timeoutMs). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The agent client: Inference plus generation, the queued-request calls and the agent's status. */
export interface AgentClient extends Inference, AgentGeneration {
  /** Queues a request under an Idempotency-Key; the same key returns the existing request (created: false). */
  submit(key: string, inputs: TensorMap, options?: { signal?: AbortSignal }): Promise<SubmitResult>;
  /** A queued request's state (E_NOT_FOUND for an unknown id). */
  request(id: string, options?: { signal?: AbortSignal }): Promise<RequestState>;
  /** Polls until the request is done or failed, and returns that final state. */
  waitFor(id: string, options?: WaitOptions): Promise<RequestState>;
  status(options?: { signal?: AbortSignal }): Promise<AgentStatus>;
}

const DEFAULT_URL = "http://127.0.0.1:8787";
const DEFAULT_TIMEOUT_MS = 30_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const TensorObject = z.custom<Record<string, unknown>>(isObject, { message: "must be a tensor file object" });
const Ms = z.number();
const BreakdownSchema = z.object({
  localMs: Ms, loadMs: Ms, encodeMs: Ms, roundTripMs: Ms, cloudComputeMs: Ms, cloudQueueMs: Ms, decodeMs: Ms,
  bytesUp: Ms, bytesDown: Ms, attempts: Ms, totalMs: Ms,
});
const InferReply = z.object({ id: z.string(), split: z.number().int(), outputs: TensorObject, breakdown: BreakdownSchema });
const StatusName = z.enum(["queued", "running", "done", "failed"]);
const SubmitReply = z.object({ id: z.string(), status: StatusName });
const Common = { id: z.string(), key: z.string(), createdAt: z.number(), attempts: z.number() };
const StateReply = z.discriminatedUnion("status", [
  z.object({ ...Common, status: z.enum(["queued", "running"]) }),
  z.object({
    ...Common, status: z.literal("done"), finishedAt: z.number(),
    result: z.object({ requestId: z.string(), split: z.number().int(), outputs: TensorObject, breakdown: BreakdownSchema }),
  }),
  z.object({ ...Common, status: z.literal("failed"), finishedAt: z.number(), error: z.object({ code: z.string(), message: z.string() }) }),
]);
const SignatureEntry = z.object({ name: z.string(), type: z.string(), shape: z.array(z.union([z.number(), z.string(), z.null()])) });
const SignatureReply = z.object({ inputs: z.array(SignatureEntry), outputs: z.array(SignatureEntry) });
// The status is read by people and dashboards; only what a client branches on is checked.
const StatusReply = z.looseObject({ deviceId: z.string(), version: z.string(), split: z.number().int().nullable(), ready: z.boolean(), queueDepth: z.number(), inFlight: z.number() });
const HealthReply = z.object({ live: z.boolean(), ready: z.boolean(), reasons: z.array(z.string()) });
const ErrorReply = z.object({ error: z.object({ code: z.string(), message: z.string() }) });


interface CallOptions {
  body?: string;
  /** Statuses answered with their JSON rather than as an error (default: 2xx). */
  accept?: readonly number[];
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

interface Reply {
  status: number;
  json: unknown;
}

function aborted(): EdgecutError {
  return abortedError("work already started may still finish on the agent");
}

function parseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw fail("E_USAGE", `agent url ${JSON.stringify(url)} is not a URL; e.g. ${DEFAULT_URL}`, e);
  }
  if (u.protocol !== "http:") throw fail("E_USAGE", `agent url ${url}: only http: is supported (the API listens on localhost or a unix socket)`);
  if (u.pathname !== "/" || u.search || u.hash) throw fail("E_USAGE", `agent url ${url} must not have a path or query; give the origin, e.g. ${DEFAULT_URL}`);
  return u;
}

class HttpAgentClient implements AgentClient {
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly base: { socketPath: string } | { host: string; port: number };
  private closed = false;

  constructor(readonly address: string, target: { socketPath: string } | URL, readonly timeoutMs: number) {
    this.base = target instanceof URL ? { host: target.hostname.replace(/^\[|\]$/g, ""), port: Number(target.port || 80) } : target;
  }

  /** One HTTP exchange; resolves with the parsed JSON of a 2xx reply, throws the mapped error otherwise. */
  call(method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
    if (this.closed) return Promise.reject(fail("E_USAGE", "this agent client is closed; connect again with connectAgent()"));
    if (opts.signal?.aborted) return Promise.reject(aborted());
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<Reply>((resolve, reject) => {
      let settled = false;
      const finish = (err: EdgecutError | undefined, reply?: Reply): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(reply!);
      };
      const onAbort = (): void => finish(aborted());
      const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
      if (opts.body !== undefined) {
        headers["Content-Type"] = "application/json";
        headers["Content-Length"] = String(Buffer.byteLength(opts.body));
      }
      const req = http.request({ ...this.base, agent: this.agent, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => finish(fail("E_AGENT_UNREACHABLE", `the agent at ${this.address} broke off its reply to ${method} ${path}: ${e.message}`, e)));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = text === "" ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          if (opts.accept ? opts.accept.includes(status) : status >= 200 && status < 300) {
            if (json === undefined) finish(fail("E_INTERNAL", `the agent at ${this.address} answered ${method} ${path} with HTTP ${status} but no JSON body`));
            else finish(undefined, { status, json });
            return;
          }
          finish(this.errorFrom(status, json, `${method} ${path}`));
        });
      });
      const timer = setTimeout(() => finish(fail("E_TIMEOUT", `no answer from the agent at ${this.address} to ${method} ${path} within ${timeoutMs} ms`)), timeoutMs);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (e: NodeJS.ErrnoException) => {
        const why = e.code ?? e.message;
        const hint = e.code === "EACCES" ? "; the socket's permissions do not let this user in (join the agent's group)"
          : e.code === "ENOENT" || e.code === "ECONNREFUSED" ? "; is the agent running (systemctl status edgecut-agent) and is this its api.listen address?" : "";
        finish(fail("E_AGENT_UNREACHABLE", `cannot reach the agent at ${this.address} (${why})${hint}`, e));
      });
      req.end(opts.body);
    });
  }

  /** Starts a raw request on this client's connections (streams: agent-generate.ts). */
  open(method: string, path: string, headers: Record<string, string>): http.ClientRequest {
    if (this.closed) throw fail("E_USAGE", "this agent client is closed; connect again with connectAgent()");
    return http.request({ ...this.base, agent: this.agent, method, path, headers });
  }

  /** The EdgecutError an error reply stands for (its code when it is one this SDK knows). */
  errorFrom(status: number, json: unknown, what: string): EdgecutError {
    const r = ErrorReply.safeParse(json);
    if (!r.success) return fail("E_INTERNAL", `the agent at ${this.address} answered ${what} with HTTP ${status} and no edgecut error body`);
    const { code, message } = r.data.error;
    if (Object.hasOwn(ERRORS, code)) return new EdgecutError(code as ErrorCode, message);
    return fail("E_INTERNAL", `the agent answered ${code} (a code this SDK does not know; upgrade it): ${message}`);
  }

  private parse<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
    const r = schema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw fail("E_INTERNAL", `the agent's reply to ${what} is not what this SDK expects ("${issue.path.join(".")}": ${issue.message}); are the agent and SDK versions compatible?`);
    }
    return r.data;
  }

  private outputs(obj: Record<string, unknown>): TensorMap {
    return parseTensorObject(obj, "the agent's reply outputs");
  }

  async infer(inputs: TensorMap, options: InferOptions = {}): Promise<InferResult> {
    const body = `{"inputs": ${formatTensorFile(inputs)}${options.split === undefined ? "" : `, "split": ${JSON.stringify(options.split)}`}${options.timeoutMs === undefined ? "" : `, "timeoutMs": ${JSON.stringify(options.timeoutMs)}`}}`;
    const { json } = await this.call("POST", "/v1/infer", { body, signal: options.signal, timeoutMs: options.timeoutMs });
    const r = this.parse(InferReply, json, "POST /v1/infer");
    return { outputs: this.outputs(r.outputs), split: r.split, requestId: r.id, breakdown: r.breakdown };
  }

  generate(input: string | readonly number[], opts: AgentGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats> {
    return generateOverHttp(this, input, opts);
  }

  async signature(): Promise<{ inputs: TensorSignature[]; outputs: TensorSignature[] }> {
    const { json } = await this.call("GET", "/v1/signature");
    return this.parse(SignatureReply, json, "GET /v1/signature");
  }

  async submit(key: string, inputs: TensorMap, options: { signal?: AbortSignal } = {}): Promise<SubmitResult> {
    const body = `{"mode": "queue", "inputs": ${formatTensorFile(inputs)}}`;
    const { status, json } = await this.call("POST", "/v1/infer", { body, headers: { "Idempotency-Key": key }, signal: options.signal });
    const r = this.parse(SubmitReply, json, "POST /v1/infer (queue)");
    return { id: r.id, status: r.status, created: status === 202 };
  }

  async request(id: string, options: { signal?: AbortSignal } = {}): Promise<RequestState> {
    const path = `/v1/requests/${encodeURIComponent(id)}`;
    const { json } = await this.call("GET", path, { signal: options.signal });
    const s = this.parse(StateReply, json, `GET ${path}`);
    if (s.status !== "done") return s;
    const { result, ...rest } = s;
    return { ...rest, result: { outputs: this.outputs(result.outputs), split: result.split, requestId: result.requestId, breakdown: result.breakdown } };
  }

  async waitFor(id: string, options: WaitOptions = {}): Promise<RequestState> {
    const pollMs = options.pollMs ?? 200;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = await this.request(id, { signal: options.signal });
      if (s.status === "done" || s.status === "failed") return s;
      const left = deadline - performance.now();
      if (left <= 0) throw fail("E_TIMEOUT", `request ${id} is still ${s.status} after ${timeoutMs} ms; wait longer or check GET /v1/status`);
      await abortableSleep(Math.min(pollMs, left), options.signal, aborted);
    }
  }

  async status(options: { signal?: AbortSignal } = {}): Promise<AgentStatus> {
    const { json } = await this.call("GET", "/v1/status", { signal: options.signal });
    // Checked fields above; the rest is passed through as the agent sent it.
    return this.parse(StatusReply, json, "GET /v1/status") as unknown as AgentStatus;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.agent.destroy();
  }
}


/**
 * Connects to the local agent's API. Unless `probe` is false, checks that the agent answers
 * (E_AGENT_UNREACHABLE naming the address when it does not); a live agent that is not ready yet
 * still connects (its calls then fail with E_NOT_READY until it is).
 */
export async function connectAgent(opts: AgentClientOptions = {}): Promise<AgentClient> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw fail("E_USAGE", `timeoutMs must be a positive number of ms, got ${timeoutMs}`);
  let client: HttpAgentClient;
  if (opts.socketPath !== undefined) {
    if (opts.socketPath === "") throw fail("E_USAGE", "socketPath is empty; give the agent's socket, e.g. /run/edgecut/agent.sock");
    client = new HttpAgentClient(`unix:${opts.socketPath}`, { socketPath: opts.socketPath }, timeoutMs);
  } else {
    const url = parseUrl(opts.url ?? DEFAULT_URL);
    client = new HttpAgentClient(url.origin, url, timeoutMs);
  }
  if (opts.probe ?? true) {
    try {
      // A 503 from /healthz is an answer too: the agent is there, just not well (its calls say why).
      const { json } = await client.call("GET", "/healthz", { accept: [200, 503] });
      if (!HealthReply.safeParse(json).success) throw fail("E_AGENT_UNREACHABLE", `something answers at ${client.address}, but not an edgecut agent (GET /healthz)`);
    } catch (e) {
      await client.close();
      throw e instanceof EdgecutError && e.code !== "E_AGENT_UNREACHABLE" && e.code !== "E_TIMEOUT"
        ? fail("E_AGENT_UNREACHABLE", `something answers at ${client.address}, but not an edgecut agent (GET /healthz: ${e.message})`, e)
        : e;
    }
  }
  return client;
}
