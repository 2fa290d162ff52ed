/**
 * The cloud worker: runs the back segments of splits for devices, over any Transport.
 * `startWorker` is the in-process API (tests, the demo); `edgecut cloud` wraps it with MQTT.
 */
export { startWorker, type Worker, type WorkerOptions } from "./worker.js";
export { resolveConfig, WorkerConfigSchema, DEFAULT_GROUP, DEFAULT_MAX_MESSAGE_BYTES, type WorkerConfig, type WorkerConfigInput } from "./config.js";
export type { WorkerMetrics } from "./metrics.js";
export { estimateSessionBytes, type SegmentSession, type SessionFactory, type SessionStats } from "./sessions.js";
export { discoverSplits, MANIFEST_NAME, type ServedSplit } from "./splits.js";
export { createLogger, formatTextLine, type LoggerOptions } from "./log.js";
