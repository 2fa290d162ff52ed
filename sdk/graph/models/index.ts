/**
 * Deterministic generated test models (`edgecut model <kind>`): tiny-gpt, tiny-cnn and mlp,
 * built in TypeScript and shaped like real torch exports. The same options always give a
 * byte-identical ModelProto; weights come from a seeded PRNG (see rng.ts).
 */
import type { ModelProto } from "../onnx/onnx_pb.js";
import { resolveOptions, type ModelKind, type ModelOptions } from "./options.js";
import { buildTinyGpt } from "./tiny-gpt.js";
import { buildTinyCnn } from "./tiny-cnn.js";
import { buildMlp } from "./mlp.js";

export { MODEL_KINDS, defaultOptions, resolveOptions, type ModelKind, type ModelOptions } from "./options.js";

/**
 * Builds the model deterministically (same options -> byte-identical ModelProto). Validates
 * options (E_USAGE with a clear message, e.g. dModel not divisible by heads, layers < 1, an
 * option that does not apply to the kind).
 */
export function buildModel(kind: ModelKind, opts: ModelOptions = {}): ModelProto {
  const o = resolveOptions(kind, opts);
  switch (kind) {
    case "tiny-gpt": return buildTinyGpt(o);
    case "tiny-cnn": return buildTinyCnn(o);
    case "mlp": return buildMlp(o);
  }
}
