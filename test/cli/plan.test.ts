// `edgecut plan` on a real tiny-gpt split (3 segments at input_ids 1x64): the JSON contract, the
// choice moving to the device as bandwidth drops, the RAM and privacy constraints, device
// profiles and presets, the defaults it reports, and every bad flag.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ErrorCode } from "../../sdk/errors.js";
import { PROFILES_DIR } from "../../device-profiles/index.js";
import { REFERENCE_FLOPS_PER_MS } from "../../sdk/cli/plan-figures.js";
import { assertCliError, assertJsonError, jsonOf, runCli, type CliResult } from "./helpers.js";

interface Split {
  split: number; predictedMs: number | null; fits: boolean; privacyOk: boolean; feasible: boolean; why?: string;
  breakdown: { localMs: number; encodeMs: number; upMs: number; downMs: number; rttMs: number; cloudMs: number; queueMs: number }; throughputPerSec: number | null; upBytes: number; downBytes: number; memBytes: number;
}
interface PlanDoc {
  chosen: number | null; reason: string; splits: Split[]; objective: string;
  inputs: Record<string, { value: number; source: string }> & { shapes: Record<string, number[]> };
  defaults: string[]; notes: string[]; error?: { code: string; message: string };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-plan-"));
process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const manifest = path.join(dir, "split", "manifest.json");
/** Slow enough that computing in the cloud beats the device when the link is fast (20 MFLOP/s). */
const SLOW = ["--flops-per-ms", "20000"];

before(async () => {
  const model = path.join(dir, "gpt.onnx");
  assert.equal((await runCli(["model", "tiny-gpt", "-o", model])).code, 0);
  const r = await runCli(["split", model, "--segments", "3", "--shape", "input_ids=1x64", "-o", path.join(dir, "split")]);
  assert.equal(r.code, 0, r.stderr);
});

async function planJson(...args: string[]): Promise<{ r: CliResult; doc: PlanDoc }> {
  const r = await runCli(["plan", manifest, ...args, "--json"]);
  return { r, doc: jsonOf(r) as unknown as PlanDoc };
}

async function planOk(...args: string[]): Promise<PlanDoc> {
  const { r, doc } = await planJson(...args);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  assert.equal(r.stderr, "");
  return doc;
}

describe("plan --json", () => {
  test("prints { chosen, reason, splits } first, one entry per split point with the breakdown in order", async () => {
    const doc = await planOk();
    assert.deepEqual(Object.keys(doc).slice(0, 3), ["chosen", "reason", "splits"]);
    assert.deepEqual(doc.splits.map((s) => s.split), [0, 1, 2, 3]);
    for (const s of doc.splits) {
      assert.deepEqual(Object.keys(s).slice(0, 5), ["split", "predictedMs", "fits", "privacyOk", "breakdown"]);
      assert.deepEqual(Object.keys(s.breakdown), ["localMs", "encodeMs", "upMs", "downMs", "rttMs", "cloudMs", "queueMs"]);
      const sum = Object.values(s.breakdown).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - s.predictedMs!) < 1e-9, `k=${s.split}: the breakdown adds up to predictedMs`);
    }
    // k = n sends nothing; k = 0 computes nothing here.
    assert.deepEqual({ ...doc.splits[3]!.breakdown, localMs: 0 }, { localMs: 0, encodeMs: 0, upMs: 0, downMs: 0, rttMs: 0, cloudMs: 0, queueMs: 0 });
    assert.equal(doc.splits[0]!.breakdown.localMs, 0);
    assert.equal(doc.splits[0]!.memBytes, 0);
    // Chosen: the feasible row with the lowest predicted latency, and the reason says so.
    const best = doc.splits.filter((s) => s.feasible).sort((a, b) => a.predictedMs! - b.predictedMs!)[0]!;
    assert.equal(doc.chosen, best.split);
    assert.match(doc.reason, /lowest predicted latency/);
  });

