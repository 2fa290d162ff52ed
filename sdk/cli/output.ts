/** How the CLI prints results and errors: text for people, or one JSON document with --json. */
import { EdgecutError, exitCodeFor } from "../errors.js";

/** Prints a JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** Reports an error as `edgecut: E_CODE: message` (or JSON on stdout with --json) and returns the exit code. */
export function reportError(err: unknown, json: boolean): number {
  const code = err instanceof EdgecutError ? err.code : "E_INTERNAL";
  const message = err instanceof EdgecutError ? err.message : `unexpected error: ${(err as Error)?.stack ?? String(err)}`;
  if (json) printJson({ error: { code, message } });
  else process.stderr.write(`edgecut: ${code}: ${message}\n`);
  return exitCodeFor(err);
}

/** Formats a byte count for people (KiB/MiB/GiB). */
export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "?";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Formats a FLOP count (MFLOP/GFLOP). */
export function fmtFlops(n: number | null | undefined): string {
  if (n === null || n === undefined) return "?";
  if (n < 1e6) return `${n} FLOP`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MFLOP`;
  return `${(n / 1e9).toFixed(2)} GFLOP`;
}

/** Left-aligned text table. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}
