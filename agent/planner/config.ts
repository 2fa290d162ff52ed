/**
 * Configuration of the split planner and of SplitPolicy's hysteresis, validated with zod. Every
 * field has a default, so `parsePlannerConfig({})` plans for latency with no privacy rule.
 */
import { z } from "zod";
import { fail } from "../../sdk/errors.js";

/** What the planner optimises (see plan.ts). */
export const ObjectiveSchema = z.enum(["latency", "throughput"]);
/** "latency": one request at a time, minimise its end-to-end time. "throughput": a stream, maximise requests/s. */
export type Objective = z.infer<typeof ObjectiveSchema>;

/** The zod schema of PlannerConfig (unknown keys rejected). */
export const PlannerConfigSchema = z.strictObject({
  objective: ObjectiveSchema.default("latency"),
  /** RAM kept free for the OS, the agent and the activations: the front's memory must fit in available - margin. */
  ramMarginBytes: z.int().nonnegative().default(64 * 1024 * 1024),
  /** Model inputs that must never leave the device (e.g. "input_ids"). */
  privateInputs: z.array(z.string().min(1)).default([]),
  /** Segments that must run on the device before anything goes to the cloud (0: no rule). */
  minSegmentsBeforeCloud: z.int().nonnegative().default(0),
  /** With the cloud unreachable and all-local not fitting: queue requests until it is back, or fail them fast. */
  onCloudDown: z.enum(["local-or-queue", "local-or-fail"]).default("local-or-queue"),
  /** Encoding the request and decoding the reply, ms per byte (default 2e-6: 0.5 GB/s, a memcpy-class codec). */
  codecMsPerByte: z.number().nonnegative().default(2e-6),
  /** CPU load above this fraction is treated as this fraction: the load factor 1/(1-load) stays finite (10x at 0.9). */
  maxCpuLoad: z.number().min(0).lt(1).default(0.9),
  /** Cloud speed over the device's idle profile, for segments the worker has not reported yet. */
  defaultCloudSpeedup: z.number().positive().default(4),
});

/** Planner configuration with defaults filled in. */
export type PlannerConfig = z.infer<typeof PlannerConfigSchema>;
/** What a caller may pass: any subset of the fields. */
export type PlannerConfigInput = z.input<typeof PlannerConfigSchema>;

/** The zod schema of SplitPolicyConfig (unknown keys rejected). */
export const SplitPolicyConfigSchema = z.strictObject({
  /** A new split must beat the current one by this fraction of the current score... */
  minRelativeGain: z.number().nonnegative().default(0.1),
  /** ...and by this many ms (score: latency ms, or ms per request for throughput). */
  minAbsoluteGainMs: z.number().nonnegative().default(2),
  /** ...in this many consecutive decisions... */
  confirmations: z.int().positive().default(3),
  /** ...spanning at least this many ms for a move toward the device (when the caller gives decide() the time). */
  confirmMs: z.number().nonnegative().default(5000),
});

/** SplitPolicy configuration with defaults filled in. */
export type SplitPolicyConfig = z.infer<typeof SplitPolicyConfigSchema>;
/** What a caller may pass: any subset of the fields. */
export type SplitPolicyConfigInput = z.input<typeof SplitPolicyConfigSchema>;

function parseWith<S extends z.ZodType>(schema: S, what: string, input: unknown): z.infer<S> {
  const r = schema.safeParse(input ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail("E_USAGE", `${what}: ${issue.path.map(String).join(".") || "(top level)"}: ${issue.message}`);
  }
  return r.data;
}

/** Validates a planner configuration; E_USAGE naming the bad field. */
export function parsePlannerConfig(input: unknown): PlannerConfig {
  return parseWith(PlannerConfigSchema, "planner config", input);
}

/** Validates a SplitPolicy configuration; E_USAGE naming the bad field. */
export function parseSplitPolicyConfig(input: unknown): SplitPolicyConfig {
  return parseWith(SplitPolicyConfigSchema, "split policy config", input);
}
