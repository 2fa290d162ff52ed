/**
 * Environment overrides: secrets (kept out of a world-readable /etc file) and per-device values
 * for a fleet that ships one config file. They replace the file's value before validation, so a
 * bad value fails the same checks, and the error names the variable. An empty variable counts as
 * unset (systemd's `Environment=VAR=` clears a value that way).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EdgecutError } from "../../sdk/errors.js";
import { configError } from "./issues.js";

/** Environment variables read, as in process.env. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Each override and the field it sets (EDGECUT_BROKER_PASSWORD_FILE: the password, read from the file). */
export const ENV_OVERRIDES = {
  EDGECUT_DEVICE_ID: ["deviceId"],
  EDGECUT_BROKER_URL: ["broker", "url"],
  EDGECUT_BROKER_USERNAME: ["broker", "username"],
  EDGECUT_BROKER_PASSWORD: ["broker", "password"],
  EDGECUT_BROKER_PASSWORD_FILE: ["broker", "password"],
  EDGECUT_API_LISTEN: ["api", "listen"],
  EDGECUT_LOG_LEVEL: ["log", "level"],
} as const satisfies Record<string, readonly string[]>;

/** An override's name. */
export type EnvOverride = keyof typeof ENV_OVERRIDES;

/** A password file larger than this is surely the wrong file. */
const MAX_PASSWORD_FILE_BYTES = 64 * 1024;

/** What applyEnvOverrides did. */
export interface EnvApplied {
  /** The configuration with the overrides in (a copy where it changed). */
  value: Record<string, unknown>;
  /** Field path ("broker.url") to the variable that set it. */
  byField: Map<string, EnvOverride>;
}

function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

/**
 * Reads a password file (a systemd credential, a Docker/Kubernetes secret): its content less one
 * trailing newline, which editors and `echo` add and no password means.
 */
export function readPasswordFile(file: string, where: string): string {
  const field = "broker.password (from $EDGECUT_BROKER_PASSWORD_FILE)";
  let text: string;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw configError(where, field, `${file} is not a regular file`, "point EDGECUT_BROKER_PASSWORD_FILE at the file holding the broker password");
    if (st.size > MAX_PASSWORD_FILE_BYTES) throw configError(where, field, `${file} is ${st.size} bytes, too large for a password`, "point EDGECUT_BROKER_PASSWORD_FILE at the file holding only the broker password");
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof EdgecutError) throw e;
    throw configError(where, field, `cannot read ${file}: ${(e as Error).message}`,
      "check the path and its permissions (under systemd: LoadCredential=broker-password:<file> and EDGECUT_BROKER_PASSWORD_FILE=%d/broker-password)", e);
  }
  const password = text.replace(/\r?\n$/, "");
  if (password === "") throw configError(where, field, `${file} is empty`, "write the broker password into it");
  return password;
}

/** Sets value[path] in a copy of every object along the path (the caller's object is not changed). */
function setIn(root: Record<string, unknown>, keys: readonly string[], v: unknown): Record<string, unknown> {
  const [k, ...rest] = keys as [string, ...string[]];
  const copy: Record<string, unknown> = { ...root };
  if (rest.length === 0) {
    copy[k] = v;
  } else {
    const child = copy[k];
    // A non-object here is left for the schema to report; the override cannot go inside it.
    if (child !== undefined && (typeof child !== "object" || child === null || Array.isArray(child))) return copy;
    copy[k] = setIn((child ?? {}) as Record<string, unknown>, rest, v);
  }
  return copy;
}

/**
 * Applies the EDGECUT_* overrides to a parsed file. Throws E_CONFIG for a password file that
 * cannot be read, or for both EDGECUT_BROKER_PASSWORD and EDGECUT_BROKER_PASSWORD_FILE set.
 */
export function applyEnvOverrides(value: Record<string, unknown>, env: Env, where: string): EnvApplied {
  let out = value;
  const byField = new Map<string, EnvOverride>();
  if (get(env, "EDGECUT_BROKER_PASSWORD") !== undefined && get(env, "EDGECUT_BROKER_PASSWORD_FILE") !== undefined) {
    throw configError(where, "broker.password", "both $EDGECUT_BROKER_PASSWORD and $EDGECUT_BROKER_PASSWORD_FILE are set", "unset one of them");
  }
  for (const [name, keys] of Object.entries(ENV_OVERRIDES) as Array<[EnvOverride, readonly string[]]>) {
    const raw = get(env, name);
    if (raw === undefined) continue;
    const v = name === "EDGECUT_BROKER_PASSWORD_FILE" ? readPasswordFile(path.resolve(raw), where) : raw;
    out = setIn(out, keys, v);
    byField.set(keys.join("."), name);
  }
  return { value: out, byField };
}
