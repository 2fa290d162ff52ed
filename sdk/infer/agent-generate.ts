/**
 * generate() over the agent's HTTP API: POST /v1/generate, its JSON lines read as they arrive
 * (each token is yielded when its line does, not when the stream ends). An error reply, or an
 * error line after the stream started, becomes an EdgecutError with the agent's code. The
 * AbortSignal, or the caller leaving the loop early, closes the connection, which aborts the
 * generation on the agent. No byte from the agent for `timeoutMs` while a token is awaited is
 * E_TIMEOUT.
 */
import type * as http from "node:http";
import { z } from "zod";
import { EdgecutError, fail } from "../errors.js";
import { abortedError } from "./abort.js";
import type { AgentGenerateOptions, GenerationStats, StreamedToken } from "./generate-types.js";

/** What the stream needs from the agent client (agent-client.ts). */
export interface StreamConnection {
  /** For messages: "http://127.0.0.1:8787" or "unix:/run/edgecut/agent.sock". */
  readonly address: string;
  /** Idle deadline in ms. */
  readonly timeoutMs: number;
  /** Starts a request on the client's connection pool (the body is written by the caller). */
  open(method: string, path: string, headers: Record<string, string>): http.ClientRequest;
  /** The EdgecutError an error body stands for. */
  errorFrom(status: number, json: unknown, what: string): EdgecutError;
}

const WHAT = "POST /v1/generate";
/** Lines parsed but not yet consumed before the response is paused (backpressure to the agent). */
const HIGH_WATER_LINES = 256;

const TokenLine = z.object({ index: z.int().min(0), id: z.int().min(0), logprob: z.number(), text: z.string().optional() });
const StatsSchema = z.object({
  tokens: z.int().min(0), tokensPerSecond: z.number(), prefillMs: z.number(), totalMs: z.number(),
  bytesUp: z.number(), bytesDown: z.number(), stepBytesUp: z.array(z.number()), rebuilds: z.int().min(0),
  workerId: z.string().optional(), split: z.object({ from: z.int(), to: z.int() }),
});
const DoneLine = z.object({ done: z.literal(true), stats: StatsSchema });

function aborted(): EdgecutError {
  return abortedError("the generation on the agent stops at its next token");
}

/** The request body: only what was given, so the agent applies its own defaults. */
function bodyOf(input: string | readonly number[], opts: AgentGenerateOptions): string {
  const { signal: _signal, ...rest } = opts;
  return JSON.stringify({ ...(typeof input === "string" ? { prompt: input } : { ids: input }), ...rest });
}

/** Lines of a response, read as they come, with the response paused while many wait. */
class LineReader {
  private readonly lines: string[] = [];
  private partial = "";
  private ended = false;
  private failure: EdgecutError | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly res: http.IncomingMessage, private readonly address: string) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop()!;
      for (const p of parts) if (p.trim() !== "") this.lines.push(p);
      if (this.lines.length >= HIGH_WATER_LINES) res.pause();
      this.poke();
    });
    res.on("end", () => {
      if (this.partial.trim() !== "") this.lines.push(this.partial);
      this.partial = "";
      this.ended = true;
      this.poke();
    });
    res.on("error", (e) => this.fail(fail("E_AGENT_UNREACHABLE", `the agent at ${address} broke off the ${WHAT} stream: ${e.message}`, e)));
    res.on("close", () => { if (!this.ended) this.fail(fail("E_AGENT_UNREACHABLE", `the agent at ${address} closed the ${WHAT} stream before its end`)); });
  }

  /** Fails the reader (abort, timeout, connection loss); the first failure wins. */
  fail(e: EdgecutError): void {
    this.failure ??= e;
    this.poke();
  }

  /** The next line, or undefined at the end of the stream. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const l = this.lines.shift();
      if (l !== undefined) {
        if (this.lines.length < HIGH_WATER_LINES / 2 && this.res.isPaused()) this.res.resume();
        return l;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/** Streams one generation from the agent (see the module comment). */
export async function* generateOverHttp(conn: StreamConnection, input: string | readonly number[], opts: AgentGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats> {
  const signal = opts.signal;
  if (signal?.aborted) throw aborted();
  const body = bodyOf(input, opts);
  const req = conn.open("POST", "/v1/generate", {
    "Content-Type": "application/json", Accept: "application/x-ndjson, application/json", "Content-Length": String(Buffer.byteLength(body)),
  });
  let res: http.IncomingMessage | undefined;
  let reader: LineReader | undefined;
  let early: EdgecutError | undefined;
  let onFailure: ((e: EdgecutError) => void) | undefined;
  const failWith = (e: EdgecutError): void => {
    if (reader !== undefined) reader.fail(e);
    else {
      early ??= e;
      onFailure?.(e);
    }
    req.destroy();
  };
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => failWith(fail("E_TIMEOUT", `no answer from the agent at ${conn.address} to ${WHAT} within ${conn.timeoutMs} ms`)), conn.timeoutMs);
  };
  const onAbort = (): void => failWith(aborted());
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      onFailure = reject;
      req.on("response", resolve);
      req.on("error", (e: NodeJS.ErrnoException) => {
        const hint = e.code === "ENOENT" || e.code === "ECONNREFUSED" ? "; is the agent running and is this its api.listen address?" : "";
        reject(early ?? fail("E_AGENT_UNREACHABLE", `cannot reach the agent at ${conn.address} (${e.code ?? e.message})${hint}`, e));
      });
      arm();
      req.end(body);
    });
    onFailure = undefined;
    reader = new LineReader(res, conn.address);
    if (early !== undefined) reader.fail(early);
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      let text = "";
      for (let l = await reader.next(); l !== undefined; l = await reader.next()) text += l;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      throw conn.errorFrom(status, json, WHAT);
    }
    for (;;) {
      // Lines already read wait behind an abort: the caller asked to stop.
      if (signal?.aborted) throw aborted();
      arm();
      const l = await reader.next();
      clearTimeout(timer);
      if (l === undefined) throw fail("E_AGENT_UNREACHABLE", `the agent at ${conn.address} ended the ${WHAT} stream without its final line`);
      let json: unknown;
      try {
        json = JSON.parse(l);
      } catch {
        throw fail("E_INTERNAL", `the agent at ${conn.address} sent a line that is not JSON in the ${WHAT} stream: ${l.slice(0, 100)}`);
      }
      const token = TokenLine.safeParse(json);
      if (token.success) {
        const t = token.data;
        yield { index: t.index, id: t.id, logprob: t.logprob, ...(t.text === undefined ? {} : { text: t.text }) };
        continue;
      }
      const done = DoneLine.safeParse(json);
      if (done.success) {
        const { workerId, ...stats } = done.data.stats;
        return { ...stats, workerId };
      }
      throw conn.errorFrom(status, json, WHAT);
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    // Closing a stream that did not finish (return, a throw, an abort) tells the agent to stop
    // generating; a finished one leaves its connection to the pool.
    if (res === undefined || !res.complete) req.destroy();
  }
}