  test("up bytes follow the manifest's cuts at the split's shapes, and --dim rescales them (with a note on FLOPs)", async () => {
    const m = JSON.parse(fs.readFileSync(manifest, "utf8")) as { cuts: { tensors: { bytes: number }[] }[] };
    const doc = await planOk();
    assert.equal(doc.splits[0]!.upBytes, 64 * 8, "k = 0 sends input_ids: 64 int64");
    assert.equal(doc.splits[1]!.upBytes, m.cuts[0]!.tensors.reduce((a, t) => a + t.bytes, 0));
    assert.equal(doc.splits[1]!.downBytes, 64 * 256 * 4, "logits [1, 64, 256] float32 come back");
    assert.deepEqual(doc.notes, []);
    const longer = await planOk("--dim", "sequence=128");
    assert.deepEqual(longer.inputs.shapes, { input_ids: [1, 128] });
    assert.equal(longer.splits[1]!.upBytes, 2 * doc.splits[1]!.upBytes);
    assert.equal(longer.splits[0]!.upBytes, 128 * 8);
    assert.match(longer.notes.join("\n"), /FLOPs are the manifest's/);
    const shaped = await planOk("--shape", "input_ids=2x64");
    assert.equal(shaped.splits[1]!.downBytes, 2 * 64 * 256 * 4);
  });

  test("the chosen split moves toward the device when bandwidth drops (10mbit -> 0.1mbit)", async () => {
    const fast = await planOk("--bandwidth", "10mbit", ...SLOW);
    const slow = await planOk("--bandwidth", "0.1mbit", ...SLOW);
    assert.equal(fast.inputs.upBitsPerSec!.value, 10e6);
    assert.equal(slow.inputs.downBitsPerSec!.value, 1e5);
    assert.ok(fast.chosen! < 3, `at 10mbit the cloud helps (chosen ${fast.chosen})`);
    assert.equal(slow.chosen, 3, "at 0.1mbit everything stays on the device");
    assert.ok(slow.splits[1]!.breakdown.upMs > 90 * fast.splits[1]!.breakdown.upMs, "up time scales with 1 / bandwidth");
  });

  test("--ram-available: a small budget makes the larger fronts not fit; below the planner's margin only all-cloud runs; with it private too, nothing (exit 1, E_NO_SPLIT)", async () => {
    // 64 MiB is the planner's margin: 65748kb leaves 212 KiB, enough for segment 0 (177.5 KiB) only.
    const tight = await planOk("--ram-available", "65748kb", "--bandwidth", "0.1mbit", ...SLOW);
    assert.deepEqual(tight.splits.map((s) => s.fits), [true, true, false, false]);
    assert.ok(tight.chosen! <= 1);
    assert.match(tight.splits[3]!.why!, /front needs/);
    assert.equal(tight.splits[3]!.privacyOk, true);
    const roomy = await planOk("--ram-available", "1gb");
    assert.ok(roomy.splits.every((s) => s.fits));

    // Memory pressure is what all-cloud is for: a front of no segments needs no memory.
    const squeezed = await planOk("--ram-available", "32mb");
    assert.deepEqual(squeezed.splits.map((s) => s.fits), [true, false, false, false]);
    assert.equal(squeezed.chosen, 0);

    const { r, doc } = await planJson("--ram-available", "32mb", "--private", "input_ids");
    assert.equal(r.code, 1);
    assert.equal(doc.chosen, null);
    assert.ok(doc.splits.every((s) => !s.feasible));
    assert.equal(doc.error?.code, "E_NO_SPLIT");
    assert.match(doc.reason, /no split point is feasible/);
    const text = await runCli(["plan", manifest, "--ram-available", "32mb", "--private", "input_ids"]);
    assert.equal(text.code, 1);
    assert.match(text.stderr, /^edgecut: E_NO_SPLIT: no split point is feasible.*k = 3: the front needs/m);
    assert.match(text.stdout, /chosen: none/);
  });

  test("--private input_ids: k = 0 is not privacyOk (it sends input_ids) and is not chosen; --min-local-segments 2 rules out k < 2", async () => {
    const open = await planOk("--bandwidth", "1gbit", ...SLOW);
    assert.equal(open.chosen, 0, "with a fast link and a slow device, all-cloud wins");
    const priv = await planOk("--bandwidth", "1gbit", ...SLOW, "--private", "input_ids");
    assert.deepEqual(priv.splits.map((s) => s.privacyOk), [false, true, true, true]);
    assert.deepEqual(priv.splits.map((s) => s.fits), [true, true, true, true]);
    assert.match(priv.splits[0]!.why!, /sends the private model input\(s\) input_ids/);
    assert.notEqual(priv.chosen, 0);
    assert.match(priv.reason, /ruled out \(k = 0\)/);
    const min = await planOk("--bandwidth", "1gbit", ...SLOW, "--min-local-segments", "2");
    assert.deepEqual(min.splits.map((s) => s.privacyOk), [false, false, true, true]);
    assert.equal(min.chosen, 2);
  });

  test("--objective throughput picks the highest predicted throughput", async () => {
    const doc = await planOk("--objective", "throughput", "--bandwidth", "10mbit", ...SLOW);
    assert.equal(doc.objective, "throughput");
    const best = Math.max(...doc.splits.filter((s) => s.feasible).map((s) => s.throughputPerSec!));
    assert.equal(doc.splits[doc.chosen!]!.throughputPerSec, best);
    assert.match(doc.reason, /highest predicted throughput/);
  });
});

