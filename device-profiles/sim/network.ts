/**
 * The simulator's view of a board and its network: plain figures taken from a device profile and
 * a network preset (their sources stay in the profile files).
 */
import { fail } from "../../sdk/errors.js";
import type { DeviceProfile, NetworkPreset } from "../schema.js";

/** The figures of a board the simulator uses. */
export interface SimDevice {
  id: string;
  /** Throughput relative to the reference board (Pi 4 = 1): segment ms / relativeSpeed. */
  relativeSpeed: number;
  ramBytes: number;
  cores: number;
}

/** A network path to the cloud worker. */
export interface SimLink {
  /** The preset's name. */
  name: string;
  upMbit: number;
  downMbit: number;
  rttMs: number;
  /** Std. dev. of the one-way delay (ms). */
  jitterMs: number;
  lossPct: number;
}

/** The simulator's figures of a profile. */
export function simDevice(p: DeviceProfile): SimDevice {
  return { id: p.id, relativeSpeed: p.cpu.relativeSpeed.value, ramBytes: p.ramBytes.value, cores: p.cpu.cores.value };
}

/** The simulator's figures of a preset. */
export function simLink(name: string, p: NetworkPreset): SimLink {
  return { name, upMbit: p.upMbit.value, downMbit: p.downMbit.value, rttMs: p.rttMs.value, jitterMs: p.jitterMs.value, lossPct: p.lossPct.value };
}

/** Preset names a profile offers. */
export function presetNames(p: DeviceProfile): string[] {
  return Object.keys(p.network);
}

/**
 * The network preset `name` for a board: the profile's own preset of that name. E_USAGE naming
 * the presets there are when it has none of that name.
 */
export function resolveLink(profile: DeviceProfile, name: string): SimLink {
  const own = profile.network[name];
  if (own !== undefined) return simLink(name, own);
  throw fail("E_USAGE", `no network preset "${name}" for profile ${profile.id}; it has ${presetNames(profile).join(", ")} (give --preset)`);
}
