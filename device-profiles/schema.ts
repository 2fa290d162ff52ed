/**
 * The zod schema of a device profile (format 1): a board's CPU, RAM and network presets, where every
 * figure carries its source, so a simulated result can be traced back to a datasheet, a published
 * benchmark, or an admitted assumption. Unknown keys are rejected everywhere (a typo such as
 * "rttMS" must not silently fall back to nothing); new figures are added as optional fields, and a
 * change of meaning bumps `format`.
 */
import { z } from "zod";

/** A source: an http(s) address of a datasheet or benchmark, or the word "assumption". */
const Source = z.string().refine((s) => s === "assumption" || /^https?:\/\/\S+$/.test(s), {
  message: 'must be an http(s) URL of a datasheet or public benchmark, or "assumption" when none was found',
});

/** A figure with its source; `note` says how the value was derived from the source. */
function sourced<T extends z.ZodType>(value: T) {
  return z.strictObject({ value, source: Source, note: z.string().min(1).optional() });
}

const PositiveInt = z.int().positive();
const Positive = z.number().positive();
const NonNegative = z.number().nonnegative();

/** A network path from the device to a cloud worker. */
const NetworkPresetSchema = z.strictObject({
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
  description: z.string().min(1).optional(),
});

/** A profile id: lowercase letters, digits and dashes; also the file name without `.json`. */
export const ProfileId = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: "must be lowercase letters, digits and dashes (e.g. pi4-4gb)" });

/** The zod schema of a device profile file. */
export const ProfileSchema = z.strictObject({
  format: z.literal(1),
  id: ProfileId,
  name: z.string().min(1),
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
  /** Named network presets ("ethernet", "wifi", ...); at least one. */
  network: z.record(ProfileId, NetworkPresetSchema).refine((r) => Object.keys(r).length > 0, { message: "must hold at least one preset" }),
});

/** A parsed, checked device profile. */
export type DeviceProfile = z.infer<typeof ProfileSchema>;
/** One network preset of a profile. */
export type NetworkPreset = z.infer<typeof NetworkPresetSchema>;
/** A figure with its source. */
export interface Sourced<T> {
  value: T;
  source: string;
  note?: string;
}
