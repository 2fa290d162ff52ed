/**
 * Generation in the agent core: one SplitGenerator session per generate() call, at the split the
 * caller forced or the agent's policy chose when the call started (fixed for the call: the KV
 * cache on each side belongs to that cut), through the agent's own OffloadClient (one broker
 * connection for inference and generation). Text in and out goes through the agent's tokenizer,
 * as createGenerator does (sdk/generate/index.ts).
 *
 * The device's segment sessions are shared by concurrent generations and kept between them; they
 * are separate from the inference runner's (whose sessions run whole prompts, not cached steps).
 * Once no generation runs, the sessions of segments the last one did not run here are released.
 */
import * as path from "node:path";
import { asEdgecutError, EdgecutError, fail } from "../../sdk/errors.js";
import { SplitGenerator, type GenerationStats, type GeneratorSegment, type SplitGeneratorOptions } from "../../sdk/generate/generator.js";
import { parseStops, promptIds, streamText, type StreamedToken } from "../../sdk/generate/text.js";
import { checkGenerativeInputs } from "../../sdk/generate/inputs.js";
import { logitsOutput } from "../../sdk/generate/state.js";
import type { TextTokenizer } from "../../sdk/generate/tokenizer.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import type { AgentGenerateOptions } from "../../sdk/infer/generate-types.js";
import type { OffloadClient } from "../../sdk/offload/client.js";
import { OrtSession } from "../../sdk/runtime/ort.js";

/** Options of a {@link GenerationRunner}. */
export interface GenerationRunnerOptions {
  manifest: Manifest;
  /** The folder the manifest's segment files are relative to. */
  dir: string;
  /** The agent's offload client (absent: no broker, only all-local generation). */
  client: OffloadClient | undefined;
  tokenizer: TextTokenizer | undefined;
  intraOpThreads?: number;
  /** Passed to each SplitGenerator: the agent's offload accounting and what it learns from each exchange. */
  track?: SplitGeneratorOptions["track"];
  onExchange?: SplitGeneratorOptions["onExchange"];
}

/** Picks the split for a call (the caller's forced one checked, or the policy's); throws when none can run. */
export type SplitPicker = (forced: number | undefined) => number;

/** Marks an abort made by close(), to tell it from the caller's own signal. */
const STOPPING = Symbol("agent stopping");

/** Runs the agent's generations (see the module comment). */
export class GenerationRunner {
  /** Loaded device sessions by segment file. */
  private readonly sessions = new Map<string, Promise<OrtSession>>();
  private readonly controllers = new Set<AbortController>();
  /** Steps running now (close() waits for them). */
  private readonly steps = new Set<Promise<unknown>>();
  private running = 0;
  private closed = false;
  private readonly vocab: number | undefined;
  private readonly problem: EdgecutError | undefined;

  constructor(private readonly o: GenerationRunnerOptions) {
    this.problem = generativeProblem(o.manifest);
    const logits = this.problem === undefined ? o.manifest.model.outputs.find((t) => t.name === logitsOutput(o.manifest)) : undefined;
    const width = logits?.shape[logits.shape.length - 1];
    this.vocab = typeof width === "number" ? width : undefined;
    if (o.tokenizer !== undefined && this.vocab !== undefined && o.tokenizer.vocabSize > this.vocab) {
      throw fail("E_USAGE", `the tokenizer has ${o.tokenizer.vocabSize} ids but the model's logits only ${this.vocab}: it is not this model's tokenizer; give the tokenizer.json that came with the model`);
    }
  }

  /** Generations running now. */
  get active(): number {
    return this.running;
  }

  /** The tokenizer (undefined: only token ids in and out). */
  get tokenizer(): TextTokenizer | undefined {
    return this.o.tokenizer;
  }

