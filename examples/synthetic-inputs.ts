/**
 * Inputs made up from a model's signature, for trying a model when no real data is at hand:
 * symbolic dims (e.g. "batch") are 1 unless given, floats come from a seeded generator in
 * [-1, 1) (the same seed gives the same tensors), integers and bools are 0 (a valid token id or
 * mask for most models). Shared by the example apps.
 */
import { fail } from "../sdk/errors.js";
import type { TensorSignature } from "../sdk/infer/types.js";
import type { HostTensor, TensorMap } from "../sdk/runtime/tensor.js";

/** mulberry32: a tiny seeded generator, good enough for test pixels. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One tensor per model input (see the module comment); throws for an input whose size is unknown. */
export function syntheticInputs(inputs: readonly TensorSignature[], seed = 1, dims: Record<string, number> = {}): TensorMap {
  const next = generator(seed);
  const out: TensorMap = {};
  for (const sig of inputs) {
    const shape = sig.shape.map((d, i) => {
      if (typeof d === "number") return d;
      if (typeof d === "string") return dims[d] ?? 1;
      throw fail("E_USAGE", `input "${sig.name}" has an unnamed dynamic size at axis ${i}; pass real inputs (--inputs) instead`);
    });
    const n = shape.reduce((a, b) => a * b, 1);
    let t: HostTensor;
    switch (sig.type) {
      case "float32": t = { type: "float32", dims: shape, data: Float32Array.from({ length: n }, () => next() * 2 - 1) }; break;
      case "float64": t = { type: "float64", dims: shape, data: Float64Array.from({ length: n }, () => next() * 2 - 1) }; break;
      case "int64": t = { type: "int64", dims: shape, data: new BigInt64Array(n) }; break;
      case "int32": t = { type: "int32", dims: shape, data: new Int32Array(n) }; break;
      case "uint8": t = { type: "uint8", dims: shape, data: new Uint8Array(n) }; break;
      case "bool": t = { type: "bool", dims: shape, data: new Uint8Array(n) }; break;
      default: throw fail("E_USAGE", `input "${sig.name}" is ${sig.type}, which the examples do not make up; pass real inputs (--inputs) instead`);
    }
    out[sig.name] = t;
  }
  return out;
}
