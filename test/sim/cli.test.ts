// `edgecut simulate` and `edgecut sweep` on a small real split with segment costs from a
// calibration file (no onnxruntime run): output formats, determinism, the HTML report, and every
// bad flag's error.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Calibration } from "../../device-profiles/sim/costs.js";
import type { SimResult } from "../../device-profiles/sim/types.js";
import { assertCliError, assertJsonError, jsonOf, runCli } from "../cli/helpers.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-sim-cli-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const manifest = path.join(dir, "split", "manifest.json");
const calibration = path.join(dir, "cal.json");
const other = path.join(dir, "other-cal.json");

before(async () => {
  const model = path.join(dir, "gpt.onnx");
  assert.equal((await runCli(["model", "tiny-gpt", "-o", model])).code, 0);
  const r = await runCli(["split", model, "--segments", "3", "--shape", "input_ids=1x16", "-o", path.join(dir, "split")]);
  assert.equal(r.code, 0, r.stderr);
  const { splitId } = JSON.parse(fs.readFileSync(manifest, "utf8")) as { splitId: string };
  const cal = (id: string): Calibration => ({
    format: 1, machine: { host: "test", cpuModel: "test", cores: 2, node: process.version, measuredAt: "2026-01-01T00:00:00.000Z" },
    flopsPerMs: 2e6, relativeSpeed: 1,
    model: { splitId: id, manifest, shapeBucket: "input_ids:1x16", segmentMs: [40, 60, 50], segmentRssBytes: [1e6, 1e6, 1e6] },
  });
  fs.writeFileSync(calibration, JSON.stringify(cal(splitId)));
  fs.writeFileSync(other, JSON.stringify(cal("f".repeat(64))));
});

const SIM = (...more: string[]): string[] => ["simulate", "--profile", "pi4-4gb", "--manifest", manifest, "--calibration", calibration, ...more];

