/**
 * The MQTT Transport, over mqtt.js 5: the one module that imports `mqtt`.
 *
 * - Protocol version: "auto" (the default) offers MQTT 5 and falls back to 3.1.1 when the
 *   broker answers CONNACK "unacceptable protocol version" (MQTT 3.1.1 §3.2.2.3 return code 1,
 *   MQTT 5 §3.2.2.2 reason code 0x84) or closes the connection before any CONNACK (MQTT 5
 *   §4.13: a server may close the connection on a CONNECT it cannot handle). aedes speaks only
 *   3.1.1 and takes the fallback; mosquitto 2 takes MQTT 5. Nothing on the wire needs MQTT 5.
 * - QoS 1 for every publish and subscription (MQTT 3.1.1 §4.3.2).
 * - Clean sessions (MQTT 3.1.1 §3.1.2.4). After a reconnect the transport subscribes again
 *   itself (the broker kept no session) and emits "connected" once every SUBACK is in, so a
 *   caller that hears "connected" can rely on its subscriptions. A SUBSCRIBE the broker refuses
 *   or fails then is tried again with a doubling backoff (100 ms up to 5 s) until it succeeds or
 *   the connection drops; "connected" waits for it. QoS 1 publishes still in
 *   flight are resent by mqtt.js on the new connection (MQTT 3.1.1 §4.4); a publish made during
 *   an outage resolves after the reconnect, so callers bound their waits with their own timeouts.
 * - Size: on MQTT 5 a publish over the broker's Maximum Packet Size (MQTT 5 §3.2.2.3.6) fails
 *   with E_BROKER before sending. MQTT 3.1.1 has no way to learn the limit (mosquitto's
 *   max_packet_size; aedes has none): a broker that refuses a packet drops the connection.
 */
import { randomBytes } from "node:crypto";
import mqtt, { type IConnackPacket, type MqttClient } from "mqtt";
import { EdgecutError, fail } from "../errors.js";
import { HandlerTable } from "./handlers.js";
import { checkPublishSize } from "./limits.js";
import { isValidFilter, isValidTopic } from "./topic-match.js";
import type { MessageHandler, Transport, TransportEvent } from "./transport.js";

/** Options of {@link connectMqtt}. */
export interface MqttOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883` (also mqtts://, ws://, wss://). */
  url: string;
  /** MQTT client identifier (default: `edgecut-` and 12 random hex digits). */
  clientId?: string;
  /** 5, 4 (= 3.1.1), or "auto" (default): try 5, fall back to 3.1.1. */
  protocolVersion?: 4 | 5 | "auto";
  /** Keep-alive interval in seconds (default 10, MQTT 3.1.1 §3.1.2.10). */
  keepaliveSec?: number;
  /** How long connecting may take in all, fallback included (default 5000 ms). */
  connectTimeoutMs?: number;
  username?: string;
  password?: string;
  /** Pause between reconnect attempts after the connection dropped (default 1000 ms; 0: never reconnect). */
  reconnectPeriodMs?: number;
  /** TLS (mqtts://, wss://): PEM of the CA that signed the broker's certificate (default: the system's CAs). */
  ca?: string | Uint8Array;
  /** TLS client certificate and its key (PEM), for brokers that authenticate clients by certificate. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** TLS: check the broker's certificate and host name (default true; false only to debug a test broker). */
  rejectUnauthorized?: boolean;
}

/** Defaults of {@link MqttOptions}. */
export const MQTT_DEFAULTS = { keepaliveSec: 10, connectTimeoutMs: 5000, reconnectPeriodMs: 1000 } as const;

/** Backoff between attempts to restore a subscription after a reconnect: first, and cap. */
const RESUBSCRIBE_BACKOFF_MS = { first: 100, max: 5000 } as const;

/** MQTT 3.1.1 §3.2.2.3 return code 1 / MQTT 5 §3.2.2.2 reason code 0x84: unsupported protocol version. */
const UNSUPPORTED_VERSION_CODES = new Set([1, 0x84]);

/** Why one connection attempt failed, and whether another protocol version may succeed. */
class AttemptError extends Error {
  constructor(message: string, readonly versionRefused: boolean) {
    super(message);
  }
}

/**
 * The URL with its userinfo (user name and password, or a token in the user name) replaced by
 * `***`, for error messages and logs. Works on text that is no valid URL too: everything from
 * the scheme's `//` (or the start) to the last `@` goes, so nothing of a password with
 * unescaped `/`, `#` or `@` in it survives.
 */
