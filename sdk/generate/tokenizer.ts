/**
 * Text <-> token ids for generation, from a Hugging Face tokenizer.json. The one module that
 * imports @huggingface/tokenizers (pure JS), so the rest of edgecut sees only TextTokenizer.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { z } from "zod";
import { EdgecutError, fail } from "../errors.js";

/** A loaded tokenizer: ids are the model's input_ids / logits indices. */
export interface TextTokenizer {
  /** The ids of `text` (with the special tokens the tokenizer's post-processor adds, e.g. a BOS). */
  encode(text: string): number[];
  /** The text of `ids`, exactly as the tokenizer's decoder gives it (no space clean-up). Throws E_USAGE for an id outside the vocabulary. */
  decode(ids: readonly number[]): string;
  /** Number of ids (largest id + 1); a model's logits should be this wide. */
  readonly vocabSize: number;
  /** The end-of-sequence id, when known (tokenizer_config.json's eos_token, else a well-known special token); generation stops on it. */
  readonly eosTokenId: number | undefined;
}

/**
 * The part of the library's Tokenizer used here, typed by hand: its bundled .d.ts files use
 * extensionless imports that do not resolve under NodeNext, so the import alone would be `any`.
 */
interface HfTokenizerApi {
  encode(text: string): { ids: number[] };
  decode(ids: number[], options: { clean_up_tokenization_spaces: boolean }): string;
  id_to_token(id: number): string | undefined;
  token_to_id(token: string): number | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
}
type HfTokenizerCtor = new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizerApi;

/**
 * The library, imported on first use: an agent that serves no text (token ids only, or no
 * generation at all) does not carry it in its resident memory (~3 MB).
 */
async function hfTokenizer(): Promise<HfTokenizerCtor> {
  return (await import("@huggingface/tokenizers")).Tokenizer as unknown as HfTokenizerCtor;
}

/** The fields every tokenizer.json has; the library checks the rest. */
const TokenizerFileSchema = z.object({
  model: z.looseObject({ vocab: z.union([z.record(z.string(), z.number()), z.array(z.unknown())]) }),
  added_tokens: z.array(z.looseObject({ id: z.number().int().nonnegative(), content: z.string(), special: z.boolean().optional() })),
  normalizer: z.unknown().optional(),
  pre_tokenizer: z.unknown().optional(),
  post_processor: z.unknown().optional(),
  decoder: z.unknown().optional(),
}).loose();

/** tokenizer_config.json, when it sits next to the tokenizer: the library reads a few of its fields. */
const TokenizerConfigSchema = z.looseObject({
  eos_token: z.union([z.string(), z.looseObject({ content: z.string() }), z.null()]).optional(),
});

/** Special tokens that end a sequence, for tokenizers without a tokenizer_config.json. */
const KNOWN_EOS = ["<|endoftext|>", "</s>", "<|end_of_text|>", "<|eot_id|>", "<eos>", "<|im_end|>"];

const WHAT_TO_DO = "pass the tokenizer.json that came with the model, or write one with `edgecut model tiny-gpt --vocab N --tokenizer tokenizer.json`";

/**
 * Loads a Hugging Face tokenizer.json (and a tokenizer_config.json beside it, if any).
 * Throws E_MODEL_READ when the file cannot be read, E_USAGE when it is not JSON or not a
 * tokenizer.json, E_UNSUPPORTED when the tokenizer uses a component the library lacks.
 */
export async function loadTokenizer(file: string): Promise<TextTokenizer> {
  const json = await readJson(file, "tokenizer");
  const parsed = TokenizerFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw fail("E_USAGE", `${file} is not a tokenizer.json (${issue ? `${issue.path.join(".") || "top level"}: ${issue.message}` : "bad fields"}); ${WHAT_TO_DO}`);
  }
  const configFile = path.join(path.dirname(file), "tokenizer_config.json");
  let config: z.infer<typeof TokenizerConfigSchema> = {};
  if (await isFile(configFile)) {
    const c = TokenizerConfigSchema.safeParse(await readJson(configFile, "tokenizer config"));
    if (!c.success) throw fail("E_USAGE", `${configFile} is not a valid tokenizer_config.json (${c.error.issues[0]?.message ?? "bad fields"}); fix or remove it`);
    config = c.data;
  }
  let tok: HfTokenizerApi;
  const Ctor = await hfTokenizer();
  try {
    tok = new Ctor(json as object, config);
  } catch (e) {
    throw fail("E_UNSUPPORTED", `cannot build a tokenizer from ${file}: ${(e as Error).message}; ${WHAT_TO_DO}`, e);
  }
  let vocabSize = 0;
  for (const id of tok.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  if (vocabSize === 0) throw fail("E_USAGE", `${file} has an empty vocabulary; ${WHAT_TO_DO}`);
  return new HfTokenizer(tok, vocabSize, eosId(tok, parsed.data.added_tokens, config), file);
}

