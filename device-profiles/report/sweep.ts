/**
 * The report of `edgecut sweep --html`: the best split per device profile and network preset as a
 * table, a grid (profiles x presets, coloured by the split) and, per preset, the predicted total
 * time of every split point with one line per profile.
 */
import type { SimSplitCost } from "../sim/types.js";
import { bestSplit } from "./bars.js";
import { documentShell } from "./page.js";
import {
  autoScale, c, emptyNote, esc, fmtMs, isNum, legend, legendExtra, linearScale, NONE, svgOpen, xAxis, yAxis,
  type Frame, type LegendItem,
} from "./svg.js";

/** One profile x preset of a sweep: its best split (null when none can run) and every split's cost. */
export interface SweepRow {
  profile: string;
  preset: string;
  bestSplit: number | null;
  /** Predicted total (ms) at the best split; null when none can run. */
  totalMs: number | null;
  splits: SimSplitCost[];
}

const PALETTE = ["#1f5fbf", "#e07b00", "#2a9d4b", "#9b3fb5", "#c0392b", "#17a2b8", "#8c6d1f", "#e84393", "#607d8b", "#222222"];

/** Distinct values in first-seen order. */
function distinct(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/** Mixes two #rrggbb colours, t in 0..1. */
function mix(a: string, b: string, t: number): string {
  const ch = (s: string, i: number): number => parseInt(s.slice(1 + 2 * i, 3 + 2 * i), 16);
  return "#" + [0, 1, 2].map((i) => Math.round(ch(a, i) + (ch(b, i) - ch(a, i)) * t).toString(16).padStart(2, "0")).join("");
}

// Blue (all in the cloud) through green to orange (all on the device): no stop is grey, the colour of "none".
const RAMP = ["#a9c8f0", "#bfe3b4", "#f6c68a"] as const;

/** The ramp's colour at t in 0..1. */
function ramp(t: number): string {
  const u = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(u));
  return mix(RAMP[i] ?? RAMP[0], RAMP[i + 1] ?? RAMP[2], u - i);
}

/** The profiles x presets grid, each cell coloured by its best split (blue: cloud, orange: device). */
function grid(rows: readonly SweepRow[], profiles: readonly string[], presets: readonly string[], maxK: number): string {
  const labelW = Math.min(260, 24 + Math.max(8, ...profiles.map((p) => p.length)) * 7.2);
  const cellW = Math.min(150, (960 - labelW - 20) / Math.max(1, presets.length));
  const cellH = 38;
  const f: Frame = { width: 960, height: 78 + profiles.length * cellH + 10, left: labelW, right: 20, top: 58, bottom: 10 };
  const head = presets.map((p, j) => `<text class="al" x="${c(labelW + cellW * j + cellW / 2)}" y="${f.top - 8}" text-anchor="middle">${esc(p)}</text>`).join("");
  const side = profiles.map((p, i) => `<text class="al" x="${c(labelW - 10)}" y="${c(f.top + cellH * i + cellH / 2)}" dy="0.32em" text-anchor="end">${esc(p)}</text>`).join("");
  const cells: string[] = [];
  profiles.forEach((prof, i) => presets.forEach((pre, j) => {
    const row = rows.find((r) => r.profile === prof && r.preset === pre);
    if (row === undefined) return;
    const k = row.bestSplit;
    const fill = isNum(k) ? ramp(maxK > 0 ? k / maxK : 0) : "#fff";
    const x = labelW + cellW * j, y = f.top + cellH * i;
    cells.push(`<g data-profile="${esc(prof)}" data-preset="${esc(pre)}" data-split="${isNum(k) ? k : ""}">`
      + `<rect x="${c(x + 1)}" y="${c(y + 1)}" width="${c(cellW - 2)}" height="${cellH - 2}" rx="3" fill="${fill}"${isNum(k) ? "" : ' stroke="#8a939e" stroke-dasharray="4 3"'}/>`
      + `<text class="lg" x="${c(x + cellW / 2)}" y="${c(y + cellH / 2)}" dy="0.32em" text-anchor="middle">${esc(isNum(k) ? `k=${k} · ${fmtMs(row.totalMs)}` : "no split fits")}</text>`
      + `<title>${esc(`${prof} on ${pre}: ${isNum(k) ? `best split k = ${k}, ${fmtMs(row.totalMs)}` : "no feasible split"}`)}</title></g>`);
  }));
  const items: LegendItem[] = [
    { label: "k = 0 (all in the cloud)", color: ramp(0), kind: "box" },
    ...(maxK >= 2 ? [{ label: `k = ${Math.round(maxK / 2)}`, color: ramp(Math.round(maxK / 2) / maxK), kind: "box" as const }] : []),
    { label: `k = ${maxK} (all on the device)`, color: ramp(1), kind: "box" },
  ];
  return svgOpen("grid", "sweep-grid", f, "Best split per profile and network preset",
    `${profiles.length} profiles by ${presets.length} presets; each cell: the best split point k and its predicted total time; colour from blue (k = 0, all in the cloud) through green to orange (k = ${maxK}, all on the device); dashed outline: no feasible split.`)
    + head + side + `<g data-series="best-split" data-points="${cells.length}">${cells.join("")}</g>` + legend(items, 12, 14) + "</svg>";
}

