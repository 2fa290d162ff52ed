/**
 * The two charts over the run's time: end-to-end latency per policy (one path each, broken where
 * the policy failed; failed requests as crosses in a band above the plot), and the split point of
 * the adaptive policy and the oracle against the uplink bandwidth. Cloud outages are shaded on both.
 *
 * Every series is one element with data-series and data-points, the number of data points, so a
 * test can count them in the DOM: a latency path has that many M/L commands; a step polyline
 * (data-shape="step") has 2n - 1 vertices (the bandwidth line one more, to the run's end).
 */
import type { SimResult } from "../sim/types.js";
import { endTime, outages, outcomeOf, policies, steps, type PolicyStyle } from "./data.js";
import {
  autoScale, c, emptyNote, esc, fmtNum, isNum, legend, legendExtra, linearScale, svgOpen, xAxis, yAxis,
  type Frame, type LegendItem, type Scale,
} from "./svg.js";

const WIDTH = 960;
const FAIL_ROW = 9;

/** Shaded cloud outages over the plot area. */
function outageBands(r: SimResult, sx: Scale, f: Frame): string {
  const bands = outages(r).map((o) => {
    const x0 = sx(o.t0 / 1000), x1 = sx(o.t1 / 1000);
    return `<rect class="outage" data-outage="" x="${c(x0)}" y="${f.top}" width="${c(Math.max(1, x1 - x0))}" height="${f.height - f.top - f.bottom}">`
      + `<title>cloud down ${esc(fmtNum(o.t0 / 1000, 1))} s to ${esc(fmtNum(o.t1 / 1000, 1))} s</title></rect>`;
  });
  return `<g class="outages" data-points="${bands.length}">${bands.join("")}</g>`;
}

/** Crosses for one policy's failed requests in its row of the failure band. */
function failMarks(r: SimResult, p: PolicyStyle, sx: Scale, y: number): string {
  const marks: string[] = [];
  for (const req of r.requests ?? []) {
    const o = outcomeOf(req, p.key);
    if (o?.outcome !== "failed" || !isNum(req.t)) continue;
    const x = sx(req.t / 1000);
    marks.push(`<path d="M${c(x - 3)} ${c(y - 3)}l6 6m0 -6l-6 6"><title>${esc(`${p.label}: request ${req.i} at ${fmtNum(req.t / 1000, 2)} s failed (${o.code ?? "no code"})`)}</title></path>`);
  }
  return `<g class="failed" data-series="${esc(p.series)}" data-kind="failed" data-points="${marks.length}" stroke="${esc(p.color)}" stroke-width="1.6">${marks.join("")}</g>`;
}

/** Vertices of a step line through (x, y) points: each value holds until the next point. */
function stepPoints(pts: readonly (readonly [number, number])[]): string {
  const out: string[] = [];
  pts.forEach(([x, y], i) => {
    const prev = pts[i - 1];
    if (prev !== undefined) out.push(`${c(x)},${c(prev[1])}`);
    out.push(`${c(x)},${c(y)}`);
  });
  return out.join(" ");
}

/** The time axis of a run (seconds). */
function timeScale(r: SimResult, f: Frame): Scale {
  const end = endTime(r);
  return linearScale(0, end > 0 ? end / 1000 : 1, f.left, f.width - f.right);
}

/** The failure band's rows: the policies that failed at least once (always at least one row for the label). */
function failRows(r: SimResult, ps: readonly PolicyStyle[]): PolicyStyle[] {
  return ps.filter((p) => (r.requests ?? []).some((q) => outcomeOf(q, p.key)?.outcome === "failed"));
}

