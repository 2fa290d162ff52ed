/**
 * Scenario files (device-profiles/scenarios/<name>.json, format 1): what happens to the device,
 * its link and the cloud during a simulated run, as a timeline of events over a network preset.
 *
 * ```jsonc
 * {
 *   "format": 1,
 *   "name": "bandwidth-drop",              // = the file name
 *   "description": "…",
 *   "preset": "wifi-good",                 // the network the run starts from (`--preset` overrides)
 *   "durationMs": "300s",                  // a number of ms, or a duration: "300s", "1500ms"
 *   "interArrivalMs": "1s",                // one request every …, from t = 0
 *   "cloudSpeedup": 4,                     // worker speed over the device's idle profile (default 4)
 *   "cloudQueueMs": 0,                     // queueing at the worker per request (default 0)
 *   "holdTimeoutMs": "120s",               // a request held for the cloud fails after this (default 120 s)
 *   "computeNoisePct": 3,                  // std. dev. of compute times, % (default 3)
 *   "ramAvailableFraction": 0.8,           // RAM free for the model when no event sets it, share of the board's
 *   "events": [
 *     { "from": "60s", "to": "180s", "upMbit": 1, "downMbit": 2, "note": "the uplink drops" }
 *   ]
 * }
 * ```
 *
 * An event holds from `from` (inclusive) to `to` (exclusive; absent: to the end), or repeats every
 * `repeat.every` until `repeat.until` (default the end). Active events apply in file order over the
 * preset's figures: `upMbit`, `downMbit`, `rttMs`, `jitterMs`, `lossPct`, `cpuLoadPercent` (other
 * work on the device's CPU, 0..100), `ramAvailableBytes` (bytes or "96mb": what the model's
 * sessions may use, before the planner's margin) and `cloudUp` set a figure; `bandwidthScale`
 * multiplies up and down, `rttAddMs` adds to the RTT (a spike). Unknown keys are errors.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { fail } from "../../sdk/errors.js";
import { parseDuration, parseSize } from "../../sdk/units.js";
import { fieldPath } from "../../sdk/validation.js";

/** The folder of the shipped scenarios. */
export const SCENARIOS_DIR = path.join(import.meta.dirname, "..", "scenarios");

/** Milliseconds: a number, or a duration with a unit ("60s", "1500ms"). */
const Ms = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx): number => {
  if (typeof v === "number") return v;
  try {
    return parseDuration(v);
  } catch {
    ctx.addIssue({ code: "custom", message: `"${v}" is not a duration: give ms as a number, or a number with us, ms or s ("60s", "1500ms")` });
    return z.NEVER;
  }
});

/** Bytes: an integer, or a size with a binary unit ("96mb" = 96 MiB). */
const Bytes = z.union([z.int().nonnegative(), z.string()]).transform((v, ctx): number => {
  if (typeof v === "number") return v;
  try {
    return parseSize(v);
  } catch {
    ctx.addIssue({ code: "custom", message: `"${v}" is not a size: give bytes as an integer, or a number with b, kb, mb, gb (binary: "96mb" = 96 MiB)` });
    return z.NEVER;
  }
});

const Positive = z.number().positive();
const Percent = z.number().min(0).max(100);

/** The condition fields an event may set (see the module comment). */
const CONDITION_KEYS = ["upMbit", "downMbit", "bandwidthScale", "rttMs", "rttAddMs", "jitterMs", "lossPct", "cpuLoadPercent", "ramAvailableBytes", "cloudUp"] as const;

/** The zod schema of one timeline event. */
export const ScenarioEventSchema = z.strictObject({
  from: Ms,
  to: Ms.optional(),
  /** Repeat the [from, to) window every `every` ms until `until` (default: the end of the run). */
  repeat: z.strictObject({ every: Ms.pipe(z.number().positive()), until: Ms.optional() }).optional(),
  upMbit: Positive.optional(),
  downMbit: Positive.optional(),
  bandwidthScale: Positive.optional(),
  rttMs: z.number().nonnegative().optional(),
  rttAddMs: z.number().nonnegative().optional(),
  jitterMs: z.number().nonnegative().optional(),
  lossPct: Percent.optional(),
  cpuLoadPercent: Percent.optional(),
  ramAvailableBytes: Bytes.optional(),
  cloudUp: z.boolean().optional(),
  /** What the event stands for (shown nowhere; for readers of the file). */
  note: z.string().optional(),
})
  .refine((e) => CONDITION_KEYS.some((k) => e[k] !== undefined), { message: `an event must set at least one of ${CONDITION_KEYS.join(", ")}` })
  .refine((e) => e.to === undefined || e.to > e.from, { message: "to must be after from", path: ["to"] })
  .refine((e) => e.repeat === undefined || e.to !== undefined, { message: "a repeating event needs to (its window is [from, to))", path: ["repeat"] })
  .refine((e) => e.repeat === undefined || e.to === undefined || e.repeat.every >= e.to - e.from, {
    message: "repeat.every must be at least the window's length (to - from): windows must not overlap", path: ["repeat", "every"],
  });

