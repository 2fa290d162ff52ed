/**
 * A bare HTTP helper for the API tests: one request over TCP or a unix socket, the whole reply
 * buffered. Deliberately not the agent client, so the server is tested on its own terms.
 */
import * as http from "node:http";

/** A buffered reply. */
export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The body parsed as JSON. */
  json(): unknown;
  /** The body's `error` object, asserting there is one. */
  error(): { code: string; message: string };
}

/** What to send. */
export interface HttpCall {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** The target of an API under test: its address as startApi returned it. */
function target(address: string): { socketPath: string } | { host: string; port: number } {
  if (!address.startsWith("http://")) return { socketPath: address };
  const u = new URL(address);
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port) };
}

/** Sends one request (no keep-alive) and buffers the reply. */
export function call(address: string, c: HttpCall): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...c.headers };
    if (c.body !== undefined && headers["Content-Type"] === undefined) headers["Content-Type"] = "application/json";
    const req = http.request({ ...target(address), agent: false, method: c.method ?? "GET", path: c.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (b: Buffer) => chunks.push(b));
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        const json = (): unknown => JSON.parse(body.toString("utf8"));
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, body, json,
          error: () => {
            const e = (json() as { error?: { code: string; message: string } }).error;
            if (!e) throw new Error(`expected an error body, got ${body.toString("utf8").slice(0, 200)}`);
            return e;
          },
        });
      });
    });
    req.on("error", reject);
    req.end(c.body);
  });
}

/** POSTs a JSON body (a string, sent as is) to /v1/infer. */
export function postInfer(address: string, body: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return call(address, { method: "POST", path: "/v1/infer", body, headers });
}
