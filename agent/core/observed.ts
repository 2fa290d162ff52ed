/**
 * What the agent learns from its own requests, beyond the network estimator: the bytes each split
 * point really sends and receives, the worker's speed relative to this device, its queueing, and
 * how far the device's own times are from the profiles (a correction for the cost model). All are
 * exponentially weighted, so the figures follow a change within a few requests.
 */

/** Weight of the newest observation in the moving averages. */
const ALPHA = 0.3;

function ema(prev: number | undefined, v: number): number {
  return prev === undefined ? v : prev + ALPHA * (v - prev);
}

/** One finished offload or local run, in the terms of RunBreakdown. */
export interface RunObservation {
  k: number;
  /** Segments in the split. */
  n: number;
  localMs: number;
  bytesUp: number;
  bytesDown: number;
  cloudComputeMs: number;
  cloudQueueMs: number;
  /** Predicted idle device ms of segments k..n-1 (what the worker ran), when every one is known. */
  backIdleMs: number | null;
  /** Predicted device ms of segments 0..k-1 under the load at the time, when known. */
  frontPredictedMs: number | null;
}

/** The learnt figures (see the module comment). */
export class Observed {
  private readonly up = new Map<number, number>();
  private readonly down = new Map<number, number>();
  private speedupEma: number | undefined;
  private queueEma: number | undefined;
  private localRatioEma: number | undefined;
  private cloudMsEma = new Map<number, number>();

  /** Takes one successful run. */
  record(o: RunObservation): void {
    if (o.k < o.n) {
      this.up.set(o.k, ema(this.up.get(o.k), o.bytesUp));
      this.down.set(o.k, ema(this.down.get(o.k), o.bytesDown));
      this.queueEma = ema(this.queueEma, o.cloudQueueMs);
      this.cloudMsEma.set(o.k, ema(this.cloudMsEma.get(o.k), o.cloudComputeMs));
      // The worker's compute against what the same segments cost here: its speedup.
      if (o.backIdleMs !== null && o.backIdleMs > 0 && o.cloudComputeMs > 0) this.speedupEma = ema(this.speedupEma, o.backIdleMs / o.cloudComputeMs);
    }
    // Ratios of tiny fronts are noise (timer resolution, one-off stalls); 0.5 ms is well above both.
    if (o.k > 0 && o.frontPredictedMs !== null && o.frontPredictedMs > 0.5 && o.localMs > 0) {
      this.localRatioEma = ema(this.localRatioEma, o.localMs / o.frontPredictedMs);
    }
  }

  /** Bytes sent at split k (transport payload, fragments and headers included), when seen. */
  bytesUp(k: number): number | undefined { return this.up.get(k); }
  /** Bytes received at split k, when seen. */
  bytesDown(k: number): number | undefined { return this.down.get(k); }
  /** Worker compute for segments k..n-1 as last seen (ms), when seen. */
  cloudMs(k: number): number | undefined { return this.cloudMsEma.get(k); }
  /** The worker's speed over this device's idle profile, when learnt. */
  get speedup(): number | undefined { return this.speedupEma; }
  /** The worker's queueing (ms), 0 before any report. */
  get queueMs(): number { return this.queueEma ?? 0; }
  /** Measured over predicted device time of the fronts run so far (1 before any). */
  get localRatio(): number { return this.localRatioEma ?? 1; }

  /** Forgets everything (a new model). */
  reset(): void {
    this.up.clear();
    this.down.clear();
    this.cloudMsEma.clear();
    this.speedupEma = undefined;
    this.queueEma = undefined;
    this.localRatioEma = undefined;
  }
}
