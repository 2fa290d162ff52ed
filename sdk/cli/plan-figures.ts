/**
 * The device and network figures `edgecut plan` predicts with, each with where it came from: an
 * explicit flag, a device profile (device-profiles/) and one of its network presets, or a
 * documented default. Flags win over the profile, the profile over the defaults.
 */
import { listProfiles, loadProfile, type DeviceProfile } from "../../device-profiles/index.js";
import { EdgecutError, fail } from "../errors.js";
import { parseDuration, parseRate, parseSize } from "../units.js";
import { parseNumber } from "./flags.js";

/**
 * FLOPs per ms the reference board (Raspberry Pi 4 Model B at 1.5 GHz, relativeSpeed 1.0) is
 * assumed to sustain running a segment with onnxruntime on its 4 cores: 2 GFLOP/s.
 * Source: "assumption". HPL measures about 8 GFLOP/s (fp64, 4 cores) on a Pi 4
 * (https://feiereisen.net/?page_id=924), near peak on large dense matrices; small-batch inference
 * reaches a fraction of that (memory-bound matmuls, per-operator overhead), so a quarter is
 * assumed. It only sizes segments not profiled yet: the agent replaces it with measured times,
 * and --flops-per-ms overrides it.
 */
export const REFERENCE_FLOPS_PER_MS = 2e6;

/** Figures used when neither a flag nor a profile gives one (all assumptions; see the CLI help). */
export const PLAN_DEFAULTS = {
  /** The reference board's speed (REFERENCE_FLOPS_PER_MS). */
  flopsPerMs: REFERENCE_FLOPS_PER_MS,
  /** 1 GiB free: a small board also running its OS and other services. */
  ramAvailableBytes: 2 ** 30,
  /** An idle CPU. */
  cpuLoad: 0,
  /** A home broadband uplink to a cloud region: 10 Mbit/s up, 50 Mbit/s down, 40 ms round trip. */
  upBitsPerSec: 10e6,
  downBitsPerSec: 50e6,
  rttMs: 40,
  /** The planner's own default (PlannerConfig.defaultCloudSpeedup). */
  cloudSpeedup: 4,
} as const;

/** A figure and its source: "flag --up", "profile pi4-4gb", "profile pi4-4gb, preset wifi" or "default". */
export interface Figure {
  value: number;
  source: string;
}

/** Every figure plan() needs from the device and the network. */
export interface DeviceFigures {
  flopsPerMs: Figure;
  ramAvailableBytes: Figure;
  /** Fraction 0..1 of the CPU busy with other work. */
  cpuLoad: Figure;
  upBitsPerSec: Figure;
  downBitsPerSec: Figure;
  rttMs: Figure;
  cloudSpeedup: Figure;
}

/** The flags resolveFigures reads (raw strings from commander). */
export interface FigureFlags {
  profile?: string; preset?: string; bandwidth?: string; up?: string; down?: string; rtt?: string;
  cpuLoad?: string; ramAvailable?: string; cloudSpeedup?: string; flopsPerMs?: string;
}

/** The figures, the profile and preset they came from (if any), and the names of those left at defaults. */
export interface ResolvedFigures {
  figures: DeviceFigures;
  profile: DeviceProfile | null;
  preset: string | null;
  defaults: (keyof DeviceFigures)[];
}

function positive(flag: string, v: string): number {
  const n = parseNumber(flag, v, { min: 0 });
  if (n === 0) throw fail("E_USAGE", `${flag} ${v}: expected a number > 0`);
  return n;
}

/** loadProfile, with an unknown id reported as E_PROFILE (the message lists the known ids). */
function profileOf(idOrPath: string): DeviceProfile {
  try {
    return loadProfile(idOrPath);
  } catch (e) {
    if (e instanceof EdgecutError && e.code === "E_USAGE") throw fail("E_PROFILE", `--profile ${idOrPath}: ${e.message}`, e);
    throw e;
  }
}

/**
 * Parses the figure flags (E_USAGE naming the flag and the form it takes), loads the profile
 * (E_PROFILE when unknown or invalid) and picks each figure's value: flag, then profile, then
 * default. The network comes from --preset, else the profile's first preset.
 */
