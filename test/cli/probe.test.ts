/**
 * The probe fallback: a tensor whose shape depends on the data (NonZero) cannot be sized by
 * inference; inspect and split size it with one onnxruntime run, and the split still verifies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { Graph } from "../../sdk/graph/graph.js";
import { analyze } from "../../sdk/graph/analyze.js";
import { runCli } from "./helpers.js";

function nonzeroModel(dir: string): string {
  const b = new GraphBuilder({ name: "nonzero" });
  const x = b.input("x", "float32", ["batch", 6]);
  const pos = b.op("Greater", [x, b.constFloat([0], [])]);
  const idx = b.op("NonZero", [pos]);               // [2, n]: n depends on the values
  const f = b.op("Cast", [idx], { to: 1 });
  const t = b.op("Transpose", [f], { perm: [1, 0] }); // [n, 2]
  const w1 = b.initializer("w1", "float32", [2, 8], Float32Array.from({ length: 16 }, (_, i) => (i % 5) / 10));
  const h = b.op("MatMul", [t, w1], {}, { output: "h" }); // [n, 8]: the cut
  const r = b.op("Relu", [h]);
  const w2 = b.initializer("w2", "float32", [8, 3], Float32Array.from({ length: 24 }, (_, i) => (i % 7) / 10 - 0.2));
  const y = b.op("MatMul", [r, w2], {}, { output: "y" });
  b.output(y, "float32", [null, 3]);
  const file = path.join(dir, "nonzero.onnx");
  fs.writeFileSync(file, serializeModel(b.build(), { sourceDir: dir }));
  return file;
}

async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  const r = await runCli(argv);
  return { code: r.code, out: r.stdout + r.stderr };
}

test("inference leaves a data-dependent shape unknown; inspect sizes it with one probe run", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-probe-test-"));
  try {
    const file = nonzeroModel(dir);
    const a = analyze(Graph.load(file), { shapes: { x: [1, 6] } });
    assert.ok(a.concrete.unresolved.includes("h"), "without a probe, h is unsized");
    const r = await cli(["inspect", file, "--shape", "x=1x6", "--json"]);
    assert.equal(r.code, 0, r.out);
    const doc = JSON.parse(r.out) as { probedTensors: number; candidateCuts: { tensors: { name: string; bytes: number | null }[] }[] };
    assert.ok(doc.probedTensors > 0);
    // The one candidate follows h's Relu (a weightless, size-preserving step after h).
    assert.equal(doc.candidateCuts.length, 1, JSON.stringify(doc.candidateCuts));
    const hBytes = doc.candidateCuts[0]!.tensors[0]!.bytes;
    // Sample floats are in [-1, 1): n (the count of positives) is 0..6, so h is n x 8 float32.
    assert.ok(hBytes !== null && hBytes % 32 === 0 && hBytes <= 6 * 32, `h bytes ${hBytes}`);

    const out = path.join(dir, "split");
    const s = await cli(["split", file, "--cut", "h", "--shape", "x=1x6", "-o", out, "--json"]);
    assert.equal(s.code, 0, s.out);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as { cuts: { tensors: { name: string; bytes: number; shape: unknown[] }[] }[] };
    assert.equal(manifest.cuts[0]!.tensors[0]!.name, "h");
    assert.equal(manifest.cuts[0]!.tensors[0]!.bytes, hBytes);
    assert.equal(manifest.cuts[0]!.tensors[0]!.shape[1], 8);
    const v = await cli(["verify", path.join(out, "manifest.json"), "--shape", "x=3x6", "--json"]);
    assert.equal(v.code, 0, v.out);
    assert.equal((JSON.parse(v.out) as { ok: boolean }).ok, true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a tensor sized only by the probe can cross a cut: the segment declares its type and rank", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-probe-test-"));
  try {
    const b = new GraphBuilder({ name: "det" });
    const x = b.input("x", "float32", ["batch", 3, 3]);
    const w = b.initializer("w", "float32", [3, 3], Float32Array.from([2, 0, 0, 0, 3, 0, 1, 0, 1]));
    const m = b.op("MatMul", [x, w]);
    const d = b.op("Det", [m], {}, { output: "d" }); // no shape rule: only the probe sizes it
    const y = b.op("Mul", [d, b.constFloat([2], [])], {}, { output: "y" });
    b.output(y, "float32", ["batch"]);
    const file = path.join(dir, "det.onnx");
    fs.writeFileSync(file, serializeModel(b.build(), { sourceDir: dir }));
    const out = path.join(dir, "split");
    const s = await cli(["split", file, "--cut", "d", "--shape", "x=2x3x3", "-o", out]);
    assert.equal(s.code, 0, s.out);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as { cuts: { tensors: { name: string; type: string; bytes: number }[] }[] };
    assert.deepEqual(manifest.cuts[0]!.tensors.map((t) => [t.name, t.type, t.bytes]), [["d", "float32", 8]]);
    const v = await cli(["verify", path.join(out, "manifest.json"), "--shape", "x=5x3x3", "--json"]);
    assert.equal(v.code, 0, v.out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a probe the runtime cannot run (a custom op) leaves tensors unsized with a warning, not a failure", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-probe-test-"));
  try {
    const b = new GraphBuilder({ name: "custom", opsets: { "my.ops": 1 } });
    const x = b.input("x", "float32", ["batch", 4]);
    const w = b.initializer("w", "float32", [4, 4], new Float32Array(16).fill(0.5));
    const h = b.op("MatMul", [x, w], {}, { output: "h" });
    const f = b.op("Foo", [h], {}, { output: "f", domain: "my.ops" });
    b.output(f, "float32", null);
    const file = path.join(dir, "custom.onnx");
    fs.writeFileSync(file, serializeModel(b.build(), { sourceDir: dir }));
    const r = await cli(["inspect", file, "--json"]);
    assert.equal(r.code, 0, r.out);
    const doc = JSON.parse(r.out) as { probedTensors: number; probeError: string | null };
    assert.equal(doc.probedTensors, 0);
    assert.match(doc.probeError ?? "", /Foo|my\.ops/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
