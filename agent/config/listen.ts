/**
 * `api.listen`: "host:port", "[v6]:port" or "unix:/path". The API has no authentication, so
 * whether a TCP address is loopback matters (the schema refuses others unless allowed).
 */
import * as net from "node:net";

/** Where the local API listens. */
export type ListenAddress =
  | { readonly kind: "tcp"; readonly host: string; readonly port: number; readonly loopback: boolean }
  | { readonly kind: "unix"; readonly path: string };

/** sun_path holds 108 bytes on Linux, the terminating NUL included. */
export const MAX_UNIX_PATH_BYTES = 107;

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** True for 127.0.0.0/8, ::1, ::ffff:127.x.y.z and the name "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost") return true;
  if (net.isIPv4(h)) return h.startsWith("127.");
  if (net.isIPv6(h)) return h === "::1" || h === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(h);
  return false;
}

/**
 * Parses a listen address; returns the reason as a string when it is malformed. A unix path is
 * returned as written (the caller resolves a relative one and checks its length).
 */
export function parseListenAddress(s: string): ListenAddress | string {
  if (s.startsWith("unix:")) {
    const p = s.slice(5);
    if (p === "") return 'needs a path after "unix:", e.g. unix:/run/edgecut/agent.sock';
    if (p.includes("\0")) return "must not contain a NUL character";
    return { kind: "unix", path: p };
  }
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(s);
  if (m === null) return `${JSON.stringify(s)} is not "host:port", "[ipv6]:port" or "unix:/path"; e.g. 127.0.0.1:8787`;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port > 65535) return `port ${port} is over 65535`;
  if (s.startsWith("[") ? !net.isIPv6(host) : !(net.isIPv4(host) || HOSTNAME.test(host))) {
    return `${JSON.stringify(host)} is not an IP address or host name`;
  }
  return { kind: "tcp", host, port, loopback: isLoopbackHost(host) };
}
