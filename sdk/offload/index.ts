/**
 * Offloading from the device: OffloadClient speaks the request/reply protocol over any
 * Transport (docs/wire-format.md, sdk/transport/topics.ts), SplitRunner runs a split's front
 * segments locally and the back on a worker at a chosen split point.
 */
export { OffloadClient, OFFLOAD_DEFAULTS } from "./client.js";
export { SplitRunner, type SplitRunnerOptions, type RunOptions, type RunBreakdown, type RunResult } from "./split-runner.js";
export { planSplit, type SplitPlan } from "./plan.js";
export { ReplyError, isErrorCode } from "./reply-error.js";
export type { OffloadClientOptions, RequestOptions, OffloadResult, OffloadMetrics, SegmentRange } from "./types.js";
