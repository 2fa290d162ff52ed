/**
 * NetworkEstimator: RTT and bandwidth to the cloud, learnt from the offload round trips
 * themselves (passive measurement) plus a small probe when the link has been idle.
 *
 * Each round trip gives network time = roundTripMs - worker compute - worker queue (the worker
 * reports both, so its load is not mistaken for a slow link). That time is fitted over a recent
 * window to `time = rtt + bytesUp/up + bytesDown/down` (or `rtt + (up+down bytes)/bw` when up
 * and down sizes move together, as they do when the reply is always the same logits), by weighted
 * least squares (fit.ts). Neurosurgeon (Kang et al., ASPLOS 2017) and DADS (Hu et al., INFOCOM
 * 2019) both choose the split from RTT and bandwidth apart; a single "throughput" number cannot
 * tell a slow link from a far one.
 *
 * Smoothing: a robust window. The last `window` round trips, weighted to halve every
 * `halfLifeSamples` newer samples (an EWMA applied to the regression rather than to one number),
 * fitted with a Huber reweighting that drops a round trip inflated by a retry or a GC pause
 * (the median filter of a "robust window", for a regression). Robust fits resist change too, so
 * a level-shift test (the newest `shiftRun` round trips all off the fit of the older ones, the
 * same way, by over 3 robust sigmas and 15%, or by over half the prediction) restarts the window
 * from those round trips: a
 * bandwidth drop shows in the estimate after `shiftRun` (3) round trips, where the weights alone
 * took 10 to 16 in simulation. Why not a plain EWMA: it cannot separate RTT from bandwidth (each
 * sample mixes both) and it follows every outlier.
 *
 * Failures: a timeout is not a time sample (its duration is the timeout, not the link), but
 * `failuresUntilDown` in a row make the estimate unreachable, and each halves the confidence.
 * One successful round trip makes it reachable again. Probing continues every probeIntervalMs
 * while down, so recovery is noticed within one interval.
 */
import { parseNetworkConfig, type NetworkEstimatorConfig, type NetworkEstimatorConfigInput } from "./config.js";
import { robustWls, type Conditioning, type FitRow } from "./fit.js";

/** One completed offload round trip (or probe), as SplitRunner's RunBreakdown reports it. */
export interface NetworkObservation {
  bytesUp: number;
  bytesDown: number;
  /** First publish to last reply message (ms, device clock). */
  roundTripMs: number;
  /** The worker's compute time (ms, its clock); 0 for a probe. */
  cloudComputeMs: number;
  /** The worker's queueing time (ms, its clock); 0 for a probe. */
  cloudQueueMs: number;
  /** When the round trip ended (ms, the estimator's monotonic clock). */
  at: number;
}

/** How the current estimate was obtained. */
export type EstimateBasis =
  | "up-down" // RTT, up and down bandwidth fitted apart
  | "total" // RTT and one bandwidth for all bytes (up and down sizes did not vary apart)
  | "rtt-held" // sizes did not vary: RTT kept from an earlier fit (or the prior), bandwidth from the rest
  | "prior"; // no observation yet

/** The estimator's view of the link, what the planner consumes. */
export interface NetworkEstimate {
  /** Round-trip time without payload (ms). */
  rttMs: number;
  /** Device to cloud bandwidth (bytes/s). */
  upBytesPerSec: number;
  /** Cloud to device bandwidth (bytes/s). */
  downBytesPerSec: number;
  /** 0 (a guess) to 1 (many recent, consistent samples). */
  confidence: number;
  /** False after failuresUntilDown consecutive failures, until a round trip succeeds. */
  reachable: boolean;
}

/** The estimate with the details /v1/status shows. */
export interface NetworkEstimateDetail extends NetworkEstimate {
  basis: EstimateBasis;
  /** Round trips in the window. */
  samples: number;
  consecutiveFailures: number;
  /** Clock time of the last successful round trip, or null. */
  lastObservationAt: number | null;
}

/** Options of NetworkEstimator. */
export interface NetworkEstimatorOptions {
  /** Monotonic clock in ms (injected: the agent passes performance.now, tests a fake). */
  now: () => number;
  config?: NetworkEstimatorConfigInput;
}

/** Room for the frame and fragment headers around a probe's payload (docs/wire-format.md §2, §7). */
const FRAME_OVERHEAD_BYTES = 1024;

interface Fitted {
  rttMs: number;
  up: number;
  down: number;
  basis: EstimateBasis;
  /** 1 for a perfect fit, falling with the relative residual. */
  quality: number;
}

interface Sample {
  up: number;
  down: number;
  netMs: number;
}