/** The zod schema of a scenario file. */
export const ScenarioSchema = z.strictObject({
  format: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: "must be lowercase letters, digits and dashes (e.g. bandwidth-drop)" }),
  description: z.string().min(1),
  /** The network preset the run starts from (a shared preset, or one of the profile's). */
  preset: z.string().min(1),
  durationMs: Ms.pipe(z.number().positive()),
  interArrivalMs: Ms.pipe(z.number().positive()),
  cloudSpeedup: Positive.default(4),
  cloudQueueMs: z.number().nonnegative().default(0),
  holdTimeoutMs: Ms.default(120_000),
  computeNoisePct: z.number().min(0).max(50).default(3),
  ramAvailableFraction: z.number().gt(0).max(1).default(0.8),
  events: z.array(ScenarioEventSchema).default([]),
}).refine((s) => s.interArrivalMs <= s.durationMs, { message: "interArrivalMs must not exceed durationMs (the run would hold one request)", path: ["interArrivalMs"] });

/** A checked scenario (durations in ms, sizes in bytes, defaults filled). */
export type Scenario = z.infer<typeof ScenarioSchema>;
/** One checked event. */
export type ScenarioEvent = z.infer<typeof ScenarioEventSchema>;
/** What a scenario file may hold (before defaults and unit parsing). */
export type ScenarioInput = z.input<typeof ScenarioSchema>;

/**
 * Checks a scenario (parsed JSON); `where` names it in errors. E_USAGE naming the place, the
 * field path and what is wrong.
 */
export function parseScenario(json: unknown, where: string): Scenario {
  const r = ScenarioSchema.safeParse(json, { reportInput: true });
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const detail = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`
    : issue.code === "invalid_type" && issue.input === undefined ? `is missing (${issue.message})` : issue.message;
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s))` : "";
  throw fail("E_USAGE", `scenario ${where}: ${fieldPath(issue.path)}: ${detail}${more}; see device-profiles/sim/scenario.ts for the format`);
}

/** Reads and checks a scenario file. E_USAGE when it cannot be read, is not JSON or fails the schema. */
export function readScenarioFile(file: string): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw fail("E_USAGE", `cannot read scenario ${file}: ${(e as Error).message}`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail("E_USAGE", `scenario ${file} is not valid JSON (${(e as Error).message}); fix the file`, e);
  }
  return parseScenario(json, file);
}

/** Names of the shipped scenarios, sorted. */
export function listScenarios(): string[] {
  return fs.readdirSync(SCENARIOS_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
}

/**
 * A scenario by name (a shipped `device-profiles/scenarios/<name>.json`) or by path (anything with
 * a slash or ending in .json). A shipped file's `name` must equal its file name. E_USAGE for an
 * unknown name (listing the known ones) or a bad file.
 */
export function loadScenario(nameOrPath: string): Scenario {
  const isPath = nameOrPath.includes("/") || nameOrPath.includes("\\") || nameOrPath.endsWith(".json");
  if (!isPath) {
    const file = path.join(SCENARIOS_DIR, `${nameOrPath}.json`);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(nameOrPath) || !fs.existsSync(file)) {
      throw fail("E_USAGE", `no scenario "${nameOrPath}"; shipped: ${listScenarios().join(", ")} (or give a .json file, or trace:<file> to replay telemetry)`);
    }
    const s = readScenarioFile(file);
    if (s.name !== nameOrPath) throw fail("E_USAGE", `scenario ${file}: name: is "${s.name}" but the file is named "${nameOrPath}.json"; rename one so they match`);
    return s;
  }
  return readScenarioFile(path.resolve(nameOrPath));
}
