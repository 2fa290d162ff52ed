/**
 * Inputs of the planner the manifest alone gives: segment costs from FLOPs at a calibration, and
 * request sizes (model input and output bytes) from the manifest's recorded shapes or, better, the
 * request being run.
 */
import { byteLength, dtypeCode } from "../../sdk/graph/dtype-names.js";
import type { Manifest, ManifestTensor } from "../../sdk/graph/manifest.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import type { RequestSizes } from "../planner/manifest.js";
import type { CostSource } from "./plan-inputs.js";

/** Costs from the manifest's FLOPs (localMs null: the planner divides by flopsPerMs) and weight bytes. */
export function flopsCosts(manifest: Manifest, flopsPerMs: number): CostSource {
  const segs = manifest.segments.map((s) => ({ localMs: null, flops: s.flops, memBytes: s.weightBytes }));
  return { segments: () => segs, flopsPerMs: () => flopsPerMs };
}

/** Bytes of a manifest tensor at the manifest's recorded shapes (symbolic dims from `shapes`, unknown ones as 1). */
function declaredBytes(manifest: Manifest, t: ManifestTensor): number {
  const whole = manifest.shapes[t.name];
  const dims = Array.isArray(whole) ? whole : t.shape.map((d) => {
    if (typeof d === "number") return d;
    const v = d === null ? undefined : manifest.shapes[d];
    return typeof v === "number" ? v : 1;
  });
  const code = dtypeCode(t.type);
  return code === undefined ? 0 : byteLength(code, dims.reduce((a, b) => a * b, 1)) ?? 0;
}

function hostBytes(t: TensorMap[string]): number {
  return t.type === "string" ? t.data.reduce((a, s) => a + Buffer.byteLength(s), 0) : (t.data as ArrayBufferView).byteLength;
}

/**
 * Request sizes: each model input's bytes (from `inputs` when given, else the manifest's shapes),
 * and the model outputs' bytes at the manifest's shapes (what the cloud returns).
 */
export function requestSizes(manifest: Manifest, inputs?: TensorMap): RequestSizes {
  const inputBytes: Record<string, number> = {};
  for (const t of manifest.model.inputs) {
    const given = inputs?.[t.name];
    inputBytes[t.name] = given !== undefined ? hostBytes(given) : declaredBytes(manifest, t);
  }
  const outputBytes = manifest.model.outputs.reduce((a, t) => a + declaredBytes(manifest, t), 0);
  return { inputBytes, outputBytes };
}
