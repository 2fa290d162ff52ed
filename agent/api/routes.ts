/**
 * The local API's routes. Every body is JSON except POST /v1/infer's frame form and its binary
 * reply, POST /v1/generate's reply (JSON lines, route-generate.ts), and /metrics (Prometheus text). Errors are `{ "error": { "code", "message" } }`
 * (errors.ts). Queued requests: see {@link postInfer} for the Idempotency-Key rules.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { fail } from "../../sdk/errors.js";
import type { InferResult } from "../../sdk/infer/types.js";
import { formatTensorFile } from "../../sdk/runtime/tensor-file.js";
import { encodeFrame } from "../../sdk/wire/index.js";
import type { AgentCore, RequestState } from "../core/types.js";
import { RawJson, jsonText, mediaType, readBody, wantsOctetStream } from "./body.js";
import { checkInputs } from "./check-inputs.js";
import { HttpError } from "./errors.js";
import { parseFrameInfer, parseJsonInfer } from "./infer-request.js";
import type { ApiMetrics } from "./metrics.js";
import { postGenerate } from "./route-generate.js";

/** What the routes need. */
export interface RouteContext {
  core: AgentCore;
  metrics: ApiMetrics;
  maxBodyBytes: number;
  /** Work in progress, for the caps below (a generation counts as a sync request). */
  busy: { bodies: number; sync: number };
  /** Running generation streams (route-generate.ts), which the API's close() ends. */
  streams: Set<AbortController>;
}

/** JSON bodies beyond this are refused (413) whatever maxBodyBytes says: parsing JSON costs many times its size. */
export const MAX_JSON_BODY_BYTES = 16 * 2 ** 20;
/** Bodies read at once; more get 503 E_BUSY (bounds the memory held by slow or hostile clients). */
export const MAX_BODIES_READING = 8;
/** Sync inferences running at once; more get 503 E_BUSY. */
export const MAX_SYNC_IN_FLIGHT = 16;

type Handler = (ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL, param?: string) => Promise<void> | void;

/** An Idempotency-Key: 1 to 200 printable ASCII characters. */
const KEY_PATTERN = /^[\x20-\x7e]{1,200}$/;

