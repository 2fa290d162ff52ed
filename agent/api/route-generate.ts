/**
 * POST /v1/generate: streams generated tokens as JSON lines (`application/x-ndjson`), one line
 * per token `{"index","id","logprob","text"?}` as soon as it is picked, then
 * `{"done":true,"stats":{...}}`. Everything up to the first token (the body, the model, the split,
 * the prompt's prefill) fails with the API's normal error body and status; a failure after the
 * stream started ends it with a line `{"error":{"code","message"}}`.
 *
 * The client closing the connection aborts the generation (no more steps go to the worker; the
 * one under way finishes). A generation counts against the sync request cap. The API's close()
 * ends running streams with E_NOT_READY instead of waiting for them to generate to the end.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { asEdgecutError, fail } from "../../sdk/errors.js";
import type { GenerationStats, StreamedToken } from "../../sdk/infer/generate-types.js";
import { mediaType, readBody } from "./body.js";
import { HttpError } from "./errors.js";
import { parseGenerateRequest } from "./generate-request.js";
import { MAX_BODIES_READING, MAX_JSON_BODY_BYTES, MAX_SYNC_IN_FLIGHT, type RouteContext } from "./routes.js";

/** The abort reason of streams the API's close() ends. */
const CLOSING = Symbol("agent API closing");

/** Ends every running generation stream (the API is closing); each sends an E_NOT_READY line. */
export function stopStreams(ctx: RouteContext): void {
  for (const ac of ctx.streams) ac.abort(CLOSING);
}

function line(v: unknown): string {
  return `${JSON.stringify(v)}\n`;
}

function tokenLine(t: StreamedToken): string {
  return line({ index: t.index, id: t.id, logprob: t.logprob, ...(t.text === undefined ? {} : { text: t.text }) });
}

/** Resolves once the response takes more data, or is gone. */
function writable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

/** POST /v1/generate (see the module comment). */
export async function postGenerate(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const type = mediaType(req.headers["content-type"]);
  if (type !== "application/json") {
    throw new HttpError(415, "E_USAGE", `Content-Type ${JSON.stringify(req.headers["content-type"] ?? "(none)")} is not accepted; send application/json`, { "Accept-Post": "application/json" });
  }
  if ([...url.searchParams.keys()].length > 0) throw fail("E_USAGE", "POST /v1/generate takes no query parameters; put every option in the JSON body");
  const generate = ctx.core.generate;
  if (generate === undefined) throw fail("E_NOT_GENERATIVE", "this agent cannot generate text");
  if (ctx.busy.bodies >= MAX_BODIES_READING) {
    throw new HttpError(503, "E_BUSY", `${MAX_BODIES_READING} request bodies are being read already; retry shortly`, { "Retry-After": "1" });
  }
  ctx.busy.bodies++;
  let body: Buffer;
  try {
    body = await readBody(req, Math.min(ctx.maxBodyBytes, MAX_JSON_BODY_BYTES));
  } finally {
    ctx.busy.bodies--;
  }
  const r = parseGenerateRequest(body);
  if (ctx.busy.sync >= MAX_SYNC_IN_FLIGHT) {
    throw new HttpError(503, "E_BUSY", `${MAX_SYNC_IN_FLIGHT} requests and generations are running already; retry shortly`, { "Retry-After": "1" });
  }
  ctx.busy.sync++;
  const abort = new AbortController();
  ctx.streams.add(abort);
  const onClose = (): void => { if (!res.writableFinished) abort.abort(); };
  res.once("close", onClose);
  try {
    const it = generate.call(ctx.core, r.input, { ...r.options, signal: abort.signal });
    let next: IteratorResult<StreamedToken, GenerationStats>;
    try {
      next = await it.next();
    } catch (e) {
      if (abort.signal.reason === CLOSING) throw fail("E_NOT_READY", "the agent API is shutting down; retry shortly");
      throw e;
    }
    res.writeHead(200, { "Content-Type": "application/x-ndjson; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no" });
    for (;;) {
      if (abort.signal.aborted) {
        // The generator is parked at its yield: throwing there runs its cleanup.
        await it.throw(fail("E_ABORTED", "the client went away")).catch(() => undefined);
        if (abort.signal.reason === CLOSING) res.end(line({ error: { code: "E_NOT_READY", message: "the agent API is shutting down; the generation was stopped" } }));
        return;
      }
      if (next.done) {
        res.end(line({ done: true, stats: next.value }));
        return;
      }
      if (!res.write(tokenLine(next.value))) await writable(res);
      if (abort.signal.aborted) continue;
      try {
        next = await it.next();
      } catch (e) {
        if (res.destroyed) return;
        const err = abort.signal.reason === CLOSING
          ? fail("E_NOT_READY", "the agent API is shutting down; the generation was stopped")
          : asEdgecutError(e, "E_INTERNAL", "generation failed");
        res.end(line({ error: { code: err.code, message: err.message } }));
        return;
      }
    }
  } finally {
    ctx.busy.sync--;
    ctx.streams.delete(abort);
    res.off("close", onClose);
  }
}
