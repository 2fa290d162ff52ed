/**
 * SVG and HTML building blocks of the reports: escaping, number formatting that never prints
 * NaN or Infinity, linear and log scales with readable ticks, axes and a legend. Plain strings:
 * the report is one self-contained file, so no DOM and no chart library.
 */

/** True for a finite number (the simulator's JSON has null where a NaN was, so check at run time). */
export function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** Escapes text for HTML/SVG element content and double- or single-quoted attribute values. */
export function esc(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

/** The placeholder for a value that is missing or not finite. */
export const NONE = "—";

/** A number with at most `digits` decimals and thousands separators; NONE when not finite. */
export function fmtNum(v: unknown, digits = 1): string {
  if (!isNum(v)) return NONE;
  return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A duration: "850 ms", "12.4 ms", "3.20 s"; NONE when not finite. */
export function fmtMs(v: unknown): string {
  if (!isNum(v)) return NONE;
  const a = Math.abs(v);
  if (a >= 10_000) return `${fmtNum(v / 1000, 1)} s`;
  if (a >= 1000) return `${fmtNum(v / 1000, 2)} s`;
  return `${fmtNum(v, a >= 100 ? 0 : 1)} ms`;
}

/** A byte count in binary units ("1.5 MiB"); NONE when not finite. */
export function fmtBytes(v: unknown): string {
  if (!isNum(v)) return NONE;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let x = v;
  let u = 0;
  while (Math.abs(x) >= 1024 && u < units.length - 1) { x /= 1024; u++; }
  return `${fmtNum(x, u === 0 ? 0 : 1)} ${units[u]}`;
}

/** An SVG coordinate: one decimal, and 0 for anything not finite (callers filter such points out first). */
export function c(v: number): string {
  return isNum(v) ? String(Math.round(v * 10) / 10) : "0";
}

/** A mapping from data values to pixels with the ticks to draw. */
export interface Scale {
  (v: number): number;
  readonly log: boolean;
  readonly domain: readonly [number, number];
  readonly ticks: readonly number[];
  /** Tick label for a value. */
  format(v: number): string;
}

/** Step 1, 2 or 5 x 10^k closest to range / count. */
function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

function tickLabel(v: number, step: number): string {
  const digits = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step)));
  return fmtNum(v, digits);
}

/** A linear scale over [min, max] (widened to nice bounds) onto pixels [r0, r1]. */
export function linearScale(min: number, max: number, r0: number, r1: number, count = 5, integer = false): Scale {
  let lo = isNum(min) ? min : 0;
  let hi = isNum(max) ? max : 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) { hi = lo === 0 ? 1 : lo + Math.abs(lo); lo = lo === 0 ? 0 : Math.min(0, lo); }
  let step = niceStep(hi - lo, count);
  if (integer) step = Math.max(1, Math.round(step));
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + step / 2; t += step) ticks.push(Math.round(t / step) * step);
  const span = hi - lo;
  const f = ((v: number) => r0 + ((v - lo) / span) * (r1 - r0)) as Scale;
  return Object.assign(f, { log: false, domain: [lo, hi] as const, ticks, format: (v: number) => tickLabel(v, step) });
}

/** A log10 scale over [min, max] (min > 0), widened to whole decades, ticks at 1-2-5 (or decades only). */
export function logScale(min: number, max: number, r0: number, r1: number): Scale {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const ticks: number[] = [];
  const mults = hi - lo > 3 ? [1] : [1, 2, 5];
  for (let e = lo; e <= hi; e++) for (const m of mults) if (e < hi || m === 1) ticks.push(m * 10 ** e);
  const f = ((v: number) => r0 + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (r1 - r0)) as Scale;
  return Object.assign(f, {
    log: true, domain: [10 ** lo, 10 ** hi] as const, ticks,
    format: (v: number) => fmtNum(v, v < 1 ? Math.ceil(-Math.log10(v)) : 0),
  });
}

/**
 * A y scale for the values: log when they are all positive and span more than `ratio` (latency
 * with a long outage wait would flatten everything else on a linear axis), else linear from 0.
 */
export function autoScale(values: readonly number[], r0: number, r1: number, ratio = 20): Scale {
  const vs = values.filter(isNum);
  if (vs.length === 0) return linearScale(0, 1, r0, r1);
  let min = Infinity, max = -Infinity;
  for (const v of vs) { if (v < min) min = v; if (v > max) max = v; }
  if (min > 0 && max / min > ratio) return logScale(min, max, r0, r1);
  return linearScale(Math.min(0, min), max, r0, r1);
}

/** The drawing area of a chart inside its viewBox. */
export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Opens an accessible chart: role img, labelled by its title and description. */
export function svgOpen(id: string, chart: string, f: Frame, title: string, desc: string): string {
  return `<svg class="chart" data-chart="${esc(chart)}" viewBox="0 0 ${f.width} ${f.height}" role="img" aria-labelledby="${id}-t ${id}-d" xmlns="http://www.w3.org/2000/svg">`
    + `<title id="${id}-t">${esc(title)}</title><desc id="${id}-d">${esc(desc)}</desc>`;
}

