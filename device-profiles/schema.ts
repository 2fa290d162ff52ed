/**
 * The zod schemas of the device-profile files (format 1): a board's CPU, RAM and network presets
 * (`<id>.json`), and the network presets shared by every board (`networks.json`). Every figure
 * carries its source, so a simulated result can be traced back to a datasheet, a published
 * benchmark, or an admitted assumption (which must say in a `note` how the value was derived).
 * Unknown keys are rejected everywhere (a typo such as "rttMS" must not silently fall back to
 * nothing); new figures are added as optional fields, and a change of meaning bumps `format`.
 */
import { z } from "zod";

/** A source: an http(s) address of a datasheet or benchmark, or the word "assumption". */
const Source = z.string().refine((s) => s === "assumption" || /^https?:\/\/\S+$/.test(s), {
  message: 'must be an http(s) URL of a datasheet or public benchmark, or "assumption" when none was found',
});

/**
 * A figure with its source; `note` says how the value was derived from the source. An assumption
 * without a note is rejected: the reasoning is the only thing that backs it.
 */
function sourced<T extends z.ZodType>(value: T) {
  return z.strictObject({ value, source: Source, note: z.string().min(1).optional() }).superRefine((f, ctx) => {
    if (f.source === "assumption" && f.note === undefined) {
      ctx.addIssue({ code: "custom", path: ["note"], message: 'is missing: an "assumption" needs a note saying how the value was derived' });
    }
  });
}

const PositiveInt = z.int().positive();
const Positive = z.number().positive();
const NonNegative = z.number().nonnegative();

/** A name: lowercase letters, digits and dashes (profile ids, which are also file names, and preset names). */
export const ProfileId = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: "must be lowercase letters, digits and dashes (e.g. pi4-4gb)" });

/** A network path from the device to a worker. */
export const NetworkPresetSchema = z.strictObject({
  /** Throughput from the device, megabits per second (10^6 bit/s). */
  upMbit: sourced(Positive),
  /** Throughput to the device, megabits per second. */
  downMbit: sourced(Positive),
  /** Round-trip time, milliseconds. */
  rttMs: sourced(NonNegative),
  /** Standard deviation of the one-way delay, milliseconds. */
  jitterMs: sourced(NonNegative),
  /** Share of packets lost, percent (0..100). */
  lossPct: sourced(z.number().min(0).max(100)),
  /** Where the worker is and what the link is (a LAN, a mobile network to a cloud region, ...). */
  description: z.string().min(1).optional(),
});

/** The presets every board gets from `networks.json`; a board file may override any of them. */
export const SHARED_PRESETS = ["ethernet", "wifi-good", "wifi-poor", "lte", "3g", "lte-m"] as const;

/** The zod schema of `networks.json`: the network presets shared by all boards. */
export const NetworksSchema = z.strictObject({
  format: z.literal(1),
  presets: z.record(ProfileId, NetworkPresetSchema).superRefine((r, ctx) => {
    const missing = SHARED_PRESETS.filter((n) => !Object.hasOwn(r, n));
    if (missing.length > 0) ctx.addIssue({ code: "custom", message: `is missing preset(s) ${missing.join(", ")}; every board relies on them` });
  }),
  /**
   * Former preset names kept so old commands still work (`"wifi": "wifi-good"`): they resolve to
   * their target but are not listed. A target must be a preset of this file.
   */
  aliases: z.record(ProfileId, ProfileId).optional(),
}).superRefine((n, ctx) => {
  for (const [alias, target] of Object.entries(n.aliases ?? {})) {
    if (!Object.hasOwn(n.presets, target)) ctx.addIssue({ code: "custom", path: ["aliases", alias], message: `points to "${target}", which is not a preset of this file` });
    if (Object.hasOwn(n.presets, alias)) ctx.addIssue({ code: "custom", path: ["aliases", alias], message: "is also a preset name; an alias must be a name of its own" });
  }
});

/** The zod schema of a device profile file. */
export const ProfileSchema = z.strictObject({
  format: z.literal(1),
  id: ProfileId,
  name: z.string().min(1),
  /** What exactly the profile models, when the name alone leaves it open (a class of boxes, a mode). */
  description: z.string().min(1).optional(),
  cpu: z.strictObject({
    /** Instruction set the board runs (what onnxruntime binaries it needs). */
    arch: z.enum(["arm64", "armv7", "x64"]),
    /** Core type(s), e.g. "Cortex-A72". */
    model: z.string().min(1),
    cores: sourced(PositiveInt),
    clockMHz: sourced(Positive),
    /**
     * Whole-CPU throughput relative to the reference board, a Raspberry Pi 4 Model B at 1.5 GHz
     * (= 1.0): a segment that takes t ms on the reference takes t / relativeSpeed here.
     */
    relativeSpeed: sourced(Positive),
  }),
  /** Physical memory, bytes. */
  ramBytes: sourced(PositiveInt),
  /**
   * The board's own network presets ("ethernet", ...), when its hardware differs from the shared
   * ones in networks.json (which it gets anyway); one of the same name wins. At least one if present.
   */
  network: z.record(ProfileId, NetworkPresetSchema).refine((r) => Object.keys(r).length > 0, { message: "must hold at least one preset (or leave network out)" }).optional(),
});

/** A profile file as written: its own presets only. */
export type ProfileFile = z.infer<typeof ProfileSchema>;
/** One network preset. */
export type NetworkPreset = z.infer<typeof NetworkPresetSchema>;
/** The parsed networks.json. */
export type NetworksFile = z.infer<typeof NetworksSchema>;
/**
 * A loaded device profile: the file with `network` holding every preset the board has, the shared
 * ones (in networks.json's order, the board's own of the same name in their place) and then the
 * board's extra ones. Aliases resolve as `network[alias]` but are not enumerated.
 */
export type DeviceProfile = Omit<ProfileFile, "network"> & { network: Record<string, NetworkPreset> };
/** A figure with its source. */
export interface Sourced<T> {
  value: T;
  source: string;
  note?: string;
}
