/**
 * The device monitor: RAM, CPU load, and on a Raspberry Pi the temperature and throttling flags.
 * `createSystemSampler()` reads the real device; `FakeSampler` replays a script on a fake clock.
 */
export type { DeviceSample, MonitorLog, SystemSampler, ThrottleFlags } from "./types.js";
export { silentLog } from "./types.js";
export { decodeThrottled, parseThrottledText } from "./throttle.js";
export { GET_THROTTLED, THERMAL_ZONE0, vcgencmdRunner, type VcgencmdRunner } from "./sysfs.js";
export { createSystemSampler, type SystemInfoSource, type SystemSamplerOptions } from "./system-sampler.js";
export { FakeSampler, type FakeSamplerOptions, type FakeStep } from "./fake-sampler.js";
