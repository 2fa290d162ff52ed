/**
 * Device profiles: simulated boards (device-profiles/<id>.json, checked against {@link ProfileSchema})
 * and the network presets every board shares (device-profiles/networks.json, {@link NetworksSchema}).
 * `loadProfile("pi4-4gb")` reads a shipped profile, `loadProfile("./my-board.json")` any file; either
 * way the result's `network` holds the shared presets merged with the board's own.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { z } from "zod";
import { fail } from "../sdk/errors.js";
import { fieldPath } from "../sdk/validation.js";
import { NetworksSchema, ProfileSchema, type DeviceProfile, type NetworkPreset, type NetworksFile } from "./schema.js";

export {
  NetworkPresetSchema, NetworksSchema, ProfileSchema, ProfileId, SHARED_PRESETS,
  type DeviceProfile, type NetworkPreset, type NetworksFile, type ProfileFile, type Sourced,
} from "./schema.js";

/** The folder of the shipped profiles (this module's folder, in the source tree and in dist/). */
export const PROFILES_DIR = import.meta.dirname;

/** The shared presets' file name in PROFILES_DIR; "networks" is therefore not a profile id. */
export const NETWORKS_FILE = "networks.json";

const ID = /^[a-z0-9][a-z0-9-]*$/;

/** JSON.parse, or E_PROFILE naming the file. */
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fail("E_PROFILE", `${what} is not valid JSON (${(e as Error).message}); fix the file`, e);
  }
}

/** Checks `json` against `schema`; E_PROFILE naming `what`, the field path and what is wrong (zod's first problem). */
function check<S extends z.ZodType>(schema: S, json: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(json, { reportInput: true });
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const detail = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`
    : issue.code === "invalid_type" && issue.input === undefined ? `is missing (${issue.message})`
    : issue.code === "invalid_key" ? `is not a valid name: ${issue.issues[0]?.message ?? issue.message}` : issue.message;
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s))` : "";
  throw fail("E_PROFILE", `${what}: ${fieldPath(issue.path)}: ${detail}${more}; see device-profiles/README.md`);
}

/** Checks networks.json text; `where` names the file in errors (E_PROFILE naming the field). */
export function parseNetworks(text: string, where: string): NetworksFile {
  const what = `network presets ${where}`;
  return check(NetworksSchema, parseJson(text, what), what);
}

let shared: NetworksFile | undefined;

/** The shipped networks.json, read and checked once. */
function sharedNetworks(): NetworksFile {
  if (shared === undefined) {
    const file = path.join(PROFILES_DIR, NETWORKS_FILE);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      throw fail("E_PROFILE", `cannot read the shared network presets ${file}: ${(e as Error).message}; reinstall edgecut`, e);
    }
    shared = parseNetworks(text, file);
  }
  return shared;
}

/** Names of the shared network presets, in networks.json's order (ethernet first; aliases not included). */
export function listNetworkPresets(): string[] {
  return Object.keys(sharedNetworks().presets);
}

/**
 * A shared network preset by name (an alias such as "wifi" resolves to its target). Throws
 * E_USAGE naming the known presets when there is none of that name. Boards may override a
 * preset: for the one a given board uses, read `loadProfile(id).network[name]`.
 */
export function loadNetworkPreset(name: string): NetworkPreset {
  const n = sharedNetworks();
  const target = n.aliases !== undefined && Object.hasOwn(n.aliases, name) ? n.aliases[name]! : name;
  if (!Object.hasOwn(n.presets, target)) {
    throw fail("E_USAGE", `no network preset "${name}"; the presets are ${Object.keys(n.presets).join(", ")}`);
  }
  return n.presets[target]!;
}

/**
 * The board's presets over the shared ones: shared order with the board's same-named presets in
 * place, then the board's extra ones; aliases as non-enumerable properties (they resolve, but
 * listings, JSON and sweeps see each preset once) unless the board has a preset of that name.
 */
function mergeNetwork(own: Record<string, NetworkPreset> | undefined, n: NetworksFile): Record<string, NetworkPreset> {
  const merged: Record<string, NetworkPreset> = {};
  for (const [name, preset] of Object.entries(n.presets)) merged[name] = own !== undefined && Object.hasOwn(own, name) ? own[name]! : preset;
  for (const [name, preset] of Object.entries(own ?? {})) if (!Object.hasOwn(merged, name)) merged[name] = preset;
  for (const [alias, target] of Object.entries(n.aliases ?? {})) {
    if (!Object.hasOwn(merged, alias)) Object.defineProperty(merged, alias, { value: merged[target], enumerable: false });
  }
  return merged;
}

/**
 * Checks profile JSON text and merges the shared network presets into it; `where` names the file in
 * errors. Throws E_PROFILE naming the file, the field path and what is wrong (the first problem zod finds).
 */
export function parseProfile(text: string, where: string): DeviceProfile {
  const what = `device profile ${where}`;
  const file = check(ProfileSchema, parseJson(text, what), what);
  return { ...file, network: mergeNetwork(file.network, sharedNetworks()) };
}

/**
 * Loads a profile by id (a shipped `device-profiles/<id>.json`) or by path (anything containing a
 * slash or ending in `.json`). A file's `id` must match its file name, so an id always names one file.
 * Throws E_USAGE for an unknown id, E_PROFILE for an unreadable or invalid file.
 */
export function loadProfile(idOrPath: string): DeviceProfile {
  const isPath = idOrPath.includes("/") || idOrPath.includes("\\") || idOrPath.endsWith(".json");
  if (!isPath && !ID.test(idOrPath)) {
    throw fail("E_USAGE", `"${idOrPath}" is neither a profile id (lowercase letters, digits, dashes) nor a .json path; known ids: ${listProfiles().join(", ")}`);
  }
  if (!isPath && `${idOrPath}.json` === NETWORKS_FILE) {
    throw fail("E_USAGE", `"${idOrPath}" names the shared network presets (${NETWORKS_FILE}), not a device profile; known ids: ${listProfiles().join(", ")}`);
  }
  const file = isPath ? path.resolve(idOrPath) : path.join(PROFILES_DIR, `${idOrPath}.json`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!isPath && code === "ENOENT") throw fail("E_USAGE", `no device profile "${idOrPath}"; known ids: ${listProfiles().join(", ")}`, e);
    throw fail("E_PROFILE", `cannot read device profile ${file}: ${(e as Error).message}`, e);
  }
  const profile = parseProfile(text, file);
  const stem = path.basename(file, ".json");
  if (profile.id !== stem) {
    throw fail("E_PROFILE", `device profile ${file}: id: is "${profile.id}" but the file is named "${stem}.json"; rename one so they match`);
  }
  return profile;
}

/** Ids of the shipped profiles, sorted (every `.json` in PROFILES_DIR but networks.json). */
export function listProfiles(): string[] {
  return fs.readdirSync(PROFILES_DIR).filter((f) => f.endsWith(".json") && f !== NETWORKS_FILE).map((f) => f.slice(0, -5)).sort();
}