export function redactUrl(url: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? "";
  const rest = url.slice(scheme.length);
  const at = rest.lastIndexOf("@");
  return at < 0 ? url : `${scheme}***@${rest.slice(at + 1)}`;
}

function checkNumber(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && !(Number.isFinite(v) && v >= min)) throw fail("E_USAGE", `MqttOptions.${name} must be a number >= ${min}, got ${String(v)}`);
}

/**
 * Connects to an MQTT broker and resolves once the broker accepted the connection (CONNACK).
 * Throws E_BROKER naming the URL and the reason when the broker is unreachable, refuses the
 * connection or does not answer within connectTimeoutMs; E_USAGE for malformed options.
 */
export async function connectMqtt(opts: MqttOptions): Promise<Transport> {
  if (typeof opts?.url !== "string" || opts.url.trim() === "") throw fail("E_USAGE", "MqttOptions.url must be a broker URL such as mqtt://127.0.0.1:1883");
  const wanted = opts.protocolVersion ?? "auto";
  if (wanted !== "auto" && wanted !== 4 && wanted !== 5) throw fail("E_USAGE", `MqttOptions.protocolVersion must be 4, 5 or "auto", got ${String(wanted)}`);
  checkNumber("keepaliveSec", opts.keepaliveSec, 0);
  checkNumber("connectTimeoutMs", opts.connectTimeoutMs, 1);
  checkNumber("reconnectPeriodMs", opts.reconnectPeriodMs, 0);
  const url = redactUrl(opts.url);
  checkScheme(opts.url, url);
  const deadline = Date.now() + (opts.connectTimeoutMs ?? MQTT_DEFAULTS.connectTimeoutMs);
  const versions: Array<4 | 5> = wanted === "auto" ? [5, 4] : [wanted];
  const failures: Array<{ version: 4 | 5; message: string }> = [];
  for (const version of versions) {
    try {
      const { client, connack } = await attempt(opts, version, deadline);
      // MQTT 5 §3.2.2.3.4: a client must not publish above the Maximum QoS the broker announces.
      if (connack.properties?.maximumQoS === 0) {
        client.end(true);
        throw fail("E_BROKER", `the MQTT broker at ${url} supports only QoS 0 (CONNACK Maximum QoS 0); edgecut needs QoS 1 (raise the broker's max_qos)`);
      }
      return new MqttTransport(client, version, connack);
    } catch (e) {
      if (e instanceof EdgecutError) throw e;
      const err = e as AttemptError;
      failures.push({ version, message: err.message });
      if (!err.versionRefused) break;
    }
  }
  const reason = failures.length === 1
    ? failures[0]!.message
    : failures.map((f) => `MQTT ${f.version === 5 ? "5" : "3.1.1"}: ${f.message}`).join("; ");
  const hint = /ECONNREFUSED/.test(reason) ? " (is the broker running? `edgecut broker` starts one)"
    : /ENOTFOUND|EAI_AGAIN/.test(reason) ? " (check the host name)"
    : tlsHint(reason);
  throw fail("E_BROKER", `cannot connect to the MQTT broker at ${url}: ${reason}${hint}`);
}

/** What to do about a failed TLS handshake, from Node's or OpenSSL's message ("" for other failures). */
function tlsHint(reason: string): string {
  if (/altnames|does not match certificate/i.test(reason)) {
    return " (TLS: the broker's certificate does not name this host; connect with a host name or IP address in its subjectAltName, or reissue it)";
  }
  if (/certificate has expired|not yet valid/i.test(reason)) return " (TLS: the broker's certificate is outside its validity period; renew it, or check this machine's clock)";
  if (/unable to verify|self[- ]signed|unable to get (local )?issuer|certificate chain/i.test(reason)) {
    return " (TLS: the broker's certificate is not signed by a CA this client trusts; give the PEM of the CA that signed it: MqttOptions.ca, broker.ca in the agent config. rejectUnauthorized: false only to debug)";
  }
  if (/alert (certificate required|bad certificate|unknown ca|certificate unknown)/i.test(reason)) {
    return " (TLS: the broker wants a client certificate it trusts; set MqttOptions.cert and key, broker.cert and broker.key in the agent config)";
  }
  if (/wrong version number|packet length too long/i.test(reason)) return " (TLS: is this a TLS port? mqtts:// needs the broker's TLS listener, usually port 8883)";
  return "";
}

