/**
 * Test support for the HTML reports: a seeded generator of realistic SimResults (an image model in
 * 6 segments on a Pi 4 over wifi: a bandwidth drop, a deeper drop, a cloud outage; the adaptive
 * policy lags the oracle by its hysteresis and learns of the outage by a timeout), sweep rows from
 * the same cost model, and headless Chromium (Debian's /usr/bin/chromium driven by playwright-core).
 *
 * Chromium: $CHROMIUM if set, else /usr/bin/chromium. When it is missing, chromiumSkipReason()
 * returns the reason to skip, except under CI=true, where it throws E_TOOL_MISSING.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type Page } from "playwright-core";
import { fail } from "../../sdk/errors.js";
import type { SimBreakdown, SimConditions, SimOutcome, SimRequest, SimResult, SimSplitCost, SimSummaryRow } from "../../device-profiles/sim/types.js";
import type { SweepRow } from "../../device-profiles/report/index.js";
import { uniformRng } from "../../sdk/graph/models/rng.js";

// ---- the cost model -----------------------------------------------------------------------------

const SEG_MS = [18, 24, 30, 28, 24, 12]; // per segment on the reference board (Pi 4), idle
const CLOUD_SPEEDUP = 9;
const CUT_BYTES = [150_528, 401_408, 25_088, 100_352, 50_176, 5_120, 0]; // what crosses at k = 0..6
const REPLY_BYTES = 4_000;
const N = SEG_MS.length;

/** Breakdown and total of split k in the given conditions on a board of relative speed `speed`. */
function cost(k: number, cond: SimConditions, speed = 1): SimBreakdown & { totalMs: number } {
  const deviceMs = (SEG_MS.slice(0, k).reduce((a, b) => a + b, 0) / speed) * (1 + cond.cpuLoadPercent / 100);
  const transferMs = k < N ? ((CUT_BYTES[k] ?? 0) * 8) / (cond.upMbit * 1000) + (REPLY_BYTES * 8) / (cond.downMbit * 1000) + cond.rttMs : 0;
  const cloudMs = k < N ? SEG_MS.slice(k).reduce((a, b) => a + b, 0) / CLOUD_SPEEDUP + 2 : 0;
  return { deviceMs, transferMs, cloudMs, totalMs: deviceMs + transferMs + cloudMs };
}

const BASE: SimConditions = { upMbit: 40, downMbit: 80, rttMs: 20, lossPct: 0, cpuLoadPercent: 5, ramAvailableBytes: 2.5 * 2 ** 30, cloudUp: true };

/** The bandwidth-drop-then-outage scenario over 60 s. */
export function scenarioTimeline(): { t: number; conditions: SimConditions }[] {
  return [
    { t: 0, conditions: { ...BASE } },
    { t: 15_000, conditions: { ...BASE, upMbit: 8, downMbit: 20, rttMs: 35 } },
    { t: 27_000, conditions: { ...BASE, upMbit: 2.5, downMbit: 6, rttMs: 70, lossPct: 1 } },
    { t: 36_000, conditions: { ...BASE, upMbit: 8, downMbit: 20, rttMs: 40 } },
    { t: 42_000, conditions: { ...BASE, upMbit: 8, downMbit: 20, rttMs: 40, cloudUp: false } },
    { t: 49_000, conditions: { ...BASE } },
  ];
}


/** Options of makeSimResult. */
export interface FixtureOptions {
  seed?: number;
  /** Request count over the 60 s run (default 200). */
  requests?: number;
  /** The adaptive policy's name (default "hysteresis"). */
  policy?: string;
  profile?: string;
  preset?: string;
  scenario?: string;
  model?: string;
  mode?: "virtual" | "live";
  /** An outcome key whose every request fails with E_NO_SPLIT. */
  failAll?: string;
  /** Split points that can never run (default [1]: its front does not fit the RAM margin). */
  infeasible?: number[];
}

function ok(k: number, c: SimBreakdown & { totalMs: number }, noise: number): SimOutcome {
  const breakdown = { deviceMs: c.deviceMs * noise, transferMs: c.transferMs * noise, cloudMs: c.cloudMs * noise };
  return { split: k, latencyMs: c.totalMs * noise, outcome: "ok", breakdown, bytesUp: CUT_BYTES[k] ?? 0 };
}

const failed = (code: string, split: number | null = null, bytesUp = 0): SimOutcome => ({ split, latencyMs: null, outcome: "failed", code, bytesUp });

/** The summary of one policy's outcomes, as the simulator computes it (NaN when nothing ran). */
export function summarize(outs: readonly SimOutcome[]): SimSummaryRow {
  const lat = outs.filter((o) => o.outcome === "ok" && o.latencyMs !== null).map((o) => o.latencyMs ?? 0).sort((a, b) => a - b);
  let switches = 0;
  let prev: number | null = null;
  for (const o of outs) {
    if (o.split === null) continue;
    if (prev !== null && o.split !== prev) switches++;
    prev = o.split;
  }
  return {
    meanMs: lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : NaN,
    p95Ms: lat.length ? lat[Math.min(lat.length - 1, Math.ceil(0.95 * lat.length) - 1)] ?? NaN : NaN,
    switches,
    bytesUp: outs.reduce((a, o) => a + o.bytesUp, 0),
    failed: outs.filter((o) => o.outcome === "failed").length,
  };
}