/** Learns RTT and bandwidth from round trips (see the module comment). */
export class NetworkEstimator {
  /** The validated configuration. */
  readonly config: NetworkEstimatorConfig;
  private readonly now: () => number;
  private readonly samples: Sample[] = [];
  private lastObsAt: number | null = null;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private failures = 0;
  private suspect = false;
  private probeTurn = 0;
  /** Round-trip kinds not seen since the last level shift (empty: none pending). */
  private readonly unseenSinceShift = new Set<"small" | "up" | "down">();
  private heldRttMs: number;
  private fitted: Fitted;

  constructor(opts: NetworkEstimatorOptions) {
    this.config = parseNetworkConfig(opts.config ?? {});
    this.now = opts.now;
    this.heldRttMs = this.config.priorRttMs;
    this.fitted = { rttMs: this.config.priorRttMs, up: this.config.priorBytesPerSec, down: this.config.priorBytesPerSec, basis: "prior", quality: 0 };
  }

  /** Records a successful round trip and refits. RangeError for a non-finite or negative field (an agent bug, not a link condition). */
  observe(o: NetworkObservation): void {
    for (const k of ["bytesUp", "bytesDown", "roundTripMs", "cloudComputeMs", "cloudQueueMs", "at"] as const) {
      const v = o[k];
      if (!Number.isFinite(v) || (k !== "at" && v < 0)) throw new RangeError(`NetworkEstimator.observe: ${k} is ${String(v)}`);
    }
    // The worker's clock measures its own compute and queue; what remains is the link (and
    // encoding on both ends, which is small and size-proportional, so it folds into bandwidth).
    const netMs = Math.max(0, o.roundTripMs - o.cloudComputeMs - o.cloudQueueMs);
    this.samples.push({ up: o.bytesUp, down: o.bytesDown, netMs });
    this.unseenSinceShift.delete(this.kindOf({ up: o.bytesUp, down: o.bytesDown, netMs }));
    if (this.samples.length > this.config.window) this.samples.shift();
    this.lastObsAt = o.at;
    this.lastAttemptAt = Math.max(this.lastAttemptAt, o.at);
    this.failures = 0;
    this.refit();
  }

  /**
   * Records a failed round trip (a timeout, no reply): pushes the estimate toward unreachable.
   * `sentAt`, when given, is when the failed attempt was sent: a failure of an attempt sent before
   * the last success is stale (the link has answered since) and is ignored.
   */
  observeFailure(at: number, sentAt?: number): void {
    this.lastAttemptAt = Math.max(this.lastAttemptAt, at);
    if (sentAt !== undefined && this.lastObsAt !== null && sentAt < this.lastObsAt) return;
    this.failures++;
  }

  /**
   * True when nothing was attempted (round trip or failure) for probeIntervalMs, or never. A
   * failure counts as an attempt so that a dead link is probed once per interval, not in a loop.
   */
  needsProbe(now: number = this.now()): boolean {
    return now - this.lastAttemptAt >= (this.urgent ? Math.min(this.config.confirmProbeMs, this.config.probeIntervalMs) : this.config.probeIntervalMs);
  }

  /**
   * True while the newest round trip is off the fit as a level shift would be (a changed link not
   * yet confirmed), a shift was just taken with too few samples to size the new link, or the
   * cloud is believed down: probes then come every confirmProbeMs, so a change (or the cloud's
   * return) is noticed in seconds, not in probe intervals.
   */
  get urgent(): boolean {
    // rtt-held: the window's sizes are all alike, so RTT and bandwidth cannot be told apart.
    return this.suspect || this.unseenSinceShift.size > 0 || this.samples.length < this.config.shiftRun || this.failures >= this.config.failuresUntilDown || this.fitted.basis === "rtt-held";
  }

  /**
   * Size of the next probe's payload (see nextProbe; the echo decision is the caller's then).
   */
  nextProbeBytes(): number {
    return this.nextProbe().bytes;
  }

  /**
   * The next probe: its payload size and whether the worker should echo it (so its bytes come down
   * too). Small while the window lacks a small round trip (RTT); after a level shift, until the new
   * link has been seen with a small, a large-up and a large-down round trip, the kind missing (a
   * change on one direction or of the RTT alone must not be read as the other); while a change is
   * suspected, the kind that raised the suspicion (the shift test needs a run of alike round
   * trips); large while the window lacks size spread; else the kinds in turn.
   */
  nextProbe(): { bytes: number; echo: boolean } {
    const { smallProbeBytes: small, largeProbeBytes: large } = this.config;
    const kind = (s: Sample): "small" | "up" | "down" => this.kindOf(s);
    const probe = (k: "small" | "up" | "down"): { bytes: number; echo: boolean } => (k === "small" ? { bytes: small, echo: false } : { bytes: large, echo: k === "down" });
    if (!this.samples.some((s) => kind(s) === "small")) return probe("small");
    const missing = (["small", "up", "down"] as const).find((k) => this.unseenSinceShift.has(k));
    if (missing !== undefined) return probe(missing);
    const last = this.samples[this.samples.length - 1];
    if (this.suspect && last !== undefined) return probe(kind(last));
    if (this.fitted.basis === "rtt-held" || this.fitted.basis === "prior") return probe("up");
    const order = ["small", "up", "small", "down"] as const;
    return probe(order[this.probeTurn++ % order.length]!);
  }

