/**
 * Segment costs from the profiler: profiles this device has measured (re-measured when stale or
 * taken under very different load), FLOPs at a calibration for the rest. The calibration comes
 * from the profiles themselves when there are any (this model's own kernels), else from the
 * reference MatMul kernel.
 */
import type { Manifest, ManifestTensor } from "../../sdk/graph/manifest.js";
import { byteLength, dtypeCode } from "../../sdk/graph/dtype-names.js";
import { fail } from "../../sdk/errors.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import { calibrate, calibrationFromProfiles, manifestBucket, shapeBucket, type Profiler } from "../profiler/index.js";
import type { AgentLog } from "./log.js";
import type { CostSource } from "./plan-inputs.js";

/**
 * Inputs to profile with when the user gives none: zeros at the manifest's recorded shapes. Zeros
 * are valid for every input kind models take (token ids, masks, positions, pixels) and cost the
 * same as real values for dense kernels, which is all a latency profile needs.
 */
export function zeroInputs(manifest: Manifest): TensorMap {
  const out: TensorMap = {};
  for (const t of manifest.model.inputs) out[t.name] = zeros(manifest, t);
  return out;
}

function zeros(manifest: Manifest, t: ManifestTensor): HostTensor {
  const whole = manifest.shapes[t.name];
  const dims = Array.isArray(whole) ? [...whole] : t.shape.map((d) => {
    if (typeof d === "number") return d;
    const v = d === null ? undefined : manifest.shapes[d];
    if (typeof v !== "number") throw fail("E_USAGE", `cannot profile: model input "${t.name}" has dim ${String(d)} with no recorded value; give profiler inputs`);
    return v;
  });
  const n = dims.reduce((a, b) => a * b, 1);
  switch (t.type) {
    case "float32": return { type: "float32", dims, data: new Float32Array(n) };
    case "float64": return { type: "float64", dims, data: new Float64Array(n) };
    case "float16": return { type: "float16", dims, data: new Uint16Array(n) };
    case "int8": return { type: "int8", dims, data: new Int8Array(n) };
    case "uint8": return { type: "uint8", dims, data: new Uint8Array(n) };
    case "int16": return { type: "int16", dims, data: new Int16Array(n) };
    case "uint16": return { type: "uint16", dims, data: new Uint16Array(n) };
    case "int32": return { type: "int32", dims, data: new Int32Array(n) };
    case "uint32": return { type: "uint32", dims, data: new Uint32Array(n) };
    case "int64": return { type: "int64", dims, data: new BigInt64Array(n) };
    case "uint64": return { type: "uint64", dims, data: new BigUint64Array(n) };
    case "bool": return { type: "bool", dims, data: new Uint8Array(n) };
    default: {
      const code = dtypeCode(t.type);
      throw fail("E_USAGE", `cannot profile: model input "${t.name}" is ${t.type}${code !== undefined ? ` (${byteLength(code, 1) ?? "?"} bytes)` : ""}; give profiler inputs`);
    }
  }
}

/** A CostSource over a profiler, for one shape bucket. */
export interface ProfiledCosts extends CostSource {
  readonly bucket: string;
  /**
   * Profiles what is missing, stale or was taken under different load, among segments below
   * `maxSplit` (default all: a pack holds only its front segments); then recalibrates.
   */
  refresh(inputs: TensorMap, cpuLoad: number, maxSplit?: number): Promise<number>;
}

/**
 * Costs from `profiler` for the bucket of `inputs` (or the manifest's shapes). Call refresh() to
 * measure; until then unprofiled segments are predicted from FLOPs at `fallbackFlopsPerMs`.
 */
export function profiledCosts(profiler: Profiler, manifest: Manifest, fallbackFlopsPerMs: number, log: AgentLog, inputs?: TensorMap): ProfiledCosts {
  const bucket = inputs !== undefined ? shapeBucket(inputs) : manifestBucket(manifest) ?? shapeBucket(zeroInputs(manifest));
  let flopsPerMs = fallbackFlopsPerMs;
  let segments = profiler.plannerSegments(bucket);
  return {
    bucket,
    segments: () => segments,
    flopsPerMs: () => flopsPerMs,
    async refresh(profileInputs: TensorMap, cpuLoad: number, maxSplit = manifest.segments.length): Promise<number> {
      const needs = profiler.needsProfiling(bucket, cpuLoad).filter((x) => x.segmentIndex < maxSplit);
      if (needs.length > 0) {
        log.info({ bucket, segments: needs.map((x) => `${x.segmentIndex}:${x.reason}`) }, "profiling segments");
        await profiler.profileAll(profileInputs, { only: needs.map((x) => x.segmentIndex) });
      }
      segments = profiler.plannerSegments(bucket);
      const cal = calibrationFromProfiles(profiler.profiles(), manifest) ?? await calibrate();
      flopsPerMs = cal.flopsPerMs;
      log.info({ flopsPerMs: Math.round(flopsPerMs), source: cal.source, profiled: needs.length }, "segment costs ready");
      return needs.length;
    },
  };
}
