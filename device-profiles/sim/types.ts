/**
 * The simulator's result: what `edgecut simulate --json` prints and what the HTML report
 * (device-profiles/report/) draws. Times are virtual milliseconds from the scenario's start.
 * Format 1; fields are only ever added.
 */

/** A policy compared in a run: the agent's (by its name) and the baselines. */
export type BaselineName = "all-local" | "all-cloud" | "best-static" | "oracle";

/** Where one request's time went (ms). */
export interface SimBreakdown {
  /** Front segments on the device (with the device's load at the time). */
  deviceMs: number;
  /** Encoding, transfer up and down, and the round trip. */
  transferMs: number;
  /** Back segments on the worker, with its queueing. */
  cloudMs: number;
}

/** One request under one policy. */
export interface SimOutcome {
  /** The split point it ran at, or null when it could not run. */
  split: number | null;
  /** End-to-end latency (ms) including any wait (held while the cloud was down); null when it failed. */
  latencyMs: number | null;
  outcome: "ok" | "failed";
  /** The error code when outcome is "failed" (E_NO_SPLIT, E_TIMEOUT, ...). */
  code?: string;
  breakdown?: SimBreakdown;
  bytesUp: number;
}

/** The conditions at one moment of the scenario. */
export interface SimConditions {
  upMbit: number;
  downMbit: number;
  rttMs: number;
  lossPct: number;
  /** Other work on the device's CPU, 0..100. */
  cpuLoadPercent: number;
  ramAvailableBytes: number;
  /** False during a cloud outage. */
  cloudUp: boolean;
}

/** One request of the run: when it was issued, the conditions then, and each policy's outcome. */
export interface SimRequest {
  i: number;
  /** Virtual time it was issued (ms). */
  t: number;
  conditions: SimConditions;
  /** By policy name: the adaptive policy under test (meta.policy) and every baseline. */
  outcomes: Record<string, SimOutcome>;
}

/** Aggregates of one policy over the run. */
export interface SimSummaryRow {
  /** Mean and 95th percentile latency (ms) of the requests that ran. */
  meanMs: number;
  p95Ms: number;
  /** Changes of split point. */
  switches: number;
  /** Bytes sent to the cloud in all. */
  bytesUp: number;
  /** Requests that failed (none can run, a timeout). */
  failed: number;
}

/** The cost of every split point in the scenario's first conditions (for the stacked bars). */
export interface SimSplitCost {
  split: number;
  /** False when it cannot run then (memory, privacy, cloud); its costs are still shown. */
  feasible: boolean;
  breakdown: SimBreakdown;
  totalMs: number;
}

/** The whole result (format 1). */
export interface SimResult {
  meta: {
    format: 1;
    seed: number;
    gitSha: string;
    profile: string;
    /** The network preset the scenario starts from. */
    preset: string;
    scenario: string;
    /** The adaptive policy's name (its outcomes are under this key, and under "adaptive" in summary). */
    policy: string;
    model: string;
    segments: number;
    /** Virtual duration (ms) and request count. */
    durationMs: number;
    requests: number;
    /** "virtual" (discrete-event, deterministic) or "live" (real agent, broker, worker; noisy). */
    mode: "virtual" | "live";
  };
  summary: { adaptive: SimSummaryRow } & Record<BaselineName, SimSummaryRow> & { adaptiveOverOracle: number };
  splits: SimSplitCost[];
  /** Bandwidth/RTT/load/cloud timeline of the scenario, as steps (for the plots). */
  timeline: { t: number; conditions: SimConditions }[];
  requests: SimRequest[];
}
