/**
 * Packet-size arithmetic for PUBLISH, so a transport can refuse a message the broker would
 * refuse (MQTT 5 §3.2.2.3.6 Maximum Packet Size) with a clear error instead of being
 * disconnected by the broker.
 */
import { fail } from "../errors.js";

/** Largest Remaining Length an MQTT packet can carry (MQTT 3.1.1 §2.2.3: 268,435,455 bytes). */
export const MQTT_MAX_REMAINING_LENGTH = 268_435_455;

/**
 * Largest message payload when neither the options nor the broker name one: 128 MiB, half of
 * MQTT's largest packet (MQTT 3.1.1 §2.2.3). Shared by the offload client and the cloud worker.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 128 * 2 ** 20;

/** Bytes of the variable-length Remaining Length field (MQTT 3.1.1 §2.2.3). */
function remainingLengthBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/**
 * Size in bytes of a QoS 1 PUBLISH packet without properties: fixed header, topic name
 * (2-byte length + UTF-8), packet identifier, (MQTT 5: a 1-byte empty property length,
 * MQTT 5 §3.3.2.3) and payload (MQTT 3.1.1 §3.3).
 */
export function publishPacketSize(topic: string, payloadBytes: number, protocolVersion: 4 | 5): number {
  const remaining = 2 + Buffer.byteLength(topic, "utf8") + 2 + (protocolVersion === 5 ? 1 : 0) + payloadBytes;
  return 1 + remainingLengthBytes(remaining) + remaining;
}

/**
 * Throws E_BROKER when a PUBLISH of this payload would exceed the broker's Maximum Packet Size
 * (MQTT 5 §3.2.2.3.6), or the protocol's own limit (MQTT 3.1.1 §2.2.3) when the broker names none.
 */
export function checkPublishSize(topic: string, payloadBytes: number, protocolVersion: 4 | 5, maxPacketSize: number | undefined): void {
  const size = publishPacketSize(topic, payloadBytes, protocolVersion);
  const limit = maxPacketSize ?? 1 + 4 + MQTT_MAX_REMAINING_LENGTH;
  if (size > limit) {
    const whose = maxPacketSize === undefined ? "the MQTT limit" : "the broker's Maximum Packet Size";
    throw fail("E_BROKER", `a message of ${payloadBytes} bytes to ${topic} makes a ${size}-byte packet, over ${whose} of ${limit} bytes; send smaller messages (split the payload)`);
  }
}

/**
 * The message cap for payloads published to `topic`: the smaller of `configured` and the
 * broker's Maximum Packet Size minus the PUBLISH overhead of `topic` (MQTT 5; absent in 3.1.1),
 * whichever of the two is known, else DEFAULT_MAX_MESSAGE_BYTES. Read it at publish time: a
 * reconnect may bring another broker limit. At least 1.
 */
export function messageCap(topic: string, configured: number | undefined, link: { readonly maxPacketSize: number | undefined; readonly protocolVersion: 4 | 5 }): number {
  const packet = link.maxPacketSize;
  // The PUBLISH overhead of a payload as large as the packet bounds the overhead of any smaller one.
  const fromBroker = packet === undefined ? undefined : Math.max(1, packet - (publishPacketSize(topic, packet, link.protocolVersion) - packet));
  if (configured === undefined) return fromBroker ?? DEFAULT_MAX_MESSAGE_BYTES;
  return fromBroker === undefined ? configured : Math.min(configured, fromBroker);
}
