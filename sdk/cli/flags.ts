/**
 * Parsing and validation of CLI flag values (--shape, --dim, --bandwidth, --rtt, ...).
 * Every error is E_BAD_SHAPE_FLAG or E_USAGE and names the flag and the expected form.
 */
import { fail } from "../errors.js";

/** Commander collector for repeatable flags. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--shape name=1x64`: splits at the LAST "=" (tensor names may contain "="). */
export function parseShapeFlags(values: readonly string[] = []): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const v of values) {
    const eq = v.lastIndexOf("=");
    const name = v.slice(0, eq);
    const spec = v.slice(eq + 1);
    if (eq <= 0 || !/^\d+(x\d+)*$|^$/.test(spec)) {
      throw fail("E_BAD_SHAPE_FLAG", `--shape ${v}: expected name=AxBxC with non-negative integers, e.g. --shape input_ids=1x64 (a scalar: name=)`);
    }
    const dims = spec === "" ? [] : spec.split("x").map(Number);
    if (dims.some((d) => !Number.isSafeInteger(d))) throw fail("E_BAD_SHAPE_FLAG", `--shape ${v}: dims must be integers`);
    if (name in out) throw fail("E_BAD_SHAPE_FLAG", `--shape ${name} given twice`);
    out[name] = dims;
  }
  return out;
}

/** `--dim sequence=64`: a value for a symbolic dim (dim_param) everywhere. */
export function parseDimFlags(values: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const eq = v.lastIndexOf("=");
    const name = v.slice(0, eq);
    const n = Number(v.slice(eq + 1));
    if (eq <= 0 || !/^\d+$/.test(v.slice(eq + 1)) || !Number.isSafeInteger(n)) {
      throw fail("E_BAD_SHAPE_FLAG", `--dim ${v}: expected dim_param=N with a non-negative integer, e.g. --dim sequence=64`);
    }
    if (name in out) throw fail("E_BAD_SHAPE_FLAG", `--dim ${name} given twice`);
    out[name] = n;
  }
  return out;
}

const RATE_UNITS: Record<string, number> = {
  bit: 1 / 8, kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8,
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

/** `--bandwidth 10mbit` (also kbit, gbit, kb, mb, MiB per second) -> bytes per second. */
export function parseBandwidth(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)(?:\/s|ps)?$/i.exec(v.trim());
  const unit = m?.[2]?.toLowerCase();
  const scale = unit ? RATE_UNITS[unit] : undefined;
  if (!m || scale === undefined || Number(m[1]) <= 0) {
    throw fail("E_USAGE", `${flag} ${v}: expected a positive rate with a unit, e.g. 10mbit, 500kbit, 2MB (per second)`);
  }
  return Number(m[1]) * scale;
}

/** `--rtt 40ms` (also us, s) -> seconds. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(us|ms|s)$/i.exec(v.trim());
  if (!m) throw fail("E_USAGE", `${flag} ${v}: expected a duration with a unit, e.g. 40ms, 0.2s, 500us`);
  const n = Number(m[1]);
  const unit = m[2]!.toLowerCase();
  return unit === "s" ? n : unit === "ms" ? n / 1e3 : n / 1e6;
}

/** A positive finite number flag (e.g. --cloud-speedup 8, --atol 1e-5). */
export function parseNumber(flag: string, v: string, opts: { min?: number; integer?: boolean } = {}): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    throw fail("E_USAGE", `${flag} ${v}: expected ${opts.integer ? "an integer" : "a number"}${opts.min !== undefined ? ` >= ${opts.min}` : ""}`);
  }
  return n;
}

/** Byte units: decimal kb/mb/gb/tb, binary kib/mib/gib/tib (as --bandwidth counts them). */
const BYTE_UNITS: Record<string, number> = {
  "": 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** `--memory-budget 2gb` / `512MiB` / `1048576` -> bytes (a positive integer); E_USAGE otherwise. */
export function parseByteSize(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(v.trim());
  const scale = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && scale !== undefined ? Math.floor(Number(m[1]) * scale) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw fail("E_USAGE", `${flag} ${v}: expected a positive size in bytes, optionally with a unit: 2gb, 512mb, 1.5GiB, 65536`);
  }
  return n;
}
