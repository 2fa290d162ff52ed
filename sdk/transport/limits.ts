/**
 * Packet-size arithmetic for PUBLISH, so a transport can refuse a message the broker would
 * refuse (MQTT 5 §3.2.2.3.6 Maximum Packet Size) with a clear error instead of being
 * disconnected by the broker.
 */
import { fail } from "../errors.js";

/** Largest Remaining Length an MQTT packet can carry (MQTT 3.1.1 §2.2.3: 268,435,455 bytes). */
export const MQTT_MAX_REMAINING_LENGTH = 268_435_455;

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