/** A realistic SimResult of the bandwidth-drop-then-outage scenario (deterministic per options). */
export function makeSimResult(opts: FixtureOptions = {}): SimResult {
  const policy = opts.policy ?? "hysteresis";
  const count = opts.requests ?? 200;
  const durationMs = 60_000;
  const bad = new Set(opts.infeasible ?? [1]);
  const rand = uniformRng(opts.seed ?? 7);
  const timeline = scenarioTimeline();
  const condAt = (t: number): SimConditions => [...timeline].reverse().find((s) => s.t <= t)?.conditions ?? BASE;
  const feasible = (k: number, c: SimConditions): boolean => !bad.has(k) && (k === N || c.cloudUp);
  const best = (c: SimConditions): number => {
    let b = N;
    for (let k = N; k >= 0; k--) if (feasible(k, c) && cost(k, c).totalMs < cost(b, c).totalMs) b = k;
    return b;
  };
  // best-static: the one split with the lowest mean over the requests it can serve, failures aside.
  const times = Array.from({ length: count }, (_, i) => Math.round((i * durationMs) / Math.max(1, count)));
  let staticK = N, staticMean = Infinity;
  for (let k = 0; k <= N; k++) {
    if (!feasible(k, BASE)) continue;
    const ts = times.filter((t) => feasible(k, condAt(t)));
    const mean = ts.reduce((a, t) => a + cost(k, condAt(t)).totalMs, 0) / Math.max(1, ts.length);
    if (mean < staticMean) { staticMean = mean; staticK = k; }
  }
  let cur = best(BASE), streak = 0, wasDown = false;
  const requests: SimRequest[] = times.map((t, i) => {
    const c = condAt(t);
    const noise = 0.93 + rand() * 0.2 + (rand() < 0.03 ? 0.6 : 0); // jitter and a rare slow request
    const o = best(c);
    const outcomes: Record<string, SimOutcome> = {};
    // adaptive: learns of an outage by one timeout; otherwise moves after 3 requests that favour another split by 10%.
    if (!c.cloudUp && !wasDown && cur < N) {
      outcomes[policy] = failed("E_TIMEOUT", cur, CUT_BYTES[cur] ?? 0);
      cur = o;
      streak = 0;
    } else {
      if (!feasible(cur, c)) { cur = o; streak = 0; }
      else if (o !== cur && cost(o, c).totalMs < 0.9 * cost(cur, c).totalMs) { if (++streak >= 3) { cur = o; streak = 0; } }
      else streak = 0;
      outcomes[policy] = ok(cur, cost(cur, c), noise);
    }
    wasDown = !c.cloudUp;
    outcomes["all-local"] = ok(N, cost(N, c), noise);
    outcomes["all-cloud"] = c.cloudUp ? ok(0, cost(0, c), noise) : failed("E_NO_SPLIT");
    outcomes["best-static"] = feasible(staticK, c) ? ok(staticK, cost(staticK, c), noise) : failed("E_NO_SPLIT");
    outcomes.oracle = ok(o, cost(o, c), noise);
    if (opts.failAll !== undefined) outcomes[opts.failAll] = failed("E_NO_SPLIT");
    return { i, t, conditions: c, outcomes };
  });
  const of = (key: string): SimSummaryRow => summarize(requests.map((r) => r.outcomes[key] ?? failed("E_NO_SPLIT")));
  const adaptive = of(policy), oracle = of("oracle");
  const splits: SimSplitCost[] = Array.from({ length: N + 1 }, (_, k) => {
    const { totalMs, ...breakdown } = cost(k, BASE);
    return { split: k, feasible: feasible(k, BASE), breakdown, totalMs };
  });
  return {
    meta: {
      format: 1, seed: opts.seed ?? 7, gitSha: "test-fixture", profile: opts.profile ?? "pi4-4gb",
      preset: opts.preset ?? "wifi-good", scenario: opts.scenario ?? "bandwidth-drop", policy, model: opts.model ?? "mobilenet-v2",
      segments: N, durationMs, requests: count, mode: opts.mode ?? "virtual",
    },
    summary: {
      adaptive, oracle, "all-local": of("all-local"), "all-cloud": of("all-cloud"), "best-static": of("best-static"),
      adaptiveOverOracle: adaptive.meanMs / oracle.meanMs,
    },
    splits,
    timeline,
    requests,
  };
}

