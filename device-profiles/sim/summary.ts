/** The summary row of one policy over a run (SimSummaryRow), and comparing two policies fairly. */
import type { SimOutcome, SimSummaryRow } from "./types.js";

/** The q-quantile of sorted values (nearest rank), as the agent's telemetry computes it. */
function quantile(sorted: readonly number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * Mean and p95 of the requests that ran (NaN when none did: JSON null), split changes between
 * consecutive requests that ran, bytes sent, requests failed.
 */
export function summarize(outcomes: readonly SimOutcome[]): SimSummaryRow {
  const ms = outcomes.filter((o) => o.latencyMs !== null).map((o) => o.latencyMs!);
  const sorted = [...ms].sort((a, b) => a - b);
  let switches = 0;
  let prev: number | null = null;
  for (const o of outcomes) {
    if (o.split === null || o.outcome !== "ok") continue;
    if (prev !== null && o.split !== prev) switches++;
    prev = o.split;
  }
  return {
    meanMs: ms.length === 0 ? Number.NaN : ms.reduce((a, b) => a + b, 0) / ms.length,
    p95Ms: ms.length === 0 ? Number.NaN : quantile(sorted, 0.95),
    switches,
    bytesUp: outcomes.reduce((a, o) => a + o.bytesUp, 0),
    failed: outcomes.length - ms.length,
  };
}

/**
 * True when `a` is at least as good as `b`: fewer failed requests, or as many and a mean latency
 * no higher (within a relative 1e-9: sums in another order differ in the last bits). A policy
 * cannot look better by failing its slow requests.
 */
export function atLeastAsGood(a: SimSummaryRow, b: SimSummaryRow): boolean {
  if (a.failed !== b.failed) return a.failed < b.failed;
  if (Number.isNaN(a.meanMs)) return Number.isNaN(b.meanMs);
  return Number.isNaN(b.meanMs) || a.meanMs <= b.meanMs * (1 + 1e-9);
}
