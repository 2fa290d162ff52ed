/**
 * Device profiles: simulated boards (device-profiles/*.json), each checked against {@link ProfileSchema}.
 * `loadProfile("pi4-4gb")` reads a shipped profile, `loadProfile("./my-board.json")` any file.
 */
import { fieldPath } from "../sdk/validation.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { fail } from "../sdk/errors.js";
import { ProfileSchema, type DeviceProfile } from "./schema.js";

export { ProfileSchema, ProfileId, type DeviceProfile, type NetworkPreset, type Sourced } from "./schema.js";

/** The folder of the shipped profiles (this module's folder, in the source tree and in dist/). */
export const PROFILES_DIR = import.meta.dirname;

/**
 * Checks profile JSON text; `where` names the file in errors. Throws E_PROFILE naming the file, the
 * field path and what is wrong (the first problem zod finds).
 */
export function parseProfile(text: string, where: string): DeviceProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail("E_PROFILE", `device profile ${where} is not valid JSON (${(e as Error).message}); fix the file`, e);
  }
  const r = ProfileSchema.safeParse(json, { reportInput: true });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const detail = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`
      : issue.code === "invalid_type" && issue.input === undefined ? `is missing (${issue.message})`
      : issue.code === "invalid_key" ? `is not a valid name: ${issue.issues[0]?.message ?? issue.message}` : issue.message;
    const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem(s))` : "";
    throw fail("E_PROFILE", `device profile ${where}: ${fieldPath(issue.path)}: ${detail}${more}; see device-profiles/README.md`);
  }
  return r.data;
}

/**
 * Loads a profile by id (a shipped `device-profiles/<id>.json`) or by path (anything containing a
 * slash or ending in `.json`). A file's `id` must match its file name, so an id always names one file.
 * Throws E_USAGE for an unknown id, E_PROFILE for an unreadable or invalid file.
 */
export function loadProfile(idOrPath: string): DeviceProfile {
  const isPath = idOrPath.includes("/") || idOrPath.includes("\\") || idOrPath.endsWith(".json");
  if (!isPath && !/^[a-z0-9][a-z0-9-]*$/.test(idOrPath)) {
    throw fail("E_USAGE", `"${idOrPath}" is neither a profile id (lowercase letters, digits, dashes) nor a .json path; known ids: ${listProfiles().join(", ")}`);
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

/** Ids of the shipped profiles, sorted. */
export function listProfiles(): string[] {
  return fs.readdirSync(PROFILES_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
}