export function resolveFigures(flags: FigureFlags): ResolvedFigures {
  const flag = (name: string, value: number): Figure => ({ value, source: `flag ${name}` });
  const bandwidth = flags.bandwidth === undefined ? undefined : flag("--bandwidth", parseRate(flags.bandwidth, "--bandwidth"));
  const up = flags.up === undefined ? bandwidth : flag("--up", parseRate(flags.up, "--up"));
  const down = flags.down === undefined ? bandwidth : flag("--down", parseRate(flags.down, "--down"));
  const rtt = flags.rtt === undefined ? undefined : flag("--rtt", parseDuration(flags.rtt, "--rtt"));
  let cpuLoad: Figure | undefined;
  if (flags.cpuLoad !== undefined) {
    const v = parseNumber("--cpu-load", flags.cpuLoad, { min: 0 });
    if (v > 1) throw fail("E_USAGE", `--cpu-load ${flags.cpuLoad}: expected the busy fraction of the CPU from 0 to 1, e.g. 0.5`);
    cpuLoad = flag("--cpu-load", v);
  }
  const ram = flags.ramAvailable === undefined ? undefined : flag("--ram-available", parseSize(flags.ramAvailable, "--ram-available"));
  const speedup = flags.cloudSpeedup === undefined ? undefined : flag("--cloud-speedup", positive("--cloud-speedup", flags.cloudSpeedup));
  const flops = flags.flopsPerMs === undefined ? undefined : flag("--flops-per-ms", positive("--flops-per-ms", flags.flopsPerMs));

  let profile: DeviceProfile | null = null;
  let preset: string | null = null;
  const fromProfile: Partial<DeviceFigures> = {};
  if (flags.profile !== undefined) {
    profile = profileOf(flags.profile);
    const names = Object.keys(profile.network);
    preset = flags.preset ?? names[0]!;
    const net = Object.hasOwn(profile.network, preset) ? profile.network[preset] : undefined;
    if (net === undefined) throw fail("E_USAGE", `--preset ${preset}: profile ${profile.id} has no such network preset; its presets are ${names.join(", ")}`);
    const src = `profile ${profile.id}`;
    const netSrc = `${src}, preset ${preset}`;
    Object.assign(fromProfile, {
      flopsPerMs: { value: REFERENCE_FLOPS_PER_MS * profile.cpu.relativeSpeed.value, source: `${src} (relativeSpeed ${profile.cpu.relativeSpeed.value} x the Pi 4 reference)` },
      ramAvailableBytes: { value: profile.ramBytes.value, source: `${src} (physical RAM)` },
      upBitsPerSec: { value: net.upMbit.value * 1e6, source: netSrc },
      downBitsPerSec: { value: net.downMbit.value * 1e6, source: netSrc },
      rttMs: { value: net.rttMs.value, source: netSrc },
    });
  } else if (flags.preset !== undefined) {
    throw fail("E_USAGE", `--preset ${flags.preset}: a network preset belongs to a device profile; add --profile <id|file> (known ids: ${listProfiles().join(", ")})`);
  }

  const given: Partial<DeviceFigures> = { flopsPerMs: flops, ramAvailableBytes: ram, cpuLoad, upBitsPerSec: up, downBitsPerSec: down, rttMs: rtt, cloudSpeedup: speedup };
  const defaults: (keyof DeviceFigures)[] = [];
  const pick = (name: keyof DeviceFigures): Figure => {
    const v = given[name] ?? fromProfile[name];
    if (v !== undefined) return v;
    defaults.push(name);
    return { value: PLAN_DEFAULTS[name], source: "default" };
  };
  const figures: DeviceFigures = {
    flopsPerMs: pick("flopsPerMs"), ramAvailableBytes: pick("ramAvailableBytes"), cpuLoad: pick("cpuLoad"),
    upBitsPerSec: pick("upBitsPerSec"), downBitsPerSec: pick("downBitsPerSec"), rttMs: pick("rttMs"), cloudSpeedup: pick("cloudSpeedup"),
  };
  return { figures, profile, preset, defaults };
}