  /**
   * Streams the tokens of one generation (AgentGeneration.generate); `pick` chooses the split once
   * the request is checked. Everything is checked at the first next(), before any token.
   */
  async *generate(input: string | readonly number[], opts: AgentGenerateOptions, pick: SplitPicker): AsyncGenerator<StreamedToken, GenerationStats> {
    if (this.closed) throw fail("E_NOT_READY", "the agent is stopping and takes no new generations");
    if (opts.signal?.aborted) throw fail("E_ABORTED", "the generation was aborted before it started");
    if (this.problem !== undefined) throw this.problem;
    const tokenizer = this.o.tokenizer;
    if (typeof input === "string" && tokenizer === undefined) throw fail("E_USAGE", "prompt text needs a tokenizer, and this agent has none: set model.tokenizer (a tokenizer.json) in its config, or send token ids");
    const ids = promptIds(input, tokenizer, this.vocab);
    parseStops(opts.stop, tokenizer); // checked before the split is picked
    const k = pick(opts.split);

    const gen = new SplitGenerator({
      manifest: this.o.manifest, dir: this.o.dir, split: k, ...(this.o.client === undefined ? {} : { client: this.o.client }),
      loadSegment: (file) => Promise.resolve(this.segment(file)),
      ...(this.o.track === undefined ? {} : { track: this.o.track }), ...(this.o.onExchange === undefined ? {} : { onExchange: this.o.onExchange }),
    });
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    this.controllers.add(ac);
    this.running++;
    let tokens = 0;
    try {
      const { split: _split, ...textOpts } = opts;
      const it = streamText(gen, tokenizer, ids, { ...textOpts, signal: ac.signal });
      for (;;) {
        const step = it.next();
        this.steps.add(step);
        let r: IteratorResult<StreamedToken, GenerationStats>;
        try {
          r = await step;
        } catch (e) {
          if (ac.signal.reason === STOPPING) throw fail("E_NOT_READY", `the agent stopped during the generation, after ${tokens} token(s)`);
          throw asEdgecutError(e, "E_RUNTIME", "generation failed");
        } finally {
          this.steps.delete(step);
        }
        if (r.done) return r.value;
        tokens++;
        yield r.value;
      }
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      this.controllers.delete(ac);
      this.running--;
      await gen.close();
      if (this.running === 0 && !this.closed) await this.retain(k);
    }
  }

  /**
   * Stops: aborts running generations (they end with E_NOT_READY at their next token), waits for
   * the steps under way, releases the sessions. Idempotent.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const ac of this.controllers) ac.abort(STOPPING);
    await Promise.allSettled([...this.steps]);
    await this.retain(0);
  }

  private segment(file: string): GeneratorSegment {
    // The session is looked up at each run, so a release between generations only costs a reload.
    return {
      run: async (feeds) => (await this.session(file)).run(feeds),
      release: async () => undefined,
    };
  }

  private session(file: string): Promise<OrtSession> {
    let s = this.sessions.get(file);
    if (s === undefined) {
      s = OrtSession.create(file, { allowSpinning: false, ...(this.o.intraOpThreads === undefined ? {} : { intraOpThreads: this.o.intraOpThreads }) });
      // A failed load is not kept: the next step tries again.
      void s.catch(() => this.sessions.delete(file));
      this.sessions.set(file, s);
    }
    return s;
  }

  /** Releases the sessions of segments k and later (the device ran 0..k-1 last). */
  private async retain(k: number): Promise<void> {
    const keep = new Set(this.o.manifest.segments.slice(0, k).map((s) => path.join(this.o.dir, s.file)));
    const drop = [...this.sessions.entries()].filter(([file]) => !keep.has(file));
    for (const [file] of drop) this.sessions.delete(file);
    for (const r of await Promise.allSettled(drop.map(([, p]) => p))) if (r.status === "fulfilled") await r.value.release().catch(() => undefined);
  }
}

/** Why the split cannot generate (E_NOT_GENERATIVE), or undefined when it can. */
function generativeProblem(m: Manifest): EdgecutError | undefined {
  try {
    checkGenerativeInputs(m);
    logitsOutput(m);
  } catch (e) {
    return asEdgecutError(e, "E_NOT_GENERATIVE", "the model cannot generate");
  }
  if (m.state.length === 0) {
    return fail("E_NOT_GENERATIVE", "this agent's model has no KV cache (its manifest lists no state pairs): generation needs a decoder exported with past_key_values inputs and present outputs, split again with edgecut split");
  }
  return undefined;
}
