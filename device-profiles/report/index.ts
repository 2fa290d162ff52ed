/**
 * The HTML reports of the simulators: renderReport() for one run (`edgecut simulate --html`),
 * renderSweepReport() for a sweep (`edgecut sweep --html`). Each returns one self-contained
 * document: inline CSS and SVG, no script, nothing fetched when opened.
 */
import type { SimResult } from "../sim/types.js";
import { barsChart } from "./bars.js";
import { documentShell, metaList, summaryTable } from "./page.js";
import { esc, isNum } from "./svg.js";
import { latencyChart, splitChart } from "./time-charts.js";

export { renderSweepReport, type SweepRow } from "./sweep.js";

/**
 * The report of one simulation run as a complete HTML document: meta, the summary per policy,
 * latency over time per policy, the split point against the bandwidth, and the stacked cost
 * of every split point. Deterministic (same result, same bytes); never prints NaN or Infinity.
 */
export function renderReport(result: SimResult): string {
  const m = result.meta ?? ({} as SimResult["meta"]);
  const name = [m.profile, m.preset, m.scenario].filter((v) => typeof v === "string" && v !== "").join(" · ");
  const live = m.mode === "live"
    ? `<p class="warn">Live run: the real agent, broker and worker on this machine with compute stretched to the profile. Its figures are noisy; it proves the wiring, not the targets.</p>`
    : "";
  const n = isNum(m.segments) ? m.segments : undefined;
  const body = `<header><h1>edgecut simulation${name ? `: ${esc(name)}` : ""}</h1>`
    + `<p class="lead">Every request of the scenario under the adaptive policy and the baselines (all-local, all-cloud, best static split, oracle).</p>`
    + `${metaList(result)}${live}</header>`
    + `<section><h2>Summary</h2>${summaryTable(result)}</section>`
    + `<section><h2>Latency over time</h2><figure>${latencyChart(result, "lat")}`
    + `<figcaption>End-to-end latency of each request, waits included. Crosses above the plot: failed requests.</figcaption></figure></section>`
    + `<section><h2>Split point and bandwidth</h2><figure>${splitChart(result, "split")}`
    + `<figcaption>The split point the adaptive policy chose for each request, over the oracle's (the best split at each step), against the uplink bandwidth of the scenario.</figcaption></figure></section>`
    + `<section><h2>Cost per split point</h2><figure>${barsChart(result.splits, "bars", n)}`
    + `<figcaption>Predicted time of each split point in the scenario's first conditions.</figcaption></figure></section>`;
  return documentShell(`edgecut simulation${name ? ` — ${name}` : ""}`, body);
}
