// The HTML reports (device-profiles/report/): the markup itself (escaping, empty runs, a policy that
// failed everything, no NaN/Infinity, fields added later), then the real thing in headless Chromium:
// no console message, no page error, no request at all, and the series and points in the DOM.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { renderReport, renderSweepReport } from "../../device-profiles/report/index.js";
import type { SimResult } from "../../device-profiles/sim/types.js";
import {
  chartOf, chromiumSkipReason, emptySimResult, launchReportBrowser, makeSimResult, makeSweepRows, tagsOf, type ReportBrowser,
} from "./report-support.js";

const POLICIES = ["hysteresis", "oracle", "best-static", "all-local", "all-cloud"];
const seriesOf = (key: string): string => (key === "hysteresis" ? "adaptive" : key);
const count = (r: SimResult, key: string, outcome: "ok" | "failed"): number =>
  r.requests.filter((q) => q.outcomes[key]?.outcome === outcome).length;
const withSplit = (r: SimResult, key: string): number => r.requests.filter((q) => q.outcomes[key]?.split != null).length;

/** No number the page shows or draws with is NaN, Infinity, undefined or null. */
function assertFiniteEverywhere(html: string): void {
  for (const bad of ["NaN", "Infinity", "undefined", ">null<", '"null"']) assert.ok(!html.includes(bad), `the report prints ${bad}`);
  for (const m of html.matchAll(/\s(x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)"/g)) {
    if (m[1] === "width" && m[2] === "device-width,initial-scale=1") continue;
    assert.ok(Number.isFinite(Number(m[2])), `attribute ${m[0].trim()} is not a finite number`);
  }
  for (const m of html.matchAll(/\s(?:points|d)="([^"]*)"/g)) {
    for (const v of (m[1] ?? "").match(/-?[\d.]+(?:e-?\d+)?/g) ?? []) assert.ok(Number.isFinite(Number(v)), `coordinate ${v} in ${m[0].slice(0, 60)}`);
  }
}