describe("plan figures: profiles, presets, flags and defaults", () => {
  test("without a profile or flags every figure is a default, and the output says so", async () => {
    const doc = await planOk();
    assert.deepEqual(doc.defaults.sort(), ["cloudSpeedup", "cpuLoad", "downBitsPerSec", "flopsPerMs", "ramAvailableBytes", "rttMs", "upBitsPerSec"]);
    assert.equal(doc.inputs.flopsPerMs!.value, REFERENCE_FLOPS_PER_MS);
    assert.equal(doc.inputs.rttMs!.source, "default");
    const text = await runCli(["plan", manifest]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /defaults used for: flopsPerMs, ramAvailableBytes, cpuLoad, upBitsPerSec, downBitsPerSec, rttMs, cloudSpeedup/);
    assert.match(text.stdout, /RTT 40 ms \[default\]/);
    // The table: a header and one row per split point, the chosen one marked.
    const rows = text.stdout.split("\n").filter((l) => /^[*x ]\s+\d\s+(yes|NO)/.test(l));
    assert.equal(rows.length, 4);
    assert.equal(rows.filter((l) => l.startsWith("*")).length, 1);
    assert.match(text.stdout, /chosen: k = \d: lowest predicted latency/);
  });

  test("--profile pi5-8gb: RAM, speed (relativeSpeed x the reference) and its first preset's network; explicit flags win", async () => {
    const doc = await planOk("--profile", "pi5-8gb");
    assert.equal(doc.inputs.flopsPerMs!.value, REFERENCE_FLOPS_PER_MS * 2.5);
    assert.match(doc.inputs.flopsPerMs!.source, /^profile pi5-8gb/);
    assert.equal(doc.inputs.ramAvailableBytes!.value, 8 * 2 ** 30);
    assert.equal(doc.inputs.upBitsPerSec!.value, 940e6, "ethernet, the first preset");
    assert.equal(doc.inputs.upBitsPerSec!.source, "profile pi5-8gb, preset ethernet");
    assert.deepEqual(doc.defaults.sort(), ["cloudSpeedup", "cpuLoad"]);

    const wifi = await planOk("--profile", "pi5-8gb", "--preset", "wifi", "--rtt", "100ms", "--cpu-load", "0.5");
    assert.equal(wifi.inputs.upBitsPerSec!.value, 80e6);
    assert.equal(wifi.inputs.rttMs!.value, 100);
    assert.equal(wifi.inputs.rttMs!.source, "flag --rtt");
    assert.equal(wifi.inputs.cpuLoad!.value, 0.5);
    assert.ok(Math.abs(wifi.splits[3]!.breakdown.localMs - 2 * doc.splits[3]!.breakdown.localMs) < 1e-9, "50% load doubles device time");
  });

  test("--profile <file.json> loads a profile from a path", async () => {
    const file = path.join(dir, "my-board.json");
    const p = JSON.parse(fs.readFileSync(path.join(PROFILES_DIR, "pi4-4gb.json"), "utf8")) as { id: string; cpu: { relativeSpeed: { value: number } } };
    p.id = "my-board";
    p.cpu.relativeSpeed.value = 0.5;
    fs.writeFileSync(file, JSON.stringify(p));
    const doc = await planOk("--profile", file);
    assert.equal(doc.inputs.flopsPerMs!.value, REFERENCE_FLOPS_PER_MS * 0.5);
  });
});

