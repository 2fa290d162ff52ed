/**
 * A deterministic GPT-2-style byte-level BPE tokenizer.json for the generated tiny-gpt
 * (`edgecut model tiny-gpt --vocab N --tokenizer out.json`).
 *
 * Ids 0..255 are the byte values, each spelled through GPT-2's bytes_to_unicode table (so a
 * vocab-256 tiny-gpt is a plain byte model). Above that come merges: first those learnt by BPE on
 * a fixed English text (so common words get their own ids, as in a real tokenizer), then
 * deterministic filler merges (printable-ASCII strings of growing length) until the vocabulary is
 * full. From vocab 257 on, the last id is `<|endoftext|>`, as in GPT-2 (vocab 50257 = 256 bytes +
 * 50000 merges + end-of-text). Pure function: same vocab, same JSON.
 */
import { fail } from "../../errors.js";

/** The smallest vocabulary a byte-level tokenizer can have: one id per byte. */
export const MIN_TOKENIZER_VOCAB = 256;

/** GPT-2's end-of-text token, the last id whenever vocab > 256. */
export const END_OF_TEXT = "<|endoftext|>";

/** Largest vocabulary written (tiny-gpt's own vocab limit). */
const MAX_TOKENIZER_VOCAB = 1_000_000;

/**
 * GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others (controls,
 * space, 0x7f-0xa0, 0xad) map to U+0100 onwards, so every byte is a visible, non-space character.
 */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return out;
})();

/** GPT-2's pre-tokenizer pattern (what the ByteLevel pre-tokenizer splits on). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** The built-in training text for the learnt merges (fixed: changing it changes every file). */
const TRAINING_TEXT = `
The quick brown fox jumps over the lazy dog. A small model runs on the edge device and the rest
of the network runs in the cloud. When the network is slow, the device keeps more of the work;
when the network is fast, it sends the hidden state to the worker and waits for the answer.
This is the story of a language model that was cut into two parts. The first part reads the
words and turns them into numbers, and the second part turns the numbers back into words. Each
token is a piece of a word, and the model predicts the next token from all of the tokens before
it. There are many ways to choose the next token: take the most likely one, or draw one at
random with a temperature, or keep only the top tokens and then draw. The answer should be the
same every time the same seed is used, so that a test can check it and a person can repeat it.
In the morning the people of the town went to the market, where they sold bread, fish, apples
and cheese. The children played in the street while their parents talked about the weather and
the price of things. It was a good day, and everyone was happy to be there. Then it started to
rain, and they went home, where they had dinner and read their books until it was time to sleep.
What would you like to know? I think that we should try it again, and then we will see what
happens. It is not easy, but it is possible, and we have done it before. Thank you for reading.
`;

/**
 * Filler alphabet for merges past the learnt ones, most useful first: lower-case letters, the
 * space symbol, upper-case letters, digits, then the rest of printable ASCII.
 */
const FILLER_ALPHABET: readonly string[] = (() => {
  const order: number[] = [];
  const add = (lo: number, hi: number): void => { for (let c = lo; c <= hi; c++) if (!order.includes(c)) order.push(c); };
  add(0x61, 0x7a); add(0x20, 0x20); add(0x41, 0x5a); add(0x30, 0x39); add(0x21, 0x7e);
  return order.map((b) => BYTE_TO_UNICODE[b]!);
})();

/** A Hugging Face tokenizer.json (the fields the tokenizers library reads), as plain JSON. */
export interface TokenizerJson {
  version: "1.0";
  truncation: null;
  padding: null;
  added_tokens: { id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean }[];
  normalizer: null;
  pre_tokenizer: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  post_processor: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  decoder: { type: "ByteLevel"; add_prefix_space: boolean; trim_offsets: boolean; use_regex: boolean };
  model: {
    type: "BPE"; dropout: null; unk_token: null; continuing_subword_prefix: null; end_of_word_suffix: null;
    fuse_unk: boolean; byte_fallback: boolean; ignore_merges: boolean;
    vocab: Record<string, number>; merges: [string, string][];
  };
}

/**
 * The tokenizer.json of a byte-level BPE with exactly `vocab` ids (256 bytes, then merges, then
 * `<|endoftext|>` when vocab > 256). Throws E_USAGE when vocab is not an integer from 256 to 1000000.
 */