describe("renderReport: the document", () => {
  const r = makeSimResult();
  const html = renderReport(r);

  test("the fixture is the run the brief describes: ~200 requests, five policies, a bandwidth drop, a cloud outage", () => {
    assert.equal(r.requests.length, 200);
    assert.deepEqual(Object.keys(r.requests[0]?.outcomes ?? {}).sort(), [...POLICIES].sort());
    assert.ok(r.timeline.some((s) => s.conditions.upMbit < r.timeline[0]!.conditions.upMbit / 10));
    assert.ok(r.timeline.some((s) => !s.conditions.cloudUp));
    assert.ok(count(r, "all-cloud", "failed") > 0 && count(r, "hysteresis", "failed") > 0);
  });

  test("is one complete, deterministic HTML document that loads nothing", () => {
    assert.ok(html.startsWith("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert.ok(html.endsWith("</html>\n"));
    assert.equal(renderReport(makeSimResult()), html, "same result, same bytes");
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
    assert.ok(!/<script|<link rel="stylesheet"|@import|\bsrc=|url\((?!#)|https?:\/\/(?!www\.w3\.org\/2000\/svg")/i.test(html), "references nothing outside the file");
    assertFiniteEverywhere(html);
  });

  test("header: meta and the summary per policy with the adaptive/oracle ratio", () => {
    for (const v of ["pi4-4gb", "wifi-good", "bandwidth-drop", "hysteresis", "mobilenet-v2 (6 segments)", "test-fixture", "virtual", ">7<"]) assert.ok(html.includes(v), v);
    const rows = tagsOf(html, "tr").filter((t) => t["data-policy"] !== undefined).map((t) => t["data-policy"]);
    assert.deepEqual(rows, ["adaptive", "oracle", "best-static", "all-local", "all-cloud"]);
    const ratio = tagsOf(html, "p").find((t) => t["data-ratio"] !== undefined)?.["data-ratio"];
    assert.equal(Number(ratio), Number(r.summary.adaptiveOverOracle.toFixed(4)));
    assert.match(html, /24 <small>\(E_NO_SPLIT\)<\/small>/, "failures with their codes");
  });

  test("latency: one path per policy with as many points as the policy has successes; failures as marks", () => {
    const svg = chartOf(html, "latency");
    const paths = tagsOf(svg, "path").filter((t) => t["data-kind"] === "latency");
    assert.deepEqual(paths.map((p) => p["data-series"]).sort(), POLICIES.map(seriesOf).sort());
    for (const key of POLICIES) {
      const p = paths.find((x) => x["data-policy"] === key);
      assert.equal(Number(p?.["data-points"]), count(r, key, "ok"), key);
      assert.equal((p?.d?.match(/[ML]/g) ?? []).length, count(r, key, "ok"), `${key}: vertices`);
      const fails = tagsOf(svg, "g").find((g) => g["data-kind"] === "failed" && g["data-series"] === seriesOf(key));
      if (count(r, key, "failed") === 0) assert.equal(fails, undefined, key);
      else assert.equal(Number(fails?.["data-points"]), count(r, key, "failed"), key);
    }
    // all-cloud's line breaks at the outage: two runs of successes, so two M commands.
    assert.equal((paths.find((p) => p["data-series"] === "all-cloud")?.d?.match(/M/g) ?? []).length, 2);
    assert.equal(tagsOf(svg, "rect").filter((t) => t["data-outage"] !== undefined).length, 1);
    assert.match(svg, /<title id="lat-t">/);
  });

  test("latency goes to a log axis when a wait stretches the range, and stays linear otherwise", () => {
    assert.doesNotMatch(chartOf(html, "latency"), /latency \(ms\) \(log scale\)/, "60 to 700 ms: linear");
    const held = makeSimResult();
    held.requests[150]!.outcomes.oracle!.latencyMs = 30_000; // held 30 s while the cloud was down
    const svg = chartOf(renderReport(held), "latency");
    assert.match(svg, /latency \(ms\) \(log scale\)/);
    assert.ok(tagsOf(svg, "text").length > 0 && />10,000</.test(svg), "decade ticks up to the wait");
  });

  test("split chart: adaptive and oracle step lines over the bandwidth steps, outage shaded", () => {
    const svg = chartOf(html, "split");
    const lines = tagsOf(svg, "polyline");
    assert.deepEqual(lines.map((l) => l["data-series"]), ["bandwidth-up", "oracle", "adaptive"]);
    const pts = (l: Record<string, string> | undefined): number => (l?.points ?? "").trim().split(/\s+/).length;
    const bw = lines[0];
    assert.equal(Number(bw?.["data-points"]), r.timeline.length);
    assert.equal(pts(bw), 2 * r.timeline.length, "steps, and the last one held to the end");
    for (const [l, key] of [[lines[1], "oracle"], [lines[2], "hysteresis"]] as const) {
      assert.equal(Number(l?.["data-points"]), withSplit(r, key));
      assert.equal(pts(l), 2 * withSplit(r, key) - 1);
    }
    assert.match(svg, /uplink \(Mbit\/s\) \(log scale\)/, "40 to 2.5 Mbit/s is drawn on a log axis");
    assert.equal(tagsOf(svg, "rect").filter((t) => t["data-outage"] !== undefined).length, 1);
  });

  test("bars: device, transfer, cloud for every split; the infeasible one marked, the best labelled", () => {
    const svg = chartOf(html, "bars");
    for (const s of ["device", "transfer", "cloud"]) {
      const g = tagsOf(svg, "g").find((t) => t["data-series"] === s);
      assert.equal(Number(g?.["data-points"]), r.splits.length, s);
    }
    assert.equal(tagsOf(svg, "rect").filter((t) => t["data-split"] !== undefined).length, 3 * r.splits.length + 1);
    const marker = tagsOf(svg, "g").find((t) => t["data-series"] === "infeasible");
    assert.equal(marker?.["data-points"], "1");
    assert.match(svg, />infeasible</);
    const best = r.splits.filter((s) => s.feasible).reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
    assert.equal(tagsOf(svg, "text").find((t) => t["data-best"] !== undefined)?.["data-best"], String(best.split));
  });
});

describe("renderReport: hostile and degenerate results", () => {
  test("names are escaped everywhere: meta, policy names, outcome keys, error codes", () => {
    const r = makeSimResult({ profile: `<script>alert("p")</script>`, scenario: "drop & <b>outage</b>", policy: `hy"st'<er>`, model: "m&m" });
    for (const q of r.requests) {
      q.outcomes["<img src=x onerror=alert(1)>"] = { split: null, latencyMs: null, outcome: "failed", code: "E_<X>", bytesUp: 0 };
    }
    const html = renderReport(r);
    assert.ok(!html.includes("<script"), "no script element");
    assert.ok(!html.includes("<img") && !html.includes("<b>") && !html.includes("<er>"), "no injected element");
    assert.ok(html.includes("&lt;script&gt;alert(&quot;p&quot;)&lt;/script&gt;"));
    assert.ok(html.includes("drop &amp; &lt;b&gt;outage&lt;/b&gt;"));
    const paths = tagsOf(chartOf(html, "latency"), "path").filter((t) => t["data-kind"] === "latency");
    assert.ok(paths.some((p) => p["data-policy"] === `hy"st'<er>`), "the adaptive policy's name survives as an attribute");
    assert.ok(paths.some((p) => p["data-series"] === "<img src=x onerror=alert(1)>"), "an extra outcome key is a sixth series");
    assert.ok(html.includes("E_&lt;X&gt;"));
    assertFiniteEverywhere(html);
  });

  test("an empty run renders every chart with a note and zero points", () => {
    const html = renderReport(emptySimResult());
    assertFiniteEverywhere(html);
    assert.match(html, /no requests in this run/);
    assert.match(html, /no split costs in this result/);
    for (const chart of ["latency", "split", "bars"]) {
      const counts = tagsOf(chartOf(html, chart), "(?:path|polyline|g)").filter((t) => t["data-series"] !== undefined).map((t) => t["data-points"]);
      assert.ok(counts.length > 0 && counts.every((n) => n === "0"), `${chart}: ${counts.join(",")}`);
    }
  });

  test("a policy that failed every request: no line, a mark per request, dashes in the summary", () => {
    const r = makeSimResult({ failAll: "hysteresis" });
    assert.ok(Number.isNaN(r.summary.adaptive.meanMs));
    const html = renderReport(r);
    assertFiniteEverywhere(html);
    const svg = chartOf(html, "latency");
    assert.equal(tagsOf(svg, "path").find((t) => t["data-series"] === "adaptive")?.["data-points"], "0");
    assert.equal(tagsOf(svg, "g").find((t) => t["data-series"] === "adaptive" && t["data-kind"] === "failed")?.["data-points"], "200");
    const row = html.slice(html.indexOf('<tr class="adaptive"'), html.indexOf("</tr>", html.indexOf('<tr class="adaptive"')));
    assert.match(row, /<td>—<\/td><td>—<\/td>/);
    assert.match(row, /200 <small>\(E_NO_SPLIT\)/);
    assert.match(html, /adaptive \/ oracle mean latency: <strong>—<\/strong>/);
  });

  test("NaN, Infinity and JSON's null are never printed, wherever they sit", () => {
    const r = makeSimResult();
    r.meta.seed = NaN;
    r.meta.durationMs = Infinity;
    r.summary.adaptive.p95Ms = Infinity;
    r.summary.oracle.meanMs = NaN;
    r.summary.adaptiveOverOracle = Infinity;
    r.splits[2]!.totalMs = Infinity;
    r.splits[3]!.breakdown.transferMs = NaN;
    r.timeline[2]!.conditions.upMbit = Infinity;
    r.timeline[3]!.conditions.upMbit = 0;
    const q = r.requests[5]!;
    q.t = NaN;
    r.requests[6]!.outcomes.oracle!.latencyMs = Infinity;
    r.requests[7]!.outcomes["all-local"]!.latencyMs = -5;
    assertFiniteEverywhere(renderReport(r));
    // What `edgecut simulate --json` turns those into: null.
    assertFiniteEverywhere(renderReport(JSON.parse(JSON.stringify(r)) as SimResult));
  });

  test("fields added later are kept: a new meta field is listed, a new policy drawn", () => {
    const r = makeSimResult();
    (r.meta as unknown as Record<string, unknown>).backend = "onnxruntime-cpu";
    for (const q of r.requests) q.outcomes.greedy = { ...q.outcomes.oracle! };
    (r.summary as unknown as Record<string, unknown>).greedy = { ...r.summary.oracle };
    const html = renderReport(r);
    assert.match(html, /<dt>backend<\/dt><dd>onnxruntime-cpu<\/dd>/);
    assert.ok(tagsOf(chartOf(html, "latency"), "path").some((p) => p["data-series"] === "greedy" && p["data-points"] === "200"));
    assert.ok(tagsOf(html, "tr").some((t) => t["data-policy"] === "greedy"));
  });

  test("a live run says its figures are noisy", () => {
    assert.match(renderReport(makeSimResult({ mode: "live" })), /Live run: .* noisy/);
    assert.doesNotMatch(renderReport(makeSimResult()), /Live run/);
  });
});

describe("renderSweepReport", () => {
  const rows = makeSweepRows();
  const html = renderSweepReport(rows);

  test("a grid cell per row, a chart per preset with a line per profile over its feasible splits", () => {
    assertFiniteEverywhere(html);
    const grid = chartOf(html, "sweep-grid");
    assert.equal(tagsOf(grid, "g").find((t) => t["data-series"] === "best-split")?.["data-points"], String(rows.length));
    const cells = tagsOf(grid, "g").filter((t) => t["data-profile"] !== undefined);
    assert.deepEqual(cells.map((t) => Number(t["data-split"])), rows.map((r) => r.bestSplit));
    const charts = html.match(/data-chart="sweep-preset"/g) ?? [];
    assert.equal(charts.length, 4);
    const lines = tagsOf(html, "polyline");
    assert.equal(lines.length, rows.length);
    for (const row of rows) {
      const l = lines.find((x) => x["data-series"] === row.profile && x["data-preset"] === row.preset);
      assert.equal(Number(l?.["data-points"]), row.splits.filter((s) => s.feasible).length, `${row.profile} ${row.preset}`);
    }
  });

  test("escapes names, shows a row without a feasible split, and an empty sweep says so", () => {
    const odd = renderSweepReport([...rows, { profile: `<i>x</i>"`, preset: "3g&", bestSplit: null, totalMs: null, splits: [] }]);
    assert.ok(!odd.includes("<i>") && odd.includes("&lt;i&gt;x&lt;/i&gt;&quot;") && odd.includes("3g&amp;"));
    assert.match(odd, /no split fits/);
    assertFiniteEverywhere(odd);
    const empty = renderSweepReport([]);
    assert.match(empty, /The sweep has no rows/);
    assertFiniteEverywhere(empty);
  });
});

/** What the page's DOM holds, as DOM_PROBE returns it. */
interface DomProbe {
  svgs: { chart: string; w: number; h: number }[];
  latency: { series: string; points: number; vertices: number; w: number }[];
  failed: { series: string; points: number; marks: number }[];
  steps: { series: string; points: number; vertices: number }[];
  bars: { series: string; points: number; rects: number }[];
  overflow: number;
  title: string;
}

// Runs in the page. A string, not a function: the tests are type-checked without the DOM library,
// and tsx would wrap a named function in a helper (__name) the page does not have.
const DOM_PROBE = `(() => {
  const all = (sel) => [...document.querySelectorAll(sel)];
  const num = (el) => Number(el.getAttribute("data-points"));
  return {
    svgs: all("svg[data-chart]").map((s) => { const b = s.getBoundingClientRect(); return { chart: s.getAttribute("data-chart"), w: b.width, h: b.height }; }),
    latency: all('svg[data-chart="latency"] path[data-kind="latency"]').map((p) => ({
      series: p.getAttribute("data-series"), points: num(p), vertices: ((p.getAttribute("d") || "").match(/[ML]/g) || []).length, w: p.getBBox().width })),
    failed: all('svg[data-chart="latency"] g[data-kind="failed"]').map((g) => ({ series: g.getAttribute("data-series"), points: num(g), marks: g.querySelectorAll("path").length })),
    steps: all('svg[data-chart="split"] polyline[data-shape="step"]').map((l) => ({ series: l.getAttribute("data-series"), points: num(l), vertices: l.points.numberOfItems })),
    bars: all('svg[data-chart="bars"] g[data-series]').map((g) => ({ series: g.getAttribute("data-series"), points: num(g), rects: g.querySelectorAll("rect").length })),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    title: document.title,
  };
})()`;

const CHROMIUM_SKIP = chromiumSkipReason() ?? false;

describe("in headless Chromium", { skip: CHROMIUM_SKIP }, () => {
  let browser: ReportBrowser;
  before(async () => { browser = await launchReportBrowser(); });
  after(async () => { await browser?.close(); });

  test("the report renders with no console message, no error and no request; the DOM has every series and point", async () => {
    const r = makeSimResult();
    const { page, log } = await browser.open(renderReport(r));
    assert.deepEqual(log, { console: [], errors: [], requests: [], failedRequests: [] });
    const dom = await page.evaluate(DOM_PROBE) as DomProbe;
    assert.deepEqual(dom.svgs.map((s) => s.chart), ["latency", "split", "bars"]);
    for (const s of dom.svgs) assert.ok(s.w > 900 && s.h > 250, `${s.chart} is laid out: ${s.w}x${s.h}`);
    assert.ok(dom.overflow <= 0, "nothing overflows the page horizontally");
    assert.equal(dom.title, "edgecut simulation — pi4-4gb · wifi-good · bandwidth-drop");
    assert.equal(dom.latency.length, 5);
    for (const key of POLICIES) {
      const l = dom.latency.find((x) => x.series === seriesOf(key));
      assert.deepEqual(l && { points: l.points, vertices: l.vertices }, { points: count(r, key, "ok"), vertices: count(r, key, "ok") }, key);
      assert.ok((l?.w ?? 0) > 800, `${key} spans the run`);
    }
    assert.deepEqual(dom.failed.map((f) => [f.series, f.points, f.marks]).sort(),
      POLICIES.filter((k) => count(r, k, "failed") > 0).map((k) => [seriesOf(k), count(r, k, "failed"), count(r, k, "failed")]).sort());
    assert.deepEqual(dom.steps.map((s) => [s.series, s.points, s.vertices]), [
      ["bandwidth-up", r.timeline.length, 2 * r.timeline.length],
      ["oracle", withSplit(r, "oracle"), 2 * withSplit(r, "oracle") - 1],
      ["adaptive", withSplit(r, "hysteresis"), 2 * withSplit(r, "hysteresis") - 1],
    ]);
    assert.deepEqual(dom.bars, [
      { series: "device", points: 7, rects: 7 }, { series: "transfer", points: 7, rects: 7 }, { series: "cloud", points: 7, rects: 7 },
      { series: "infeasible", points: 1, rects: 1 },
    ]);
    const png = await page.screenshot({ fullPage: true });
    assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
    assert.equal(png.readUInt32BE(16), 1100, "the screenshot is the viewport's width");
    assert.ok(png.readUInt32BE(20) > 1500, "and the whole page's height");
  });

  test("the degenerate reports and the sweep render cleanly too", async () => {
    const pages = {
      empty: renderReport(emptySimResult()),
      failAll: renderReport(makeSimResult({ failAll: "hysteresis" })),
      sweep: renderSweepReport(makeSweepRows()),
      emptySweep: renderSweepReport([]),
    };
    for (const [name, html] of Object.entries(pages)) {
      const { page, log } = await browser.open(html);
      assert.deepEqual(log, { console: [], errors: [], requests: [], failedRequests: [] }, name);
      const n = await page.locator("[data-series]").count();
      assert.ok(name === "emptySweep" ? n === 0 : n > 0, `${name}: ${n} series`);
      await page.close();
    }
  });

  test("the checks catch a report that fetches something or throws", async () => {
    const html = renderReport(makeSimResult())
      .replace("</main>", '<img src="http://127.0.0.1:9/pixel.png" alt=""><script>throw new Error("boom")</script></main>');
    const { log } = await browser.open(html);
    assert.ok(log.console.some((m) => m.startsWith("error:")), "the CSP blocks both, and says so in the console");
    const noCsp = html.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, "");
    const second = await browser.open(noCsp);
    assert.deepEqual(second.log.requests, ["http://127.0.0.1:9/pixel.png"], "without the CSP the request itself is recorded");
    assert.ok(second.log.errors.some((e) => e.includes("boom")), "and the script's error");
  });
});
