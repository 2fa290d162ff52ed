/**
 * The agent's local HTTP API (node:http, no framework) on TCP or a unix socket. Routes are in
 * routes.ts, metrics in metrics.ts. A unix socket gets `socketMode` (0660 by default: the agent's
 * group may call it) right after listen; a socket file left by a dead agent is removed first,
 * one another process still listens on is not.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { fail } from "../../sdk/errors.js";
import type { AgentCore } from "../core/types.js";
import { DEFAULT_MAX_BODY_BYTES } from "./body.js";
import { sendError, statusForCode, toEdgecutError, HttpError } from "./errors.js";
import { createApiMetrics } from "./metrics.js";
import { stopStreams } from "./route-generate.js";
import { route, type RouteContext } from "./routes.js";

/** What the API logs through (a pino Logger fits). */
export interface ApiLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

const silent: ApiLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Options of {@link startApi}. */
export interface ApiOptions {
  /** "127.0.0.1:8787", "[::1]:8787", "unix:/run/edgecut/agent.sock"; port 0 picks a free port (tests). */
  listen: string;
  /** Permissions of a unix socket (default 0o660). */
  socketMode?: number;
  /** Largest request body in bytes (default 64 MiB); larger ones get 413 without being read. */
  maxBodyBytes?: number;
  log?: ApiLog;
  /** The agent's version, sent as X-Edgecut-Version on every response. */
  version: string;
}

/** A running API. */
export interface ApiServer {
  /** "http://127.0.0.1:8787" for TCP, the socket's path for a unix socket. */
  address: string;
  /** Stops accepting connections, waits for the requests in flight to finish, then closes. Idempotent. */
  close(): Promise<void>;
  server: http.Server;
}

type Listen = { kind: "unix"; path: string } | { kind: "tcp"; host: string; port: number };

/** Parses the listen address (E_USAGE naming the accepted forms). */
export function parseListen(listen: string): Listen {
  if (listen.startsWith("unix:")) {
    const path = listen.slice("unix:".length);
    if (path === "") throw fail("E_USAGE", `listen "${listen}" has no socket path; use unix:/path/to/agent.sock`);
    return { kind: "unix", path };
  }
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw fail("E_USAGE", `listen "${listen}" is not host:port (port 0-65535, IPv6 in brackets) or unix:/path; e.g. 127.0.0.1:8787 or unix:/run/edgecut/agent.sock`);
  }
  return { kind: "tcp", host: m[1] ?? m[2]!, port };
}

/** Removes a socket file nothing listens on; refuses a live socket or a file that is not a socket. */
async function clearStaleSocket(path: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fail("E_USAGE", `cannot check the socket path ${path}: ${(e as Error).message}`, e);
  }
  if (!st.isSocket()) throw fail("E_USAGE", `${path} exists and is not a socket; remove it or choose another api.listen path`);
  const live = await new Promise<boolean | string>((resolve) => {
    const s = net.connect(path);
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED" || e.code === "ENOENT" ? false : (e.code ?? e.message)));
  });
  if (live === true) throw fail("E_USAGE", `another process listens on ${path} (is an agent running already?); stop it or choose another api.listen path`);
  if (typeof live === "string") throw fail("E_USAGE", `cannot tell whether ${path} is in use (${live}); check its permissions or remove it`);
  try {
    fs.unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw fail("E_USAGE", `cannot remove the stale socket ${path}: ${(e as Error).message}`, e);
  }
}

function listenOn(server: http.Server, where: Listen): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      const at = where.kind === "unix" ? where.path : `${where.host}:${where.port}`;
      reject(fail("E_USAGE", `the agent API cannot listen on ${at}: ${e.code ?? e.message}${e.code === "EADDRINUSE" ? " (another process uses it)" : ""}`, e));
    };
    server.once("error", onError);
    const done = (): void => { server.off("error", onError); resolve(); };
    if (where.kind === "unix") server.listen({ path: where.path }, done);
    else server.listen({ host: where.host, port: where.port }, done);
  });
}

