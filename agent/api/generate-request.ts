/**
 * The body of POST /v1/generate: `{ "prompt"?: string, "ids"?: int[], "maxNewTokens": int,
 * "temperature"?, "topK"?, "topP"?, "seed"?, "stop"?: (string | int)[], "split"?: int }`, exactly
 * one of prompt and ids. Checked field by field here (E_USAGE naming the field); what depends on
 * the model (ids in its vocabulary, a tokenizer for text, the split) the core checks.
 */
import { z } from "zod";
import { fail } from "../../sdk/errors.js";
import type { AgentGenerateOptions } from "../../sdk/infer/generate-types.js";
import { fieldPath } from "../../sdk/validation.js";

/** Most new tokens one request may ask for. */
export const MAX_NEW_TOKENS = 65_536;
/** Most prompt ids, stop entries. */
const MAX_PROMPT_IDS = 1_000_000;
const MAX_STOPS = 64;

/** A parsed POST /v1/generate: the prompt and the options (no signal yet). */
export interface GenerateRequest {
  input: string | number[];
  options: Omit<AgentGenerateOptions, "signal">;
}

const required = (what: string) => (iss: { input?: unknown }): string | undefined => (iss.input === undefined ? `is required: ${what}` : undefined);

const TokenId = z.int().min(0).max(2 ** 31 - 1);

const GenerateBodySchema = z.strictObject({
  prompt: z.string().min(1, "must not be empty").optional(),
  ids: z.array(TokenId).min(1, "must hold at least one token id").max(MAX_PROMPT_IDS).optional(),
  maxNewTokens: z.int({ error: required("the number of tokens to generate, an integer >= 1") }).min(1).max(MAX_NEW_TOKENS),
  temperature: z.number().finite().min(0).optional(),
  topK: z.int().min(0).optional(),
  topP: z.number().gt(0).max(1).optional(),
  seed: z.int().min(0).max(0xffffffff).optional(),
  stop: z.array(z.union([z.string().min(1), TokenId], { error: "must be a token id (an integer >= 0) or a non-empty text" })).max(MAX_STOPS).optional(),
  split: z.int().min(0).optional(),
});

const FIELDS = "prompt or ids, maxNewTokens, temperature, topK, topP, seed, stop, split";

/** Parses the body (E_USAGE naming the field that is wrong). */
export function parseGenerateRequest(body: Buffer): GenerateRequest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw fail("E_USAGE", `the request body is not valid JSON (${(e as Error).message}); send { "prompt": "text" or "ids": [..], "maxNewTokens": n }`, e);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw fail("E_USAGE", 'the request body must be a JSON object: { "prompt": "text" or "ids": [..], "maxNewTokens": n, ... }');
  }
  const r = GenerateBodySchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === "unrecognized_keys") throw fail("E_USAGE", `request body: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}; allowed: ${FIELDS}`);
    throw fail("E_USAGE", `request body: "${fieldPath(issue.path)}" ${issue.message}`);
  }
  const { prompt, ids, ...options } = r.data;
  if (prompt !== undefined && ids !== undefined) throw fail("E_USAGE", 'request body: give either "prompt" (text) or "ids" (token ids), not both');
  if (prompt === undefined && ids === undefined) throw fail("E_USAGE", 'request body: "prompt" (text) or "ids" (token ids) is required');
  return { input: prompt ?? ids!, options };
}