  /** A round trip's kind for probing: small (RTT), large up, or large down. */
  private kindOf(s: Sample): "small" | "up" | "down" {
    return s.up + s.down <= 4 * this.config.smallProbeBytes + FRAME_OVERHEAD_BYTES ? "small" : s.down > s.up / 2 ? "down" : "up";
  }

  /** The current estimate (see NetworkEstimate). */
  estimate(): NetworkEstimate {
    const { basis: _b, samples: _s, consecutiveFailures: _c, lastObservationAt: _l, ...core } = this.detail();
    return core;
  }

  /** The estimate with its basis, sample count and failure count. */
  detail(): NetworkEstimateDetail {
    const f = this.fitted;
    const c = this.config;
    const reachable = this.failures < c.failuresUntilDown;
    const w = weights(this.samples.length, c.halfLifeSamples);
    const sw = w.reduce((s, x) => s + x, 0);
    const sw2 = w.reduce((s, x) => s + x * x, 0);
    const nEff = sw2 > 0 ? (sw * sw) / sw2 : 0;
    const basisFactor = f.basis === "prior" ? 0 : f.basis === "rtt-held" ? 0.5 : 1;
    let confidence = basisFactor * Math.min(1, nEff / c.samplesForConfidence) * f.quality * 0.5 ** this.failures;
    // A stale estimate is worth less: confidence falls as 1/age past one probe interval.
    if (this.lastObsAt !== null) {
      const age = this.now() - this.lastObsAt;
      if (age > c.probeIntervalMs) confidence *= c.probeIntervalMs / age;
    }
    return {
      rttMs: f.rttMs, upBytesPerSec: f.up, downBytesPerSec: f.down,
      confidence: Math.max(0, Math.min(1, confidence)), reachable,
      basis: f.basis, samples: this.samples.length, consecutiveFailures: this.failures, lastObservationAt: this.lastObsAt,
    };
  }

  /**
   * Refits the window. A level shift (the newest shiftRun samples all off the fit, on the same
   * side, by over 3 robust sigmas and over 15% of the prediction, or by over half of it) is a changed link, not
   * outliers: the Huber step would otherwise down-weight the new regime until it filled half the
   * window. The window is cut to those samples and refitted (the RTT held from before covers
   * the few samples too alike in size to fit both).
   */
  private refit(): void {
    const run = this.config.shiftRun;
    const n = this.samples.length;
    if (n >= run + 4) {
      // Out of sample: fit the older samples, then ask whether the newest run fits them.
      const older = this.fitSamples(this.samples.slice(0, n - run));
      const res = this.samples.map((s) => s.netMs - older.predict(s));
      const sorted = res.slice(0, n - run).map(Math.abs).sort((a, b) => a - b);
      const sigma = 1.4826 * sorted[Math.floor(sorted.length / 2)]!;
      const sign = Math.sign(res[n - 1]!);
      // Off by over 3 robust sigmas and 15%, or, whatever the sigma, by over half the prediction:
      // a window that already mixes two regimes has a sigma so wide that a third (a link back to
      // full speed after an outage) would never stand out by sigmas alone.
      const shifted = sign !== 0 && this.samples.slice(n - run).every((s, i) => {
        const e = res[n - run + i]!;
        const pred = Math.max(older.predict(s), 1e-9);
        return Math.sign(e) === sign && ((Math.abs(e) > 3 * sigma && Math.abs(e) > 0.15 * pred) || Math.abs(e) > 0.5 * pred);
      });
      if (shifted) {
        this.samples.splice(0, n - run);
        for (const k of ["small", "up", "down"] as const) this.unseenSinceShift.add(k);
        for (const smp of this.samples) this.unseenSinceShift.delete(this.kindOf(smp));
      }
      // The newest alone off the fit the same way: a change is suspected until confirmed or not.
      const last = this.samples[this.samples.length - 1]!;
      const e = last.netMs - older.predict(last);
      this.suspect = !shifted && Math.abs(e) > 0.5 * Math.max(older.predict(last), 1e-9);
      // A suspected change: see the link again with every kind of round trip, whatever it was.
      if (this.suspect) {
        for (const k of ["small", "up", "down"] as const) this.unseenSinceShift.add(k);
        this.unseenSinceShift.delete(this.kindOf(last));
      }
    } else {
      this.suspect = false;
    }
    this.fitted = this.fitSamples(this.samples).estimate;
    if (this.fitted.basis === "up-down" || this.fitted.basis === "total") this.heldRttMs = this.fitted.rttMs;
  }

