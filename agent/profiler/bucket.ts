/**
 * Shape buckets: the name a profile is stored under, so requests of similar size share one
 * measurement instead of every sequence length needing its own.
 *
 * Every dim of every model input is rounded up to the next power of two (0 stays 0, 1 stays 1),
 * and the inputs are listed by name: `{ input_ids: [1, 40] }` and `{ input_ids: [1, 64] }` are both
 * "input_ids:1x64"; two inputs give "attention_mask:1x64,input_ids:1x64". Rounding up means a
 * bucket's profile may have been measured at a smaller size than a request it stands for (at most
 * 2x per dim), so it can underestimate; the reverse never happens within one bucket.
 */
import { fail } from "../../sdk/errors.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";

/** The bucket of a model without inputs (the store wants a non-empty name). */
export const NO_INPUTS_BUCKET = "no-inputs";

/** The smallest power of two >= n (0 for 0). `n` must be a non-negative safe integer. */
export function nextPow2(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw fail("E_USAGE", `a dim must be an integer >= 0, got ${n}`);
  if (n <= 1) return n;
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Keeps a bucket name unambiguous when an input name holds the separators. */
function escapeName(name: string): string {
  return name.replace(/[%,:]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * The bucket name of a set of model inputs: tensors (their dims) or plain shapes by input name.
 * A scalar input shows as "name:scalar". E_USAGE for a dim that is not an integer >= 0.
 */
export function shapeBucket(inputs: TensorMap | Readonly<Record<string, readonly number[]>>): string {
  const names = Object.keys(inputs).sort();
  if (names.length === 0) return NO_INPUTS_BUCKET;
  return names.map((name) => {
    const v = (inputs as Record<string, unknown>)[name];
    const dims = Array.isArray(v) ? (v as readonly number[]) : (v as { dims?: unknown } | undefined)?.dims;
    if (!Array.isArray(dims)) throw fail("E_USAGE", `shapeBucket: input "${name}" is neither a dims array nor a tensor with dims`);
    const rounded = dims.map((d: unknown, i) => {
      if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
        throw fail("E_USAGE", `shapeBucket: input "${name}" dim ${i} is ${String(d)}; dims must be integers >= 0`);
      }
      return nextPow2(d);
    });
    return `${escapeName(name)}:${rounded.length === 0 ? "scalar" : rounded.join("x")}`;
  }).join(",");
}

/**
 * The bucket of the shapes a split's FLOPs and bytes were computed at (manifest.shapes: whole
 * input shapes, or the symbolic dims of the declared ones). Undefined when some model input dim
 * cannot be resolved from the manifest.
 */
export function manifestBucket(manifest: Manifest): string | undefined {
  const shapes: Record<string, number[]> = {};
  for (const input of manifest.model.inputs) {
    const whole = manifest.shapes[input.name];
    if (Array.isArray(whole)) {
      shapes[input.name] = whole;
      continue;
    }
    const dims: number[] = [];
    for (const d of input.shape) {
      const v = typeof d === "number" ? d : typeof d === "string" ? manifest.shapes[d] : undefined;
      if (typeof v !== "number") return undefined;
      dims.push(v);
    }
    shapes[input.name] = dims;
  }
  return shapeBucket(shapes);
}
