/**
 * The transport layer: topics of the offload protocol, the Transport interface and its
 * implementations (MQTT over mqtt.js, the in-process memory bus), the shared-subscription
 * probe and the embedded aedes broker.
 */
export type { MessageHandler, Transport, TransportEvent } from "./transport.js";
export { connectMqtt, redactUrl, MQTT_DEFAULTS, type MqttOptions } from "./mqtt.js";
export { shapeTransport, ShapedTransport, UNSHAPED_LINK, systemLinkClock, type LinkSettings, type LinkStats, type LinkClock, type ShapeOptions, type LinkDirectionStats } from "./shaper.js";
export { createMemoryBus, MemoryBus, MemoryTransport, type MemoryBusOptions } from "./memory.js";
export { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from "./embedded-broker.js";
export { probeSharedSubscription, PROBE_TIMEOUT_MS, type ProbeOptions } from "./probe.js";
export {
  DEFAULT_PREFIX, TOPIC_VERSION, MAX_ID_BYTES, MAX_PREFIX_BYTES, topics, idProblem, assertId,
  requestTopic, replyTopic, parseRequestTopic, replyTopicForRequest, workerFilter,
  type RequestAddress, type Topics,
} from "./topics.js";
export { topicMatches, parseFilter, isValidFilter, isValidTopic, type ParsedFilter } from "./topic-match.js";
export { checkPublishSize, publishPacketSize, messageCap, DEFAULT_MAX_MESSAGE_BYTES } from "./limits.js";