/** Total time per split point on one preset, one polyline per profile; infeasible splits as hollow circles. */
function presetChart(rows: readonly SweepRow[], preset: string, profiles: readonly string[], maxK: number, id: string): string {
  const mine = profiles.map((p) => rows.find((r) => r.profile === p && r.preset === preset));
  const items: LegendItem[] = mine.flatMap((row, i) => row === undefined ? [] : [{ label: row.profile, color: PALETTE[i % PALETTE.length] ?? "#888", kind: "line" as const, width: 2 }]);
  const extra = legendExtra(items, 72, 936);
  const f: Frame = { width: 960, height: 300 + extra, left: 72, right: 24, top: 40 + extra, bottom: 44 };
  const totals: number[] = [];
  for (const r of mine) for (const s of r?.splits ?? []) if (isNum(s.totalMs) && s.totalMs > 0) totals.push(s.totalMs);
  const sx = linearScale(0, Math.max(1, maxK), f.left, f.width - f.right, Math.min(Math.max(1, maxK), 12), true);
  const sy = autoScale(totals, f.height - f.bottom, f.top);
  const series = mine.map((row, i) => {
    if (row === undefined) return "";
    const color = PALETTE[i % PALETTE.length] ?? "#888";
    const splits = row.splits.filter((s) => isNum(s.split)).slice().sort((a, b) => a.split - b.split);
    const ok = splits.filter((s) => s.feasible === true && isNum(s.totalMs) && s.totalMs > 0);
    const pts = ok.map((s) => `${c(sx(s.split))},${c(sy(s.totalMs))}`);
    const bad = splits.filter((s) => !ok.includes(s) && isNum(s.totalMs) && s.totalMs > 0)
      .map((s) => `<circle cx="${c(sx(s.split))}" cy="${c(sy(s.totalMs))}" r="3.5"><title>${esc(`${row.profile}, k = ${s.split}: infeasible (${fmtMs(s.totalMs)})`)}</title></circle>`);
    const best = bestSplit(splits);
    const star = best !== undefined
      ? `<circle class="best-dot" data-best="${best.split}" cx="${c(sx(best.split))}" cy="${c(sy(best.totalMs))}" r="4.5" fill="${color}"><title>${esc(`${row.profile}: best k = ${best.split}, ${fmtMs(best.totalMs)}`)}</title></circle>`
      : "";
    return `<polyline data-series="${esc(row.profile)}" data-preset="${esc(preset)}" data-points="${pts.length}" points="${pts.join(" ")}" fill="none" stroke="${color}" stroke-width="2">`
      + `<title>${esc(`${row.profile} on ${preset}: ${pts.length} feasible split points`)}</title></polyline>`
      + `<g data-series="${esc(row.profile)}" data-kind="infeasible" data-points="${bad.length}" fill="#fff" stroke="${color}" stroke-width="1.5">${bad.join("")}</g>${star}`;
  });
  const empty = totals.length === 0 ? emptyNote(f, "no split costs for this preset") : "";
  return svgOpen(id, "sweep-preset", f, `Predicted total time per split point on ${preset}`,
    `One line per profile over its feasible split points (hollow circles: infeasible; filled dot: the best); x: split point k; y: total ms${sy.log ? " on a log scale" : ""}.`)
    + xAxis(sx, f, "split point k (front segments on the device)") + yAxis(sy, f, "total (ms)")
    + `<g class="series">${series.join("")}</g>${empty}${legend(items, f.left, 14, f.width - f.right)}</svg>`;
}

/**
 * The report of a sweep as a complete HTML document: the table of best splits, the
 * profiles x presets grid and one chart per preset. Rows keep their order (profiles and presets
 * in first-seen order); an empty sweep renders a page that says so.
 */
export function renderSweepReport(rows: SweepRow[]): string {
  const profiles = distinct(rows.map((r) => r.profile));
  const presets = distinct(rows.map((r) => r.preset));
  let maxK = 0;
  for (const r of rows) for (const s of r.splits ?? []) if (isNum(s.split) && s.split > maxK) maxK = s.split;
  const table = `<table class="sweep"><thead><tr><th>profile</th><th class="t">preset</th><th>best split</th><th>predicted total</th><th>feasible splits</th></tr></thead><tbody>`
    + rows.map((r) => `<tr data-profile="${esc(r.profile)}" data-preset="${esc(r.preset)}"><td>${esc(r.profile)}</td><td class="t">${esc(r.preset)}</td>`
      + `<td>${esc(isNum(r.bestSplit) ? `k = ${r.bestSplit}` : NONE)}</td><td>${esc(fmtMs(r.totalMs))}</td>`
      + `<td>${(r.splits ?? []).filter((s) => s.feasible === true).length} of ${(r.splits ?? []).length}</td></tr>`).join("")
    + "</tbody></table>";
  const body = `<header><h1>edgecut sweep</h1><p class="lead">The best split point for ${profiles.length} device profile${profiles.length === 1 ? "" : "s"} on ${presets.length} network preset${presets.length === 1 ? "" : "s"} (predicted, steady conditions).</p></header>`
    + (rows.length === 0
      ? `<p class="warn">The sweep has no rows: no profile and preset were given, or none could be evaluated.</p>`
      : `<section><h2>Best split per profile and network</h2><figure>${grid(rows, profiles, presets, maxK)}</figure></section>`
        + `<section><h2>Table</h2>${table}</section>`
        + presets.map((p, i) => `<section><h2>${esc(p)}</h2><figure>${presetChart(rows, p, profiles, maxK, `preset${i}`)}</figure></section>`).join(""));
  return documentShell("edgecut sweep", body);
}
