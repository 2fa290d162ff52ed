/**
 * SplitPolicy: hysteresis over successive plans, so the live split does not flap when
 * predictions hover around a tie or the inputs oscillate. Moving the split has a cost the
 * planner does not model (loading sessions, cold caches, the worker loading the new back), and
 * Neurosurgeon's and DADS's per-decision optimum would follow every wobble of the estimates.
 *
 * Rule: keep the current split k while it is feasible. Switch to the plan's best only when that
 * beats the current split by both minRelativeGain (of the current score) and minAbsoluteGainMs,
 * in `confirmations` consecutive decisions (the target is the latest best; a decision where the
 * current split is best, or no candidate clears the bar, resets the count). An oscillating input
 * that alternates "switch" and "stay" therefore never switches. When the current split becomes
 * infeasible (memory, privacy, cloud down) the switch is immediate: safety does not wait.
 * "queue" and "fail" plans are passed through without changing the current split, so the agent
 * goes back to it when the cloud returns.
 */
import { parseSplitPolicyConfig, type SplitPolicyConfig, type SplitPolicyConfigInput } from "./config.js";
import { objectiveScoreMs } from "./plan.js";
import type { Plan, PlanAction } from "./types.js";

/** One decision of SplitPolicy. */
export interface PolicyDecision {
  /** The split to run at (null when the action is "fail", or before any feasible plan). */
  k: number | null;
  action: PlanAction;
  /** True when k changed in this decision. */
  switched: boolean;
  /** Why, for logs and /v1/status. */
  reason: string;
  /** Consecutive decisions in which a better split cleared the bar (0 when none). */
  pending: number;
}

/** Keeps the current split and switches with hysteresis (see the module comment). */
export class SplitPolicy {
  /** The validated configuration. */
  readonly config: SplitPolicyConfig;
  private k: number | null = null;
  private streak = 0;
  private streakStart: number | undefined;

  constructor(config: SplitPolicyConfigInput = {}) {
    this.config = parseSplitPolicyConfig(config);
  }

  /** The split in use, or null before the first feasible plan. */
  get current(): number | null {
    return this.k;
  }

  /** Forgets the current split (after a model change: split points of another manifest mean nothing). */
  reset(): void {
    this.k = null;
    this.streak = 0;
  }

  /** Takes a fresh plan and returns the split to run at. */
  decide(p: Plan, now?: number): PolicyDecision {
    if (p.action === "queue" || p.action === "fail") {
      this.streak = 0;
      return { k: p.best, action: p.action, switched: false, reason: p.reason ?? p.action, pending: 0 };
    }
    const best = p.best!;
    const action = (k: number): PlanAction => (k === p.rows.length - 1 ? "local" : "offload");
    const adopt = (reason: string): PolicyDecision => {
      const switched = this.k !== best;
      this.k = best;
      this.streak = 0;
      return { k: best, action: action(best), switched, reason, pending: 0 };
    };
    if (this.k === null) return adopt(`first plan: k = ${best}`);
    const cur = p.rows[this.k];
    if (cur === undefined) return adopt(`the plan has no row k = ${this.k} (model changed?): k = ${best}`);
    if (!cur.feasible) return adopt(`k = ${this.k} is infeasible (${cur.reason ?? "?"}): k = ${best} at once`);
    const stay = (reason: string): PolicyDecision => ({ k: this.k, action: action(this.k!), switched: false, reason, pending: this.streak });
    if (best === this.k) {
      this.streak = 0;
      return stay(`k = ${best} is still the best`);
    }
    const curScore = objectiveScoreMs(cur, p.objective);
    const bestScore = objectiveScoreMs(p.rows[best]!, p.objective);
    const gain = curScore - bestScore;
    const { minRelativeGain, minAbsoluteGainMs, confirmations } = this.config;
    // Infinity - Infinity is NaN: a current row with an infinite score is beaten by any finite one.
    const clears = (curScore === Number.POSITIVE_INFINITY && bestScore < curScore) || (gain >= minAbsoluteGainMs && gain >= minRelativeGain * curScore);
    if (!clears) {
      this.streak = 0;
      return stay(`k = ${best} gains ${gain.toFixed(2)} ms over k = ${this.k}: below the bar (${minAbsoluteGainMs} ms and ${minRelativeGain * 100}%)`);
    }
    if (this.streak++ === 0) this.streakStart = now;
    // A move toward the device (larger k) must also last confirmMs: it is what a passing spike on the
    // link (a handover) asks for, and the agent decides after every request, so a burst of requests
    // would confirm it in a moment. A move toward the cloud (the link is better) needs only the
    // decisions: in the simulator's scenarios waiting there cost more than it saved.
    const lasted = now === undefined || this.streakStart === undefined || best < this.k! || now - this.streakStart >= this.config.confirmMs;
    if (this.streak >= confirmations && lasted) return adopt(`k = ${best} beat k = ${this.k} by ${gain.toFixed(2)} ms in ${confirmations} decisions in a row`);
    return stay(`k = ${best} beats k = ${this.k} by ${gain.toFixed(2)} ms (${this.streak}/${confirmations})`);
  }
}