/** A run with nothing in it: no requests, no timeline, no split costs, NaN summaries. */
export function emptySimResult(): SimResult {
  const r = makeSimResult({ requests: 0 });
  return { ...r, meta: { ...r.meta, durationMs: 0 }, timeline: [], splits: [] };
}

/** Sweep rows from the same cost model: boards of relative speed `speed` on presets' steady links. */
export function makeSweepRows(
  profiles: Record<string, number> = { "pi-zero-2w": 0.3, "pi4-4gb": 1, "pi5-8gb": 2.5 },
  presets: Record<string, Partial<SimConditions>> = {
    ethernet: { upMbit: 940, downMbit: 940, rttMs: 1 }, "wifi-good": { upMbit: 40, downMbit: 80, rttMs: 20 },
    lte: { upMbit: 8, downMbit: 30, rttMs: 45 }, "3g": { upMbit: 1, downMbit: 3, rttMs: 120 },
  },
): SweepRow[] {
  const rows: SweepRow[] = [];
  for (const [profile, speed] of Object.entries(profiles)) for (const [preset, link] of Object.entries(presets)) {
    const cond = { ...BASE, ...link };
    const splits = Array.from({ length: N + 1 }, (_, k) => {
      const { totalMs, ...breakdown } = cost(k, cond, speed);
      return { split: k, feasible: k !== 1, breakdown, totalMs };
    });
    const best = splits.filter((s) => s.feasible).reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
    rows.push({ profile, preset, bestSplit: best.split, totalMs: best.totalMs, splits });
  }
  return rows;
}

// ---- headless Chromium --------------------------------------------------------------------------

/** The flags the report tests run Chromium with: headless, and nothing of its own on the network. */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Path of Chromium, or undefined when it is not installed ($CHROMIUM, when set, is the only candidate). */
export function findChromium(): string | undefined {
  const env = process.env.CHROMIUM;
  if (env) return fs.existsSync(env) ? env : undefined;
  return fs.existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined;
}

/** Why browser tests must be skipped (undefined: they can run); under CI=true a missing Chromium throws. */
export function chromiumSkipReason(): string | undefined {
  if (findChromium() !== undefined) return undefined;
  const reason = "chromium is not installed (apt-get install chromium, or set $CHROMIUM to its path)";
  if (process.env.CI === "true") throw fail("E_TOOL_MISSING", `${reason}; CI=true requires it`);
  return reason;
}

/** What a page did while it loaded: everything here must be empty for a self-contained report. */
export interface PageLog {
  console: string[];
  errors: string[];
  /** Every request other than the report file itself. */
  requests: string[];
  failedRequests: string[];
}

/** A Chromium with a fresh profile; open() loads an HTML string from a temp file. */
export interface ReportBrowser {
  open(html: string, name?: string): Promise<{ page: Page; log: PageLog; file: string }>;
  close(): Promise<void>;
}

/** Launches Chromium (E_TOOL_MISSING when it is absent) with CHROMIUM_ARGS and a fresh user-data-dir. */
export async function launchReportBrowser(viewport = { width: 1100, height: 900 }): Promise<ReportBrowser> {
  const exe = findChromium();
  if (exe === undefined) throw fail("E_TOOL_MISSING", "chromium is not installed (apt-get install chromium, or set $CHROMIUM)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-report-"));
  const ctx = await chromium.launchPersistentContext(path.join(dir, "profile"), {
    executablePath: exe, headless: true, args: CHROMIUM_ARGS, viewport, deviceScaleFactor: 1, offline: true,
  });
  let n = 0;
  return {
    async open(html, name = `report-${++n}.html`) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, html);
      const url = new URL(`file://${file}`).href;
      const log: PageLog = { console: [], errors: [], requests: [], failedRequests: [] };
      const page = await ctx.newPage();
      page.on("console", (m) => log.console.push(`${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => log.errors.push(e.message));
      page.on("request", (r) => { if (r.url() !== url) log.requests.push(r.url()); });
      page.on("requestfailed", (r) => log.failedRequests.push(`${r.url()}: ${r.failure()?.errorText ?? "failed"}`));
      await page.goto(url, { waitUntil: "load" });
      return { page, log, file };
    },
    async close() {
      await ctx.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- reading the HTML without a browser ---------------------------------------------------------

/** The markup of the chart with data-chart="name" (charts do not nest). */
export function chartOf(html: string, name: string): string {
  const at = html.indexOf(`data-chart="${name}"`);
  if (at < 0) throw new Error(`no chart ${name} in the report`);
  return html.slice(html.lastIndexOf("<svg", at), html.indexOf("</svg>", at) + 6);
}

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };

/** The attributes (entities decoded) of every `<tag ...>` in the markup, in order. */
export function tagsOf(markup: string, tag: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of markup.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, "g"))) {
    const attrs: Record<string, string> = {};
    for (const a of (m[1] ?? "").matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1] ?? ""] = (a[2] ?? "").replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] ?? e);
    out.push(attrs);
  }
  return out;
}