/** Latency over time, one path per policy (broken at its failures); `id` keeps element ids unique in the page. */
export function latencyChart(r: SimResult, id: string): string {
  const ps = policies(r);
  const rows = failRows(r, ps);
  const items: LegendItem[] = ps.map((p) => ({ label: p.label, color: p.color, kind: "line", width: p.width, ...(p.dash ? { dash: p.dash } : {}) }));
  if (outages(r).length > 0) items.push({ label: "cloud down", color: "#f2b8b5", kind: "band" });
  if (rows.length > 0) items.push({ label: "failed", color: "#555", kind: "cross" });
  const bandTop = 34 + legendExtra(items, 72, WIDTH - 24);
  const f: Frame = { width: WIDTH, height: 0, left: 72, right: 24, top: bandTop + rows.length * FAIL_ROW + 10, bottom: 44 };
  f.height = f.top + 250 + f.bottom;
  const sx = timeScale(r, f);
  const lats: number[] = [];
  for (const req of r.requests ?? []) for (const p of ps) {
    const o = outcomeOf(req, p.key);
    if (o?.outcome === "ok" && isNum(o.latencyMs) && o.latencyMs > 0) lats.push(o.latencyMs);
  }
  const sy = autoScale(lats, f.height - f.bottom, f.top);
  // One path per policy, broken where the policy failed a request: a line across a failure would
  // suggest latencies nobody measured. data-points counts its vertices (the M and L commands).
  const lines = ps.map((p) => {
    const cmds: string[] = [];
    let runLen = 0;
    for (const req of r.requests ?? []) {
      const o = outcomeOf(req, p.key);
      if (o?.outcome === "failed") { if (runLen === 1) cmds.push("h0"); runLen = 0; continue; }
      if (o?.outcome !== "ok" || !isNum(o.latencyMs) || !isNum(req.t)) continue;
      cmds.push(`${runLen === 0 ? "M" : "L"}${c(sx(req.t / 1000))} ${c(sy(Math.max(o.latencyMs, sy.domain[0])))}`);
      runLen++;
    }
    if (runLen === 1) cmds.push("h0"); // a lone point between failures: a dot (round caps)
    const n = cmds.filter((x) => x !== "h0").length;
    return `<path data-series="${esc(p.series)}" data-policy="${esc(p.key)}" data-kind="latency" data-points="${n}" d="${cmds.join("")}"`
      + ` fill="none" stroke="${esc(p.color)}" stroke-width="${p.width}" stroke-linejoin="round" stroke-linecap="round"${p.dash ? ` stroke-dasharray="${p.dash}"` : ""}>`
      + `<title>${esc(`${p.label}: latency of ${n} requests`)}</title></path>`;
  });
  // Draw the adaptive policy last so it stays visible over the baselines.
  const ordered = [...lines.slice(1), lines[0] ?? ""];
  const fails = rows.map((p, i) => failMarks(r, p, sx, bandTop + i * FAIL_ROW + FAIL_ROW / 2));
  const failLabel = rows.length > 0
    ? `<text class="tl" x="${f.left - 6}" y="${bandTop + (rows.length * FAIL_ROW) / 2}" dy="0.32em" text-anchor="end">failed</text>`
    : "";
  const empty = (r.requests ?? []).length === 0 ? emptyNote(f, "no requests in this run") : lats.length === 0 ? emptyNote(f, "no request succeeded") : "";
  return svgOpen(id, "latency", f, "End-to-end latency per request and policy",
    `One line per policy (${ps.map((p) => p.label).join(", ")}); x: time since the start in seconds; y: latency in ms${sy.log ? " on a log scale" : ""}; failed requests are crosses above the plot; shaded: cloud outages.`)
    + outageBands(r, sx, f) + xAxis(sx, f, "time since start (s)") + yAxis(sy, f, "latency (ms)")
    + `<g class="series">${ordered.join("")}</g>${failLabel}${fails.join("")}${empty}${legend(items, f.left, 14, f.width - f.right)}</svg>`;
}

