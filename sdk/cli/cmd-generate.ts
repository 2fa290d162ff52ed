/**
 * `edgecut generate <manifest.json> --split k --broker <url> (--prompt text --tokenizer file |
 * --ids 1,2,3) --max-new-tokens N [--local] [--json]`: split generation with a KV-cache decoder,
 * the front layers here and the back layers on a cloud worker; `--local` runs the whole source
 * model here as the reference. Tokens stream to stdout as they come (text with a tokenizer, ids
 * otherwise); `--json` prints one object at the end.
 */
import type { Command } from "commander";
import { fail } from "../errors.js";
import { createGenerator, type StreamedToken, type TextGenerator } from "../generate/index.js";
import type { GenerationStats } from "../generate/generator.js";
import { assertId, DEFAULT_PREFIX, defaultDeviceId, topics } from "../transport/topics.js";
import { parseDuration, parseNumber } from "./flags.js";
import { printJson } from "./output.js";

interface GenerateFlags {
  split?: string; broker?: string; prompt?: string; ids?: string; tokenizer?: string; maxNewTokens?: string; local?: boolean;
  temperature: string; topK: string; topP: string; seed: string; stop?: string[]; deviceId?: string; timeout: string; retries: string;
  prefix: string; json?: boolean;
}

/** Registers `edgecut generate`. */
export function registerGenerate(program: Command): void {
  program.command("generate")
    .description("generate tokens with a split KV-cache decoder: front layers here, back layers on a cloud worker")
    .argument("<manifest>", "manifest.json of a split of a decoder with past_key_values inputs (the worker serves the same split)")
    .option("--split <k>", "the worker runs segments k..n-1 and samples; a:b for a U-shaped split (the worker runs a..b-1, this device the rest and samples)")
    .option("--broker <url>", "MQTT broker URL, e.g. mqtt://127.0.0.1:1883 (not needed with --local or k = n)")
    .option("--prompt <text>", "the prompt as text (needs --tokenizer)")
    .option("--tokenizer <file>", "a Hugging Face tokenizer.json: text in and out")
    .option("--ids <list>", "the prompt as token ids, e.g. 1,2,3")
    .option("--max-new-tokens <n>", "tokens to generate at most")
    .option("--local", "run the whole source model on this device (the reference); no broker")
    .option("--temperature <t>", "0 = greedy (the default); higher = more random", "0")
    .option("--top-k <k>", "sample among the k most likely tokens (0 = all)", "0")
    .option("--top-p <p>", "sample among the most likely tokens whose probability reaches p (1 = all)", "1")
    .option("--seed <n>", "seed of the sampling (a token's draw depends on the seed and its step only)", "0")
    .option("--stop <text-or-id...>", "stop after a token id (a number) or a text (with --tokenizer)")
    .option("--device-id <id>", "this device's id on the topics (default: from the hostname)")
    .option("--timeout <duration>", "per-attempt timeout of a session message, e.g. 10s", "10s")
    .option("--retries <n>", "retries after a timeout or a busy worker; then the session is rebuilt on another worker", "2")
    .option("--prefix <prefix>", "topic prefix", DEFAULT_PREFIX)
    .option("--json", 'print { "tokens", "text"?, "tokensPerSecond", "bytesUp", "bytesDown", ... } at the end')
    .addHelpText("after", [
      "",
      "Examples:",
      "  edgecut generate gpt/manifest.json --split 2 --broker mqtt://127.0.0.1:1883 --ids 5,17,42 --max-new-tokens 32",
      "  edgecut generate gpt/manifest.json --local --prompt \"Once upon\" --tokenizer tokenizer.json --max-new-tokens 32",
      "  edgecut generate gpt/manifest.json --split 1:3 --broker mqtt://127.0.0.1:1883 --ids 1,2 --max-new-tokens 8 --json",
    ].join("\n"))
    .action(async (manifestPath: string, flags: GenerateFlags) => {
      const split = flags.local ? "local" as const : parseSplit(flags.split);
      if (flags.local && flags.split !== undefined) throw fail("E_USAGE", "--local runs the whole model here: drop --split");
      if (flags.maxNewTokens === undefined) throw fail("E_USAGE", "--max-new-tokens <n> is required");
      const maxNewTokens = parseNumber("--max-new-tokens", flags.maxNewTokens, { integer: true, min: 1 });
      if ((flags.prompt === undefined) === (flags.ids === undefined)) throw fail("E_USAGE", "give the prompt as --prompt <text> (with --tokenizer) or as --ids <list>, one of them");
      if (flags.prompt !== undefined && flags.tokenizer === undefined) throw fail("E_USAGE", "--prompt needs --tokenizer <tokenizer.json> (or give --ids)");
      const ids = flags.ids === undefined ? undefined : parseIds(flags.ids);
      const sampling = {
        temperature: parseNumber("--temperature", flags.temperature, { min: 0 }),
        topK: parseNumber("--top-k", flags.topK, { integer: true, min: 0 }),
        topP: parseNumber("--top-p", flags.topP, { min: 0 }),
        seed: parseNumber("--seed", flags.seed, { integer: true, min: 0 }),
      };
      const stop = (flags.stop ?? []).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      const timeoutMs = parseDuration("--timeout", flags.timeout) * 1000;
      if (!(timeoutMs > 0)) throw fail("E_USAGE", `--timeout ${flags.timeout}: must be longer than 0`);
      const retries = parseNumber("--retries", flags.retries, { integer: true, min: 0 });
      topics(flags.prefix);
      const deviceId = flags.deviceId ?? defaultDeviceId();
      assertId("deviceId", deviceId);

      let gen: TextGenerator | undefined;
      try {
        gen = await createGenerator({
          manifest: manifestPath, split, deviceId, prefix: flags.prefix, timeoutMs, retries,
          ...(flags.broker === undefined || split === "local" ? {} : { broker: flags.broker }),
          ...(flags.tokenizer === undefined ? {} : { tokenizer: flags.tokenizer }),
        });
        const tokens: number[] = [];
        let text = "";
        const it = gen.generate(ids ?? flags.prompt!, { maxNewTokens, ...sampling, stop });
        let stats: GenerationStats;
        for (;;) {
          const r = await it.next();
          if (r.done) { stats = r.value; break; }
          tokens.push(r.value.id);
          text += r.value.text ?? "";
          if (!flags.json) process.stdout.write(show(r.value, gen.tokenizer !== undefined));
        }
        if (flags.json) {
          printJson({
            tokens, ...(gen.tokenizer === undefined ? {} : { text }), tokensPerSecond: round(stats.tokensPerSecond), bytesUp: stats.bytesUp, bytesDown: stats.bytesDown,
            prefillMs: round(stats.prefillMs), totalMs: round(stats.totalMs), split: stats.split, rebuilds: stats.rebuilds, workerId: stats.workerId ?? null,
          });
        } else {
          process.stdout.write("\n");
          const where = split === "local" ? "whole model here" : `worker runs segments ${stats.split.from}..${stats.split.to - 1}`;
          console.error(`${stats.tokens} tokens, ${stats.tokensPerSecond.toFixed(1)} tokens/s after a ${stats.prefillMs.toFixed(1)} ms prefill (${where}; ${stats.bytesUp} bytes up, ${stats.bytesDown} down${stats.rebuilds > 0 ? `, ${stats.rebuilds} rebuild(s)` : ""})`);
        }
      } finally {
        await gen?.close();
      }
    });
}

function parseSplit(v: string | undefined): number | { from: number; to: number } {
  if (v === undefined) throw fail("E_USAGE", "--split <k> is required (or --local): the worker runs segments k..n-1");
  const u = /^(\d+):(\d+)$/.exec(v.trim());
  if (u) return { from: Number(u[1]), to: Number(u[2]) };
  if (!/^\d+$/.test(v.trim())) throw fail("E_USAGE", `--split ${v}: expected k (an integer >= 0) or a:b for a U-shaped split`);
  return Number(v);
}

function parseIds(v: string): number[] {
  const parts = v.split(",").map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) throw fail("E_USAGE", `--ids ${v}: expected token ids separated by commas, e.g. 1,2,3`);
  return parts.map(Number);
}

function show(t: StreamedToken, hasText: boolean): string {
  return hasText ? t.text ?? "" : `${t.index === 0 ? "" : " "}${t.id}`;
}

const round = (v: number): number => Math.round(v * 100) / 100;
