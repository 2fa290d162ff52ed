/**
 * Split generation on the device: segments 0..from-1 run here with the KV cache of their layers,
 * segments from..to-1 on a worker that keeps the cache of its own (remote-session.ts), and, in a
 * U-shaped split, segments to..n-1 here again before sampling on the device. With from = n the
 * whole model runs here: the local reference. Per token only the tensors at the cut cross: one
 * token's hidden state up, one token id and its logprob down.
 *
 * The split is fixed for a session; a new generate() call may use another.
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { EdgecutError, fail } from "../errors.js";
import type { Manifest } from "../graph/manifest.js";
import type { OffloadClient } from "../offload/client.js";
import type { OffloadResult } from "../offload/types.js";
import { OrtSession } from "../runtime/ort.js";
import type { HostTensor, TensorMap } from "../runtime/tensor.js";
import { checkGenerativeInputs, chunkInputs } from "./inputs.js";
import { runRange } from "./range.js";
import { RemoteSession, type RemoteResult } from "./remote-session.js";
import { DEFAULT_SAMPLING, lastRow, parseSampling, sampleToken, type SamplingOptions } from "./sampling.js";
import { logitsOutput } from "./state.js";

/** A loaded segment the generator can run (OrtSession, or a test's wrapper). */
export interface GeneratorSegment {
  run(feeds: TensorMap): Promise<TensorMap>;
  release(): Promise<void>;
}

/** Options of a SplitGenerator. */
export interface SplitGeneratorOptions {
  manifest: Manifest;
  /** The folder the manifest's files are relative to. */
  dir: string;
  /**
   * The worker's segments: `k` (the worker runs k..n-1 and samples), `{ from, to }` with to < n
   * for a U-shaped split (the device runs to..n-1 and samples), or n: everything on the device.
   */
  split: number | { from: number; to: number };
  /** Needed unless everything runs on the device. */
  client?: OffloadClient;
  /** Per-attempt timeout and retries of the session's messages (default: the client's). */
  timeoutMs?: number;
  retries?: number;
  /** onnxruntime intra-op threads of the device's sessions. */
  intraOpThreads?: number;
  /** Loads a segment file (default OrtSession.create). */
  loadSegment?: (file: string) => Promise<GeneratorSegment>;
  /**
   * Called as each exchange with the worker starts; the function it returns is called when the
   * exchange ends and tells whether it had the link to itself (the agent's rule for learning from a
   * round trip). Absent: every exchange counts as alone.
   */
  track?: () => () => boolean;
  /** Called after each exchange with the worker: what it was, its measurements, whether it was alone on the link. */
  onExchange?: (e: { kind: "open" | "step" | "rebuild"; result: OffloadResult; alone: boolean }) => void;
}

/** Options of one generate() call. */
export interface GenerateOptions extends Partial<SamplingOptions> {
  /** Tokens to generate at most (>= 1). */
  maxNewTokens: number;
  /** Token ids that end generation (the token is yielded, then generation stops). */
  stopTokens?: readonly number[];
  /** Aborts between tokens (E_ABORTED). */
  signal?: AbortSignal;
  /** Checked after each token is consumed: true ends generation (stop texts). */
  until?: (token: GeneratedToken) => boolean;
}

/** One generated token. */
export interface GeneratedToken {
  /** 0 for the first new token. */
  index: number;
  id: number;
  /** Natural log of its probability under the model (temperature 1). */
  logprob: number;
}

/** What a finished generate() reports. */
export interface GenerationStats {
  tokens: number;
  /** New tokens per second from the first token to the last (decode rate; 0 with one token). */
  tokensPerSecond: number;
  /** From the call to the first token: the prompt's prefill. */
  prefillMs: number;
  totalMs: number;
  /** Transport payload bytes sent and received for the session (0 all-local). */
  bytesUp: number;
  bytesDown: number;
  /** Bytes up of each decode step (not the prefill). */
  stepBytesUp: number[];
  /** Times the worker lost the session and it was rebuilt by replay. */
  rebuilds: number;
  /** The worker holding the session at the end. */
  workerId: string | undefined;
  split: { from: number; to: number };
}

/** Runs generation at one split (see the module comment). */
export class SplitGenerator {
  readonly split: { from: number; to: number };
  private readonly n: number;
  private readonly segments = new Map<number, Promise<GeneratorSegment>>();
  private closed = false;

  constructor(private readonly o: SplitGeneratorOptions) {
    const m = o.manifest;
    this.n = m.segments.length;
    const s = typeof o.split === "number" ? { from: o.split, to: this.n } : { from: o.split.from, to: o.split.to };
    if (!Number.isInteger(s.from) || !Number.isInteger(s.to) || s.from < 0 || s.from > this.n || (s.from < this.n && !(s.from < s.to && s.to <= this.n))) {
      throw fail("E_USAGE", `split must be 0..${this.n} or { from, to } with 0 <= from < to <= ${this.n}; got ${JSON.stringify(o.split)}`);
    }
    if (s.from === this.n) s.to = this.n;
    this.split = s;
    checkGenerativeInputs(m);
    logitsOutput(m);
    if (m.state.length === 0) throw fail("E_NOT_GENERATIVE", "the split lists no KV cache pairs (manifest state): generation needs a decoder exported with past_key_values inputs and present outputs");
    if (s.from < this.n && o.client === undefined) throw fail("E_USAGE", `split ${s.from} runs segments on a worker: pass an offload client (a broker)`);
  }

