// `edgecut calibrate` and device-profiles/calibrate.ts: the kernels' FLOPs and the speed figures
// on a stepping clock (exact arithmetic), the CLI's JSON and file on a real tiny-gpt split, and its
// errors. Real timings are only checked for being positive: the machine is shared and noisy.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import { calibrateMachine, combinedFlopsPerMs, readCalibration } from "../../device-profiles/calibrate.js";
import { scaleSegmentMs } from "../../device-profiles/sim/costs.js";
import { REFERENCE_FLOPS_PER_MS } from "../../sdk/cli/plan-figures.js";
import { EdgecutError } from "../../sdk/errors.js";
import { assertCliError, assertJsonError, jsonOf, runCli } from "../cli/helpers.js";
import { buildSplit, tempDir, type E2ESplit } from "../e2e/support.js";

const root = tempDir("calibrate");

/** A clock that advances 1 ms per reading: every timed run takes exactly 1 ms. */
function steppingClock(): () => number {
  let t = 0;
  return () => ++t;
}

describe("calibrateMachine", () => {
  test("kernels' FLOPs, flopsPerMs (geometric mean) and relativeSpeed against the Pi 4 reference", async () => {
    const r = await calibrateMachine({ runs: 3, now: steppingClock() });
    assert.deepEqual(r.kernels.map((k) => [k.name, k.flops, k.ms]), [
      ["matmul", 2 * 256 ** 3, 1],
      ["conv3x3", 2 * 64 * 64 * 9 * 32 * 32, 1],
      ["attention", 4 * 2 * 64 * 256 * 256 + 2 * 2 * 64 * 64 * 256, 1],
    ]);
    const geo = Math.cbrt(r.kernels.reduce((a, k) => a * k.flops, 1));
    assert.ok(Math.abs(r.flopsPerMs - geo) / geo < 1e-12, `${r.flopsPerMs} vs ${geo}`);
    assert.equal(r.relativeSpeed, r.flopsPerMs / REFERENCE_FLOPS_PER_MS);
    assert.equal(r.referenceFlopsPerMs, REFERENCE_FLOPS_PER_MS);
    assert.equal(r.format, 1);
    assert.equal(r.model, undefined);
    assert.equal(r.threads, 1);
    assert.ok(r.machine.cores >= 1 && r.machine.cpuModel.length > 0 && !Number.isNaN(Date.parse(r.machine.measuredAt)));
  });

  test("bad options are E_USAGE", async () => {
    await assert.rejects(calibrateMachine({ runs: 0 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && /runs/.test(e.message));
    await assert.rejects(calibrateMachine({ threads: 1.5 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && /threads/.test(e.message));
    assert.throws(() => combinedFlopsPerMs([]), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE");
  });
});

describe("edgecut calibrate", () => {
  let split: E2ESplit;
  before(async () => {
    split = await buildSplit(root, "cal-gpt", "tiny-gpt", { layers: 2 }, { input_ids: [1, 16] }, { segments: 3 });
  });

  test("--manifest --json -o: per-segment medians and RSS, the same document in the file", async () => {
    const file = path.join(root, "calibration.json");
    const r = await runCli(["calibrate", "--manifest", split.manifestPath, "--runs", "3", "--json", "-o", file]);
    assert.equal(r.code, 0, r.stderr);
    const doc = jsonOf(r);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), doc);
    assert.equal(doc.format, 1);
    assert.ok(typeof doc.relativeSpeed === "number" && doc.relativeSpeed > 0);
    assert.ok(typeof doc.flopsPerMs === "number" && doc.flopsPerMs > 0);
    const model = doc.model as { splitId: string; segmentMs: number[]; segmentRssBytes: number[]; shapeBucket: string; manifest: string };
    const n = split.manifest.segments.length;
    assert.equal(model.splitId, split.manifest.splitId);
    assert.equal(model.manifest, path.resolve(split.manifestPath));
    assert.equal(model.shapeBucket, "input_ids:1x16");
    assert.equal(model.segmentMs.length, n);
    assert.equal(model.segmentRssBytes.length, n);
    assert.ok(model.segmentMs.every((ms) => ms > 0), `segmentMs ${model.segmentMs.join(", ")}`);
    assert.ok(model.segmentRssBytes.every((b) => Number.isInteger(b) && b >= 0));

    // The file reads back as a Calibration, and profiles scale it: the same speed is the identity,
    // a board half as fast takes twice as long.
    const cal = readCalibration(file);
    assert.deepEqual(scaleSegmentMs(cal, cal.relativeSpeed).map((x) => x.toFixed(9)), model.segmentMs.map((x) => x.toFixed(9)));
    scaleSegmentMs(cal, cal.relativeSpeed / 2).forEach((ms, i) => assert.ok(Math.abs(ms - 2 * model.segmentMs[i]!) < 1e-9));
  });

  test("text output: the kernel table and one row per segment", async () => {
    const r = await runCli(["calibrate", "--manifest", split.manifestPath, "--runs", "1"]);
    assert.equal(r.code, 0, r.stderr);
    for (const k of ["matmul", "conv3x3", "attention"]) assert.match(r.stdout, new RegExp(`^${k} `, "m"));
    assert.match(r.stdout, /relativeSpeed \d+(\.\d+)? x the Pi 4 reference/);
    const rows = r.stdout.split("\n").filter((l) => /^\d+ +\d+\.\d+ ms/.test(l));
    assert.equal(rows.length, split.manifest.segments.length, r.stdout);
  });

  test("errors: bad --runs and --threads, a missing manifest, an -o folder that does not exist", async () => {
    assertCliError(await runCli(["calibrate", "--runs", "0"]), "E_USAGE", { message: /--runs 0/ });
    assertCliError(await runCli(["calibrate", "--threads", "two"]), "E_USAGE", { message: /--threads two/ });
    assertCliError(await runCli(["calibrate", "--manifest", path.join(root, "nope", "manifest.json")]), "E_MANIFEST", { message: /no such file/ });
    assertCliError(await runCli(["calibrate", "-o", path.join(root, "missing-dir", "c.json")]), "E_USAGE", { message: /does not exist/ });
    assertJsonError(await runCli(["calibrate", "--runs", "-1", "--json"]), "E_USAGE");
    assertCliError(await runCli(["calibrate", "--bogus"]), "E_USAGE");
  });

  test("readCalibration: a file that does not fit the format is E_PROFILE naming the field", () => {
    const bad = path.join(root, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ format: 1, machine: { host: "h", cpuModel: "c", cores: 2, node: "v20", measuredAt: "x" }, flopsPerMs: 1, relativeSpeed: -1 }));
    assert.throws(() => readCalibration(bad), (e: unknown) => e instanceof EdgecutError && e.code === "E_PROFILE" && /relativeSpeed/.test(e.message));
    fs.writeFileSync(bad, "{ not json");
    assert.throws(() => readCalibration(bad), (e: unknown) => e instanceof EdgecutError && e.code === "E_PROFILE" && e.message.includes(bad));
  });
});
