// verifySplit on a hand-made split (the split writer is tested elsewhere): x -> MatMul w1 -> Relu
// -> h | h -> MatMul w2 -> y, ArgMax -> k. Model outputs: h (from segment 0), y and k (segment 1).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { saveModel } from "../../sdk/graph/model-io.js";
import { computeSplitId, type Manifest } from "../../sdk/graph/manifest.js";
import { sha256FileSync } from "../../sdk/graph/hash.js";
import { verifySplit } from "../../sdk/runtime/verify.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

const W1 = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i + 1));
const W2 = Float32Array.from({ length: 24 }, (_, i) => Math.cos(i * 0.7));

interface Parts { front: boolean; back: boolean; w2?: Float32Array; kPlusOne?: boolean }

/** The whole model (front + back), or one segment of it. */
function model(p: Parts): ReturnType<GraphBuilder["build"]> {
  const b = new GraphBuilder();
  if (p.front) {
    b.input("x", "float32", ["batch", 4]);
    b.initializer("w1", "float32", [4, 8], W1);
    b.op("Relu", [b.op("MatMul", ["x", "w1"])], {}, { output: "h" });
    b.output("h", "float32", ["batch", 8]);
  } else {
    b.input("h", "float32", ["batch", 8]);
  }
  if (p.back) {
    b.initializer("w2", "float32", [8, 3], p.w2 ?? W2);
    b.op("MatMul", ["h", "w2"], {}, { output: "y" });
    if (p.kPlusOne) b.op("Add", [b.op("ArgMax", ["y"], { axis: 1, keepdims: 0 }), b.constInt64([1], true)], {}, { output: "k" });
    else b.op("ArgMax", ["y"], { axis: 1, keepdims: 0 }, { output: "k" });
    b.output("y", "float32", ["batch", 3]);
    b.output("k", "int64", ["batch"]);
  }
  return b.build();
}

function writeSplit(dir: string): string {
  saveModel(model({ front: true, back: true }), path.join(dir, "model.onnx"), { sourceDir: dir });
  saveModel(model({ front: true, back: false }), path.join(dir, "segment-0.onnx"), { sourceDir: dir });
  saveModel(model({ front: false, back: true }), path.join(dir, "segment-1.onnx"), { sourceDir: dir });
  const h = (f: string): string => sha256FileSync(path.join(dir, f));
  const body: Omit<Manifest, "splitId"> = {
    format: 1,
    model: {
      file: "model.onnx", sha256: h("model.onnx"),
      inputs: [{ name: "x", type: "float32", shape: ["batch", 4] }],
      outputs: [{ name: "h", type: "float32", shape: ["batch", 8] }, { name: "y", type: "float32", shape: ["batch", 3] }, { name: "k", type: "int64", shape: ["batch"] }],
    },
    shapes: { x: [2, 4], batch: 2 },
    segments: [
      {
        index: 0, file: "segment-0.onnx", sha256: h("segment-0.onnx"), inputs: [{ name: "x", type: "float32", shape: ["batch", 4] }],
        outputs: [{ name: "h", type: "float32", shape: ["batch", 8], modelOutput: true }], weightBytes: 128, flops: 128,
      },
      {
        index: 1, file: "segment-1.onnx", sha256: h("segment-1.onnx"), inputs: [{ name: "h", type: "float32", shape: ["batch", 8] }],
        outputs: [{ name: "y", type: "float32", shape: ["batch", 3], modelOutput: true }, { name: "k", type: "int64", shape: ["batch"], modelOutput: true }],
        weightBytes: 96, flops: null,
      },
    ],
    cuts: [{ after: 0, tensors: [{ name: "h", type: "float32", shape: ["batch", 8], bytes: 64 }], modelInputs: [] }],
    dataFiles: [], sharedWeights: [], state: [],
  };
  const manifest: Manifest = { ...body, splitId: computeSplitId(body) };
  const file = path.join(dir, "manifest.json");
  fs.writeFileSync(file, JSON.stringify(manifest, null, 2));
  return file;
}

