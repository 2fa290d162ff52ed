/**
 * Stacked bars per split point: device, transfer and cloud time of every split k in the
 * scenario's first conditions (SimResult.splits). Infeasible splits keep their bars, hatched and
 * labelled; the best feasible one is marked. One <g data-series> per part, one rect per split.
 */
import type { SimSplitCost } from "../sim/types.js";
import { c, emptyNote, esc, fmtMs, isNum, legend, linearScale, svgOpen, yAxis, type Frame } from "./svg.js";

/** The parts of a bar, bottom to top. */
export const PARTS = [
  { key: "deviceMs", series: "device", label: "device", color: "#4c78a8" },
  { key: "transferMs", series: "transfer", label: "transfer", color: "#f2a541" },
  { key: "cloudMs", series: "cloud", label: "cloud", color: "#59a14f" },
] as const;

/** A part's time, 0 when missing or not finite (the bar's title says so). */
function part(s: SimSplitCost, key: (typeof PARTS)[number]["key"]): number {
  const v: unknown = s.breakdown?.[key];
  return isNum(v) && v > 0 ? v : 0;
}

/** The feasible split with the lowest finite total, if any (ties: the larger k, as the planner). */
export function bestSplit(splits: readonly SimSplitCost[]): SimSplitCost | undefined {
  let best: SimSplitCost | undefined;
  for (const s of splits) {
    if (s.feasible !== true || !isNum(s.totalMs)) continue;
    if (best === undefined || s.totalMs < best.totalMs || (s.totalMs === best.totalMs && s.split > best.split)) best = s;
  }
  return best;
}

/** The stacked bar chart of a run's split costs. */
export function barsChart(splitsIn: readonly SimSplitCost[] | undefined, id: string, segments?: number): string {
  const splits = (splitsIn ?? []).filter((s) => s !== null && typeof s === "object" && isNum(s.split)).slice().sort((a, b) => a.split - b.split);
  const f: Frame = { width: 960, height: 330, left: 72, right: 24, top: 40, bottom: 62 };
  const plotW = f.width - f.left - f.right;
  let max = 0;
  for (const s of splits) max = Math.max(max, PARTS.reduce((a, p) => a + part(s, p.key), 0), isNum(s.totalMs) ? s.totalMs : 0);
  const sy = linearScale(0, max > 0 ? max : 1, f.height - f.bottom, f.top);
  const band = plotW / Math.max(1, splits.length);
  const barW = Math.min(56, band * 0.62);
  const xOf = (i: number): number => f.left + band * i + (band - barW) / 2;
  const best = bestSplit(splits);
  const n = isNum(segments) ? segments : splits[splits.length - 1]?.split;

  const groups = PARTS.map((p, pi) => {
    const rects = splits.map((s, i) => {
      const below = PARTS.slice(0, pi).reduce((a, q) => a + part(s, q.key), 0);
      const v = part(s, p.key);
      const y0 = sy(below), y1 = sy(below + v);
      const raw: unknown = s.breakdown?.[p.key];
      const note = isNum(raw) ? fmtMs(raw) : "unknown";
      return `<rect data-split="${s.split}" x="${c(xOf(i))}" y="${c(y1)}" width="${c(barW)}" height="${c(Math.max(0, y0 - y1))}">`
        + `<title>${esc(`k = ${s.split}: ${p.label} ${note}${s.feasible === true ? "" : " (infeasible)"}`)}</title></rect>`;
    });
    return `<g data-series="${p.series}" data-kind="bar" data-points="${rects.length}" fill="${p.color}">${rects.join("")}</g>`;
  });

  const infeasible = splits.map((s, i) => ({ s, i })).filter(({ s }) => s.feasible !== true);
  const hatch = `<defs><pattern id="${id}-hatch" patternUnits="userSpaceOnUse" width="7" height="7" patternTransform="rotate(45)">`
    + `<line x1="0" y1="0" x2="0" y2="7" stroke="#b3261e" stroke-width="2.2"/></pattern></defs>`;
  const overlays = infeasible.map(({ s, i }) => {
    const top = sy(Math.max(PARTS.reduce((a, p) => a + part(s, p.key), 0), 0));
    return `<rect data-split="${s.split}" x="${c(xOf(i))}" y="${c(top)}" width="${c(barW)}" height="${c(Math.max(2, f.height - f.bottom - top))}" fill="url(#${id}-hatch)" fill-opacity="0.55" stroke="#b3261e">`
      + `<title>${esc(`k = ${s.split} cannot run in these conditions (memory, privacy or the cloud)`)}</title></rect>`;
  });
  const infeasibleGroup = `<g data-series="infeasible" data-kind="marker" data-points="${overlays.length}">${overlays.join("")}</g>`;

  const labels = splits.map((s, i) => {
    const x = c(xOf(i) + barW / 2);
    const stackTop = sy(Math.max(PARTS.reduce((a, p) => a + part(s, p.key), 0), isNum(s.totalMs) ? s.totalMs : 0));
    const isBest = best !== undefined && best.split === s.split;
    const where = s.split === 0 ? "cloud" : s.split === n ? "device" : "";
    return `<text class="tl" x="${x}" y="${c(stackTop - 5)}" text-anchor="middle">${esc(fmtMs(s.totalMs))}</text>`
      + (isBest ? `<text class="best" data-best="${s.split}" x="${x}" y="${c(stackTop - 19)}" text-anchor="middle">best</text>` : "")
      + `<text class="tl" x="${x}" y="${f.height - f.bottom + 16}" text-anchor="middle">${esc(`k=${s.split}`)}</text>`
      + (s.feasible === true
        ? (where ? `<text class="sub" x="${x}" y="${f.height - f.bottom + 30}" text-anchor="middle">${where}</text>` : "")
        : `<text class="bad" x="${x}" y="${f.height - f.bottom + 30}" text-anchor="middle">infeasible</text>`);
  });
  const axisX = `<line class="domain" x1="${f.left}" x2="${f.width - f.right}" y1="${f.height - f.bottom}" y2="${f.height - f.bottom}"/>`
    + `<text class="al" x="${c(f.left + plotW / 2)}" y="${f.height - 6}" text-anchor="middle">split point k (front segments on the device)</text>`;
  const items = [
    ...PARTS.map((p) => ({ label: p.label, color: p.color, kind: "box" as const })),
    ...(infeasible.length > 0 ? [{ label: "infeasible", color: "#e8a7a2", kind: "box" as const }] : []),
  ];
  const empty = splits.length === 0 ? emptyNote(f, "no split costs in this result") : "";
  return svgOpen(id, "bars", f, "Predicted time per split point: device, transfer, cloud",
    `Stacked bars for ${splits.length} split points in the scenario's first conditions; bottom to top: device, transfer, cloud time in ms; hatched: infeasible${best ? `; best feasible: k = ${best.split}` : ""}.`)
    + hatch + yAxis(sy, f, "time (ms)") + axisX + groups.join("") + infeasibleGroup + labels.join("") + empty + legend(items, f.left, 14) + "</svg>";
}
