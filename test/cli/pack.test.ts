// `edgecut pack`: a folder holding segments 0..k-1, only the data files they reference, the
// manifest byte for byte and pack.json; sizes, refusing to overwrite, bad k, missing or changed
// files, and a real run of the pack at every k <= maxSplit against a cloud worker.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pino } from "pino";
import { startWorker } from "../../cloud-stub/index.js";
import { loadSplitOrPack, PACK_FILE, type PackInfo } from "../../agent/planner/pack.js";
import { Graph } from "../../sdk/graph/graph.js";
import { sha256FileSync } from "../../sdk/graph/hash.js";
import { computeSplitId, type Manifest } from "../../sdk/graph/manifest.js";
import { ExternalDataWriter, loadModel, saveModel } from "../../sdk/graph/model-io.js";
import { OffloadClient } from "../../sdk/offload/client.js";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import { sampleInputs } from "../../sdk/runtime/sample-inputs.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { assertCliError, assertNoOutput, jsonOf, runCli, snapshotDir, tempDir } from "./helpers.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-pack-"));
process.on("exit", () => fs.rmSync(root, { recursive: true, force: true }));
const model = path.join(root, "gpt.onnx");
/** A 3-segment split sharing one weights.data, as `edgecut split` writes it. */
const shared = path.join(root, "models", "shared");
/** The same segments with one data file each (seg-<i>.data), to see which data files a pack takes. */
const perSegment = path.join(root, "per-segment");

before(async () => {
  assert.equal((await runCli(["model", "tiny-gpt", "-o", model])).code, 0);
  const r = await runCli(["split", model, "--segments", "3", "--shape", "input_ids=1x8", "-o", shared]);
  assert.equal(r.code, 0, r.stderr);
  writePerSegmentSplit(shared, perSegment);
});

/** Rewrites each segment of `from` with its weights in its own data file, and a manifest to match. */
function writePerSegmentSplit(from: string, to: string): void {
  fs.mkdirSync(to);
  const m = JSON.parse(fs.readFileSync(path.join(from, "manifest.json"), "utf8")) as Manifest;
  const dataFiles: Manifest["dataFiles"] = [];
  for (const s of m.segments) {
    const writer = new ExternalDataWriter(path.join(to, `seg-${s.index}.data`));
    try {
      saveModel(loadModel(path.join(from, s.file)).proto, path.join(to, s.file), { sourceDir: from, externalData: writer });
    } finally {
      writer.close();
    }
    s.sha256 = sha256FileSync(path.join(to, s.file));
    dataFiles.push({ file: `seg-${s.index}.data`, sha256: writer.sha256, bytes: writer.bytes });
  }
  const body = { ...m, model: { ...m.model, file: path.relative(to, model) }, dataFiles };
  fs.writeFileSync(path.join(to, "manifest.json"), JSON.stringify({ ...body, splitId: computeSplitId(body) }, null, 2));
}

async function pack(src: string, k: string, out: string, ...extra: string[]): Promise<Record<string, unknown>> {
  const r = await runCli(["pack", path.join(src, "manifest.json"), "--device-max-split", k, "-o", out, "--json", ...extra]);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  return jsonOf(r);
}

const sizeOf = (f: string): number => fs.statSync(f).size;

