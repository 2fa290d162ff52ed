/**
 * Decision rules of the agent that the virtual-time simulator (device-profiles/sim/agent-sim.ts)
 * must apply exactly as agent.ts does: kept here, pure, so the two cannot drift apart.
 */
import type { Plan } from "../planner/types.js";

/**
 * Per-attempt timeout of an offload (ms): three times what the plan predicts for the round trip
 * and the worker plus 250 ms, at least 250 ms, so a worker that stopped answering is noticed in a
 * fraction of a second rather than after the configured maximum. The first request at a split
 * point (`answeredBefore` false) gets the maximum: the worker may have to load its sessions.
 */
export function attemptTimeoutMs(plan: Plan | null, k: number, maxMs: number, answeredBefore = true, policyName?: string): number {
  const row = plan?.rows[k];
  // Short only where it pays: when the request can run all-local instead. A request that must go
  // through the cloud gets the full time (a link slower than predicted is still a link).
  if (!canFallBackLocal(plan, policyName)) return maxMs;
  if (!answeredBefore || row === undefined || !Number.isFinite(row.predicted.totalMs)) return maxMs;
  const remote = row.predicted.totalMs - row.predicted.localMs;
  return Math.round(Math.min(maxMs, Math.max(250, 3 * remote + 250)));
}

/**
 * Retries of an offload: none when the request can fall back to all-local (running here beats
 * waiting out another timeout of a worker that did not answer), else the configured ones.
 */
export function offloadRetries(plan: Plan | null, configured: number, policyName?: string): number {
  return canFallBackLocal(plan, policyName) ? 0 : configured;
}

/**
 * True when the request whose offload failed may run all-local now: the all-local row is feasible
 * and the policy may move (a "static" policy never runs another split than its own).
 */
export function canFallBackLocal(plan: Plan | null, policyName?: string): boolean {
  if (policyName === "static") return false;
  const local = plan?.rows[plan.rows.length - 1];
  return local !== undefined && local.feasible;
}

/**
 * Whether an idle probe is due. `needsProbe`: the estimator's own rule (no round trip for its
 * interval, or sooner to confirm a suspected change); the agent's backoff doubles the interval with
 * each probe since the last request (metered links), up to 16x, but never while the cloud is
 * believed down or the estimator wants a confirmation.
 */
export function probeDue(o: { now: number; lastProbeAt: number; idleProbes: number; needsProbe: boolean; urgent: boolean; reachable: boolean; probeIntervalMs: number }): boolean {
  if (!o.needsProbe) return false;
  if (o.urgent || !o.reachable) return true;
  return o.now - o.lastProbeAt >= o.probeIntervalMs * 2 ** Math.min(o.idleProbes, 4);
}

/**
 * A probe's timeout (ms): a few times what the estimate predicts for its bytes both ways, at least
 * 1 s, at most `maxMs`: a probe of a cloud believed down should fail fast, as it is repeated.
 */
export function probeTimeoutMs(est: { rttMs: number; upBytesPerSec: number; downBytesPerSec: number; consecutiveFailures: number }, bytes: number, maxMs: number): number {
  const predicted = est.rttMs + (1000 * bytes) / est.upBytesPerSec + (1000 * bytes) / est.downBytesPerSec;
  // Doubled with each failure in a row: a link that came back slower than the old estimate says
  // is still seen after a few probes, while one back at its old speed is seen at the first.
  const grow = 2 ** Math.min(Math.max(0, est.consecutiveFailures - 1), 10);
  return Math.round(Math.min(maxMs, Math.max(1000, 3 * predicted + 500) * grow));
}
