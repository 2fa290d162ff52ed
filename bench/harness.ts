/** Shared types and helpers of the benchmarks. */
import { spawn } from "node:child_process";
import * as fs from "node:fs";

/** One target: `value` compared with `limit` by `op`. */
export interface Target { value: number; op: "<=" | ">="; limit: number; pass: boolean; what: string }

/** What a benchmark returns. */
export interface BenchResult { metrics: Record<string, number | string | null>; targets: Record<string, Target> }

/** Builds a Target. */
export function target(what: string, value: number, op: "<=" | ">=", limit: number): Target {
  return { what, value: +value.toFixed(4), op, limit, pass: op === "<=" ? value <= limit : value >= limit };
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs a TypeScript script in a fresh node process (through tsx) and parses the JSON it prints last. */
export async function runScript<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d: Buffer) => { out += d.toString(); });
    p.on("error", reject);
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${script} exited with ${code}: ${out.slice(-2000)}`));
      const last = out.trim().split("\n").pop() ?? "";
      try { resolve(JSON.parse(last) as T); } catch { reject(new Error(`${script} printed no JSON: ${out.slice(-2000)}`)); }
    });
  });
}

/** Peak resident set size of this process so far, bytes (Linux VmHWM). */
export function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return process.resourceUsage().maxRSS * 1024;
}