/** A horizontal axis at the bottom of the frame with ticks, vertical grid lines and a label. */
export function xAxis(s: Scale, f: Frame, label: string): string {
  const y = f.height - f.bottom;
  const ticks = s.ticks.map((t) => {
    const x = c(s(t));
    return `<line class="grid" x1="${x}" x2="${x}" y1="${f.top}" y2="${y}"/><line class="tick" x1="${x}" x2="${x}" y1="${y}" y2="${y + 4}"/>`
      + `<text class="tl" x="${x}" y="${y + 16}" text-anchor="middle">${esc(s.format(t))}</text>`;
  }).join("");
  return `<g class="axis x">${ticks}<line class="domain" x1="${f.left}" x2="${f.width - f.right}" y1="${y}" y2="${y}"/>`
    + `<text class="al" x="${c((f.left + f.width - f.right) / 2)}" y="${f.height - 6}" text-anchor="middle">${esc(label)}</text></g>`;
}

/** A vertical axis on the left (with grid lines) or the right of the frame, with a rotated label. */
export function yAxis(s: Scale, f: Frame, label: string, side: "left" | "right" = "left", cls = ""): string {
  const x = side === "left" ? f.left : f.width - f.right;
  const d = side === "left" ? -1 : 1;
  const ticks = s.ticks.map((t) => {
    const y = c(s(t));
    const grid = side === "left" ? `<line class="grid" x1="${f.left}" x2="${f.width - f.right}" y1="${y}" y2="${y}"/>` : "";
    return `${grid}<line class="tick" x1="${x}" x2="${x + 4 * d}" y1="${y}" y2="${y}"/>`
      + `<text class="tl" x="${x + 7 * d}" y="${y}" dy="0.32em" text-anchor="${side === "left" ? "end" : "start"}">${esc(s.format(t))}</text>`;
  }).join("");
  const lx = side === "left" ? 14 : f.width - 10;
  const ly = c((f.top + f.height - f.bottom) / 2);
  const scaleNote = s.log ? " (log scale)" : "";
  return `<g class="axis y ${side} ${esc(cls)}">${ticks}<line class="domain" x1="${x}" x2="${x}" y1="${f.top}" y2="${f.height - f.bottom}"/>`
    + `<text class="al" transform="translate(${lx},${ly}) rotate(-90)" text-anchor="middle">${esc(label + scaleNote)}</text></g>`;
}

/** One legend entry: a line (stroke), a box (fill) or a shaded band. */
export interface LegendItem {
  label: string;
  color: string;
  kind: "line" | "box" | "band" | "cross";
  dash?: string;
  width?: number;
}

const LEGEND_ROW = 18;

/** Width of one legend entry (text width estimated: no layout engine at render time). */
function itemWidth(it: LegendItem): number {
  return 28 + it.label.length * 7 + 18;
}

/** How many rows legend() needs for the items between x and maxX. */
export function legendRows(items: readonly LegendItem[], x: number, maxX: number): number {
  let rows = 1, at = x;
  for (const it of items) {
    if (at > x && at + itemWidth(it) > maxX) { rows++; at = x; }
    at += itemWidth(it);
  }
  return rows;
}

/** Extra height (px) a chart must reserve for a legend of more than one row. */
export function legendExtra(items: readonly LegendItem[], x: number, maxX: number): number {
  return (legendRows(items, x, maxX) - 1) * LEGEND_ROW;
}

/** The legend from (x, y), wrapping to more rows before maxX. */
export function legend(items: readonly LegendItem[], x: number, y0: number, maxX = 940): string {
  let at = x, y = y0;
  const parts = items.map((it) => {
    if (at > x && at + itemWidth(it) > maxX) { at = x; y += LEGEND_ROW; }
    const sw = it.kind === "line"
      ? `<line x1="${at}" x2="${at + 22}" y1="${y}" y2="${y}" stroke="${esc(it.color)}" stroke-width="${it.width ?? 2.5}"${it.dash ? ` stroke-dasharray="${esc(it.dash)}"` : ""}/>`
      : it.kind === "cross"
        ? `<path d="M${at + 7} ${y - 4}l8 8m0 -8l-8 8" stroke="${esc(it.color)}" stroke-width="2"/>`
        : `<rect x="${at + 3}" y="${y - 6}" width="16" height="12" fill="${esc(it.color)}"${it.kind === "band" ? ' opacity="0.5"' : ""}/>`;
    const text = `<text class="lg" x="${at + 28}" y="${y}" dy="0.32em">${esc(it.label)}</text>`;
    at += itemWidth(it);
    return sw + text;
  });
  return `<g class="legend">${parts.join("")}</g>`;
}

/** A message in the middle of an empty plot area. */
export function emptyNote(f: Frame, text: string): string {
  return `<text class="empty" x="${c((f.left + f.width - f.right) / 2)}" y="${c((f.top + f.height - f.bottom) / 2)}" text-anchor="middle">${esc(text)}</text>`;
}
