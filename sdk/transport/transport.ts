/**
 * The narrow interface between edgecut and a message broker. The device agent and the cloud
 * worker only ever see a Transport, so tests run them on the in-process memory bus
 * (memory.ts) and production on MQTT (mqtt.ts), and later transports can slot in.
 *
 * Semantics every implementation keeps (the shared contract suite in test/support checks them):
 * - QoS 1 both ways (MQTT 3.1.1 §4.3.2): at least once, so receivers must tolerate duplicates.
 * - Messages published by one client to one topic arrive in order (MQTT 3.1.1 §4.6).
 * - Payloads are opaque bytes; nothing depends on MQTT 5 properties.
 */

/** Called for every message whose topic matches the subscribed filter. */
export type MessageHandler = (topic: string, payload: Uint8Array) => void;

/** Connection state changes a Transport reports. */
export type TransportEvent = "connected" | "disconnected";

/** A connection to a publish/subscribe broker with MQTT semantics. */
export interface Transport {
  /** Publishes with QoS 1; resolves when the broker acknowledged (PUBACK). */
  publish(topic: string, payload: Uint8Array): Promise<void>;
  /**
   * Subscribes (QoS 1); the handler gets every message whose topic matches; resolves after
   * SUBACK. One handler per filter: subscribing the same filter again replaces the handler, as
   * the broker replaces the subscription (MQTT 3.1.1 §3.8.4). Overlapping filters on one
   * transport may see a message more than once (MQTT 3.1.1 §3.3.5), so avoid them.
   */
  subscribe(filter: string, handler: MessageHandler): Promise<void>;
  /** Removes the subscription and its handler; resolves after UNSUBACK. */
  unsubscribe(filter: string): Promise<void>;
  /** MQTT protocol version actually in use (5 or 4 = 3.1.1). */
  readonly protocolVersion: 4 | 5;
  /** Largest message the broker accepts, when it says (MQTT 5 Maximum Packet Size), else undefined. */
  readonly maxPacketSize: number | undefined;
  /** Disconnects; pending publishes fail with E_BROKER. Idempotent. */
  close(): Promise<void>;
  /**
   * "disconnected" when the connection drops (once per outage), "connected" when it is back
   * and the subscriptions are restored. Not emitted for the initial connect or for close().
   */
  on(event: TransportEvent, fn: () => void): void;
}