export function tokenizerJson(vocab: number): TokenizerJson {
  if (!Number.isInteger(vocab) || vocab < MIN_TOKENIZER_VOCAB || vocab > MAX_TOKENIZER_VOCAB) {
    throw fail("E_USAGE", `a byte-level tokenizer needs a vocab from ${MIN_TOKENIZER_VOCAB} (one id per byte) to ${MAX_TOKENIZER_VOCAB}, got ${String(vocab)}; pass --vocab 256 or more (GPT-2 uses 50257)`);
  }
  const ids = new Map<string, number>();
  BYTE_TO_UNICODE.forEach((s, b) => ids.set(s, b));
  const wantMerges = vocab === MIN_TOKENIZER_VOCAB ? 0 : vocab - MIN_TOKENIZER_VOCAB - 1;
  const merges: [string, string][] = [];
  const addMerge = (a: string, b: string): void => {
    merges.push([a, b]);
    ids.set(a + b, ids.size);
  };
  learnMerges(wantMerges, ids, addMerge);
  fillerMerges(wantMerges - merges.length, ids, addMerge);
  const added: TokenizerJson["added_tokens"] = [];
  if (vocab > MIN_TOKENIZER_VOCAB) {
    added.push({ id: ids.size, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    ids.set(END_OF_TEXT, ids.size);
  }
  if (ids.size !== vocab) throw fail("E_INTERNAL", `tokenizer vocabulary has ${ids.size} ids, expected ${vocab}`);
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true } as const;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: Object.fromEntries(ids), merges,
    },
  };
}

/** Pre-tokenizes like the ByteLevel pre-tokenizer: GPT-2 split, then bytes as their symbols. */
function byteLevelWords(text: string): string[] {
  const enc = new TextEncoder();
  return (text.match(GPT2_SPLIT) ?? []).map((w) => Array.from(enc.encode(w), (b) => BYTE_TO_UNICODE[b]!).join(""));
}

/**
 * Classic BPE training on TRAINING_TEXT: repeatedly merge the most frequent adjacent pair (ties:
 * the lexicographically smallest pair) whose result is not yet a token, while pairs occur at
 * least twice and merges are wanted.
 */
function learnMerges(want: number, ids: ReadonlyMap<string, number>, addMerge: (a: string, b: string) => void): void {
  const counts = new Map<string, number>();
  for (const w of byteLevelWords(TRAINING_TEXT)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].map(([w, n]) => ({ syms: Array.from(w), n }));
  for (let done = 0; done < want; done++) {
    const pairs = new Map<string, { a: string; b: string; n: number }>();
    for (const { syms, n } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const a = syms[i]!;
        const b = syms[i + 1]!;
        if (ids.has(a + b)) continue;
        const key = `${a}\u0000${b}`;
        const p = pairs.get(key);
        if (p) p.n += n;
        else pairs.set(key, { a, b, n });
      }
    }
    let best: { a: string; b: string; n: number } | undefined;
    for (const p of pairs.values()) {
      if (!best || p.n > best.n || (p.n === best.n && (p.a < best.a || (p.a === best.a && p.b < best.b)))) best = p;
    }
    if (!best || best.n < 2) return;
    addMerge(best.a, best.b);
    const merged = best.a + best.b;
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === best.a && w.syms[i + 1] === best.b) {
          out.push(merged);
          i++;
        } else {
          out.push(w.syms[i]!);
        }
      }
      w.syms = out;
    }
  }
}

/**
 * Deterministic filler merges: breadth-first over printable-ASCII strings, each round appending
 * one alphabet symbol to every token made in the round before; strings already in the vocabulary
 * are skipped. Each merge's left side exists (made earlier), so every merge can apply.
 */
function fillerMerges(want: number, ids: ReadonlyMap<string, number>, addMerge: (a: string, b: string) => void): void {
  let left = want;
  let frontier: readonly string[] = FILLER_ALPHABET;
  while (left > 0) {
    const next: string[] = [];
    for (const t of frontier) {
      for (const s of FILLER_ALPHABET) {
        if (ids.has(t + s)) continue;
        addMerge(t, s);
        next.push(t + s);
        if (--left === 0) return;
      }
    }
    // Unreachable for vocab <= 1e6 (95^k grows past it fast); guards an endless loop anyway.
    if (next.length === 0) throw fail("E_INTERNAL", "ran out of filler merges for the tokenizer");
    frontier = next;
  }
}
