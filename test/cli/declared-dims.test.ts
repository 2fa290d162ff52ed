// Declared dims that are not plain names, end to end: a dim_value of -1 (some converters write it
// for a dynamic dim) and a dim_param with "-" in it. inspect, split and verify all take them.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { GraphBuilder, type Dim } from "../../sdk/graph/builder.js";
import { saveModel } from "../../sdk/graph/model-io.js";
import { isRecord, jsonOf, runCli, tempDir } from "./helpers.js";

const seq = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));

/** x [first, 8] -> MatMul -> Relu -> h -> MatMul -> Relu -> y [first, 8]. */
function writeMlp(dir: string, first: Dim): string {
  const b = new GraphBuilder();
  b.input("x", "float32", [first, 8]);
  b.initializer("w1", "float32", [8, 8], seq(64, (i) => Math.sin(i) / 3));
  b.initializer("w2", "float32", [8, 8], seq(64, (i) => Math.cos(i) / 3));
  b.op("Relu", [b.op("MatMul", ["x", "w1"])], {}, { output: "h" });
  b.op("Relu", [b.op("MatMul", ["h", "w2"])], {}, { output: "y" });
  b.output("y", "float32", [first, 8]);
  const file = path.join(dir, "mlp.onnx");
  saveModel(b.build(), file, { sourceDir: dir });
  return file;
}

interface ManifestLike { model: { inputs: { shape: unknown[] }[] }; shapes: Record<string, unknown>; cuts: { tensors: { name: string; shape: unknown[]; bytes: number }[] }[] }
const manifestOf = (out: string): ManifestLike => JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as ManifestLike;

async function verifies(argv: string[]): Promise<void> {
  const v = await runCli(["verify", ...argv, "--json"]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.equal(jsonOf(v).ok, true);
}

test("an input declared [-1, 8] inspects (the -1 counts as 1), splits with --shape x=2x8, and verifies", async (t) => {
  const dir = tempDir(t);
  const file = writeMlp(dir, -1);
  const i = await runCli(["inspect", file, "--json"]);
  assert.equal(i.code, 0, i.stdout + i.stderr);
  const doc = jsonOf(i);
  assert.deepEqual(doc.inputShapes, { x: [1, 8] });
  assert.ok(Array.isArray(doc.candidateCuts) && doc.candidateCuts.length > 0);

  const out = path.join(dir, "split");
  const s = await runCli(["split", file, "--cut", "h", "--shape", "x=2x8", "-o", out]);
  assert.equal(s.code, 0, s.stdout + s.stderr);
  const m = manifestOf(out);
  assert.deepEqual(m.model.inputs[0]!.shape, [null, 8], "-1 is an unknown dim in the manifest");
  assert.deepEqual(m.shapes, { x: [2, 8] });
  assert.deepEqual(m.cuts[0]!.tensors[0]!.shape, [null, 8]);
  assert.equal(m.cuts[0]!.tensors[0]!.bytes, 2 * 8 * 4);
  await verifies([path.join(out, "manifest.json")]);
  await verifies([path.join(out, "manifest.json"), "--shape", "x=3x8"]);
});

test('an input declared ["batch-size", 8] keeps the one name: inspect assumes it, --dim and --shape bind it', async (t) => {
  const dir = tempDir(t);
  const file = writeMlp(dir, "batch-size");
  const i = await runCli(["inspect", file, "--json"]);
  assert.equal(i.code, 0, i.stdout + i.stderr);
  const doc = jsonOf(i);
  assert.deepEqual(doc.inputShapes, { x: [1, 8] });
  assert.deepEqual(doc.assumedDims, ["batch-size"]);
  const d = jsonOf(await runCli(["inspect", file, "--dim", "batch-size=4", "--json"]));
  assert.ok(isRecord(d.inputShapes));
  assert.deepEqual(d.inputShapes, { x: [4, 8] });

  const out = path.join(dir, "split");
  const s = await runCli(["split", file, "--cut", "h", "--shape", "x=2x8", "-o", out]);
  assert.equal(s.code, 0, s.stdout + s.stderr);
  const m = manifestOf(out);
  assert.deepEqual(m.model.inputs[0]!.shape, ["batch-size", 8]);
  assert.deepEqual(m.cuts[0]!.tensors[0]!.shape, ["batch-size", 8]);
  assert.equal(m.shapes["batch-size"], 2);
  await verifies([path.join(out, "manifest.json")]);
  await verifies([path.join(out, "manifest.json"), "--dim", "batch-size=3"]);
});
