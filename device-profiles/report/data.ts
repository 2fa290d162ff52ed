/**
 * What the charts need from a SimResult: the policies in a fixed order with their colours, the
 * cloud outages and the bandwidth steps as intervals. Tolerant of what JSON makes of a result
 * (null for NaN) and of fields added later: it reads, never validates.
 */
import type { SimConditions, SimOutcome, SimResult, SimSummaryRow } from "../sim/types.js";
import { isNum } from "./svg.js";

/** The baselines in the order the report lists them. */
export const BASELINES = ["oracle", "best-static", "all-local", "all-cloud"] as const;

/** A policy as drawn: its key in request outcomes, its series name and how it looks. */
export interface PolicyStyle {
  /** Key in SimRequest.outcomes (the adaptive policy's own name, e.g. "hysteresis"). */
  key: string;
  /** Key in summary and the data-series attribute: "adaptive" for the policy under test. */
  series: string;
  label: string;
  color: string;
  dash?: string;
  width: number;
}

const COLORS: Record<string, string> = {
  adaptive: "#1f5fbf",
  oracle: "#222222",
  "best-static": "#2a9d4b",
  "all-local": "#e07b00",
  "all-cloud": "#9b3fb5",
};
const EXTRA_COLORS = ["#c0392b", "#17a2b8", "#8c6d1f", "#e84393", "#607d8b"];

/**
 * The policies of a run: the adaptive one, the baselines, then any other policy found in the
 * outcomes or the summary (sorted), so a result with more policies still draws all of them.
 */
export function policies(r: SimResult): PolicyStyle[] {
  const adaptiveKey = typeof r.meta?.policy === "string" && r.meta.policy !== "" ? r.meta.policy : "adaptive";
  const seen = new Set<string>([adaptiveKey, "adaptive", ...BASELINES]);
  const extra = new Set<string>();
  for (const req of r.requests ?? []) for (const k of Object.keys(req.outcomes ?? {})) if (!seen.has(k)) extra.add(k);
  for (const k of Object.keys(r.summary ?? {})) if (!seen.has(k) && summaryRow(r, k) !== undefined) extra.add(k);
  const out: PolicyStyle[] = [
    { key: adaptiveKey, series: "adaptive", label: adaptiveKey === "adaptive" ? "adaptive" : `adaptive (${adaptiveKey})`, color: COLORS.adaptive ?? "#1f5fbf", width: 2.5 },
    ...BASELINES.map((b) => ({ key: b, series: b, label: b, color: COLORS[b] ?? "#888", width: b === "oracle" ? 1.6 : 1.4, ...(b === "oracle" ? { dash: "5 3" } : {}) })),
  ];
  [...extra].sort().forEach((k, i) => out.push({ key: k, series: k, label: k, color: EXTRA_COLORS[i % EXTRA_COLORS.length] ?? "#888", width: 1.4 }));
  return out;
}

/** A policy's outcome of one request, if the request has it. */
export function outcomeOf(req: SimResult["requests"][number], key: string): SimOutcome | undefined {
  const o = req.outcomes?.[key];
  return o !== null && typeof o === "object" ? o : undefined;
}

/** The summary row of a series name ("adaptive", a baseline, or another policy), if present. */
export function summaryRow(r: SimResult, series: string): SimSummaryRow | undefined {
  const v: unknown = (r.summary as unknown as Record<string, unknown> | undefined)?.[series];
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v as SimSummaryRow : undefined;
}

/** Error codes of a policy's failed requests with their counts, most frequent first. */
export function failureCodes(r: SimResult, key: string): [string, number][] {
  const counts = new Map<string, number>();
  for (const req of r.requests ?? []) {
    const o = outcomeOf(req, key);
    if (o?.outcome === "failed") counts.set(o.code ?? "unknown", (counts.get(o.code ?? "unknown") ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** The end of the run's time axis (ms): the duration, else the last request or step. */
export function endTime(r: SimResult): number {
  let end = isNum(r.meta?.durationMs) ? r.meta.durationMs : 0;
  for (const req of r.requests ?? []) if (isNum(req.t) && req.t > end) end = req.t;
  for (const s of r.timeline ?? []) if (isNum(s.t) && s.t > end) end = s.t;
  return end;
}

/** One timeline step as an interval [t0, t1). */
export interface Step {
  t0: number;
  t1: number;
  conditions: SimConditions;
}

/** The timeline as intervals, sorted, each lasting until the next step (the last until `end`). */
export function steps(r: SimResult, end = endTime(r)): Step[] {
  const tl = (r.timeline ?? []).filter((s) => isNum(s.t) && s.conditions !== null && typeof s.conditions === "object")
    .slice().sort((a, b) => a.t - b.t);
  return tl.map((s, i) => ({ t0: s.t, t1: Math.max(s.t, tl[i + 1]?.t ?? end), conditions: s.conditions }));
}

/** The cloud outages [t0, t1) of the run: adjacent steps with the cloud down merged. */
export function outages(r: SimResult, end = endTime(r)): { t0: number; t1: number }[] {
  const out: { t0: number; t1: number }[] = [];
  for (const s of steps(r, end)) {
    if (s.conditions.cloudUp !== false) continue;
    const last = out[out.length - 1];
    if (last !== undefined && last.t1 >= s.t0) last.t1 = Math.max(last.t1, s.t1);
    else out.push({ t0: s.t0, t1: s.t1 });
  }
  return out;
}
