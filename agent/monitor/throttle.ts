/**
 * Decoding the Raspberry Pi firmware's `get_throttled` word. The bit meanings are Raspberry Pi's
 * (documentation of `vcgencmd get_throttled`, unchanged on the Pi 5's BCM2712):
 * bits 0-3 are the state now, bits 16-19 the same conditions "has occurred since boot".
 */
import type { ThrottleFlags } from "./types.js";

/** Bit positions of the flags this decoder names. */
const BITS = {
  underVoltage: 0,
  armFrequencyCapped: 1,
  throttled: 2,
  softTempLimit: 3,
  underVoltageOccurred: 16,
  armFrequencyCappedOccurred: 17,
  throttledOccurred: 18,
  softTempLimitOccurred: 19,
} as const satisfies Record<Exclude<keyof ThrottleFlags, "raw">, number>;

/** Decodes a `get_throttled` value (an unsigned 32-bit integer) into named flags. */
export function decodeThrottled(raw: number): ThrottleFlags {
  const bit = (n: number): boolean => ((raw >>> n) & 1) === 1;
  return {
    raw,
    underVoltage: bit(BITS.underVoltage),
    armFrequencyCapped: bit(BITS.armFrequencyCapped),
    throttled: bit(BITS.throttled),
    softTempLimit: bit(BITS.softTempLimit),
    underVoltageOccurred: bit(BITS.underVoltageOccurred),
    armFrequencyCappedOccurred: bit(BITS.armFrequencyCappedOccurred),
    throttledOccurred: bit(BITS.throttledOccurred),
    softTempLimitOccurred: bit(BITS.softTempLimitOccurred),
  };
}

/**
 * Parses the text the firmware gives: the sysfs file holds bare hex ("50005\n"), `vcgencmd` prints
 * "throttled=0x50005". Returns undefined for anything else (empty, not hex, more than 32 bits).
 */
export function parseThrottledText(text: string): number | undefined {
  const m = /^(?:throttled=)?(?:0x)?([0-9a-f]{1,8})$/i.exec(text.trim());
  return m ? Number.parseInt(m[1]!, 16) : undefined;
}