  /** Generates up to maxNewTokens after `prompt` (token ids); returns the stats when done. */
  async *generate(prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<GeneratedToken, GenerationStats> {
    if (this.closed) throw fail("E_USAGE", "the generator is closed");
    if (!Array.isArray(prompt) || prompt.length === 0 || !prompt.every((t) => Number.isInteger(t) && t >= 0)) throw fail("E_USAGE", "the prompt must be a non-empty array of token ids (integers >= 0)");
    if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) throw fail("E_USAGE", `maxNewTokens must be an integer >= 1, got ${String(opts.maxNewTokens)}`);
    const sampling = parseSampling({ ...DEFAULT_SAMPLING, ...pick(opts) });
    const m = this.o.manifest;
    const { from, to } = this.split;
    const t0 = performance.now();
    const front = new Map<string, HostTensor>();
    const tail = new Map<string, HostTensor>();
    let frontLen = 0;
    let tailLen = 0;
    const remote = from < this.n
      ? new RemoteSession({ client: this.o.client!, manifest: m, splitId: m.splitId, from, to, sampling, ...this.timing() })
      : undefined;
    const stats: GenerationStats = {
      tokens: 0, tokensPerSecond: 0, prefillMs: 0, totalMs: 0, bytesUp: 0, bytesDown: 0, stepBytesUp: [], rebuilds: 0, workerId: undefined, split: { from, to },
    };
    const logits = logitsOutput(m);
    let chunk = [...prompt];
    let firstAt = 0;
    for (let step = 0; step < opts.maxNewTokens; step++) {
      if (opts.signal?.aborted) throw fail("E_ABORTED", `generation aborted after ${step} token(s)`);
      const inputs = chunkInputs(m, chunk, frontLen);
      const here = await runRange(m, 0, from, inputs, front, frontLen, (i, f) => this.run(i, f), chunk.length);
      frontLen = here.length;
      let picked: { token: number; logprob: number };
      if (remote === undefined) picked = sample(here.env, logits, sampling, step);
      else {
        const end = this.o.track?.();
        let r: RemoteResult;
        let alone = true;
        try {
          r = await remote.send(step, here.env);
        } finally {
          alone = end?.() ?? true;
        }
        this.o.onExchange?.({ kind: r.kind, result: r.result, alone });
        stats.bytesUp += r.result.bytesUp;
        stats.bytesDown += r.result.bytesDown;
        if (step > 0) stats.stepBytesUp.push(r.result.bytesUp);
        if (r.generated !== undefined) picked = r.generated;
        else {
          const env = new Map([...here.env, ...Object.entries(r.outputs)]);
          const back = await runRange(m, to, this.n, env, tail, tailLen, (i, f) => this.run(i, f), chunk.length);
          tailLen = back.length;
          picked = sample(back.env, logits, sampling, step);
        }
      }
      if (step === 0) {
        firstAt = performance.now();
        stats.prefillMs = firstAt - t0;
      }
      stats.tokens++;
      const token = { index: step, id: picked.token, logprob: picked.logprob };
      yield token;
      if (opts.stopTokens?.includes(picked.token) || opts.until?.(token) === true) break;
      chunk = [picked.token];
    }
    const end = performance.now();
    stats.totalMs = end - t0;
    stats.tokensPerSecond = stats.tokens > 1 ? (stats.tokens - 1) / ((end - firstAt) / 1000) : 0;
    stats.rebuilds = remote?.rebuilds ?? 0;
    stats.workerId = remote?.worker;
    return stats;
  }

  /** Releases the device's sessions. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segments.values()) await (await s.catch(() => undefined))?.release();
    this.segments.clear();
  }

  private run(i: number, feeds: TensorMap): Promise<TensorMap> {
    let s = this.segments.get(i);
    if (s === undefined) {
      const file = path.join(this.o.dir, this.o.manifest.segments[i]!.file);
      const load = this.o.loadSegment ?? ((f: string) => OrtSession.create(f, this.o.intraOpThreads === undefined ? {} : { intraOpThreads: this.o.intraOpThreads }));
      s = load(file);
      this.segments.set(i, s);
    }
    return s.then((seg) => seg.run(feeds));
  }

  private timing(): { timeoutMs?: number; retries?: number } {
    return { ...(this.o.timeoutMs === undefined ? {} : { timeoutMs: this.o.timeoutMs }), ...(this.o.retries === undefined ? {} : { retries: this.o.retries }) };
  }
}

function pick(o: GenerateOptions): Partial<SamplingOptions> {
  const out: Partial<SamplingOptions> = {};
  for (const k of ["temperature", "topK", "topP", "seed"] as const) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function sample(env: ReadonlyMap<string, HostTensor>, name: string, sampling: SamplingOptions, step: number): { token: number; logprob: number } {
  const t = env.get(name);
  if (t === undefined || t.type !== "float32") throw new EdgecutError("E_RUNTIME", `the model did not return float32 ${name}`);
  return sampleToken(lastRow(t.data, t.dims), sampling, step);
}