describe("plan: bad flags", () => {
  const cases: [string[], ErrorCode, RegExp][] = [
    [["--bandwidth", "fast"], "E_USAGE", /--bandwidth "fast".*mbit/],
    [["--up", "10"], "E_USAGE", /--up "10".*kbit/],
    [["--down", "-5mbit"], "E_USAGE", /--down/],
    [["--rtt", "40"], "E_USAGE", /--rtt "40".*ms/],
    [["--cpu-load", "2"], "E_USAGE", /--cpu-load 2: .*0 to 1/],
    [["--cpu-load", "busy"], "E_USAGE", /--cpu-load busy/],
    [["--ram-available", "512"], "E_USAGE", /--ram-available "512".*512mb/],
    [["--objective", "speed"], "E_USAGE", /--objective speed: expected latency or throughput/],
    [["--private", "attention_mask"], "E_USAGE", /--private attention_mask: .*inputs are input_ids/],
    [["--private", ","], "E_USAGE", /--private/],
    [["--min-local-segments", "-1"], "E_USAGE", /--min-local-segments/],
    [["--min-local-segments", "1.5"], "E_USAGE", /--min-local-segments 1.5: expected an integer/],
    [["--min-local-segments", "4"], "E_USAGE", /--min-local-segments 4: this split has 3 segments/],
    [["--cloud-speedup", "0"], "E_USAGE", /--cloud-speedup 0: expected a number > 0/],
    [["--flops-per-ms", "abc"], "E_USAGE", /--flops-per-ms abc/],
    [["--preset", "wifi"], "E_USAGE", /--preset wifi: .*--profile/],
    [["--profile", "pi4-4gb", "--preset", "5g"], "E_USAGE", /--preset 5g: .*presets are ethernet, wifi-good, wifi-poor, lte, 3g, lte-m/],
    [["--profile", "pi9"], "E_PROFILE", /pi9.*known ids: .*pi4-4gb, pi4-8gb, pi5-4gb, pi5-8gb/],
    [["--profile", "./nowhere.json"], "E_PROFILE", /nowhere\.json/],
    [["--shape", "input_ids=1x"], "E_BAD_SHAPE_FLAG", /--shape/],
    [["--shape", "input_ids=64"], "E_BAD_SHAPE_FLAG", /rank 2/],
    [["--shape", "tokens=1x64"], "E_UNKNOWN_TENSOR", /no input named "tokens"/],
    [["--dim", "nope=3"], "E_BAD_SHAPE_FLAG", /--dim nope: .*batch, sequence/],
    [["--dim", "sequence=32", "--shape", "input_ids=1x64"], "E_BAD_SHAPE_FLAG", /--shape input_ids=1x64: dim 1 is 32/],
  ];
  for (const [args, code, message] of cases) {
    test(`${args.join(" ")}: ${code}`, async () => {
      assertCliError(await runCli(["plan", manifest, ...args]), code, { message });
      assertJsonError(await runCli(["plan", manifest, ...args, "--json"]), code, { message });
    });
  }

  test("a missing manifest: E_MANIFEST", async () => {
    assertCliError(await runCli(["plan", path.join(dir, "none", "manifest.json")]), "E_MANIFEST");
  });
});