/** Starts the API for `core`. */
export async function startApi(core: AgentCore, opts: ApiOptions): Promise<ApiServer> {
  const where = parseListen(opts.listen);
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) throw fail("E_USAGE", `maxBodyBytes must be a positive integer, got ${maxBodyBytes}`);
  const socketMode = opts.socketMode ?? 0o660;
  if (!Number.isInteger(socketMode) || socketMode < 0 || socketMode > 0o777) throw fail("E_USAGE", `socketMode must be 0 to 0o777, got ${socketMode}`);
  const log = opts.log ?? silent;
  const ctx: RouteContext = { core, metrics: createApiMetrics(core, log), maxBodyBytes, busy: { bodies: 0, sync: 0 }, streams: new Set() };

  let closing = false;
  let inflight = 0;
  /** Requests whose body has not fully arrived. */
  const reading = new Set<http.IncomingMessage>();
  let drained: (() => void) | undefined;

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    inflight++;
    if (!req.complete) {
      reading.add(req);
      req.once("end", () => reading.delete(req));
      req.once("close", () => reading.delete(req));
    }
    res.once("close", () => {
      if (--inflight === 0) drained?.();
    });
    res.setHeader("X-Edgecut-Version", opts.version);
    if (closing) {
      // A request on a kept-alive connection after close() began: refuse it and drop the connection.
      sendError(res, new HttpError(503, "E_NOT_READY", "the agent API is shutting down; retry shortly", { Connection: "close" }));
      return;
    }
    route(ctx, req, res).catch((e: unknown) => {
      const err = toEdgecutError(e);
      if (err.code === "E_INTERNAL" || statusForCode(err.code) >= 500 && statusForCode(err.code) !== 503 && statusForCode(err.code) !== 504) {
        log.error({ code: err.code, err: err.message, method: req.method, url: req.url }, "agent API request failed");
      }
      if (res.headersSent) res.destroy(); // a reply already under way cannot turn into an error body
      else sendError(res, err);
    });
  };
  const server = http.createServer({
    // A body trickling in for minutes holds memory and would hold up a SIGTERM (systemd kills after
    // TimeoutStopSec): a request must arrive whole within 30 s, its headers within 10 s.
    requestTimeout: 30_000, headersTimeout: 10_000,
  }, onRequest);
  server.maxConnections = 256;
  // Expect: 100-continue (curl sends it for bodies over 1 MiB): say "continue" only to a body
  // within the limit; an oversized one gets its 413 before the client sends a byte of it.
  server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!(Number(req.headers["content-length"]) > maxBodyBytes)) res.writeContinue();
    onRequest(req, res);
  });

  if (where.kind === "unix") await clearStaleSocket(where.path);
  // The socket file is created by listen() with the process umask: make it private until the chmod
  // below, so no one outside socketMode can connect in between.
  const umask = where.kind === "unix" ? process.umask(0o077) : undefined;
  try {
    await listenOn(server, where);
  } finally {
    if (umask !== undefined) process.umask(umask);
  }
  if (where.kind === "unix") {
    try {
      fs.chmodSync(where.path, socketMode);
    } catch (e) {
      server.close();
      throw fail("E_USAGE", `cannot set mode ${socketMode.toString(8)} on ${where.path}: ${(e as Error).message}`, e);
    }
  }
  const addr = server.address();
  const address = where.kind === "unix" ? where.path
    : typeof addr === "object" && addr !== null ? `http://${addr.family === "IPv6" ? `[${addr.address}]` : addr.address}:${addr.port}`
      : `http://${where.host}:${where.port}`;
  log.info({ address }, "agent API listening");

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      // server.close stops accepting and (Node >= 19) closes idle keep-alive connections. Requests
      // still sending their body are dropped: waiting for a slow client would hold up the stop.
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const req of reading) req.destroy();
      // A generation streams until its last token: end it (an E_NOT_READY line) rather than wait.
      stopStreams(ctx);
      if (inflight > 0) await new Promise<void>((resolve) => { drained = resolve; });
      server.closeAllConnections();
      await stopped;
      ctx.metrics.registry.clear();
      log.info({ address }, "agent API closed");
    })();
    return closed;
  };
  return { address, close, server };
}
