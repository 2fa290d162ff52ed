/**
 * Tensor files: named tensors as JSON, the format of `--inputs` files and saved outputs.
 *
 * ```json
 * { "input_ids": { "type": "int64", "dims": [1, 4], "data": [464, 2068, 7586, 21831] } }
 * ```
 *
 * - `data` is flat and row-major with product(dims) entries; `dims: []` is a scalar (one entry).
 * - bool values are `true`/`false`; string tensors hold JSON strings.
 * - int64/uint64 values are numbers when they are safe integers (|v| <= 2^53 - 1), otherwise decimal
 *   strings ("9007199254740993"): JSON numbers beyond that lose digits silently, so they are refused.
 * - Float values are numbers, or the strings "NaN", "Infinity", "-Infinity". float16 values are
 *   written as the numbers the half bits stand for and rounded to the nearest half when read.
 * - Round trip: formatTensorFile then parseTensorFile gives back the same values bit for bit,
 *   including -0, except that every NaN comes back as the canonical quiet NaN (payloads are lost).
 *   Other JSON writers (JSON.stringify) turn -0 into 0.
 */
import * as fs from "node:fs";
import { z } from "zod";
import { fail } from "../errors.js";
import { floatToHalf, halfToFloat, numel, type HostTensor, type HostType, type TensorMap } from "./tensor.js";

const HOST_TYPES: readonly HostType[] = [
  "float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool", "string",
];

const EntrySchema = z.strictObject({
  type: z.string(),
  dims: z.array(z.unknown()),
  data: z.array(z.unknown()),
});

/** Integer ranges of the small integer types (int64/uint64 are checked as bigints). */
const INT_RANGE: Partial<Record<HostType, readonly [number, number]>> = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1], uint32: [0, 2 ** 32 - 1],
};
const BIG_RANGE = { int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n] } as const;

/**
 * Parses a tensor file's text. `where` names the source (a path) in error messages.
 * Throws E_TENSOR_FILE naming the tensor and what is wrong with it.
 */
export function parseTensorFile(text: string, where: string): TensorMap {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail("E_TENSOR_FILE", `${where} is not valid JSON (${(e as Error).message}); a tensor file is { "name": { "type", "dims", "data" } }`, e);
  }
  return parseTensorObject(json, where);
}

/**
 * The tensors of an already parsed tensor-file value (`JSON.parse` keeps -0; an integer beyond
 * 2^53 written as a number has lost digits already, so it is refused as in text). For callers that
 * parsed a larger document (the agent API's request body) and must not parse or copy it twice.
 */
export function parseTensorObject(json: unknown, where: string): TensorMap {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw fail("E_TENSOR_FILE", `${where}: the top level must be an object mapping tensor names to { "type", "dims", "data" }`);
  }
  const out: TensorMap = {};
  // Own keys of the parsed object as they are (a schema pass would silently drop "__proto__").
  for (const [name, value] of Object.entries(json)) {
    if (name === "__proto__") throw fail("E_TENSOR_FILE", `${where}: "__proto__" is not allowed as a tensor name`);
    out[name] = parseEntry(value, `${where}: tensor "${name}"`);
  }
  return out;
}

function parseEntry(value: unknown, at: string): HostTensor {
  const r = EntrySchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === "unrecognized_keys") {
      throw fail("E_TENSOR_FILE", `${at}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}; only "type", "dims" and "data" are allowed`);
    }
    const field = issue.path.length ? `"${issue.path.join(".")}"` : "the entry";
    throw fail("E_TENSOR_FILE", `${at}: ${field} is wrong (${issue.message}); expected { "type": string, "dims": [integers], "data": [values] }`);
  }
  const { type, dims, data } = r.data;
  if (!(HOST_TYPES as readonly string[]).includes(type)) {
    throw fail("E_TENSOR_FILE", `${at}: "${type}" is not a tensor type; use one of ${HOST_TYPES.join(", ")}`);
  }
  const d: number[] = [];
  for (const [i, x] of dims.entries()) {
    if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) {
      throw fail("E_TENSOR_FILE", `${at}: dims[${i}] = ${JSON.stringify(x)} is not a non-negative integer`);
    }
    d.push(x);
  }
  const n = numel(d);
  if (!Number.isSafeInteger(n)) throw fail("E_TENSOR_FILE", `${at}: dims [${d.join(", ")}] give an absurd element count`);
  if (data.length !== n) {
    throw fail("E_TENSOR_FILE", `${at}: data has ${data.length} values but dims [${d.join(", ")}] need ${n}${d.length === 0 ? " (dims [] is a scalar)" : ""}`);
  }
  return { type, dims: d, data: parseData(type as HostType, data, at) } as HostTensor;
}

function bad(at: string, i: number, v: unknown, why: string): never {
  throw fail("E_TENSOR_FILE", `${at}: data[${i}] = ${JSON.stringify(v)} ${why}`);
}

function floatValue(v: unknown, at: string, i: number, type: string): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return bad(at, i, v, `is not a ${type} value; use a number or "NaN", "Infinity", "-Infinity"`);
}

