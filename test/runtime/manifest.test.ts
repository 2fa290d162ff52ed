import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { canonicalJson, computeSplitId, isContainedPath, loadManifest, parseManifest, type Manifest } from "../../sdk/graph/manifest.js";
import { sha256FileSync, sha256Hex } from "../../sdk/graph/hash.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

const SHA = "a".repeat(64);

function good(): Manifest {
  const body: Omit<Manifest, "splitId"> = {
    format: 1,
    model: {
      file: "model.onnx", sha256: SHA,
      inputs: [{ name: "input_ids", type: "int64", shape: ["batch", "sequence"] }, { name: "attention_mask", type: "int64", shape: ["batch", null] }],
      outputs: [{ name: "logits", type: "float32", shape: ["batch", "sequence", 256] }],
    },
    shapes: { input_ids: [1, 64], batch: 1 },
    segments: [
      {
        index: 0, file: "segment-0.onnx", sha256: SHA, inputs: [{ name: "input_ids", type: "int64", shape: ["batch", "sequence"] }],
        outputs: [{ name: "h", type: "float32", shape: ["batch", "sequence", 64], modelOutput: false }], weightBytes: 65536, flops: 1.5e6,
      },
      {
        index: 1, file: "sub/segment-1.onnx", sha256: SHA,
        inputs: [{ name: "h", type: "float32", shape: ["batch", "sequence", 64] }, { name: "attention_mask", type: "int64", shape: ["batch", null] }],
        outputs: [{ name: "logits", type: "float32", shape: ["batch", "sequence", 256], modelOutput: true }], weightBytes: 0, flops: null,
      },
    ],
    cuts: [{ after: 0, tensors: [{ name: "h", type: "float32", shape: ["batch", "sequence", 64], bytes: 16384 }], modelInputs: ["attention_mask"] }],
    dataFiles: [{ file: "weights.data", sha256: SHA, bytes: 4096 }],
    sharedWeights: [{ name: "wte", bytes: 65536, segments: [0, 1] }],
    state: [],
  };
  return { ...body, splitId: computeSplitId(body) };
}

const rejects = (c: ErrorCode, ...parts: string[]) => (e: unknown): boolean => {
  if (!(e instanceof EdgecutError) || e.code !== c) return false;
  for (const p of parts) if (!e.message.includes(p)) assert.fail(`message "${e.message}" lacks "${p}"`);
  return true;
};

/** A good manifest with one change, as text. */
function edited(fn: (m: Record<string, unknown> & Manifest) => void): string {
  const m = good() as Record<string, unknown> & Manifest;
  fn(m);
  return JSON.stringify(m);
}

test("a good manifest parses to the same value; the source model may sit outside the split folder", () => {
  const m = good();
  assert.deepEqual(parseManifest(JSON.stringify(m, null, 2), "m.json"), m);
  const up = { ...m, model: { ...m.model, file: "../models/model.onnx" } };
  assert.equal(parseManifest(JSON.stringify(up), "m.json").model.file, "../models/model.onnx");
});

test("bad manifests are E_MANIFEST errors with the path of the bad field", () => {
  const cases: [string, string[]][] = [
    ["{", ["not valid JSON"]],
    [edited((m) => { (m as { format: number }).format = 2; }), ["format"]],
    [edited((m) => { m.splitId = "xyz"; }), ["splitId", "64 lowercase hex"]],
    [edited((m) => { m.model.file = "/abs/model.onnx"; }), ["model.file", "not an absolute path"]],
    [edited((m) => { m.model.file = "C:\\models\\model.onnx"; }), ["model.file", "not an absolute path"]],
    [edited((m) => { m.segments[1]!.file = "../segment-1.onnx"; }), ["segments[1].file", "no .."]],
    [edited((m) => { m.dataFiles[0]!.file = "a\\..\\b"; }), ["dataFiles[0].file"]],
    [edited((m) => { (m.segments[0]!.outputs[0] as { type: string }).type = "float"; }), ["segments[0].outputs[0].type", "not a tensor type name"]],
    [edited((m) => { (m.model.inputs[0]!.shape as unknown[])[0] = -1; }), ["model.inputs[0].shape[0]"]],
    [edited((m) => { (m.model.inputs[0]!.shape as unknown[])[1] = 1.5; }), ["model.inputs[0].shape[1]"]],
    [edited((m) => { (m.segments[0] as Record<string, unknown>).flop = 1; }), ["segments[0]", 'unknown key(s) "flop"']],
    [edited((m) => { m.extra = true; }), ["(top level)", '"extra"']],
    [edited((m) => { delete (m.segments[1] as Partial<Manifest["segments"][number]>).weightBytes; }), ["segments[1].weightBytes", "is missing"]],
    [edited((m) => { (m.segments[0] as { flops: unknown }).flops = -3; }), ["segments[0].flops"]],
    [edited((m) => { (m.segments[0]!.outputs[0] as { modelOutput: unknown }).modelOutput = "no"; }), ["segments[0].outputs[0].modelOutput"]],
    [edited((m) => { (m.shapes as Record<string, unknown>).input_ids = [1, "64"]; }), ["shapes.input_ids"]],
    [edited((m) => { (m.state as unknown[]).push({ past: "p" }); }), ["state", "present"]],
    [edited((m) => { m.segments = []; }), ["segments"]],
    [edited((m) => { m.segments[1]!.index = 5; }), ["segments[1].index", "index order"]],
    [edited((m) => { m.segments[1]!.inputs[0]!.name = "g"; }), ["segments[1].inputs[0].name", '"g"', "neither a model input nor an output of an earlier segment"]],
    [edited((m) => { m.segments[1]!.outputs[0]!.modelOutput = false; }), ["modelOutput must be true"]],
    [edited((m) => { m.segments[0]!.outputs[0]!.modelOutput = true; }), ["segments[0].outputs[0].modelOutput", "not in model.outputs"]],
    [edited((m) => { m.segments[1]!.outputs.push({ name: "h", type: "float32", shape: [], modelOutput: false }); }), ["segments[1].outputs[1].name", "also produced by segment 0"]],
    [edited((m) => { m.model.outputs.push({ name: "other", type: "float32", shape: [] }); }), ["model.outputs[1]", 'no segment outputs "other"']],
    [edited((m) => { m.model.inputs.push({ ...m.model.inputs[0]! }); }), ["model.inputs[2].name", "listed twice"]],
    [edited((m) => { m.cuts[0]!.after = 1; }), ["cuts[0].after", "0..0"]],
    [edited((m) => { m.cuts[0]!.modelInputs = ["nope"]; }), ["cuts[0].modelInputs[0]", "not a model input"]],
    [edited((m) => { m.sharedWeights[0]!.segments = [0, 7]; }), ["sharedWeights[0].segments[1]", "does not exist"]],
  ];
  for (const [text, parts] of cases) assert.throws(() => parseManifest(text, "m.json"), rejects("E_MANIFEST", "m.json", ...parts), text);
});