function withSplit(fn: (manifestPath: string, dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-verify-"));
    try {
      await fn(writeSplit(dir), dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

const code = (c: ErrorCode, ...parts: string[]) => (e: unknown): boolean => {
  if (!(e instanceof EdgecutError) || e.code !== c) return false;
  for (const p of parts) if (!e.message.includes(p)) assert.fail(`message "${e.message}" lacks "${p}"`);
  return true;
};

test("a correct split verifies, on sample inputs sized by the manifest's shapes", withSplit(async (manifestPath) => {
  const r = await verifySplit(manifestPath, { keepTensors: true, checkHashes: true });
  assert.equal(r.ok, true);
  assert.equal(r.atol, 1e-5);
  assert.equal(r.rtol, 1e-4);
  assert.deepEqual(r.outputs.map((o) => [o.name, o.ok, o.maxAbsDiff]), [["h", true, 0], ["y", true, 0], ["k", true, 0]]);
  assert.equal(r.inputSource, "sampled");
  assert.deepEqual(r.inputs, [{ name: "x", type: "float32", dims: [2, 4] }]);
  assert.equal(r.segmentMs.length, 2);
  assert.ok(r.wholeMs >= 0 && r.chainedMs >= 0);
  // The whole model really ran: y = relu(x @ w1) @ w2 for the sampled x.
  const x = r.tensors!.inputs.x!.data as Float32Array;
  const y = r.tensors!.expected.y!.data as Float32Array;
  for (let row = 0; row < 2; row++) {
    for (let j = 0; j < 3; j++) {
      let acc = 0;
      for (let m = 0; m < 8; m++) {
        let hv = 0;
        for (let i = 0; i < 4; i++) hv += x[row * 4 + i]! * W1[i * 8 + m]!;
        acc += Math.max(hv, 0) * W2[m * 3 + j]!;
      }
      assert.ok(Math.abs(y[row * 3 + j]! - acc) < 1e-5);
    }
  }
}));

test("a perturbed weight in segment 1 makes verify fail", withSplit(async (manifestPath, dir) => {
  // Perturb a weight of w2 that the sampled inputs use (a row whose relu output is not 0).
  const h = (await verifySplit(manifestPath, { keepTensors: true })).tensors!.expected.h!.data as Float32Array;
  const m = h.indexOf(Math.max(...h)) % 8;
  assert.ok(h[m]! > 0 || h[m + 8]! > 0);
  const w2 = W2.slice();
  w2[m * 3] = w2[m * 3]! + 0.05;
  saveModel(model({ front: false, back: true, w2 }), path.join(dir, "segment-1.onnx"), { sourceDir: dir });
  const r = await verifySplit(manifestPath);
  assert.equal(r.ok, false);
  const y = r.outputs.find((o) => o.name === "y")!;
  assert.equal(y.ok, false);
  assert.ok(y.maxAbsDiff > r.atol);
  assert.ok(Math.abs(y.maxAbsDiff - 0.05 * Math.max(...h)) < 1e-5, `${y.maxAbsDiff} vs ${0.05 * Math.max(...h)}`);
  assert.equal(r.outputs.find((o) => o.name === "h")!.ok, true);
  // With checkHashes the changed file is caught before anything runs.
  await assert.rejects(verifySplit(manifestPath, { checkHashes: true }), code("E_MANIFEST_HASH", "segments[1].file", "sha256"));
}));

test("integer outputs are compared exactly: k + 1 fails even with huge tolerances", withSplit(async (manifestPath, dir) => {
  saveModel(model({ front: false, back: true, kPlusOne: true }), path.join(dir, "segment-1.onnx"), { sourceDir: dir });
  const r = await verifySplit(manifestPath, { atol: 100, rtol: 100 });
  assert.equal(r.ok, false);
  assert.deepEqual(r.outputs.map((o) => [o.name, o.ok]), [["h", true], ["y", true], ["k", false]]);
  assert.equal(r.outputs[2]!.maxAbsDiff, 1);
}));

test("given inputs are used as they are; a missing one is E_INPUT_MISSING", withSplit(async (manifestPath) => {
  const x = { type: "float32" as const, dims: [1, 4], data: Float32Array.from([1, -1, 0.5, 2]) };
  const r = await verifySplit(manifestPath, { inputs: { x }, keepTensors: true });
  assert.equal(r.ok, true);
  assert.equal(r.inputSource, "given");
  assert.deepEqual(r.tensors!.expected.y!.dims, [1, 3]);
  await assert.rejects(verifySplit(manifestPath, { inputs: {} }), code("E_INPUT_MISSING", '"x"'));
  await assert.rejects(verifySplit(manifestPath, { inputs: { x, z: x } }), code("E_USAGE", '"z"', "not a model input"));
  await assert.rejects(verifySplit(manifestPath, { inputs: { x: { type: "float64", dims: [1, 4], data: new Float64Array(4) } } }), code("E_USAGE", "float64", "float32"));
}));

test("opts.shapes/dims override the manifest's shapes", withSplit(async (manifestPath) => {
  const r = await verifySplit(manifestPath, { dims: { batch: 5 } });
  assert.equal(r.ok, true);
  assert.deepEqual(r.inputs[0]!.dims, [5, 4]);
}));

test("a missing segment file is E_MANIFEST naming the field; a bad sha256 is E_MANIFEST_HASH", withSplit(async (manifestPath, dir) => {
  fs.renameSync(path.join(dir, "segment-1.onnx"), path.join(dir, "moved.onnx"));
  await assert.rejects(verifySplit(manifestPath), code("E_MANIFEST", "segments[1].file", "segment-1.onnx", "missing"));
  fs.renameSync(path.join(dir, "moved.onnx"), path.join(dir, "segment-1.onnx"));
  const m = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as Manifest;
  m.segments[0]!.sha256 = "0".repeat(64);
  m.splitId = computeSplitId(m);
  fs.writeFileSync(manifestPath, JSON.stringify(m));
  assert.equal((await verifySplit(manifestPath)).ok, true, "hashes are only checked on request");
  await assert.rejects(verifySplit(manifestPath, { checkHashes: true }), code("E_MANIFEST_HASH", "segments[0].file"));
}));
