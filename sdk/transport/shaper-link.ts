/**
 * The settings of a shaped link (see shaper.ts): bandwidth per direction, one-way delay, and
 * a partition switch, with the validation both shapeTransport() and setLink() apply.
 */
import { fail } from "../errors.js";

/** What a shaped link does to the messages crossing it. */
export interface LinkSettings {
  /**
   * Device -> broker bandwidth in bit/s (Infinity: no cap). Decimal as tc writes rates:
   * "1mbit" = 10^6 bit/s (parseRate in sdk/units.ts reads tc's forms).
   */
  upBitsPerSec: number;
  /** Broker -> device bandwidth in bit/s (Infinity: no cap). */
  downBitsPerSec: number;
  /** One-way delay in ms, applied in both directions (the round trip grows by 2 * delayMs). */
  delayMs: number;
  /** A network partition: nothing crosses, both directions hold their messages until it ends. */
  partitioned: boolean;
}

/** The unshaped link: no bandwidth cap, no delay, not partitioned. */
export const UNSHAPED_LINK: Readonly<LinkSettings> = Object.freeze({
  upBitsPerSec: Infinity,
  downBitsPerSec: Infinity,
  delayMs: 0,
  partitioned: false,
});

const KEYS: ReadonlyArray<keyof LinkSettings> = ["upBitsPerSec", "downBitsPerSec", "delayMs", "partitioned"];

function checkRate(name: string, v: unknown): number {
  if (typeof v !== "number" || Number.isNaN(v) || v <= 0) {
    throw fail("E_USAGE", `link setting ${name} must be a number of bit/s > 0 (Infinity for no cap), got ${String(v)}; to cut the link set partitioned: true instead`);
  }
  return v;
}

/**
 * `base` with the fields of `partial` applied (undefined fields keep the base value).
 * Throws E_USAGE naming the field on a rate that is not > 0 (NaN, 0, negative), a delay that is
 * not a finite number >= 0, a non-boolean `partitioned`, or an unknown field.
 */
export function mergeLink(base: Readonly<LinkSettings>, partial: Partial<LinkSettings>): LinkSettings {
  if (typeof partial !== "object" || partial === null) throw fail("E_USAGE", `link settings must be an object with some of ${KEYS.join(", ")}, got ${String(partial)}`);
  for (const k of Object.keys(partial)) {
    if (!(KEYS as readonly string[]).includes(k)) throw fail("E_USAGE", `unknown link setting ${JSON.stringify(k)}; the settings are ${KEYS.join(", ")}`);
  }
  const out: LinkSettings = { ...base };
  if (partial.upBitsPerSec !== undefined) out.upBitsPerSec = checkRate("upBitsPerSec", partial.upBitsPerSec);
  if (partial.downBitsPerSec !== undefined) out.downBitsPerSec = checkRate("downBitsPerSec", partial.downBitsPerSec);
  if (partial.delayMs !== undefined) {
    const v: unknown = partial.delayMs;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw fail("E_USAGE", `link setting delayMs must be a finite number of ms >= 0, got ${String(v)}`);
    out.delayMs = v;
  }
  if (partial.partitioned !== undefined) {
    const v: unknown = partial.partitioned;
    if (typeof v !== "boolean") throw fail("E_USAGE", `link setting partitioned must be true or false, got ${JSON.stringify(v)}`);
    out.partitioned = v;
  }
  return out;
}
