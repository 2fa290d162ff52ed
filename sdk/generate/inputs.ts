/**
 * The model inputs of one generation chunk, as Hugging Face decoders name them: `input_ids`
 * [1, tokens], `attention_mask` [1, past + tokens] of ones (one sequence, no padding),
 * `position_ids` [1, tokens] from past. Cache inputs come from the cache (state.ts); any other
 * input is one a generator cannot know how to fill, and is refused up front.
 */
import { fail } from "../errors.js";
import type { Manifest } from "../graph/manifest.js";
import type { HostTensor } from "../runtime/tensor.js";
import { isStateInput } from "./state.js";

const KNOWN = new Set(["input_ids", "attention_mask", "position_ids"]);

/** Throws E_NOT_GENERATIVE when the model has inputs a generator cannot feed, or no input_ids. */
export function checkGenerativeInputs(m: Manifest): void {
  const names = m.model.inputs.map((t) => t.name);
  if (!names.includes("input_ids")) throw fail("E_NOT_GENERATIVE", "the model has no input_ids input: generation feeds token ids by that name (Hugging Face convention)");
  const unknown = names.filter((n) => !KNOWN.has(n) && !isStateInput(m, n));
  if (unknown.length > 0) {
    const hint = unknown.includes("use_cache_branch") ? "; fold the merged decoder first: edgecut split --fix-input use_cache_branch=true" : "";
    throw fail("E_NOT_GENERATIVE", `the model has input(s) ${unknown.map((n) => JSON.stringify(n)).join(", ")} that generation cannot fill (it feeds input_ids, attention_mask, position_ids and the KV cache)${hint}`);
  }
  const ids = m.model.inputs.find((t) => t.name === "input_ids")!;
  if (ids.type !== "int64" && ids.type !== "int32") throw fail("E_NOT_GENERATIVE", `input_ids is ${ids.type}; expected int64 or int32`);
}

/** The model inputs (cache excluded) of a chunk of `tokens` after `past` cached tokens. */
export function chunkInputs(m: Manifest, tokens: readonly number[], past: number): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const t of m.model.inputs) {
    if (isStateInput(m, t.name)) continue;
    const values = t.name === "input_ids" ? tokens
      : t.name === "attention_mask" ? Array.from({ length: past + tokens.length }, () => 1)
        : Array.from({ length: tokens.length }, (_, i) => past + i);
    out.set(t.name, intTensor(t.type, values));
  }
  return out;
}

function intTensor(type: string, values: readonly number[]): HostTensor {
  const dims = [1, values.length];
  if (type === "int32") return { type: "int32", dims, data: Int32Array.from(values) };
  if (type === "int64") return { type: "int64", dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
  throw fail("E_NOT_GENERATIVE", `a generation input is ${type}; expected int64 or int32`);
}