describe("edgecut simulate", () => {
  test("--json prints the SimResult; the same seed prints the same document", async () => {
    const r = await runCli(SIM("--scenario", "bandwidth-drop", "--seed", "5", "--json"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const doc = jsonOf(r) as unknown as SimResult;
    assert.deepEqual(Object.keys(doc), ["meta", "summary", "splits", "timeline", "requests"]);
    assert.equal(doc.meta.mode, "virtual");
    assert.equal(doc.meta.seed, 5);
    assert.equal(doc.meta.profile, "pi4-4gb");
    assert.equal(doc.meta.scenario, "bandwidth-drop");
    assert.equal(doc.meta.preset, "wifi-good");
    assert.equal(doc.meta.segments, 3);
    assert.equal(doc.requests.length, 300);
    assert.equal(doc.timeline.length, 3);
    assert.equal((await runCli(SIM("--scenario", "bandwidth-drop", "--seed", "5", "--json"))).stdout, r.stdout);
  });

  test("text: a summary table per policy and the comparison with the baselines", async () => {
    const r = await runCli(SIM("--scenario", "steady", "--preset", "3g", "--policy", "greedy"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /on pi4-4gb over 3g, scenario steady: 300 requests in 300 s, seed 1, virtual time/);
    assert.match(r.stdout, /^policy\s+mean ms\s+p95 ms\s+failed\s+switches\s+KiB up\s+mean \/ oracle$/m);
    for (const row of ["greedy (adaptive)", "all-local", "all-cloud", "best-static (k = ", "oracle"]) assert.ok(r.stdout.includes(row), row);
    assert.match(r.stdout, /adaptive \/ oracle mean latency: \d\.\d{3}; against the better of all-local and all-cloud/);
    assert.match(r.stdout, /segment costs: calibration /);
  });

  test("--html writes the self-contained report", async () => {
    const file = path.join(dir, "report.html");
    const r = await runCli(SIM("--scenario", "cloud-outage", "--html", file));
    assert.equal(r.code, 0, r.stderr);
    const html = fs.readFileSync(file, "utf8");
    assert.match(html, /<html/i);
    assert.match(html, /cloud-outage/);
    assert.match(r.stdout, /report: .*report\.html/);
  });

  test("--scenario trace:<file> replays telemetry rows", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({
      at: 1_700_000_000_000 + i * 2000, split: 0, latencyMs: 50, bytesUp: 428, bytesDown: 16_684, queueDepth: 0, health: "ok",
      breakdown: { roundTripMs: 45, cloudComputeMs: 10, cloudQueueMs: 0 },
    }));
    const file = path.join(dir, "rows.json");
    fs.writeFileSync(file, JSON.stringify(rows));
    const r = await runCli(SIM("--scenario", `trace:${file}`, "--json"));
    assert.equal(r.code, 0, r.stderr);
    const doc = jsonOf(r) as unknown as SimResult;
    assert.equal(doc.meta.scenario, "trace");
    assert.equal(doc.requests.length, 30);
  });

  test("bad flags fail with E_USAGE saying what to give", async () => {
    assertCliError(await runCli(["simulate", "--profile", "pi4-4gb"]), "E_USAGE", { message: /--scenario/ });
    assertCliError(await runCli(SIM("--scenario", "steady", "--policy", "static")), "E_USAGE", { message: /static:K/ });
    assertCliError(await runCli(SIM("--scenario", "steady", "--policy", "fastest")), "E_USAGE", { message: /hysteresis, greedy or static:K/ });
    assertCliError(await runCli(SIM("--scenario", "steady", "--model", "tiny-gpt")), "E_USAGE", { message: /--model or --manifest, not both/ });
    assertCliError(await runCli(SIM("--scenario", "nowhere")), "E_USAGE", { message: /no scenario "nowhere"; shipped: .*steady/ });
    assertCliError(await runCli(SIM("--scenario", "steady", "--preset", "dialup")), "E_USAGE", { message: /no network preset "dialup"/ });
    assertCliError(await runCli(SIM("--scenario", "steady", "--seed", "-1")), "E_USAGE", { message: /--seed -1/ });
    assertCliError(await runCli(SIM("--scenario", "steady", "--duration-scale", "0.1")), "E_USAGE", { message: /--live runs only/ });
    assertCliError(await runCli(["simulate", "--profile", "pi4-4gb", "--scenario", "steady", "--model", "resnet"]), "E_USAGE", { message: /--model resnet: unknown/ });
    assertCliError(await runCli(["simulate", "--profile", "pi9", "--scenario", "steady"]), "E_USAGE", { message: /no device profile "pi9"/ });
    assertCliError(await runCli(["simulate", "--profile", "pi4-4gb", "--manifest", manifest, "--calibration", other, "--scenario", "steady"]), "E_USAGE", { message: /measured on split ffffffffffff/ });
    assertJsonError(await runCli(SIM("--scenario", "nowhere", "--json")), "E_USAGE", { message: /no scenario/ });
  });
});

describe("edgecut sweep", () => {
  const SWEEP = (...more: string[]): string[] => ["sweep", "--manifest", manifest, "--calibration", calibration, "--profiles", "pi-zero-2w,x86-n100", "--presets", "ethernet,lte-m", ...more];

  test("a table of the best split per profile x preset", async () => {
    const r = await runCli(SWEEP());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^profile\s+ethernet\s+lte-m$/m);
    // Ethernet: the cloud; LTE-M (0.3 Mbit/s down, 150 ms): the fast x86 box keeps it local.
    assert.match(r.stdout, /^pi-zero-2w\s+k=0 \S+\s+k=\d \S+$/m);
    assert.match(r.stdout, /^x86-n100\s+k=0 \S+\s+k=3 \S+$/m);
  });

  test("--json: one row per profile x preset with every split's cost; --html writes the report", async () => {
    const file = path.join(dir, "sweep.html");
    const r = await runCli(SWEEP("--json", "--html", file));
    assert.equal(r.code, 0, r.stderr);
    const doc = jsonOf(r) as { segments: number; rows: { profile: string; preset: string; bestSplit: number | null; totalMs: number | null; splits: { split: number; totalMs: number }[] }[] };
    assert.equal(doc.segments, 3);
    assert.deepEqual(doc.rows.map((x) => `${x.profile}/${x.preset}`), ["pi-zero-2w/ethernet", "pi-zero-2w/lte-m", "x86-n100/ethernet", "x86-n100/lte-m"]);
    for (const row of doc.rows) {
      assert.equal(row.splits.length, 4);
      assert.equal(row.totalMs, Math.min(...row.splits.map((s) => s.totalMs)));
    }
    assert.match(fs.readFileSync(file, "utf8"), /<html/i);
  });

  test("bad lists fail with E_USAGE", async () => {
    assertCliError(await runCli(SWEEP("--presets", "ethernet,dialup")), "E_USAGE", { message: /--presets dialup: profile pi-zero-2w has no such network preset/ });
    assertCliError(await runCli(["sweep", "--manifest", manifest, "--calibration", calibration, "--profiles", ","]), "E_USAGE", { message: /--profiles/ });
    assertCliError(await runCli(SWEEP("--cloud-speedup", "0")), "E_USAGE", { message: /--cloud-speedup 0/ });
  });
});
