/**
 * Text generation with a split decoder: what an app imports to stream tokens from an LLM whose
 * front layers run on the device and whose back layers run on a cloud worker (or, with
 * `connectAgent().generate()`, through the local agent service).
 *
 * ```ts
 * const gen = await createGenerator({ manifest: "models/gpt-split/manifest.json", split: 2,
 *   broker: "mqtt://10.0.0.2:1883", tokenizer: "models/tokenizer.json" });
 * for await (const t of gen.generate("Once upon a time", { maxNewTokens: 32 })) process.stdout.write(t.text ?? "");
 * await gen.close();
 * ```
 */
import { fail } from "../errors.js";
import { loadManifest } from "../graph/manifest.js";
import { OffloadClient } from "../offload/client.js";
import { connectMqtt, type MqttOptions } from "../transport/mqtt.js";
import { defaultDeviceId } from "../transport/topics.js";
import type { Transport } from "../transport/transport.js";
import { SplitGenerator, type GenerationStats } from "./generator.js";
import { promptIds, streamText, type StreamedToken, type TextGenerateOptions } from "./text.js";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.js";
import { wholeModelManifest } from "./whole-model.js";

export { SplitGenerator, type GenerateOptions, type GeneratedToken, type GenerationStats, type SplitGeneratorOptions } from "./generator.js";
export { loadTokenizer, TokenTextStream, type TextTokenizer } from "./tokenizer.js";
export { sampleToken, DEFAULT_SAMPLING, SamplingSchema, type SamplingOptions } from "./sampling.js";
export { wholeModelManifest } from "./whole-model.js";
export { streamText, promptIds, parseStops, type StreamedToken, type TextGenerateOptions } from "./text.js";

/** Options of {@link createGenerator}. */
export interface GeneratorOptions {
  /** The split's manifest.json. */
  manifest: string;
  /**
   * The worker's segments: k (device runs 0..k-1, the worker the rest and samples), `{ from, to }`
   * for a U-shaped split (the device also runs to..n-1 and samples), or "local": the whole source
   * model on the device (the reference). Default: "local" without a broker; required with one.
   */
  split?: number | { from: number; to: number } | "local";
  /** A broker URL, MQTT options, or a Transport the app made (used as is, never closed here). */
  broker?: string | MqttOptions | Transport;
  /** A tokenizer.json (Hugging Face format) or a loaded tokenizer: text in and out. */
  tokenizer?: string | TextTokenizer;
  /** This device's id on the topics (default: the hostname as a topic level). */
  deviceId?: string;
  /** Topic prefix (default "edgecut"). */
  prefix?: string;
  /** Per-attempt timeout of a session message (default 10 s) and retries (default 2). */
  timeoutMs?: number;
  retries?: number;
  /** onnxruntime intra-op threads of the device's sessions. */
  intraOpThreads?: number;
}

/** A generator bound to one split and broker. */
export interface TextGenerator {
  /**
   * Streams new tokens after `input` (text, with a tokenizer, or token ids); greedy by default.
   * The iterator's return value is the run's stats.
   */
  generate(input: string | readonly number[], opts: TextGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats>;
  /** Runs generate() to the end: the ids, the text (with a tokenizer) and the stats. */
  complete(input: string | readonly number[], opts: TextGenerateOptions): Promise<{ ids: number[]; text?: string; stats: GenerationStats }>;
  readonly tokenizer: TextTokenizer | undefined;
  close(): Promise<void>;
}

/** Makes a {@link TextGenerator} (loads the manifest and tokenizer, connects the broker). */
export async function createGenerator(opts: GeneratorOptions): Promise<TextGenerator> {
  const loaded = loadManifest(opts.manifest);
  const tokenizer = typeof opts.tokenizer === "string" ? await loadTokenizer(opts.tokenizer) : opts.tokenizer;
  const split = opts.split ?? (opts.broker === undefined ? "local" : undefined);
  if (split === undefined) throw fail("E_USAGE", "with a broker, say where to split: split k (the worker runs k..n-1), { from, to } (U-shaped) or \"local\"");
  const n = loaded.manifest.segments.length;
  const remote = split !== "local" && !(typeof split === "number" && split === n);
  if (remote && opts.broker === undefined) throw fail("E_USAGE", `split ${JSON.stringify(split)} runs segments on a worker: give a broker (--broker <url>), or split ${n} / local to run everything here`);
  let transport: Transport | undefined;
  let owned = false;
  let client: OffloadClient | undefined;
  if (remote && opts.broker !== undefined) {
    if (typeof opts.broker === "string" || !("publish" in opts.broker)) {
      transport = await connectMqtt(typeof opts.broker === "string" ? { url: opts.broker } : opts.broker);
      owned = true;
    } else transport = opts.broker;
    client = new OffloadClient({
      transport, deviceId: opts.deviceId ?? defaultDeviceId(), ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }), ...(opts.retries === undefined ? {} : { retries: opts.retries }),
    });
    await client.start();
  }
  const target = split === "local" ? wholeModelManifest(loaded.manifest, loaded.dir) : loaded;
  const gen = new SplitGenerator({
    manifest: target.manifest, dir: target.dir, split: split === "local" ? 1 : split,
    ...(client === undefined ? {} : { client }), ...(opts.intraOpThreads === undefined ? {} : { intraOpThreads: opts.intraOpThreads }),
  });

  // Checked at the first next(), as the agent's generate() does.
  async function* generate(input: string | readonly number[], o: TextGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats> {
    return yield* streamText(gen, tokenizer, promptIds(input, tokenizer), o);
  }

  return {
    tokenizer,
    generate,
    async complete(input, o) {
      const it = generate(input, o);
      const ids: number[] = [];
      let text = "";
      for (;;) {
        const r = await it.next();
        if (r.done) return { ids, ...(tokenizer === undefined ? {} : { text }), stats: r.value };
        ids.push(r.value.id);
        text += r.value.text ?? "";
      }
    },
    async close() {
      await gen.close();
      await client?.close();
      if (owned) await transport?.close();
    },
  };
}
