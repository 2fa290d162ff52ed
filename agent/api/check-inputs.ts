/**
 * Checks request tensors against the model's input signature before anything runs, so a bad
 * request is a 400 naming the tensor and what the model wants rather than an onnxruntime error
 * from the middle of a split. Shared by the API and (optionally) the core.
 */
import { fail } from "../../sdk/errors.js";
import type { TensorSignature } from "../../sdk/infer/types.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";

function shapeText(shape: TensorSignature["shape"]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(", ")}]`;
}

/**
 * Throws when `inputs` is not exactly the model's inputs: an unknown name, a missing input, a
 * wrong element type, a wrong rank, a size that differs from a fixed dim, or one symbolic dim
 * (e.g. "batch") bound to two sizes. Every problem is listed in one message. The code is
 * E_INPUT_MISSING when missing inputs are the only problem, E_USAGE otherwise.
 */
export function checkInputs(inputs: TensorMap, signature: readonly TensorSignature[]): void {
  const problems: string[] = [];
  const missing: string[] = [];
  const byName = new Map(signature.map((s) => [s.name, s]));
  const expected = signature.map((s) => `"${s.name}"`).join(", ") || "(none)";
  /** Symbolic dim name -> [size, where it was bound]. */
  const bound = new Map<string, [number, string]>();

  for (const name of Object.keys(inputs)) {
    if (!byName.has(name)) problems.push(`"${name}" is not an input of the model (its inputs: ${expected})`);
  }
  for (const s of signature) {
    const t = Object.hasOwn(inputs, s.name) ? inputs[s.name] : undefined;
    if (t === undefined) {
      missing.push(`input "${s.name}" (${s.type} ${shapeText(s.shape)}) is missing`);
      continue;
    }
    const wants = `the model wants ${s.type} ${shapeText(s.shape)}`;
    if (t.type !== s.type) problems.push(`input "${s.name}" is ${t.type}; ${wants}`);
    if (t.dims.length !== s.shape.length) {
      problems.push(`input "${s.name}" has rank ${t.dims.length} (dims [${t.dims.join(", ")}]); ${wants}`);
      continue;
    }
    s.shape.forEach((want, axis) => {
      const got = t.dims[axis]!;
      if (typeof want === "number" && got !== want) {
        problems.push(`input "${s.name}" has ${got} at axis ${axis} (dims [${t.dims.join(", ")}]); ${wants}`);
      } else if (typeof want === "string") {
        const prior = bound.get(want);
        if (prior === undefined) bound.set(want, [got, `"${s.name}" axis ${axis}`]);
        else if (prior[0] !== got) {
          problems.push(`input "${s.name}" has ${want} = ${got} at axis ${axis}, but ${prior[1]} has ${want} = ${prior[0]}; inputs sharing a dim name must agree`);
        }
      }
    });
  }
  if (problems.length === 0 && missing.length === 0) return;
  const all = [...missing, ...problems];
  throw fail(problems.length === 0 ? "E_INPUT_MISSING" : "E_USAGE", `the request's tensors do not fit the model: ${all.join("; ")}`);
}
