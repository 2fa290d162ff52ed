/**
 * What the device monitor reports: one {@link DeviceSample} per call of {@link SystemSampler.sample}.
 * The agent's planner reads these to decide how many segments the device can afford to run.
 */

/**
 * The Raspberry Pi firmware's throttling state (`vcgencmd get_throttled`), decoded. The "now" flags
 * describe this instant; the "occurred" flags are sticky since boot, so a board that browned out an
 * hour ago still says so (a sign of a weak power supply even when the current reading is clean).
 */
export interface ThrottleFlags {
  /** The raw 32-bit value, for logs and for bits this decoder does not name. */
  raw: number;
  /** Bit 0: the supply voltage is below 4.63 V right now. */
  underVoltage: boolean;
  /** Bit 1: the ARM clock is capped right now. */
  armFrequencyCapped: boolean;
  /** Bit 2: the CPU is throttled right now (by under-voltage or temperature). */
  throttled: boolean;
  /** Bit 3: the soft temperature limit is active right now. */
  softTempLimit: boolean;
  /** Bit 16: under-voltage has occurred since boot. */
  underVoltageOccurred: boolean;
  /** Bit 17: ARM frequency capping has occurred since boot. */
  armFrequencyCappedOccurred: boolean;
  /** Bit 18: throttling has occurred since boot. */
  throttledOccurred: boolean;
  /** Bit 19: the soft temperature limit has been reached since boot. */
  softTempLimitOccurred: boolean;
}

/** One reading of the device's resources. */
export interface DeviceSample {
  /** Memory a new allocation can get without swapping (Linux `MemAvailable`), in bytes. */
  ramAvailableBytes: number;
  /** Physical memory, in bytes. */
  ramTotalBytes: number;
  /** CPU busy share over all cores since the previous sample, 0..100. */
  cpuLoadPercent: number;
  /** Logical cores this process may use. */
  cores: number;
  /** SoC temperature in °C (thermal zone 0), when the board exposes it. */
  temperatureC?: number;
  /** Raspberry Pi firmware throttling flags, when the board exposes them. */
  throttled?: ThrottleFlags;
}

/** A source of device samples: the real system ({@link createSystemSampler}) or a script ({@link FakeSampler}). */
export interface SystemSampler {
  /** Reads the device now. Rejects only when RAM or CPU figures cannot be had at all. */
  sample(): Promise<DeviceSample>;
}

/**
 * Where the monitor writes its debug notes (a garbage /sys value, a missing tool). A pino Logger
 * fits; so does `{ debug() {} }`.
 */
export interface MonitorLog {
  debug(fields: Record<string, unknown>, msg: string): void;
}

/** A log that drops everything (the default). */
export const silentLog: MonitorLog = { debug: () => undefined };
