/**
 * From validated file settings to AgentConfig: relative paths resolved against the config file's
 * folder, the state folder chosen, the files the config names checked (TLS files readable, the
 * device profile valid, the tokenizer readable), the listen address and socket mode parsed.
 *
 * The manifest is deliberately not opened: loadManifest (E_MANIFEST) checks it, its hashes and its
 * segment files when the agent starts, and a config can be validated before the model is deployed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { loadProfile } from "../../device-profiles/index.js";
import { EdgecutError } from "../../sdk/errors.js";
import { EMBEDDED_BROKER, type AgentConfigFile } from "./schema.js";
import { configError, TEMPLATE_HINT } from "./issues.js";
import { MAX_UNIX_PATH_BYTES, parseListenAddress, type ListenAddress } from "./listen.js";
import type { Env, EnvOverride } from "./env.js";
import type { AgentConfig, ConfigSource } from "./types.js";

/** Default state folder outside systemd, relative to the config file's folder. */
export const DEFAULT_STATE_DIR = "edgecut-state";
/** The store's file name inside the state folder. */
export const STORE_FILE = "agent.db";

/** What resolveAgentConfig needs besides the settings. */
export interface ResolveContext {
  where: string;
  /** Absolute folder relative paths resolve against. */
  baseDir: string;
  env: Env;
  /** Field path to the variable that set it. */
  envByField: ReadonlyMap<string, EnvOverride>;
}

function checkReadable(file: string, where: string, field: string, what: string): void {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw configError(where, field, `${file} is not a regular file`, `point it at the ${what}`);
    fs.accessSync(file, fs.constants.R_OK);
  } catch (e) {
    if (e instanceof EdgecutError) throw e;
    throw configError(where, field, `cannot read ${file}: ${(e as Error).message}`, `check the path (relative paths start at the config file's folder) and that the agent's user may read the ${what}`, e);
  }
}

function resolveAddress(listen: string, ctx: ResolveContext): ListenAddress {
  const a = parseListenAddress(listen);
  // The schema already refused a malformed address; this only narrows the type.
  if (typeof a === "string") throw configError(ctx.where, "api.listen", a, TEMPLATE_HINT);
  if (a.kind === "tcp") return a;
  const p = path.resolve(ctx.baseDir, a.path);
  const bytes = Buffer.byteLength(p, "utf8");
  if (bytes > MAX_UNIX_PATH_BYTES) {
    const env = ctx.envByField.get("api.listen");
    throw configError(ctx.where, env === undefined ? "api.listen" : `api.listen (from $${env})`,
      `the socket path ${p} is ${bytes} bytes; a unix socket path holds at most ${MAX_UNIX_PATH_BYTES}`, "use a shorter path such as unix:/run/edgecut/agent.sock");
  }
  return { kind: "unix", path: p };
}

function resolveStateDir(file: AgentConfigFile, ctx: ResolveContext, used: (v: "STATE_DIRECTORY") => void): string {
  if (file.stateDir !== undefined) return path.resolve(ctx.baseDir, file.stateDir);
  // systemd's StateDirectory= sets it; several directories come colon-separated, the first is ours.
  const fromSystemd = ctx.env.STATE_DIRECTORY?.split(":")[0];
  if (fromSystemd) {
    used("STATE_DIRECTORY");
    return path.resolve(fromSystemd);
  }
  return path.resolve(ctx.baseDir, DEFAULT_STATE_DIR);
}

function resolveProfile(ref: string | undefined, ctx: ResolveContext): string | undefined {
  if (ref === undefined) return undefined;
  const isPath = ref.includes("/") || ref.includes("\\") || ref.endsWith(".json");
  const resolved = isPath ? path.resolve(ctx.baseDir, ref) : ref;
  try {
    loadProfile(resolved);
  } catch (e) {
    throw configError(ctx.where, "profile", (e as Error).message, "name a shipped profile id or a profile file that passes device-profiles/schema.ts, or remove the setting", e);
  }
  return resolved;
}

/** Builds the AgentConfig (not yet frozen); throws E_CONFIG for a path that does not check out. */
export function resolveAgentConfig(file: AgentConfigFile, ctx: ResolveContext): AgentConfig {
  const envUsed: ConfigSource["env"][number][] = [...ctx.envByField.values()];
  const stateDir = resolveStateDir(file, ctx, (v) => envUsed.push(v));

  const broker = { ...file.broker };
  if (broker.url !== EMBEDDED_BROKER) {
    for (const k of ["ca", "cert", "key"] as const) {
      const p = broker[k];
      if (p === undefined) continue;
      broker[k] = path.resolve(ctx.baseDir, p);
      checkReadable(broker[k], ctx.where, `broker.${k}`, k === "ca" ? "CA certificate (PEM)" : k === "cert" ? "client certificate (PEM)" : "client key (PEM)");
    }
  }

  let tokenizer: string | undefined;
  if (file.model.tokenizer !== undefined) {
    tokenizer = path.resolve(ctx.baseDir, file.model.tokenizer);
    checkReadable(tokenizer, ctx.where, "model.tokenizer", "tokenizer.json");
  }

  const { intraOpThreads, profile, ...rest } = file;
  return {
    ...rest,
    manifest: path.resolve(ctx.baseDir, file.manifest),
    model: tokenizer === undefined ? {} : { tokenizer },
    stateDir,
    storeFile: path.join(stateDir, STORE_FILE),
    broker,
    api: {
      listen: file.api.listen,
      address: resolveAddress(file.api.listen, ctx),
      allowNonLoopback: file.api.allowNonLoopback,
      socketMode: parseInt(file.api.socketMode, 8),
      maxBodyBytes: file.api.maxBodyBytes,
    },
    ...(profile === undefined ? {} : { profile: resolveProfile(profile, ctx) }),
    ...(intraOpThreads === undefined ? {} : { intraOpThreads }),
    source: { file: ctx.where, env: envUsed },
  };
}
