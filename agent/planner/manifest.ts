/**
 * The parts of PlanInputs a split manifest gives: cut bytes and what crosses, FLOPs, and weight
 * bytes as the memory estimate until the profiler measures it. Model input and output sizes
 * depend on the request (sequence length, batch), so the caller passes them.
 */
import type { Manifest } from "../../sdk/graph/manifest.js";
import type { CutProfile, PlanInputs, SegmentProfile } from "./types.js";

/** Request sizes the manifest cannot know. */
export interface RequestSizes {
  /** Bytes of each model input, by name. */
  inputBytes: Record<string, number>;
  /** Bytes of the model outputs the cloud returns. */
  outputBytes: number;
}

/** The manifest-derived part of PlanInputs (segments unprofiled: localMs null, memBytes = weightBytes). */
export type ManifestGeometry = Pick<PlanInputs, "segments" | "cuts" | "inputBytes" | "outputBytes" | "inputNames">;

/**
 * Builds segments and cuts from a manifest. A cut's bytes are its tensors' bytes plus the bytes
 * of the model inputs it carries along (from `sizes.inputBytes`; a missing one counts as 0).
 */
export function geometryFromManifest(manifest: Manifest, sizes: RequestSizes): ManifestGeometry {
  const inputBytesOf = (name: string): number => sizes.inputBytes[name] ?? 0;
  const segments: SegmentProfile[] = manifest.segments.map((s) => ({ localMs: null, flops: s.flops, memBytes: s.weightBytes }));
  const cuts: CutProfile[] = [];
  for (let i = 0; i < manifest.segments.length - 1; i++) {
    const c = manifest.cuts.find((x) => x.after === i);
    cuts.push(c === undefined
      ? { bytes: Number.POSITIVE_INFINITY, tensors: [], modelInputs: [] }
      : { bytes: c.tensors.reduce((a, t) => a + t.bytes, 0) + c.modelInputs.reduce((a, m) => a + inputBytesOf(m), 0), tensors: c.tensors.map((t) => t.name), modelInputs: [...c.modelInputs] });
  }
  const inputNames = manifest.model.inputs.map((t) => t.name);
  return { segments, cuts, inputBytes: inputNames.reduce((a, m) => a + inputBytesOf(m), 0), outputBytes: sizes.outputBytes, inputNames };
}