/** The split point of the adaptive policy and the oracle over time, against the uplink bandwidth. */
export function splitChart(r: SimResult, id: string): string {
  const ps = policies(r).filter((p) => p.series === "adaptive" || p.series === "oracle");
  const rows = failRows(r, ps);
  const items: LegendItem[] = ps.map((p) => p.series === "oracle"
    ? { label: p.label, color: "#c4c4c4", kind: "line" as const, width: 7 }
    : { label: `${p.label} split`, color: p.color, kind: "line" as const, width: 2 });
  items.push({ label: "uplink Mbit/s (right axis)", color: "#d9822b", kind: "line", dash: "2 2", width: 1.8 });
  if (outages(r).length > 0) items.push({ label: "cloud down", color: "#f2b8b5", kind: "band" });
  const bandTop = 34 + legendExtra(items, 72, WIDTH - 72);
  const f: Frame = { width: WIDTH, height: 0, left: 72, right: 72, top: bandTop + rows.length * FAIL_ROW + 10, bottom: 44 };
  f.height = f.top + 220 + f.bottom;
  const sx = timeScale(r, f);
  let maxK = isNum(r.meta?.segments) ? r.meta.segments : 0;
  for (const req of r.requests ?? []) for (const p of ps) {
    const k = outcomeOf(req, p.key)?.split;
    if (isNum(k) && k > maxK) maxK = k;
  }
  const sk = linearScale(0, Math.max(1, maxK), f.height - f.bottom, f.top, Math.min(Math.max(1, maxK), 8), true);
  const st = steps(r);
  const bw = autoScale(st.map((s) => s.conditions.upMbit).filter((v) => isNum(v) && v > 0), f.height - f.bottom, f.top, 8);
  const bwPts: [number, number][] = [];
  for (const s of st) if (isNum(s.conditions.upMbit)) bwPts.push([sx(s.t0 / 1000), bw(Math.max(s.conditions.upMbit, bw.domain[0]))]);
  const lastStep = st[st.length - 1];
  // The last step holds until the end of the run: one more vertex, not a data point.
  const bwTail = lastStep !== undefined && bwPts.length > 0 ? ` ${c(sx(lastStep.t1 / 1000))},${c(bwPts[bwPts.length - 1]?.[1] ?? 0)}` : "";
  const bwLine = `<polyline data-series="bandwidth-up" data-kind="bandwidth" data-shape="step" data-points="${bwPts.length}" points="${stepPoints(bwPts)}${bwTail}"`
    + ` fill="none" stroke="#d9822b" stroke-width="1.8" stroke-dasharray="2 2"><title>uplink bandwidth (Mbit/s), ${bwPts.length} steps</title></polyline>`;
  const lines = ps.map((p) => {
    const pts: [number, number][] = [];
    for (const req of r.requests ?? []) {
      const k = outcomeOf(req, p.key)?.split;
      if (isNum(k) && isNum(req.t)) pts.push([sx(req.t / 1000), sk(k)]);
    }
    // The oracle as a wide pale band under the adaptive line: where they agree, the line sits in the band.
    const look = p.series === "oracle" ? `stroke="#9a9a9a" stroke-opacity="0.45" stroke-width="7"` : `stroke="${esc(p.color)}" stroke-width="2"`;
    return `<polyline data-series="${esc(p.series)}" data-policy="${esc(p.key)}" data-kind="split" data-shape="step" data-points="${pts.length}" points="${stepPoints(pts)}"`
      + ` fill="none" ${look} stroke-linejoin="round"><title>${esc(`${p.label}: split point of ${pts.length} requests`)}</title></polyline>`;
  });
  const ordered = [...lines].reverse();
  const fails = rows.map((p, i) => failMarks(r, p, sx, bandTop + i * FAIL_ROW + FAIL_ROW / 2));
  const failLabel = rows.length > 0
    ? `<text class="tl" x="${f.left - 6}" y="${bandTop + (rows.length * FAIL_ROW) / 2}" dy="0.32em" text-anchor="end">failed</text>`
    : "";
  const n = isNum(r.meta?.segments) ? r.meta.segments : maxK;
  const empty = (r.requests ?? []).length === 0 ? emptyNote(f, "no requests in this run") : "";
  return svgOpen(id, "split", f, "Split point over time against the uplink bandwidth",
    `Step lines: the split point k chosen for each request by ${ps.map((p) => p.label).join(" and ")} (left axis, 0 = all in the cloud, ${n} = all on the device); dashed: uplink bandwidth in Mbit/s (right axis); shaded: cloud outages.`)
    + outageBands(r, sx, f) + xAxis(sx, f, "time since start (s)")
    + yAxis(sk, f, `split point k (0 = cloud, ${n} = device)`) + yAxis(bw, f, "uplink (Mbit/s)", "right", "bw")
    + `<g class="series">${bwLine}${ordered.join("")}</g>${failLabel}${fails.join("")}${empty}${legend(items, f.left, 14, f.width - f.right)}</svg>`;
}