describe("pack contents and sizes", () => {
  test("k = 2 of 3 (shared weights.data): segments 0 and 1, the data file, the manifest byte for byte, pack.json", async (t) => {
    const out = path.join(tempDir(t), "device");
    const doc = await pack(shared, "2", out);
    assert.deepEqual(fs.readdirSync(out).sort(), ["manifest.json", PACK_FILE, "segment-0.onnx", "segment-1.onnx", "weights.data"]);
    assert.deepEqual(fs.readFileSync(path.join(out, "manifest.json")), fs.readFileSync(path.join(shared, "manifest.json")));
    const info = JSON.parse(fs.readFileSync(path.join(out, PACK_FILE), "utf8")) as PackInfo;
    const m = JSON.parse(fs.readFileSync(path.join(shared, "manifest.json"), "utf8")) as Manifest;
    assert.equal(info.splitId, m.splitId);
    assert.equal(info.maxSplit, 2);
    assert.equal(info.segments, 3);
    for (const f of info.files) {
      assert.equal(sha256FileSync(path.join(out, f.file)), f.sha256);
      assert.equal(sizeOf(path.join(out, f.file)), f.bytes);
    }
    const full = ["manifest.json", "segment-0.onnx", "segment-1.onnx", "segment-2.onnx", "weights.data"].reduce((a, f) => a + sizeOf(path.join(shared, f)), 0);
    assert.equal(doc.fullBytes, full);
    assert.equal(doc.bytes, fs.readdirSync(out).reduce((a, f) => a + sizeOf(path.join(out, f)), 0));
    assert.equal(doc.bytes as number, full - sizeOf(path.join(shared, "segment-2.onnx")) + sizeOf(path.join(out, PACK_FILE)));
    assert.equal(doc.fileCount, 5);
  });

  test("one data file per segment: the pack takes only the data files its segments reference", async (t) => {
    const d = tempDir(t);
    await pack(perSegment, "1", path.join(d, "k1"));
    assert.deepEqual(fs.readdirSync(path.join(d, "k1")).sort(), ["manifest.json", PACK_FILE, "seg-0.data", "segment-0.onnx"]);
    await pack(perSegment, "2", path.join(d, "k2"));
    assert.deepEqual(fs.readdirSync(path.join(d, "k2")).sort(), ["manifest.json", PACK_FILE, "seg-0.data", "seg-1.data", "segment-0.onnx", "segment-1.onnx"]);
    const k0 = await pack(perSegment, "0", path.join(d, "k0"));
    assert.deepEqual(fs.readdirSync(path.join(d, "k0")).sort(), ["manifest.json", PACK_FILE]);
    assert.deepEqual((k0 as unknown as PackInfo).files, []);
    const k3 = await pack(perSegment, "3", path.join(d, "k3"));
    assert.equal(k3.fileCount, 8);
  });

  test("the text summary gives files and bytes against the whole split", async (t) => {
    const out = path.join(tempDir(t), "device");
    const r = await runCli(["pack", path.join(perSegment, "manifest.json"), "--device-max-split", "1", "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /packed split points 0\.\.1 of 3 .*segments 0\.\.0/);
    assert.match(r.stdout, /seg-0\.data/);
    assert.doesNotMatch(r.stdout, /seg-1\.data/);
    assert.match(r.stdout, /4 files, .* of the whole split's .*\(\d+\.\d%\)/);
  });
});

describe("pack: refusals", () => {
  test("an existing non-empty -o is refused without --force and left untouched; --force replaces a previous pack only", async (t) => {
    const d = tempDir(t);
    const out = path.join(d, "device");
    await pack(shared, "2", out);
    const before = snapshotDir(out);
    const r = await runCli(["pack", path.join(shared, "manifest.json"), "--device-max-split", "1", "-o", out]);
    assertCliError(r, "E_OUTPUT_EXISTS", { message: /--force/ });
    assert.deepEqual(snapshotDir(out), before);
    await pack(shared, "1", out, "--force");
    assert.deepEqual(fs.readdirSync(out).sort(), ["manifest.json", PACK_FILE, "segment-0.onnx", "weights.data"]);
    assert.deepEqual(fs.readdirSync(d), ["device"], "no temp or old folders left next to it");

    fs.writeFileSync(path.join(out, "notes.txt"), "mine");
    const kept = snapshotDir(out);
    assertCliError(await runCli(["pack", path.join(shared, "manifest.json"), "--device-max-split", "2", "-o", out, "--force"]), "E_OUTPUT_EXISTS", { message: /notes\.txt/ });
    assert.deepEqual(snapshotDir(out), kept);
  });

  test("-o at the split folder itself (or a folder holding it): E_USAGE, nothing touched", async () => {
    const before = snapshotDir(shared);
    assertCliError(await runCli(["pack", path.join(shared, "manifest.json"), "--device-max-split", "1", "-o", shared, "--force"]), "E_USAGE", { message: /another folder/ });
    assertCliError(await runCli(["pack", path.join(shared, "manifest.json"), "--device-max-split", "1", "-o", path.dirname(shared), "--force"]), "E_USAGE");
    assert.deepEqual(snapshotDir(shared), before);
  });

  test("bad --device-max-split: E_USAGE with the valid range, no output", async (t) => {
    const out = path.join(tempDir(t), "device");
    const run = (k: string[]): ReturnType<typeof runCli> => runCli(["pack", path.join(shared, "manifest.json"), ...k, "-o", out]);
    assertCliError(await run(["--device-max-split", "4"]), "E_USAGE", { message: /--device-max-split 4: this split has 3 segments, so k is 0 .* to 3/ });
    for (const bad of ["-1", "x", "1.5", ""]) assertCliError(await run(["--device-max-split", bad]), "E_USAGE", { message: /--device-max-split/ });
    assertCliError(await run([]), "E_USAGE", { message: /--device-max-split <k> is required/ });
    assertNoOutput(out);
  });

  test("missing files: E_MANIFEST naming them (only for files the pack needs); changed files: E_MANIFEST_HASH; no output", async (t) => {
    const d = tempDir(t);
    const src = path.join(d, "src");
    fs.cpSync(perSegment, src, { recursive: true });
    const run = (k: string, out: string): ReturnType<typeof runCli> => runCli(["pack", path.join(src, "manifest.json"), "--device-max-split", k, "-o", path.join(d, out)]);
    fs.rmSync(path.join(src, "segment-2.onnx"));
    assertCliError(await run("3", "a"), "E_MANIFEST", { message: /segment-2\.onnx" is missing/ });
    fs.rmSync(path.join(src, "seg-1.data"));
    assertCliError(await run("2", "b"), "E_MANIFEST", { message: /"seg-1\.data" is missing/ });
    await pack(src, "1", path.join(d, "ok"));

    const seg0 = path.join(src, "segment-0.onnx");
    const bytes = fs.readFileSync(seg0);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
    fs.writeFileSync(seg0, bytes);
    assertCliError(await run("1", "c"), "E_MANIFEST_HASH", { exit: 1, message: /segment-0\.onnx: sha256/ });
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
    fs.writeFileSync(seg0, bytes);
    const data = fs.readFileSync(path.join(src, "seg-0.data"));
    data.writeUInt8(data.readUInt8(0) ^ 1, 0);
    fs.writeFileSync(path.join(src, "seg-0.data"), data);
    assertCliError(await run("1", "e"), "E_MANIFEST_HASH", { exit: 1, message: /seg-0\.data: sha256/ });
    for (const out of ["a", "b", "c", "e"]) assertNoOutput(path.join(d, out));
    assertCliError(await runCli(["pack", path.join(d, "nothing", "manifest.json"), "--device-max-split", "1", "-o", path.join(d, "f")]), "E_MANIFEST");
  });
});

describe("a pack runs", () => {
  test("SplitRunner on the pack runs every k <= maxSplit against a worker serving the whole split, matching the whole model", async (t) => {
    const out = path.join(tempDir(t), "device");
    await pack(shared, "2", out);
    const { loaded, pack: info, maxSplit } = loadSplitOrPack(path.join(out, "manifest.json"));
    assert.equal(info?.maxSplit, 2);
    assert.equal(maxSplit, 2);

    const inputs = sampleInputs(Graph.load(model), { shapes: { input_ids: [1, 8] } });
    const whole = await OrtSession.create(model, { allowSpinning: false });
    const expected = await whole.run(inputs);
    await whole.release();

    const bus = createMemoryBus();
    const worker = await startWorker({ transport: bus.connect(), models: path.dirname(shared), logger: pino({ level: "silent" }) });
    const client = new OffloadClient({ transport: bus.connect(), deviceId: "pi-1", backoffMs: 5 });
    await client.start();
    const runner = SplitRunner.fromLoaded(loaded, { client });
    t.after(async () => { await runner.close(); await client.close(); await worker.stop(); });
    assert.deepEqual(worker.splits, [loaded.manifest.splitId], "the worker serves the pack's splitId");
    for (let k = 0; k <= maxSplit; k++) {
      const r = await runner.run(inputs, k);
      const cmp = compareOutputs(expected, r.outputs, { atol: 1e-5, rtol: 0 });
      assert.ok(cmp.ok, `k=${k}: ${JSON.stringify(cmp.outputs)}`);
      assert.equal(r.breakdown.attempts, 1);
    }
    // k = 3 needs segment 2, which the pack does not hold.
    await assert.rejects(runner.run(inputs, 3));
  });

  test("loadSplitOrPack: a pack missing a listed file is E_MANIFEST; a whole split loads with maxSplit n", async (t) => {
    const out = path.join(tempDir(t), "device");
    await pack(perSegment, "2", out);
    fs.rmSync(path.join(out, "seg-1.data"));
    assert.throws(() => loadSplitOrPack(path.join(out, "manifest.json")), (e: { code?: string; message: string }) => e.code === "E_MANIFEST" && /seg-1\.data" is missing/.test(e.message));
    const whole = loadSplitOrPack(path.join(perSegment, "manifest.json"));
    assert.equal(whole.pack, null);
    assert.equal(whole.maxSplit, 3);
  });

  test("plan on a pack: split points above its maxSplit cannot run there", async (t) => {
    const out = path.join(tempDir(t), "device");
    await pack(shared, "1", out);
    const r = await runCli(["plan", path.join(out, "manifest.json"), "--bandwidth", "0.1mbit", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const doc = jsonOf(r) as { chosen: number; packMaxSplit: number; splits: { split: number; feasible: boolean; why?: string }[] };
    assert.equal(doc.packMaxSplit, 1);
    assert.deepEqual(doc.splits.map((s) => s.feasible), [true, true, false, false]);
    assert.match(doc.splits[3]!.why!, /not on this device \(packed up to split 1\)/);
    assert.ok(doc.chosen <= 1);
  });
});
