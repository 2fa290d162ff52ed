/**
 * Configuration of the network estimator, validated with zod. Every field has a default, so
 * `parseNetworkConfig({})` gives a working estimator.
 */
import { z } from "zod";
import { fail } from "../../sdk/errors.js";

/** The zod schema of NetworkEstimatorConfig (unknown keys rejected). */
export const NetworkEstimatorConfigSchema = z.strictObject({
  /** Round trips kept for the fit (the newest ones). */
  window: z.int().min(4).max(1024).default(32),
  /**
   * Half-life of a sample's weight, counted in newer samples. 6 means the fit follows a changed
   * link after a handful of round trips while 32 samples still average out jitter.
   */
  halfLifeSamples: z.number().positive().default(8),
  /** Newest samples that, all off the fit the same way, mean the link changed (see estimator.ts). */
  shiftRun: z.int().min(2).default(3),
  /** Probe when nothing was sent or received for this long (ms), so a recovered link is noticed. */
  probeIntervalMs: z.number().positive().default(10_000),
  /** Probe period (ms) while a change of the link is suspected or just taken and not yet sized. */
  confirmProbeMs: z.number().positive().default(1000),
  /** Bytes of a small probe (measures RTT). */
  smallProbeBytes: z.int().positive().default(64),
  /** Bytes of a large probe (measures bandwidth when real traffic is all one size). */
  largeProbeBytes: z.int().positive().default(64 * 1024),
  /** Consecutive failed round trips (timeouts) after which the cloud counts as unreachable. */
  failuresUntilDown: z.int().positive().default(2),
  /** Fit up and down bandwidth apart when up and down sizes vary independently enough. */
  separateUpDown: z.boolean().default(true),
  /**
   * Message sizes in the window must vary by this coefficient of variation before RTT and
   * bandwidth are fitted apart (0.25: sizes spread by about a quarter of their mean).
   */
  minSizeCv: z.number().positive().default(0.25),
  /** Up and down sizes correlated beyond this are fitted as one total bandwidth. */
  maxUpDownCorrelation: z.number().positive().lt(1).default(0.9),
  /** Effective samples for full confidence. */
  samplesForConfidence: z.number().positive().default(8),
  /** Used before any usable fit: a guess of the RTT (ms). */
  priorRttMs: z.number().nonnegative().default(50),
  /** Used before any usable fit: a guess of the bandwidth, both ways (bytes/s). */
  priorBytesPerSec: z.number().positive().default(1_000_000),
  /** Fitted bandwidth is capped here: on a fast link the per-byte time vanishes in the noise. */
  maxBytesPerSec: z.number().positive().default(10e9),
});

/** Estimator configuration with defaults filled in. */
export type NetworkEstimatorConfig = z.infer<typeof NetworkEstimatorConfigSchema>;
/** What a caller may pass: any subset of the fields. */
export type NetworkEstimatorConfigInput = z.input<typeof NetworkEstimatorConfigSchema>;

/** Validates a configuration; E_USAGE naming the bad field. */
export function parseNetworkConfig(input: unknown): NetworkEstimatorConfig {
  const r = NetworkEstimatorConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail("E_USAGE", `network estimator config: ${issue.path.map(String).join(".") || "(top level)"}: ${issue.message}`);
  }
  return r.data;
}
