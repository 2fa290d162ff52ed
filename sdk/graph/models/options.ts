/**
 * Options of the generated test models: the kinds, their defaults, and validation with
 * messages that say which option is wrong and what would be accepted.
 */
import { fail } from "../../errors.js";

/** The generated model families. */
export type ModelKind = "tiny-gpt" | "tiny-cnn" | "mlp";

/**
 * Model size and variant. Meaning per kind:
 * - tiny-gpt: all options; `maxPositions` (rows of the position table and the causal triangle)
 *   bounds past_sequence + sequence at run time.
 * - tiny-cnn: `layers` = residual blocks, `dModel` = stem channels, `vocab` = classes.
 * - mlp: `layers` = linear layers, `dModel` = width of input, hidden layers and output.
 * `int8Weights` and `seed` apply to every kind.
 */
export interface ModelOptions {
  layers?: number;
  dModel?: number;
  heads?: number;
  vocab?: number;
  kvCache?: boolean;
  int8Weights?: boolean;
  seed?: number;
  maxPositions?: number;
}

/** Every kind, in help-text order. */
export const MODEL_KINDS: readonly ModelKind[] = ["tiny-gpt", "tiny-cnn", "mlp"];

const DEFAULTS: Readonly<Record<ModelKind, Required<ModelOptions>>> = {
  "tiny-gpt": { layers: 2, dModel: 64, heads: 4, vocab: 256, kvCache: false, int8Weights: false, seed: 1, maxPositions: 128 },
  "tiny-cnn": { layers: 3, dModel: 8, heads: 0, vocab: 10, kvCache: false, int8Weights: false, seed: 1, maxPositions: 0 },
  mlp: { layers: 3, dModel: 32, heads: 0, vocab: 0, kvCache: false, int8Weights: false, seed: 1, maxPositions: 0 },
};

/** Options that mean nothing for a kind (their default there is 0 / false). */
const NOT_APPLICABLE: Readonly<Record<ModelKind, readonly (keyof ModelOptions)[]>> = {
  "tiny-gpt": [],
  "tiny-cnn": ["heads", "kvCache", "maxPositions"],
  mlp: ["heads", "vocab", "kvCache", "maxPositions"],
};

/** Inclusive integer ranges per kind; upper bounds keep every weight well under 2 GiB. */
const RANGES: Readonly<Record<ModelKind, Partial<Record<keyof ModelOptions, readonly [number, number]>>>> = {
  "tiny-gpt": { layers: [1, 256], dModel: [1, 16384], heads: [1, 16384], vocab: [1, 1_000_000], maxPositions: [1, 8192] },
  "tiny-cnn": { layers: [1, 64], dModel: [1, 512], vocab: [1, 100_000] },
  mlp: { layers: [1, 256], dModel: [1, 16384] },
};

const KEYS: readonly (keyof ModelOptions)[] = ["layers", "dModel", "heads", "vocab", "kvCache", "int8Weights", "seed", "maxPositions"];

/** Largest single weight tensor a generated model may have (protobuf and Node Buffer limits). */
const MAX_TENSOR_BYTES = 2 ** 31 - 1;

/**
 * Defaults per kind, for help text. Options that do not apply to the kind are 0 (or false);
 * passing them with any other value is an error.
 */
export function defaultOptions(kind: ModelKind): Required<ModelOptions> {
  checkKind(kind);
  return { ...DEFAULTS[kind] };
}

function checkKind(kind: string): asserts kind is ModelKind {
  if (!(MODEL_KINDS as readonly string[]).includes(kind)) {
    throw fail("E_USAGE", `unknown model kind "${kind}"; use one of ${MODEL_KINDS.join(", ")}`);
  }
}

/** Fills defaults and validates; throws E_USAGE naming the bad option. */
export function resolveOptions(kind: ModelKind, opts: ModelOptions = {}): Required<ModelOptions> {
  checkKind(kind);
  if (typeof opts !== "object" || opts === null) throw fail("E_USAGE", "model options must be an object");
  for (const k of Object.keys(opts)) {
    if (!(KEYS as readonly string[]).includes(k)) throw fail("E_USAGE", `unknown model option "${k}"; known options: ${KEYS.join(", ")}`);
  }
  const def = DEFAULTS[kind];
  const o: Required<ModelOptions> = { ...def };
  for (const k of KEYS) {
    const v = opts[k];
    if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  }
  for (const k of NOT_APPLICABLE[kind]) {
    if (o[k] !== def[k]) throw fail("E_USAGE", `option ${k} does not apply to ${kind}; leave it out`);
  }
  for (const k of ["kvCache", "int8Weights"] as const) {
    if (typeof o[k] !== "boolean") throw fail("E_USAGE", `option ${k} must be true or false, got ${String(o[k])}`);
  }
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) {
    throw fail("E_USAGE", `seed must be an integer from 0 to 4294967295, got ${String(o.seed)}`);
  }
  for (const [k, [lo, hi]] of Object.entries(RANGES[kind]) as [keyof ModelOptions, readonly [number, number]][]) {
    const v = o[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      throw fail("E_USAGE", `${k} must be an integer from ${lo} to ${hi} for ${kind}, got ${String(v)}`);
    }
  }
  if (kind === "tiny-gpt") {
    if (o.dModel % o.heads !== 0) {
      throw fail("E_USAGE", `dModel ${o.dModel} is not divisible by heads ${o.heads}; pick heads that divide dModel (e.g. ${divisorsNear(o.dModel, o.heads)})`);
    }
    const biggest = Math.max(o.vocab, 4 * o.dModel, o.maxPositions) * o.dModel * 4;
    if (biggest > MAX_TENSOR_BYTES) {
      throw fail("E_USAGE", `a weight of this tiny-gpt would be ${biggest} bytes (over 2 GiB); lower dModel or vocab`);
    }
  }
  return o;
}

/** A few divisors of n near `near`, for the error message. */
function divisorsNear(n: number, near: number): string {
  const ds: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) ds.push(d);
  ds.sort((a, b) => Math.abs(a - near) - Math.abs(b - near));
  return ds.slice(0, 3).sort((a, b) => a - b).join(", ");
}
