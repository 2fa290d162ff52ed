/**
 * The two body forms of POST /v1/infer, parsed into one request.
 *
 * `application/json`: `{ "inputs": <tensor file object>, "mode"?: "sync" | "queue", "split"?: int,
 * "timeoutMs"?: int }` (docs of the tensor file format: sdk/runtime/tensor-file.ts). Options go
 * in the body; query parameters are refused so that nothing is silently ignored.
 *
 * `application/octet-stream`: one ECUT request frame (docs/wire-format.md). Its tensors are the
 * inputs. Of its header only `kind` (must be "request") and `ttlMs` matter: a ttlMs > 0 is the
 * request's timeout unless the query sets timeoutMs. requestId, deviceId, splitId and segments
 * are checked by the frame schema but otherwise ignored: the agent names the request and picks
 * the split. Options go in the query: `?mode=queue`, `?split=2`, `?timeoutMs=5000`.
 */
import { z } from "zod";
import { fail } from "../../sdk/errors.js";
import { parseTensorObject } from "../../sdk/runtime/tensor-file.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { fieldPath } from "../../sdk/validation.js";
import { decodeFrame } from "../../sdk/wire/index.js";

/** A parsed POST /v1/infer. */
export interface InferRequest {
  inputs: TensorMap;
  mode: "sync" | "queue";
  split?: number;
  timeoutMs?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const OptionsShape = {
  mode: z.enum(["sync", "queue"]).optional(),
  split: z.number().int().min(0).optional(),
  // Up to 10 minutes: Node's timers fire at once for a delay beyond 2^31 - 1 ms.
  timeoutMs: z.number().int().positive().max(600_000).optional(),
};

const JsonBodySchema = z.strictObject({
  // Checked as an object only: parseTensorObject validates its entries with the tensor names in its messages.
  inputs: z.custom<Record<string, unknown>>(isObject, { message: 'must be a tensor file object: { "name": { "type", "dims", "data" } }' }),
  ...OptionsShape,
});

function usage(prefix: string, error: z.ZodError): never {
  const issue = error.issues[0]!;
  if (issue.code === "unrecognized_keys") {
    throw fail("E_USAGE", `${prefix}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}; allowed: inputs, mode, split, timeoutMs`);
  }
  throw fail("E_USAGE", `${prefix}: "${fieldPath(issue.path)}" ${issue.message}`);
}

function checkQueueOptions(r: InferRequest): InferRequest {
  if (r.mode === "queue" && (r.split !== undefined || r.timeoutMs !== undefined)) {
    throw fail("E_USAGE", "split and timeoutMs apply to mode \"sync\" only; a queued request runs at the planner's split until it finishes");
  }
  return r;
}

/** Parses a JSON body (E_USAGE for bad JSON or fields, E_TENSOR_FILE for bad tensors). */
export function parseJsonInfer(body: Buffer, query: URLSearchParams): InferRequest {
  if ([...query.keys()].length > 0) {
    throw fail("E_USAGE", `query parameters (${[...new Set(query.keys())].join(", ")}) are for frame bodies only; put mode, split and timeoutMs in the JSON body`);
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw fail("E_USAGE", `the request body is not valid JSON (${(e as Error).message}); send { "inputs": { "name": { "type", "dims", "data" } } }`, e);
  }
  if (!isObject(json)) throw fail("E_USAGE", 'the request body must be a JSON object: { "inputs": { ... }, "mode"?, "split"?, "timeoutMs"? }');
  const r = JsonBodySchema.safeParse(json);
  if (!r.success) usage("request body", r.error);
  // The raw object, not zod's copy: a tensor named "__proto__" must reach parseTensorObject's check.
  const inputs = parseTensorObject(json.inputs, "request body \"inputs\"");
  return checkQueueOptions({ inputs, mode: r.data.mode ?? "sync", split: r.data.split, timeoutMs: r.data.timeoutMs });
}

const QuerySchema = z.strictObject(OptionsShape);

function queryNumber(name: string, text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) throw fail("E_USAGE", `query parameter ${name}=${JSON.stringify(text)} is not a non-negative integer`);
  return Number(text);
}

/** Parses a request frame body with its query options (E_FRAME... for a bad frame, E_USAGE for bad options). */
export function parseFrameInfer(body: Buffer, query: URLSearchParams, maxBytes: number): InferRequest {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of query) {
    if (Object.hasOwn(raw, k)) throw fail("E_USAGE", `query parameter ${k} is given twice`);
    raw[k] = k === "split" || k === "timeoutMs" ? queryNumber(k, v) : v;
  }
  const q = QuerySchema.safeParse(raw);
  if (!q.success) usage("query", q.error);
  const frame = decodeFrame(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), { maxFrameBytes: Math.max(maxBytes, 1) });
  if (frame.header.kind !== "request") {
    throw fail("E_FRAME", `POST /v1/infer takes a request frame; this frame's kind is "${frame.header.kind}"`);
  }
  const ttl = frame.header.ttlMs > 0 ? Math.min(Math.ceil(frame.header.ttlMs), 600_000) : undefined;
  return checkQueueOptions({ inputs: frame.tensors, mode: q.data.mode ?? "sync", split: q.data.split, timeoutMs: q.data.timeoutMs ?? (q.data.mode === "queue" ? undefined : ttl) });
}