function parseData(type: HostType, raw: readonly unknown[], at: string): HostTensor["data"] {
  const n = raw.length;
  switch (type) {
    case "float64": {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = floatValue(raw[i], at, i, type);
      return a;
    }
    case "float32": {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = floatValue(raw[i], at, i, type);
        const f = Math.fround(v);
        if (Number.isFinite(v) && !Number.isFinite(f)) bad(at, i, raw[i], "is out of range for float32 (max 3.4028234663852886e38)");
        a[i] = f;
      }
      return a;
    }
    case "float16": {
      const a = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const v = floatValue(raw[i], at, i, type);
        const h = floatToHalf(v);
        if (Number.isFinite(v) && (h & 0x7c00) === 0x7c00) bad(at, i, raw[i], "is out of range for float16 (max 65504)");
        a[i] = h;
      }
      return a;
    }
    case "int8": case "uint8": case "int16": case "uint16": case "int32": case "uint32": {
      const [lo, hi] = INT_RANGE[type]!;
      const a = type === "int8" ? new Int8Array(n) : type === "uint8" ? new Uint8Array(n) : type === "int16" ? new Int16Array(n)
        : type === "uint16" ? new Uint16Array(n) : type === "int32" ? new Int32Array(n) : new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        const v = raw[i];
        if (typeof v !== "number" || !Number.isInteger(v)) bad(at, i, v, `is not an integer (${type})`);
        if (v < lo || v > hi) bad(at, i, v, `is out of range for ${type} (${lo}..${hi})`);
        a[i] = v;
      }
      return a;
    }
    case "int64": case "uint64": {
      const [lo, hi] = BIG_RANGE[type];
      const a = type === "int64" ? new BigInt64Array(n) : new BigUint64Array(n);
      for (let i = 0; i < n; i++) {
        const v = raw[i];
        let b: bigint;
        if (typeof v === "number") {
          if (!Number.isInteger(v)) bad(at, i, v, `is not an integer (${type})`);
          if (!Number.isSafeInteger(v)) bad(at, i, v, `is beyond 2^53 and may have lost digits as a JSON number; write ${type} values that large as decimal strings, e.g. "9007199254740993"`);
          b = BigInt(v);
        } else if (typeof v === "string" && /^-?[0-9]+$/.test(v)) {
          b = BigInt(v);
        } else {
          return bad(at, i, v, `is not an integer (${type}); use a number, or a decimal string for values beyond 2^53`);
        }
        if (b < lo || b > hi) bad(at, i, v, `is out of range for ${type} (${lo}..${hi})`);
        a[i] = b;
      }
      return a;
    }
    case "bool": {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = raw[i];
        if (typeof v !== "boolean") bad(at, i, v, "is not a bool; use true or false");
        a[i] = v ? 1 : 0;
      }
      return a;
    }
    case "string": {
      const a: string[] = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const v = raw[i];
        if (typeof v !== "string") bad(at, i, v, "is not a string");
        a[i] = v;
      }
      return a;
    }
  }
}

/** Reads and parses a tensor file (E_TENSOR_FILE when it cannot be read or is malformed). */
export function readTensorFile(file: string): TensorMap {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw fail("E_TENSOR_FILE", `cannot read tensor file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
  return parseTensorFile(text, file);
}

/** Text of a non-finite float, or undefined. */
function special(v: number): string | undefined {
  if (Number.isNaN(v)) return '"NaN"';
  if (v === Infinity) return '"Infinity"';
  if (v === -Infinity) return '"-Infinity"';
  return undefined;
}

function num(v: number): string {
  return Object.is(v, -0) ? "-0" : String(v);
}

/**
 * Fewest significant digits (up to `max`, which always suffices) whose decimal reads back as `v`
 * under `same`. Binary search: more digits land closer to v, so success is (near enough)
 * monotone; every answer is checked, so the text always reads back exactly.
 */
function shortest(v: number, max: number, same: (x: number) => boolean): string {
  if (Object.is(v, -0)) return "-0";
  let lo = 1;
  let hi = max;
  let best = v;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const x = Number(v.toPrecision(mid));
    if (same(x)) {
      hi = mid;
      best = x;
    } else lo = mid + 1;
  }
  if (hi === max) best = Number(v.toPrecision(max));
  return same(best) ? String(best) : String(v);
}

/** Shortest decimal that reads back as the same float32 (9 significant digits always suffice). */
function f32Text(v: number): string {
  return special(v) ?? shortest(v, 9, (x) => Math.fround(x) === v);
}

/** Shortest decimal that reads back as the same half bits (5 significant digits always suffice). */
function f16Text(bits: number): string {
  const v = halfToFloat(bits);
  return special(v) ?? shortest(v, 5, (x) => floatToHalf(x) === bits);
}

function valuesText(t: HostTensor): string[] {
  switch (t.type) {
    case "float64": return Array.from(t.data, (v) => special(v) ?? num(v));
    case "float32": return Array.from(t.data, f32Text);
    case "float16": return Array.from(t.data, f16Text);
    case "int64": case "uint64":
      return Array.from(t.data as ArrayLike<bigint>, (b) => {
        const n = Number(b);
        return Number.isSafeInteger(n) ? String(n) : `"${b}"`;
      });
    case "bool": return Array.from(t.data, (v) => (v ? "true" : "false"));
    case "string": return t.data.map((s) => JSON.stringify(s));
    default: return Array.from(t.data as ArrayLike<number>, String);
  }
}

/** Formats tensors as a tensor file: one tensor per line, values in the shortest form that reads back exactly. */
export function formatTensorFile(map: TensorMap): string {
  const lines: string[] = [];
  for (const [name, t] of Object.entries(map)) {
    const n = numel(t.dims);
    if (t.data.length !== n) {
      throw fail("E_USAGE", `tensor "${name}" has ${t.data.length} values but dims [${t.dims.join(", ")}] need ${n}`);
    }
    lines.push(`  ${JSON.stringify(name)}: {"type": "${t.type}", "dims": [${t.dims.join(", ")}], "data": [${valuesText(t).join(", ")}]}`);
  }
  return lines.length ? `{\n${lines.join(",\n")}\n}\n` : "{}\n";
}

/** Writes a tensor file (see formatTensorFile). */
export function writeTensorFile(file: string, map: TensorMap): void {
  fs.writeFileSync(file, formatTensorFile(map));
}
