/**
 * Split policies behind one interface, so the agent (config `policy.name`, CLI `--policy`) and the
 * simulator can swap them and compare them on the same inputs:
 *
 * - "hysteresis" (default): SplitPolicy (policy.ts): follows the plan's best with a gain bar and
 *   confirmations, never flaps.
 * - "greedy": the plan's best every decision (Neurosurgeon's per-request optimum); a baseline that
 *   shows what hysteresis saves.
 * - "static": always the configured split while it is feasible, never silently another one: with
 *   the cloud down (its only problem) requests are held ("queue": queued jobs wait in the outbox,
 *   direct ones get E_NO_SPLIT); when it breaks any other rule (memory, privacy) it "fail"s.
 */
import { fail } from "../../sdk/errors.js";
import { SplitPolicyConfigSchema } from "./config.js";
import { SplitPolicy, type PolicyDecision } from "./policy.js";
import type { Plan, PlanAction } from "./types.js";
import { z } from "zod";

/** What every policy offers. */
export interface SplitPolicyLike {
  /** The policy's name ("hysteresis", "greedy", "static", or a plug-in's). */
  readonly name: string;
  /** The split in use, or null before the first feasible plan. */
  readonly current: number | null;
  /** Takes a fresh plan, returns the split to run at. */
  decide(plan: Plan, now?: number): PolicyDecision;
  /** Forgets the current split (after a model change). */
  reset(): void;
}

/** The zod schema of the `policy` configuration. */
export const PolicyConfigSchema = SplitPolicyConfigSchema.extend({
  name: z.enum(["hysteresis", "greedy", "static"]).default("hysteresis"),
  /** The split point of the "static" policy. */
  split: z.int().nonnegative().optional(),
}).refine((c) => c.name !== "static" || c.split !== undefined, { message: 'the "static" policy needs "split" (the split point to hold)', path: ["split"] });

/** Policy configuration with defaults filled in. */
export type PolicyConfig = z.infer<typeof PolicyConfigSchema>;
/** What a caller may pass. */
export type PolicyConfigInput = z.input<typeof PolicyConfigSchema>;

const action = (p: Plan, k: number): PlanAction => (k === p.rows.length - 1 ? "local" : "offload");

/** The plan's best, every time. */
class GreedyPolicy implements SplitPolicyLike {
  readonly name = "greedy";
  private k: number | null = null;
  get current(): number | null { return this.k; }
  reset(): void { this.k = null; }
  decide(p: Plan): PolicyDecision {
    if (p.action === "queue" || p.action === "fail") return { k: p.best, action: p.action, switched: false, reason: p.reason ?? p.action, pending: 0 };
    const switched = this.k !== p.best;
    this.k = p.best;
    return { k: p.best, action: action(p, p.best!), switched, reason: `greedy: the plan's best is k = ${p.best}`, pending: 0 };
  }
}

/** One split, held. */
class StaticPolicy implements SplitPolicyLike {
  readonly name = "static";
  private k: number | null = null;
  constructor(private readonly split: number) {}
  get current(): number | null { return this.k; }
  reset(): void { this.k = null; }
  decide(p: Plan): PolicyDecision {
    const row = p.rows[this.split];
    if (row === undefined) {
      return { k: null, action: "fail", switched: false, reason: `static split ${this.split} does not exist: the model has split points 0..${p.rows.length - 1}`, pending: 0 };
    }
    if (!row.feasible) {
      const cloudOnly = row.reason === "the cloud is unreachable";
      // Only the cloud being down is worth waiting for; any other rule the split breaks stays broken.
      const act: PlanAction = cloudOnly && p.action !== "fail" ? "queue" : "fail";
      return { k: cloudOnly ? this.split : null, action: act, switched: false, reason: `static split ${this.split} cannot run now: ${row.reason ?? "infeasible"}`, pending: 0 };
    }
    const switched = this.k !== this.split;
    this.k = this.split;
    return { k: this.split, action: action(p, this.split), switched, reason: `static: k = ${this.split} (configured)`, pending: 0 };
  }
}

/** Hysteresis policy under the common interface. */
class HysteresisPolicy implements SplitPolicyLike {
  readonly name = "hysteresis";
  private readonly inner: SplitPolicy;
  constructor(config: PolicyConfig) {
    this.inner = new SplitPolicy({ minRelativeGain: config.minRelativeGain, minAbsoluteGainMs: config.minAbsoluteGainMs, confirmations: config.confirmations, confirmMs: config.confirmMs });
  }
  get current(): number | null { return this.inner.current; }
  reset(): void { this.inner.reset(); }
  decide(p: Plan, now?: number): PolicyDecision { return this.inner.decide(p, now); }
}

/** Makes the configured policy; E_USAGE naming the bad field. */
export function createPolicy(input: PolicyConfigInput | PolicyConfig = {}): SplitPolicyLike {
  const r = PolicyConfigSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail("E_USAGE", `policy config: ${issue.path.map(String).join(".") || "(top level)"}: ${issue.message}`);
  }
  const c = r.data;
  if (c.name === "greedy") return new GreedyPolicy();
  if (c.name === "static") return new StaticPolicy(c.split!);
  return new HysteresisPolicy(c);
}

/** The names createPolicy knows. */
export const POLICY_NAMES = ["hysteresis", "greedy", "static"] as const;
