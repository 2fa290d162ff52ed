/**
 * What a split point k means for one run: segments 0..k-1 run on the device, k..n-1 on a worker.
 * The worker needs what crosses the boundary after segment k-1 (manifest.cuts[k-1]: tensors the
 * front computes, plus model inputs the back reads), or every model input for k = 0; the device
 * asks for the model outputs the front does not produce itself.
 */
import { fail } from "../errors.js";
import type { Manifest, ManifestSegment } from "../graph/manifest.js";

/** The run of a split at point k. */
export interface SplitPlan {
  /** Segments on the device: 0..k-1. */
  k: number;
  /** Segments in the split. */
  n: number;
  /** The device's segments, in order. */
  local: ManifestSegment[];
  /** Names of the tensors the request carries (empty for k = n): crossing tensors, then model inputs. */
  send: string[];
  /** Model outputs the worker must return (those of segments k..n-1; empty for k = n). */
  wantOutputs: string[];
}

/** Plans a run at split point k (an integer 0..n). E_USAGE for a k outside 0..n, E_MANIFEST for a missing cut. */
export function planSplit(manifest: Manifest, k: number): SplitPlan {
  const n = manifest.segments.length;
  if (!Number.isSafeInteger(k) || k < 0 || k > n) {
    throw fail("E_USAGE", `split point ${String(k)} is not an integer from 0 (everything in the cloud) to ${n} (everything on the device) for this ${n}-segment split`);
  }
  const local = manifest.segments.slice(0, k);
  const wantOutputs = manifest.segments.slice(k).flatMap((s) => s.outputs.filter((o) => o.modelOutput).map((o) => o.name));
  let send: string[];
  if (k === n) send = [];
  else if (k === 0) send = manifest.model.inputs.map((t) => t.name);
  else {
    const cut = manifest.cuts.find((c) => c.after === k - 1);
    if (cut === undefined) throw fail("E_MANIFEST", `the manifest lists no cut after segment ${k - 1}; re-run the split`);
    send = [...cut.tensors.map((t) => t.name), ...cut.modelInputs];
  }
  return { k, n, local, send, wantOutputs };
}