  /** Fits samples (no side effect): up and down apart, else total, else with the RTT held (see the module comment). */
  private fitSamples(samples: readonly Sample[]): { estimate: Fitted; predict: (s: Sample) => number } {
    const c = this.config;
    const w = weights(samples.length, c.halfLifeSamples);
    const cond: Conditioning = { minCv: c.minSizeCv, maxCorrelation: c.maxUpDownCorrelation };
    const minMsPerByte = 1000 / c.maxBytesPerSec;
    const bw = (msPerByte: number): number => 1000 / Math.max(msPerByte, minMsPerByte);
    const meanY = samples.reduce((s, x, i) => s + w[i]! * x.netMs, 0) / w.reduce((s, x) => s + x, 0);
    // Quality: 1 for a perfect fit, 1/2 when the residuals are as large as the mean time.
    const quality = (rms: number): number => 1 / (1 + (meanY > 0 ? rms / meanY : 0));

    if (c.separateUpDown) {
      const rows: FitRow[] = samples.map((s, i) => ({ x: [s.up, s.down], y: s.netMs, w: w[i]! }));
      const fit = fitNonNegative(rows, cond);
      if (fit !== null && fit.slopes[0]! > 0 && fit.slopes[1]! > 0) {
        const [su, sd] = [fit.slopes[0]!, fit.slopes[1]!];
        return {
          estimate: { rttMs: fit.intercept, up: bw(su), down: bw(sd), basis: "up-down", quality: quality(fit.rmsResidual) },
          predict: (s) => fit.intercept + su * s.up + sd * s.down,
        };
      }
    }
    const rows: FitRow[] = samples.map((s, i) => ({ x: [s.up + s.down], y: s.netMs, w: w[i]! }));
    const fit = fitNonNegative(rows, cond);
    if (fit !== null) {
      const slope = fit.slopes[0]!;
      const b = bw(slope);
      return {
        estimate: { rttMs: fit.intercept, up: b, down: b, basis: "total", quality: quality(fit.rmsResidual) },
        predict: (s) => fit.intercept + slope * (s.up + s.down),
      };
    }
    // All messages about one size: RTT and bandwidth cannot be told apart. Keep the last fitted
    // RTT (or the prior) and charge the rest of the time to bandwidth; nextProbeBytes asks for a
    // large probe to restore the spread. The RTT cannot exceed the fastest round trip seen: a
    // prior of 50 ms on a 3 ms link would otherwise leave every sample "faster than the RTT".
    const rtt = Math.min(this.heldRttMs, ...rows.map((r) => r.y));
    let sxx = 0;
    let sxy = 0;
    rows.forEach((r) => {
      sxx += r.w * r.x[0]! * r.x[0]!;
      sxy += r.w * r.x[0]! * Math.max(0, r.y - rtt);
    });
    const slope = sxx > 0 ? sxy / sxx : 0;
    const b = slope > 0 ? bw(slope) : this.fitted.basis === "prior" ? c.priorBytesPerSec : this.fitted.up;
    const rms = Math.sqrt(rows.reduce((s, r) => s + r.w * (r.y - rtt - slope * r.x[0]!) ** 2, 0) / rows.reduce((s, r) => s + r.w, 0));
    return { estimate: { rttMs: rtt, up: b, down: b, basis: "rtt-held", quality: quality(rms) }, predict: (s) => rtt + slope * (s.up + s.down) };
  }
}

/** Sample weights, oldest first: 0.5^(newer samples / halfLife). */
function weights(n: number, halfLife: number): number[] {
  return Array.from({ length: n }, (_, i) => 0.5 ** ((n - 1 - i) / halfLife));
}

/**
 * Robust fit with an intercept; when the intercept comes out negative (possible with noise on a
 * very short link) the fit is redone through the origin (rtt = 0). Null when ill-conditioned.
 */
function fitNonNegative(rows: FitRow[], cond: Conditioning): { intercept: number; slopes: number[]; rmsResidual: number } | null {
  const fit = robustWls(rows, true, cond);
  if (fit === null) return null;
  if (fit.intercept >= 0) return fit;
  const origin = robustWls(rows, false, cond);
  return origin === null ? null : { ...origin, intercept: 0 };
}
