/**
 * The constraint checks behind a plan row's feasibility, one function per kind, so callers that
 * need to tell them apart (`edgecut plan`: "fits", "privacyOk") need not parse PlanRow.reason.
 * plan.ts's infeasibility() is built from them: memory (the front's bytes against available RAM
 * minus the margin) and privacy (private model inputs sent, too few segments on the device
 * before the cloud). Reachability, packs and unknown costs are neither.
 */
import type { PlannerConfig } from "./config.js";
import type { PlanInputs } from "./types.js";

/** Memory of the front at split point k: the sum of memBytes of segments 0..k-1. */
export function frontMemBytes(inputs: Pick<PlanInputs, "segments">, k: number): number {
  let sum = 0;
  for (let i = 0; i < k; i++) sum += inputs.segments[i]!.memBytes;
  return sum;
}

/**
 * Why the front (memBytes) does not fit: available RAM minus ramMarginBytes. Null when it fits.
 */
export function memoryViolation(inputs: Pick<PlanInputs, "device">, config: Pick<PlannerConfig, "ramMarginBytes">, memBytes: number): string | null {
  const budget = inputs.device.ramAvailableBytes - config.ramMarginBytes;
  // A front of no segments needs no memory: all-cloud is what memory pressure calls for.
  if (memBytes === 0 || memBytes <= budget) return null;
  return `the front needs ${memBytes} B, ${Math.max(0, budget)} B available (RAM ${inputs.device.ramAvailableBytes} B minus margin ${config.ramMarginBytes} B)`;
}

/**
 * Every privacy rule split point k breaks (empty when none): k = 0 sending a private model input
 * (every configured one when inputNames is unknown), a cut carrying one, or offloading before
 * minSegmentsBeforeCloud segments ran here. k = n sends nothing and breaks no rule.
 */
export function privacyViolations(
  inputs: Pick<PlanInputs, "segments" | "cuts" | "inputNames">,
  config: Pick<PlannerConfig, "privateInputs" | "minSegmentsBeforeCloud">,
  k: number,
): string[] {
  const n = inputs.segments.length;
  if (k >= n) return [];
  const reasons: string[] = [];
  const priv = new Set(config.privateInputs);
  if (k === 0) {
    const sent = inputs.inputNames === undefined ? [...priv] : inputs.inputNames.filter((x) => priv.has(x));
    if (sent.length > 0) reasons.push(`k = 0 sends the private model input(s) ${sent.join(", ")}`);
  } else {
    const cut = inputs.cuts[k - 1]!;
    const sent = [...cut.modelInputs, ...cut.tensors].filter((x) => priv.has(x));
    if (sent.length > 0) reasons.push(`the cut after segment ${k - 1} sends the private model input(s) ${sent.join(", ")}`);
  }
  if (k < config.minSegmentsBeforeCloud) reasons.push(`only ${k} segment(s) run on the device before the cloud; the privacy rule wants ${config.minSegmentsBeforeCloud}`);
  return reasons;
}
