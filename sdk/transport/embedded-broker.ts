/**
 * An MQTT broker inside the process, over aedes (the one module that imports `aedes`): for
 * `edgecut broker`, demos and tests. aedes speaks MQTT 3.1.1 only and has no shared
 * subscriptions (it treats `$share/...` as a literal filter), so workers on it fall back to a
 * plain subscription (see probeSharedSubscription).
 */
import * as net from "node:net";
import { Aedes } from "aedes";
import { fail } from "../errors.js";

/** Options of {@link startEmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** TCP port (default 0: a free port chosen by the OS). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://<host>:<port>` */
  url: string;
  port: number;
  /** Disconnects every client and stops listening; resolves when the port is free. Idempotent. */
  close(): Promise<void>;
}

/** `mqtt://host:port`, with an IPv6 host in brackets. */
function brokerUrl(host: string, port: number): string {
  return `mqtt://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Starts an aedes broker listening on host:port. Throws E_USAGE for a bad port and E_BROKER
 * when the port cannot be bound (in use, no permission, unknown host).
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw fail("E_USAGE", `broker port must be an integer from 0 to 65535, got ${String(port)}`);
  const broker = await Aedes.createBroker();
  // Nagle's algorithm would hold a small PUBLISH until the peer's delayed ACK (~40 ms per hop on
  // Linux loopback): offload messages are latency-bound, so send segments at once.
  const server = net.createServer({ noDelay: true }, broker.handle);
  const sockets = new Set<net.Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => { server.off("error", reject); resolve(); });
    });
  } catch (e) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "EADDRINUSE" ? "the port is in use (another broker running? pick another --port)"
      : err.code === "EACCES" ? "permission denied (ports below 1024 need privileges)"
      : err.message;
    throw fail("E_BROKER", `cannot listen on ${brokerUrl(host, port)}: ${why}`, e);
  }
  const address = server.address() as net.AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await stopped;
    })();
    return closing;
  };
  return { url: brokerUrl(host, address.port), port: address.port, close };
}