/** OpenSSL's "<hex>:error:<code>:SSL routines:<fn>:<reason>:<file>:<line>:SSL alert number N" shortened to its reason. */
function tlsReason(message: string): string {
  const m = /:SSL routines:[^:]*:([^:]+):/.exec(message);
  return m === null ? message : `TLS handshake failed: ${m[1]}`;
}

/** URL schemes mqtt.js can connect with. */
const SCHEMES = new Set(["mqtt:", "mqtts:", "tcp:", "ssl:", "ws:", "wss:"]);

/** E_USAGE for a URL that is no URL or names a scheme MQTT cannot use. */
function checkScheme(raw: string, shown: string): void {
  let scheme: string;
  try {
    scheme = new URL(raw).protocol;
  } catch {
    throw fail("E_USAGE", `broker URL ${JSON.stringify(shown)} is not a URL; expected e.g. mqtt://127.0.0.1:1883`);
  }
  // "user:pass@host" parses with the scheme "user:": name a scheme only when the redacted URL shows it.
  const what = shown.toLowerCase().startsWith(scheme) ? `has scheme ${scheme}` : "has no scheme";
  if (!SCHEMES.has(scheme)) throw fail("E_USAGE", `broker URL ${shown} ${what}; expected mqtt://, mqtts://, ws:// or wss://`);
}

/** Turns off Nagle's algorithm on the client's current socket (TCP and TLS; WebSockets have no such knob). */
function setNoDelay(client: MqttClient): void {
  (client.stream as { setNoDelay?: (on: boolean) => unknown } | undefined)?.setNoDelay?.(true);
}

/** One connection attempt with one protocol version; the client reconnects on its own afterwards. */
function attempt(opts: MqttOptions, version: 4 | 5, deadline: number): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  const remaining = Math.max(1, deadline - Date.now());
  let client: MqttClient;
  try {
    client = mqtt.connect(opts.url, {
      protocolVersion: version,
      clientId: opts.clientId ?? `edgecut-${randomBytes(6).toString("hex")}`,
      keepalive: opts.keepaliveSec ?? MQTT_DEFAULTS.keepaliveSec,
      connectTimeout: remaining,
      reconnectPeriod: opts.reconnectPeriodMs ?? MQTT_DEFAULTS.reconnectPeriodMs,
      clean: true,
      // The transport restores its subscriptions itself, to know when they are back.
      resubscribe: false,
      ...(opts.username === undefined ? {} : { username: opts.username }),
      ...(opts.password === undefined ? {} : { password: opts.password }),
      ...(opts.ca === undefined ? {} : { ca: Buffer.from(opts.ca) }),
      ...(opts.cert === undefined ? {} : { cert: Buffer.from(opts.cert) }),
      ...(opts.key === undefined ? {} : { key: Buffer.from(opts.key) }),
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
    });
  } catch (e) {
    // mqtt.js throws synchronously for a URL it cannot use (no or unknown protocol).
    return Promise.reject(fail("E_BROKER", `cannot connect to the MQTT broker at ${redactUrl(opts.url)}: ${(e as Error).message} (expected e.g. mqtt://127.0.0.1:1883)`));
  }
  // mqtt.js reports failed (re)connect attempts as "error" events, and an EventEmitter without
  // an "error" listener throws; this one stays for the client's life (outages are reported as
  // "disconnected" by the transport, a failed first attempt by the rejection below).
  client.on("error", () => undefined);
  // Nagle's algorithm would hold a small PUBLISH until the peer's delayed ACK (~40 ms a hop on
  // Linux): offload is latency-bound. mqtt.js makes a new socket on every reconnect.
  setNoDelay(client);
  client.on("connect", () => setNoDelay(client));
  return new Promise((resolve, reject) => {
    const settle = (err: AttemptError | undefined, connack?: IConnackPacket): void => {
      clearTimeout(timer);
      client.removeListener("connect", onConnect);
      client.removeListener("error", onError);
      client.removeListener("close", onClose);
      if (err === undefined && connack !== undefined) { resolve({ client, connack }); return; }
      client.end(true);
      reject(err);
    };
    const onConnect = (connack: IConnackPacket): void => settle(undefined, connack);
    const onError = (e: Error & { code?: unknown }): void => {
      const code = typeof e.code === "number" ? e.code : undefined;
      // mqtt.js's own connectTimeout timer (same length as ours) says "connack timeout".
      const message = e.message === "connack timeout" ? `no CONNACK within ${remaining} ms` : tlsReason(e.message);
      settle(new AttemptError(code === undefined ? message : `${message} (CONNACK code ${code})`, code !== undefined && UNSUPPORTED_VERSION_CODES.has(code)));
    };
    // A close without an error first: the broker hung up on our CONNECT.
    const onClose = (): void => settle(new AttemptError("the broker closed the connection before CONNACK", true));
    const timer = setTimeout(() => settle(new AttemptError(`no CONNACK within ${remaining} ms`, false)), remaining);
    client.on("connect", onConnect);
    client.on("error", onError);
    client.on("close", onClose);
  });
}