class HfTokenizer implements TextTokenizer {
  constructor(private readonly tok: HfTokenizerApi, readonly vocabSize: number, readonly eosTokenId: number | undefined, private readonly file: string) {}

  encode(text: string): number[] {
    if (typeof text !== "string") throw fail("E_USAGE", `encode takes a string, got ${typeof text}`);
    return this.tok.encode(text).ids;
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return "";
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.tok.id_to_token(id) === undefined) {
        throw fail("E_USAGE", `token id ${id} is not in the tokenizer ${this.file} (${this.vocabSize} ids); use the tokenizer that matches the model`);
      }
    }
    // No clean-up: streamed text must be the exact concatenation of its pieces, as the Rust library decodes.
    return this.tok.decode([...ids], { clean_up_tokenization_spaces: false });
  }
}

/**
 * Turns ids, pushed one at a time, into text pieces that are final: a byte-level token can end
 * inside a UTF-8 character (the decoder then shows U+FFFD), and some decoders drop a token's
 * leading space when it comes first, so each id is decoded together with the ids before it and
 * only the completed new text is returned (the approach of the Rust library's DecodeStream).
 */
export class TokenTextStream {
  private ids: number[] = [];
  private prefix = "";
  private prefixIndex = 0;

  constructor(private readonly tokenizer: TextTokenizer) {}

  /** Adds one id; returns the text it completes ("" while a character is still partial). */
  push(id: number): string {
    if (this.prefix === "" && this.ids.length > 0) {
      const p = this.tokenizer.decode(this.ids);
      if (!p.endsWith("\uFFFD")) {
        this.prefix = p;
        this.prefixIndex = this.ids.length;
      }
    }
    this.ids.push(id);
    const text = this.tokenizer.decode(this.ids);
    if (text.length <= this.prefix.length || text.endsWith("\uFFFD")) return "";
    if (!text.startsWith(this.prefix)) {
      throw fail("E_UNSUPPORTED", "this tokenizer's decoder rewrites earlier text when a token is added, so it cannot be decoded token by token; decode the whole sequence instead");
    }
    const piece = text.slice(this.prefix.length);
    // Keep only the ids after the old prefix: they give the next token its left context.
    const keep = this.ids.length - this.prefixIndex;
    this.ids = this.ids.slice(this.prefixIndex);
    this.prefix = this.tokenizer.decode(this.ids);
    this.prefixIndex = keep;
    return piece;
  }

  /** Ends the stream: returns text still held back (a trailing partial character decodes as U+FFFD) and resets. */
  flush(): string {
    const text = this.tokenizer.decode(this.ids);
    const rest = text.length > this.prefix.length && text.startsWith(this.prefix) ? text.slice(this.prefix.length) : "";
    this.ids = [];
    this.prefix = "";
    this.prefixIndex = 0;
    return rest;
  }
}

function eosId(tok: HfTokenizerApi, added: readonly { id: number; content: string; special?: boolean | undefined }[], config: z.infer<typeof TokenizerConfigSchema>): number | undefined {
  const named = typeof config.eos_token === "string" ? config.eos_token : config.eos_token?.content;
  if (named !== undefined) {
    const id = tok.token_to_id(named);
    if (id !== undefined) return id;
  }
  for (const name of KNOWN_EOS) {
    const t = added.find((a) => a.content === name && a.special !== false);
    if (t) return t.id;
  }
  return undefined;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw fail("E_MODEL_READ", `the ${what} ${file} is not a file; ${WHAT_TO_DO}`);
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if (e instanceof EdgecutError) throw e;
    throw fail("E_MODEL_READ", `cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; ${WHAT_TO_DO}`, e);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw fail("E_USAGE", `the ${what} ${file} is not JSON (${(e as Error).message}); ${WHAT_TO_DO}`, e);
  }
}