test("canonicalJson sorts keys at every level and drops whitespace; splitId ignores splitId and key order", () => {
  assert.equal(canonicalJson({ b: 1, a: [{ z: null, y: "s" }, 2.5], c: undefined }), '{"a":[{"y":"s","z":null},2.5],"b":1}');
  const m = good();
  const shuffled = JSON.parse(JSON.stringify({ state: m.state, segments: m.segments, model: m.model, format: 1, cuts: m.cuts, shapes: m.shapes, dataFiles: m.dataFiles, sharedWeights: m.sharedWeights })) as Manifest;
  assert.equal(computeSplitId(shuffled), m.splitId);
  assert.equal(computeSplitId(m), m.splitId);
  assert.notEqual(computeSplitId({ ...m, shapes: { input_ids: [1, 65] } }), m.splitId);
  assert.equal(m.splitId, sha256Hex(canonicalJson({ ...m, splitId: undefined })));
});

test("isContainedPath", () => {
  for (const p of ["a.onnx", "sub/a.onnx", "a..b.onnx"]) assert.ok(isContainedPath(p), p);
  for (const p of ["", "/a", "..", "../a", "a/../../b", "C:\\x", "a\\..\\b"]) assert.ok(!isContainedPath(p), p);
});

test("loadManifest checks files exist, data file sizes and (on request) hashes and the splitId", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-manifest-"));
  try {
    const m = good();
    fs.mkdirSync(path.join(dir, "sub"));
    const files: Record<string, string> = { "model.onnx": "model", "segment-0.onnx": "s0", "sub/segment-1.onnx": "s1", "weights.data": "w".repeat(4096) };
    for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
    m.model.sha256 = sha256Hex("model");
    m.segments[0]!.sha256 = sha256Hex("s0");
    m.segments[1]!.sha256 = sha256Hex("s1");
    m.dataFiles[0]!.sha256 = sha256Hex("w".repeat(4096));
    m.splitId = computeSplitId(m);
    const file = path.join(dir, "manifest.json");
    const write = (x: Manifest): void => fs.writeFileSync(file, JSON.stringify(x));
    write(m);
    const loaded = loadManifest(file, { checkHashes: true });
    assert.equal(loaded.dir, dir);
    assert.deepEqual(loaded.manifest, m);
    assert.equal(sha256FileSync(path.join(dir, "weights.data")), m.dataFiles[0]!.sha256);
    assert.equal(sha256FileSync(path.join(dir, "model.onnx")), m.model.sha256);

    // Edited content: the splitId no longer matches.
    write({ ...m, shapes: { batch: 2 } });
    assert.doesNotThrow(() => loadManifest(file));
    assert.throws(() => loadManifest(file, { checkHashes: true }), rejects("E_MANIFEST_HASH", "splitId"));
    write(m);
    // A changed file.
    fs.writeFileSync(path.join(dir, "segment-0.onnx"), "S0");
    assert.throws(() => loadManifest(file, { checkHashes: true }), rejects("E_MANIFEST_HASH", "segments[0].file", sha256Hex("S0")));
    // A truncated data file is caught by its size without hashing.
    fs.writeFileSync(path.join(dir, "weights.data"), "w");
    assert.throws(() => loadManifest(file), rejects("E_MANIFEST_HASH", "dataFiles[0].file", "1 bytes", "4096"));
    // A missing file.
    fs.rmSync(path.join(dir, "sub", "segment-1.onnx"));
    assert.throws(() => loadManifest(file), rejects("E_MANIFEST", "segments[1].file", "sub/segment-1.onnx", "missing"));
    assert.doesNotThrow(() => loadManifest(file, { checkFiles: false }));
    assert.throws(() => loadManifest(path.join(dir, "none.json")), rejects("E_MANIFEST", "cannot read manifest"));
    assert.throws(() => sha256FileSync(path.join(dir, "none")), rejects("E_MODEL_READ", "none"));
    assert.throws(() => sha256FileSync(dir), rejects("E_MODEL_READ", "EISDIR"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
