/**
 * Reading rates, durations and sizes as people type them on a command line. Rates use tc's
 * decimal bit units (tc-netem / tc(8): 1kbit = 1000 bit/s, 1mbit = 10^6, 1gbit = 10^9), so a
 * value copied from a tc command means the same here; sizes are binary (1mb = 1 MiB).
 */
import { fail } from "./errors.js";

/** A decimal number: 10, 1.5, .5 (no sign, no exponent). */
const NUMBER = String.raw`(\d+(?:\.\d*)?|\.\d+)`;

/** Rate units -> power of ten of bit/s. */
const RATE_UNITS: Readonly<Record<string, number>> = { bit: 0, kbit: 3, mbit: 6, gbit: 9 };
/** Duration units -> power of ten of ms. */
const DURATION_UNITS: Readonly<Record<string, number>> = { us: -3, ms: 0, s: 3 };
/** Size units -> bytes. */
const SIZE_UNITS: Readonly<Record<string, number>> = { b: 1, kb: 2 ** 10, mb: 2 ** 20, gb: 2 ** 30 };

/** Splits "1.5mbit" into its number text and its (lower-cased) unit, when the unit is known. */
function split(text: unknown, units: Readonly<Record<string, number>>): { num: string; unit: string } | undefined {
  if (typeof text !== "string") return undefined;
  const m = new RegExp(`^${NUMBER}([a-z]+)$`, "i").exec(text.trim());
  if (m === null) return undefined;
  const unit = m[2]!.toLowerCase();
  return Object.hasOwn(units, unit) ? { num: m[1]!, unit } : undefined;
}

/** `num` * 10^exp, parsed in one go so "1.1mbit" is exactly 1100000 (no float product). */
function scaled(num: string, exp: number): number {
  return Number(`${num}e${exp}`);
}

function show(text: unknown): string {
  return typeof text === "string" ? JSON.stringify(text) : String(text);
}

/**
 * A rate in tc's units -> bit/s: "100bit", "512kbit", "10mbit", "1.5mbit", "1gbit"
 * (case-insensitive; decimal: 1mbit = 10^6 bit/s). Throws E_USAGE on anything else or on 0.
 * @param what names the value in the error (e.g. "--up").
 */
export function parseRate(text: string, what = "rate"): number {
  const p = split(text, RATE_UNITS);
  const v = p === undefined ? NaN : scaled(p.num, RATE_UNITS[p.unit]!);
  if (!(v > 0) || !Number.isFinite(v)) {
    throw fail("E_USAGE", `${what} ${show(text)} is not a rate: give a number > 0 and one of bit, kbit, mbit, gbit as tc writes them (1mbit = 10^6 bit/s), e.g. "10mbit", "512kbit", "1.5mbit"`);
  }
  return v;
}

/**
 * A duration -> milliseconds: "250us", "40ms", "1.5s" (case-insensitive). Throws E_USAGE on
 * anything else.
 * @param what names the value in the error (e.g. "--delay").
 */
export function parseDuration(text: string, what = "duration"): number {
  const p = split(text, DURATION_UNITS);
  const v = p === undefined ? NaN : scaled(p.num, DURATION_UNITS[p.unit]!);
  if (!Number.isFinite(v)) {
    throw fail("E_USAGE", `${what} ${show(text)} is not a duration: give a number >= 0 and one of us, ms, s, e.g. "40ms", "1s", "250us"`);
  }
  return v;
}

/**
 * A size -> bytes, binary units: "100b", "64kb" (64 KiB), "512mb" (512 MiB), "1gb" (1 GiB)
 * (case-insensitive). Throws E_USAGE on anything else or when it is not a whole number of bytes.
 * @param what names the value in the error (e.g. "--memory").
 */
export function parseSize(text: string, what = "size"): number {
  const p = split(text, SIZE_UNITS);
  const v = p === undefined ? NaN : Number(p.num) * SIZE_UNITS[p.unit]!;
  if (!Number.isSafeInteger(v)) {
    const why = Number.isFinite(v) ? `is ${v} bytes, not a whole number` : "is not a size";
    throw fail("E_USAGE", `${what} ${show(text)} ${why}: give a number >= 0 and one of b, kb, mb, gb (binary: 1mb = 1 MiB), e.g. "100b", "64kb", "512mb", "1gb"`);
  }
  return v;
}