function sendJson(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** A result's JSON: the outputs as a tensor file object, exact for every type (int64 beyond 2^53, NaN, -0). */
function resultJson(r: InferResult): RawJson {
  return new RawJson(jsonText({ requestId: r.requestId, split: r.split, outputs: new RawJson(formatTensorFile(r.outputs).trimEnd()), breakdown: r.breakdown }));
}

function stateJson(s: RequestState): string {
  return jsonText(s.status === "done" ? { ...s, result: resultJson(s.result) } : s);
}

/** Header values must be Latin-1; JSON with \u escapes for everything else is still the same JSON. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function sendResult(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, r: InferResult): void {
  if (!wantsOctetStream(req.headers.accept)) {
    sendJson(res, 200, jsonText({ id: r.requestId, split: r.split, outputs: new RawJson(formatTensorFile(r.outputs).trimEnd()), breakdown: r.breakdown }));
    return;
  }
  let frame: Uint8Array;
  try {
    frame = encodeFrame({
      kind: "reply", requestId: r.requestId, deviceId: ctx.core.status().deviceId,
      computeMs: r.breakdown.cloudComputeMs, queueMs: r.breakdown.cloudQueueMs, ok: true,
    }, r.outputs);
  } catch (e) {
    throw new HttpError(406, "E_USAGE", `the outputs cannot travel as a frame (${(e as Error).message}); ask for application/json instead`);
  }
  res.writeHead(200, {
    "Content-Type": "application/octet-stream", "Content-Length": String(frame.byteLength),
    "X-Edgecut-Meta": asciiJson({ id: r.requestId, split: r.split, breakdown: r.breakdown }),
  });
  res.end(frame);
}

/** The Idempotency-Key a queued request needs (E_USAGE when absent or malformed). */
function idempotencyKey(req: IncomingMessage): string {
  const raw = req.headers["idempotency-key"];
  const key = Array.isArray(raw) ? raw.join(", ") : raw;
  if (key === undefined) {
    throw fail("E_USAGE", 'mode "queue" needs an Idempotency-Key header (1 to 200 printable characters, unique per request): a retry with the same key returns the same request instead of running it twice');
  }
  if (!KEY_PATTERN.test(key)) throw fail("E_USAGE", `the Idempotency-Key header must be 1 to 200 printable ASCII characters; got ${key.length} characters`);
  return key;
}

/**
 * POST /v1/infer. sync: runs now, 200 with the result. queue: needs an Idempotency-Key; 202 with
 * `Location: /v1/requests/<id>` when the request is new. A key the agent already knows returns
 * 200 with the existing id and status (and the same Location), and nothing runs again: 200
 * because this call accepted no new work, so a client can tell a fresh submission from a retry.
 * The client disconnecting stops the wait (its AbortSignal); the run itself finishes in the agent.
 */
async function postInfer(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const type = mediaType(req.headers["content-type"]);
  if (type !== "application/json" && type !== "application/octet-stream") {
    throw new HttpError(415, "E_USAGE",
      `Content-Type ${JSON.stringify(req.headers["content-type"] ?? "(none)")} is not accepted; send application/json (a tensor file body) or application/octet-stream (an ECUT request frame)`,
      { "Accept-Post": "application/json, application/octet-stream" });
  }
  // JSON costs several times its size to parse (numbers become boxed values before typed arrays):
  // it gets a tighter limit than binary frames, which decode as views.
  const limit = type === "application/json" ? Math.min(ctx.maxBodyBytes, MAX_JSON_BODY_BYTES) : ctx.maxBodyBytes;
  if (ctx.busy.bodies >= MAX_BODIES_READING) {
    throw new HttpError(503, "E_BUSY", `${MAX_BODIES_READING} request bodies are being read already; retry shortly`, { "Retry-After": "1" });
  }
  ctx.busy.bodies++;
  let body: Buffer;
  try {
    body = await readBody(req, limit);
  } finally {
    ctx.busy.bodies--;
  }
  const r = type === "application/json" ? parseJsonInfer(body, url.searchParams) : parseFrameInfer(body, url.searchParams, ctx.maxBodyBytes);
  checkInputs(r.inputs, ctx.core.signature().inputs);

  if (r.mode === "queue") {
    const key = idempotencyKey(req);
    const s = ctx.core.submit(key, r.inputs);
    sendJson(res, s.created ? 202 : 200, JSON.stringify({ id: s.id, status: s.status }), { Location: `/v1/requests/${encodeURIComponent(s.id)}` });
    return;
  }
  // Sync requests run concurrently up to a cap: a client that posts and hangs up in a loop must not
  // pile up runs (a dropped caller stops waiting, but its run finishes: the agent owns it).
  if (ctx.busy.sync >= MAX_SYNC_IN_FLIGHT) {
    throw new HttpError(503, "E_BUSY", `${MAX_SYNC_IN_FLIGHT} requests are running already; retry shortly, or queue it (mode "queue" with an Idempotency-Key)`, { "Retry-After": "1" });
  }
  ctx.busy.sync++;
  const abort = new AbortController();
  const onClose = (): void => { if (!res.writableFinished) abort.abort(); };
  res.once("close", onClose);
  try {
    const result = await ctx.core.infer(r.inputs, { split: r.split, timeoutMs: r.timeoutMs, signal: abort.signal });
    sendResult(ctx, req, res, result);
  } finally {
    ctx.busy.sync--;
    res.off("close", onClose);
  }
}

function getRequest(ctx: RouteContext, _req: IncomingMessage, res: ServerResponse, _url: URL, id?: string): void {
  const s = id === undefined ? undefined : ctx.core.getRequest(id);
  if (s === undefined) throw fail("E_NOT_FOUND", `no request with id ${JSON.stringify(id)} is known to the agent; use the id (or Location) POST /v1/infer returned`);
  sendJson(res, 200, stateJson(s));
}

function health(which: "live" | "ready"): Handler {
  return (ctx, _req, res) => {
    let h: ReturnType<AgentCore["health"]>;
    try {
      h = ctx.core.health();
    } catch (e) {
      h = { live: false, ready: false, reasons: [`health check failed: ${(e as Error)?.message ?? String(e)}`] };
    }
    sendJson(res, h[which] ? 200 : 503, JSON.stringify(h));
  };
}

async function metrics(ctx: RouteContext, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const text = await ctx.metrics.text();
  res.writeHead(200, { "Content-Type": ctx.metrics.contentType, "Content-Length": String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Routes by exact path; GET routes answer HEAD too. */
const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  "/v1/infer": { POST: postInfer },
  "/v1/generate": { POST: postGenerate },
  "/v1/signature": { GET: (ctx, _req, res) => sendJson(res, 200, JSON.stringify(ctx.core.signature())) },
  "/v1/status": { GET: (ctx, _req, res) => sendJson(res, 200, JSON.stringify(ctx.core.status())) },
  "/healthz": { GET: health("live") },
  "/readyz": { GET: health("ready") },
  "/metrics": { GET: metrics },
};
const REQUESTS_PREFIX = "/v1/requests/";

/** Finds and runs the route for `req`; throws what the error body should say. */
export async function route(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://agent.local");
  let methods = Object.hasOwn(ROUTES, url.pathname) ? ROUTES[url.pathname] : undefined;
  let param: string | undefined;
  if (methods === undefined && url.pathname.startsWith(REQUESTS_PREFIX) && url.pathname.length > REQUESTS_PREFIX.length) {
    const rest = url.pathname.slice(REQUESTS_PREFIX.length);
    if (!rest.includes("/")) {
      try {
        param = decodeURIComponent(rest);
      } catch {
        throw fail("E_USAGE", `the request id in ${url.pathname} is not valid percent-encoding`);
      }
      methods = { GET: getRequest };
    }
  }
  if (methods === undefined) {
    throw fail("E_NOT_FOUND", `no route ${url.pathname}; the API serves POST /v1/infer, POST /v1/generate, GET /v1/requests/<id>, /v1/signature, /v1/status, /healthz, /readyz, /metrics`);
  }
  const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
  const handler = methods[method];
  if (handler === undefined) {
    const allow = Object.keys(methods).flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m])).join(", ");
    throw new HttpError(405, "E_USAGE", `${req.method} is not allowed on ${url.pathname}; use ${allow}`, { Allow: allow });
  }
  await handler(ctx, req, res, url, param);
}
