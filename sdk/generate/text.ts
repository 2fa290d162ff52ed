/**
 * Text around a SplitGenerator, shared by the SDK's createGenerator and the agent: the prompt as
 * text (through the tokenizer) or token ids, stop token ids and stop texts (and the tokenizer's
 * end-of-sequence id), and the streamed text of each token (a byte-level token may end inside a
 * UTF-8 character, so a token's text is what it completes).
 */
import { fail } from "../errors.js";
import type { GenerateOptions, GenerationStats, SplitGenerator } from "./generator.js";
import { TokenTextStream, type TextTokenizer } from "./tokenizer.js";

/** Options of one text generation. */
export interface TextGenerateOptions extends Omit<GenerateOptions, "stopTokens"> {
  /** Token ids, or texts (with a tokenizer), that end generation; the tokenizer's end-of-sequence id always does. */
  stop?: readonly (number | string)[];
}

/** One streamed token. */
export interface StreamedToken {
  index: number;
  id: number;
  logprob: number;
  /** The text this token completes (with a tokenizer; "" while a character is incomplete). */
  text?: string;
}

/**
 * The prompt's token ids: text through the tokenizer, or ids checked (integers >= 0, below
 * `vocab` when known). E_USAGE naming what is wrong.
 */
export function promptIds(input: string | readonly number[], tokenizer: TextTokenizer | undefined, vocab?: number): number[] {
  if (typeof input === "string") {
    if (tokenizer === undefined) throw fail("E_USAGE", "prompt text needs a tokenizer (a tokenizer.json); pass token ids otherwise");
    const ids = tokenizer.encode(input);
    if (ids.length === 0) throw fail("E_USAGE", "the prompt encodes to no tokens; give some text");
    return ids;
  }
  if (!Array.isArray(input) || input.length === 0) throw fail("E_USAGE", "the prompt must be text or a non-empty array of token ids");
  for (const id of input as readonly unknown[]) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) throw fail("E_USAGE", `token ids are integers >= 0; got ${String(id)}`);
    if (vocab !== undefined && id >= vocab) throw fail("E_USAGE", `token id ${id} is outside the model's vocabulary (ids 0..${vocab - 1})`);
  }
  return [...input];
}

/** Stop ids (with the tokenizer's end-of-sequence id) and stop texts; E_USAGE for a bad entry or texts without a tokenizer. */
export function parseStops(stop: TextGenerateOptions["stop"], tokenizer: TextTokenizer | undefined): { ids: number[]; texts: string[] } {
  const ids: number[] = [];
  const texts: string[] = [];
  for (const s of stop ?? []) {
    if (typeof s === "string") {
      if (s === "") throw fail("E_USAGE", "a stop text must not be empty");
      texts.push(s);
    } else if (Number.isInteger(s) && s >= 0) ids.push(s);
    else throw fail("E_USAGE", `stop entries are token ids (integers >= 0) or texts; got ${String(s)}`);
  }
  if (texts.length > 0 && tokenizer === undefined) throw fail("E_USAGE", "stop texts need a tokenizer; stop on token ids instead");
  if (tokenizer?.eosTokenId !== undefined) ids.push(tokenizer.eosTokenId);
  return { ids, texts };
}

/** Streams `gen`'s tokens after `ids` with their text; stops on the stop ids and texts. */
export async function* streamText(gen: SplitGenerator, tokenizer: TextTokenizer | undefined, ids: readonly number[], opts: TextGenerateOptions): AsyncGenerator<StreamedToken, GenerationStats> {
  const stops = parseStops(opts.stop, tokenizer);
  const stream = tokenizer === undefined ? undefined : new TokenTextStream(tokenizer);
  let text = "";
  const { stop: _stop, ...rest } = opts;
  const it = gen.generate(ids, {
    ...rest, stopTokens: stops.ids,
    ...(stops.texts.length > 0 ? { until: () => stops.texts.some((s) => text.includes(s)) } : {}),
  });
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    const piece = stream?.push(r.value.id);
    text += piece ?? "";
    yield { ...r.value, ...(piece === undefined ? {} : { text: piece }) };
  }
}
