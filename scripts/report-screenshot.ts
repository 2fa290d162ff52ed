/**
 * Renders a simulation report and screenshots it in headless Chromium for the docs
 * (docs/img/sim-report.png). Without --json it draws the test fixture (a Pi 4 on wifi with a
 * bandwidth drop and a cloud outage, test/sim/report-support.ts); with --json it draws a real
 * `edgecut simulate --json` result.
 *
 * Usage: tsx scripts/report-screenshot.ts [--json result.json] [--out docs/img/sim-report.png] [--html out.html]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { renderReport } from "../device-profiles/report/index.js";
import type { SimResult } from "../device-profiles/sim/types.js";
import { launchReportBrowser, makeSimResult } from "../test/sim/report-support.js";

// The shape the report needs; the renderer tolerates the rest (null for NaN, added fields).
const SimResultShape = z.looseObject({
  meta: z.looseObject({ format: z.literal(1), profile: z.string(), scenario: z.string(), policy: z.string() }),
  summary: z.looseObject({ adaptive: z.looseObject({}), oracle: z.looseObject({}) }),
  splits: z.array(z.looseObject({ split: z.number(), feasible: z.boolean() })),
  timeline: z.array(z.looseObject({ t: z.number(), conditions: z.looseObject({}) })),
  requests: z.array(z.looseObject({ i: z.number(), t: z.number(), outcomes: z.record(z.string(), z.looseObject({})) })),
});

function load(file: string): SimResult {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: cannot read it as JSON (${(e as Error).message}); pass the output of edgecut simulate --json`);
  }
  const r = SimResultShape.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${file}: not a simulation result (format 1): ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`);
  }
  return json as SimResult;
}

const root = path.resolve(import.meta.dirname, "..");
const { values } = parseArgs({ options: { json: { type: "string" }, out: { type: "string" }, html: { type: "string" } } });
const result = values.json !== undefined ? load(values.json) : makeSimResult();
const out = path.resolve(values.out ?? path.join(root, "docs", "img", "sim-report.png"));
const html = renderReport(result);
if (values.html !== undefined) fs.writeFileSync(values.html, html);

const browser = await launchReportBrowser({ width: 1040, height: 900 });
try {
  const { page, log } = await browser.open(html);
  const problems = [...log.console, ...log.errors, ...log.requests, ...log.failedRequests];
  if (problems.length > 0) throw new Error(`the report did not render cleanly:\n${problems.join("\n")}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${path.relative(process.cwd(), out)} (${fs.statSync(out).size} bytes)`);
} finally {
  await browser.close();
}
