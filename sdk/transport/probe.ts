/**
 * Does the broker really implement shared subscriptions? A broker without them (aedes) accepts
 * `$share/<group>/<filter>` as a literal topic filter and grants it, so the SUBACK proves
 * nothing; only a message that arrives through such a filter does (MQTT 5 §4.8.2).
 */
import { randomBytes } from "node:crypto";
import { topics } from "./topics.js";
import type { Transport } from "./transport.js";

/** Options of {@link probeSharedSubscription}. */
export interface ProbeOptions {
  /** How long to wait for the probe message (default 500 ms). */
  timeoutMs?: number;
}

/** Default wait of {@link probeSharedSubscription}. */
export const PROBE_TIMEOUT_MS = 500;

/**
 * Subscribes to `$share/<random>/<prefix>/v1/probe/<random>`, publishes one message to
 * `<prefix>/v1/probe/<random>` and resolves true when it arrives through the shared
 * subscription within the timeout, false when it does not or the broker refuses the
 * subscription (MQTT 5 SUBACK 0x9E "Shared Subscriptions not supported"). Unsubscribes after.
 * A worker that gets false should subscribe with the plain filter and warn that a second
 * worker on the same broker would run every request again. Throws E_USAGE for a bad prefix
 * and E_BROKER when publishing the probe message fails within the timeout; a publish still
 * pending then (the broker is unreachable) counts as false.
 */
export async function probeSharedSubscription(transport: Transport, prefix: string, opts: ProbeOptions = {}): Promise<boolean> {
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  const token = randomBytes(8).toString("hex");
  const topic = topics(prefix).probeTopic(token);
  const filter = `$share/probe-${randomBytes(4).toString("hex")}/${topic}`;
  let arrived!: () => void;
  const delivered = new Promise<void>((resolve) => { arrived = resolve; });
  try {
    await transport.subscribe(filter, (t) => { if (t === topic) arrived(); });
  } catch {
    return false;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    // The wait starts before the publish: during an outage a QoS 1 publish resolves only after
    // the reconnect, and the probe must still answer within its timeout.
    const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
    const sent = transport.publish(topic, new Uint8Array(0));
    sent.catch(() => undefined); // a failure after the timeout has no one left to tell
    return await Promise.race([sent.then(() => delivered).then(() => true), late]);
  } finally {
    clearTimeout(timer);
    await transport.unsubscribe(filter).catch(() => undefined);
  }
}
