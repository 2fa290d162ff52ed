/**
 * What one `edgecut doctor` check reports: a name, a status, one line of detail and, for a
 * problem, what to do about it. Shared by the system, file and network checks.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { EdgecutError } from "../errors.js";

/** ok: fine; warn: the agent runs but something deserves attention; fail: the agent cannot run; skip: not checked. */
export type CheckStatus = "ok" | "warn" | "fail" | "skip";

/** The outcome of one check. `fix` is present exactly for warn and fail. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** A passed check. */
export function ok(name: string, detail: string): CheckResult {
  return { name, status: "ok", detail };
}

/** A check that was not run, with the reason. */
export function skip(name: string, detail: string): CheckResult {
  return { name, status: "skip", detail };
}

/** A problem and its fix. */
export function problem(name: string, status: "warn" | "fail", detail: string, fix: string): CheckResult {
  return { name, status, detail, fix };
}

/** An error's message on one line (EdgecutError messages are already one line). */
export function errorText(e: unknown): string {
  const msg = e instanceof EdgecutError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * Runs a check and turns an error it did not expect into a failed result, so one broken check
 * cannot hide the others' answers.
 */
export async function guarded(name: string, run: () => CheckResult | Promise<CheckResult>, fix: string): Promise<CheckResult> {
  try {
    return await run();
  } catch (e) {
    return problem(name, "fail", errorText(e), fix);
  }
}

/**
 * Whether this user can create entries in `dir`, found by making and removing an empty folder
 * there: access(2) says yes to root on file systems that refuse writes anyway (/proc, a
 * root-squashed NFS share).
 */
export function canWrite(dir: string): boolean {
  try {
    fs.rmdirSync(fs.mkdtempSync(path.join(dir, ".edgecut-doctor-")));
    return true;
  } catch {
    return false;
  }
}