/** Maximum Packet Size from a CONNACK (MQTT 5 §3.2.2.3.6); absent in 3.1.1. */
function maxPacketSizeOf(connack: IConnackPacket): number | undefined {
  const n = connack.properties?.maximumPacketSize;
  return typeof n === "number" && n > 0 ? n : undefined;
}

/** A Transport over one mqtt.js client. */
class MqttTransport implements Transport {
  private readonly handlers = new HandlerTable();
  private readonly listeners: Record<TransportEvent, Array<() => void>> = { connected: [], disconnected: [] };
  /** Rejects of publishes waiting for their PUBACK, failed by close(). */
  private readonly pending = new Set<(e: Error) => void>();
  private online = true;
  private closing: Promise<void> | undefined;
  private max: number | undefined;
  /** Counts connections: a restore started for an earlier one gives up. */
  private generation = 0;
  /** The backoff timer of a restore in progress, cleared by close(). */
  private restoreTimer: NodeJS.Timeout | undefined;

  constructor(private readonly client: MqttClient, readonly protocolVersion: 4 | 5, connack: IConnackPacket) {
    this.max = maxPacketSizeOf(connack);
    client.on("message", (topic, payload) => { this.handlers.dispatch(topic, payload); });
    client.on("close", () => {
      if (!this.online || this.closing) return;
      this.online = false;
      this.emit("disconnected");
    });
    client.on("connect", (ack) => {
      if (this.closing) return;
      this.max = maxPacketSizeOf(ack);
      void this.restore(++this.generation);
    });
  }

  get maxPacketSize(): number | undefined {
    return this.max;
  }

  async publish(topic: string, payload: Uint8Array): Promise<void> {
    this.assertOpen("publish");
    if (!isValidTopic(topic)) throw fail("E_USAGE", `cannot publish to ${JSON.stringify(topic)}: not a valid MQTT topic name (non-empty, no '+', '#' or NUL; MQTT 3.1.1 §4.7.3)`);
    checkPublishSize(topic, payload.byteLength, this.protocolVersion, this.max);
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    await new Promise<void>((resolve, reject) => {
      const fail_ = (e: Error): void => { this.pending.delete(fail_); reject(e); };
      this.pending.add(fail_);
      this.client.publish(topic, bytes, { qos: 1 }, (err) => {
        if (!this.pending.delete(fail_)) return;
        if (err) reject(fail("E_BROKER", `publish to ${topic} failed: ${err.message}`, err));
        else resolve();
      });
    });
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.assertOpen("subscribe");
    if (!isValidFilter(filter)) throw fail("E_USAGE", `cannot subscribe to ${JSON.stringify(filter)}: not a valid MQTT topic filter (MQTT 3.1.1 §4.7.1, MQTT 5 §4.8.2)`);
    // The handler goes in first: a message may arrive between SUBACK and this promise's resolution.
    const previous = this.handlers.set(filter, handler);
    try {
      await this.sendSubscribe(filter);
    } catch (e) {
      this.handlers.restore(filter, previous);
      throw e;
    }
  }

