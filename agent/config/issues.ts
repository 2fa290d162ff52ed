/**
 * Turns zod issues into one E_CONFIG error: `<file>: <field path>: <what is wrong>; <what to do>`.
 * An unknown key names the keys allowed at that place (and the closest one, for a typo); a field
 * that an environment variable set names the variable, since that is where the fix goes.
 */
import type { z } from "zod";
import { fail, type EdgecutError } from "../../sdk/errors.js";
import { fieldPath } from "../../sdk/validation.js";

/** Where the template that documents every setting lives (for hints). */
export const TEMPLATE_HINT = "agent/edgecut-agent.example.yaml documents every setting";

/** E_CONFIG `<where>: <path>: <message>; <hint>`. */
export function configError(where: string, path: readonly PropertyKey[] | string, message: string, hint: string, cause?: unknown): EdgecutError {
  const p = typeof path === "string" ? path : fieldPath(path);
  return fail("E_CONFIG", `${where}: ${p}: ${message}; ${hint}`, cause);
}

interface DefLike {
  type: string;
  shape?: Record<string, z.core.$ZodType>;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
}

/** The keys an object schema at `path` inside `schema` allows (wrappers such as default/optional unwrapped). */
export function allowedKeysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s: z.core.$ZodType | undefined = schema;
  const objectShape = (t: z.core.$ZodType): Record<string, z.core.$ZodType> | undefined => {
    let cur: z.core.$ZodType | undefined = t;
    for (let i = 0; cur !== undefined && i < 16; i++) {
      const def: DefLike = cur._zod.def as DefLike;
      if (def.type === "object") return def.shape;
      cur = def.innerType ?? def.in;
    }
    return undefined;
  };
  for (const k of path) {
    const inner: Record<string, z.core.$ZodType> | undefined = s === undefined ? undefined : objectShape(s);
    s = inner?.[String(k)];
  }
  const shape = s === undefined ? undefined : objectShape(s);
  return shape === undefined ? undefined : Object.keys(shape);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const keep = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = keep;
    }
  }
  return d[b.length]!;
}

/** The allowed key closest to `key` (case-insensitive, at most 2 edits or a third of its length), if any. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const a of allowed) {
    const dist = editDistance(key.toLowerCase(), a.toLowerCase());
    if (dist < bestD) {
      best = a;
      bestD = dist;
    }
  }
  return best;
}

/** Where an issue points and what to say about it. */
interface Described {
  path: PropertyKey[];
  message: string;
  hint: string;
}

function describe(issue: z.core.$ZodIssue, schema: z.core.$ZodType, where: string, envFor: (path: string) => string | undefined): Described {
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0]!;
    const allowed = allowedKeysAt(schema, issue.path) ?? [];
    const near = closestKey(key, allowed);
    const others = issue.keys.length > 1 ? ` (also unknown here: ${issue.keys.slice(1).map((k) => JSON.stringify(k)).join(", ")})` : "";
    return {
      path: [...issue.path, key],
      message: `unknown key${others}; the keys allowed here are ${allowed.join(", ")}`,
      hint: near === undefined ? `remove it (${TEMPLATE_HINT})` : `did you mean "${near}"? rename or remove it`,
    };
  }
  const p = fieldPath(issue.path);
  const env = envFor(p);
  const missing = issue.code === "invalid_type" && issue.input === undefined;
  const message = missing ? `is missing (${issue.expected} required)` : issue.message;
  const hint = env !== undefined ? `fix the environment variable $${env}, which set it`
    : missing ? `add it to ${where} (${TEMPLATE_HINT})`
    : `fix it in ${where} (${TEMPLATE_HINT})`;
  return { path: issue.path, message, hint };
}

/**
 * One E_CONFIG for a failed parse: the first issue in full, the others' field paths after it.
 * `envFor(fieldPath)` names the environment variable that set a field, if one did.
 */
export function issuesError(error: z.ZodError, schema: z.core.$ZodType, where: string, envFor: (path: string) => string | undefined): EdgecutError {
  const all = error.issues.map((i) => describe(i, schema, where, envFor));
  const first = all[0]!;
  const p = fieldPath(first.path);
  const env = envFor(p);
  const shownPath = env === undefined ? p : `${p} (from $${env})`;
  const rest = all.slice(1, 6).map((d) => `${fieldPath(d.path)}: ${d.message}`);
  if (all.length > 6) rest.push(`${all.length - 6} more`);
  const more = rest.length > 0 ? ` (also: ${rest.join("; ")})` : "";
  return configError(where, shownPath, first.message, first.hint + more);
}
