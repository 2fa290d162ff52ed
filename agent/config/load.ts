/**
 * Reading the agent's configuration: the file (YAML or JSON by extension), environment overrides,
 * the schema, path resolution, and a deep freeze, so no part of the agent can change a setting
 * under another part's feet. Every failure is E_CONFIG naming the file, the field and the fix.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { EdgecutError, fail } from "../../sdk/errors.js";
import { redactUrl } from "../../sdk/transport/mqtt.js";
import { applyEnvOverrides, type Env } from "./env.js";
import { issuesError, TEMPLATE_HINT } from "./issues.js";
import { resolveAgentConfig } from "./resolve.js";
import { AgentConfigFileSchema } from "./schema.js";
import type { AgentConfig } from "./types.js";

/** A config file larger than this is not a config file. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** Freezes `v` and everything reachable from it; returns it. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

/** Copy without null-valued keys: in YAML `key:` with nothing after it (all its lines commented out) means "not set". */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (typeof v !== "object" || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

/** 1-based line and column of a character offset. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `line ${line}, column ${offset - before.lastIndexOf("\n")}`;
}

/** Parses config text as YAML (.yaml, .yml) or JSON (.json); E_CONFIG with the line of a syntax error. */
export function parseConfigText(text: string, file: string): unknown {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".json") {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      // V8 quotes a slice of the text in some messages: drop it, it may hold the password.
      const msg = (e as Error).message.replace(/, ".*" is not valid JSON$/s, " (not valid JSON)");
      const pos = /position (\d+)/.exec(msg);
      const where = pos === null ? "" : ` at ${lineCol(text, Number(pos[1]))}`;
      throw fail("E_CONFIG", `${file}: not valid JSON${where}: ${msg}; fix the syntax (or write the config as YAML in a .yaml file)`, e);
    }
  }
  if (ext === ".yaml" || ext === ".yml") {
    try {
      // uniqueKeys (the default) refuses a key given twice rather than silently keeping the last.
      return parseYaml(text, { prettyErrors: true }) as unknown;
    } catch (e) {
      if (!(e instanceof YAMLParseError)) throw e;
      const lp = e.linePos?.[0];
      const where = lp === undefined ? "" : ` at line ${lp.line}, column ${lp.col}`;
      const first = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      throw fail("E_CONFIG", `${file}: not valid YAML${where}: ${first}; fix the syntax (indent with spaces, quote values holding ": " or "#")`, e);
    }
  }
  throw fail("E_CONFIG", `${file}: unknown config format ${JSON.stringify(ext || "(no extension)")}; name the file .yaml, .yml or .json`);
}

/**
 * Validates an already parsed configuration: applies the EDGECUT_* overrides from `env`, fills
 * defaults, resolves relative paths against `baseDir` and checks the files it names (not the
 * manifest). `where` names the source in errors. Returns a deep-frozen AgentConfig; throws E_CONFIG.
 */
export function parseAgentConfig(value: unknown, where: string, baseDir: string, env: Env = process.env): AgentConfig {
  const v = dropNulls(value ?? {});
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw fail("E_CONFIG", `${where}: (top level): must be a mapping of settings (deviceId: ..., manifest: ...), got ${Array.isArray(v) ? "a list" : typeof v}; ${TEMPLATE_HINT}`);
  }
  const { value: withEnv, byField } = applyEnvOverrides(v as Record<string, unknown>, env, where);
  const r = AgentConfigFileSchema.safeParse(withEnv, { reportInput: true });
  if (!r.success) throw issuesError(r.error, AgentConfigFileSchema, where, (p) => byField.get(p));
  const cfg = resolveAgentConfig(r.data, { where, baseDir: path.resolve(baseDir), env, envByField: byField });
  return deepFreeze(cfg);
}

/**
 * Reads, parses and validates the agent's configuration file (.yaml, .yml or .json); relative
 * paths in it resolve against its folder. Returns a deep-frozen AgentConfig. Throws E_CONFIG
 * naming the file, the field and what to do.
 */
export function loadAgentConfig(file: string, env: Env = process.env): AgentConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    const st = fs.statSync(abs);
    if (st.isDirectory()) throw fail("E_CONFIG", `${abs}: is a folder, not a config file; pass the file, e.g. ${path.join(abs, "agent.yaml")}`);
    if (st.size > MAX_CONFIG_BYTES) throw fail("E_CONFIG", `${abs}: is ${st.size} bytes, not a config file (limit ${MAX_CONFIG_BYTES}); check the path`);
    text = fs.readFileSync(abs, "utf8");
  } catch (e) {
    if (e instanceof EdgecutError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === "ENOENT" ? "check the path, or start from agent/edgecut-agent.example.yaml"
      : code === "EACCES" ? "make it readable by the agent's user (no secrets in it: use EDGECUT_BROKER_PASSWORD_FILE)"
      : "check the path";
    throw fail("E_CONFIG", `${abs}: cannot read the config file: ${(e as Error).message}; ${hint}`, e);
  }
  return parseAgentConfig(parseConfigText(text, abs), abs, path.dirname(abs), env);
}

/**
 * A deep-frozen copy for logs and /v1/status: the broker password replaced by "***" and any
 * credentials in the broker URL's userinfo too.
 */
export function redactConfig(cfg: AgentConfig): AgentConfig {
  const copy = structuredClone(cfg) as { -readonly [K in keyof AgentConfig]: AgentConfig[K] };
  copy.broker = {
    ...copy.broker,
    url: redactUrl(copy.broker.url),
    ...(copy.broker.password === undefined ? {} : { password: "***" }),
  };
  return deepFreeze(copy);
}
