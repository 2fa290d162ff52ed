/**
 * The device agent's profiler: per-segment latency and memory on this device (stored in the
 * agent's store), shape buckets, and the FLOPs/ms calibration for segments not profiled yet.
 */
export { Profiler, type ProfilerOptions, type ProfilerLog, type ProfileRunOptions, type ProfilingNeed, type ProfilingReason } from "./profiler.js";
export { shapeBucket, manifestBucket, nextPow2, NO_INPUTS_BUCKET } from "./bucket.js";
export { calibrate, calibrationFromProfiles, predictMs, type Calibration, type CalibrateOptions, type ProfileCalibrationOptions } from "./calibrate.js";
export { median, idleLatencyMs, rssNote, DEFAULT_MAX_CPU_LOAD } from "./measure.js";