  async unsubscribe(filter: string): Promise<void> {
    this.assertOpen("unsubscribe");
    this.handlers.delete(filter);
    try {
      await this.client.unsubscribeAsync(filter);
    } catch (e) {
      throw fail("E_BROKER", `unsubscribe from ${filter} failed: ${(e as Error).message}`, e);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  on(event: TransportEvent, fn: () => void): void {
    this.listeners[event].push(fn);
  }

  /** SUBSCRIBE with QoS 1; E_BROKER when the broker refuses it or grants less than QoS 1. */
  private async sendSubscribe(filter: string): Promise<void> {
    let granted;
    try {
      granted = await this.client.subscribeAsync(filter, { qos: 1 });
    } catch (e) {
      throw fail("E_BROKER", `subscribe to ${filter} failed: ${(e as Error).message}`, e);
    }
    // SUBACK return codes: 0x80 failure (MQTT 3.1.1 §3.9.3); MQTT 5 §3.9.3 reason codes >= 0x80
    // (0x9E: shared subscriptions not supported, 0x8F: topic filter invalid, 0x87: not authorized).
    const code = granted[0]?.qos;
    if (code === undefined || code >= 0x80) {
      throw fail("E_BROKER", `the broker refused the subscription to ${filter} (SUBACK code 0x${(code ?? 0x80).toString(16)})`);
    }
    if (code < 1) {
      await this.client.unsubscribeAsync(filter).catch(() => undefined);
      throw fail("E_BROKER", `the broker granted QoS ${code} for ${filter}; edgecut needs QoS 1 (raise the broker's max_qos)`);
    }
  }

  /**
   * After a reconnect: subscribe to every filter again, retrying the ones that fail with a
   * doubling backoff, then report "connected" (only once all are back). Gives up when the
   * transport closes or the connection drops (the next connection restores them again).
   */
  private async restore(generation: number): Promise<void> {
    const current = (): boolean => !this.closing && this.client.connected && generation === this.generation;
    let todo = this.handlers.filters();
    let delay: number = RESUBSCRIBE_BACKOFF_MS.first;
    for (;;) {
      const results = await Promise.allSettled(todo.map((f) => this.sendSubscribe(f)));
      if (!current()) return;
      // A filter unsubscribed meanwhile needs no retry; one subscribed meanwhile was sent by subscribe().
      const live = new Set(this.handlers.filters());
      todo = todo.filter((f, i) => results[i]!.status === "rejected" && live.has(f));
      if (todo.length === 0) break;
      await new Promise<void>((resolve) => { this.restoreTimer = setTimeout(resolve, delay); });
      this.restoreTimer = undefined;
      if (!current()) return;
      delay = Math.min(delay * 2, RESUBSCRIBE_BACKOFF_MS.max);
    }
    if (this.online) return;
    this.online = true;
    this.emit("connected");
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.restoreTimer);
    const unacked = this.pending.size > 0;
    const closed = fail("E_BROKER", "the transport was closed before the broker acknowledged the publish");
    for (const reject of [...this.pending]) reject(closed);
    if (!this.client.connected || unacked) {
      // Offline, or publishes in flight that mqtt.js would wait for: drop the connection.
      await this.client.endAsync(true);
      return;
    }
    // A clean DISCONNECT (MQTT 3.1.1 §3.14), but never wait long for the socket to close.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), 2000); });
    const timedOut = await Promise.race([this.client.endAsync(false).then(() => false), late]);
    clearTimeout(timer);
    if (timedOut) this.client.stream?.destroy();
  }

  private emit(event: TransportEvent): void {
    for (const fn of [...this.listeners[event]]) fn();
  }

  private assertOpen(what: string): void {
    if (this.closing) throw fail("E_BROKER", `cannot ${what}: the transport is closed`);
  }
}
