import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { create } from "@bufbuild/protobuf";
import {
  GraphProtoSchema, ModelProtoSchema, ValueInfoProtoSchema, TensorProto_DataLocation,
  type ModelProto, type TensorProto, type ValueInfoProto,
} from "../../sdk/graph/onnx/onnx_pb.js";
import { Graph } from "../../sdk/graph/graph.js";
import { constantInfo, frontOf, partition, type Partition } from "../../sdk/graph/partition.js";
import { writeSplit, type ConcreteShapes, type WriteSplitOptions } from "../../sdk/graph/split.js";
import { ExternalDataWriter, externalRef, loadModel, mapGraphTensors, saveModel, tensorRawBytes } from "../../sdk/graph/model-io.js";
import { computeSplitId, loadManifest, type Manifest } from "../../sdk/graph/manifest.js";
import { sha256FileSync } from "../../sdk/graph/hash.js";
import { dtypeCode, dtypeName } from "../../sdk/graph/dtypes.js";
import { inferShapes } from "../../sdk/graph/shapes.js";
import { GraphBuilder, makeValueInfo } from "../../sdk/graph/builder.js";
import { EdgecutError } from "../../sdk/errors.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";

const FIX = path.resolve(import.meta.dirname, "../fixtures/torch");
const GPT2 = path.join(FIX, "gpt2-tiny.onnx");
const CONTROL = path.join(FIX, "control-flow.onnx");

/** A scratch folder removed when the test ends, pass or fail. */
function tmpDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-split-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Test stand-in for symbolic shape inference: runs the whole model at two input settings with
 * every node output fetched; a dim equal in both runs is a number, one that differs becomes the
 * dim_param `d<a>_<b>` (so batch 1 vs 2 is "d1_2" everywhere). Model outputs are left to the model's
 * own declaration (the fallback writeSplit uses). Also returns the concrete types of run A.
 */
async function probeTypes(g: Graph, dir: string, a: TensorMap, b: TensorMap): Promise<{ typeOf: (n: string) => ValueInfoProto | undefined; concrete: ConcreteShapes["types"] }> {
  const known = new Set(g.outputs);
  const extra = g.nodes.flatMap((n) => n.outputs).filter((t) => !known.has(t)).map((name) => create(ValueInfoProtoSchema, { name }));
  const model = create(ModelProtoSchema, { ...g.model, graph: create(GraphProtoSchema, { ...g.graph, output: [...g.graph.output, ...extra] }) });
  const file = path.join(dir, "probe.onnx");
  saveModel(model, file, { sourceDir: g.dir });
  const s = await OrtSession.create(file);
  const [ra, rb] = [await s.run(a), await s.run(b)];
  await s.release();
  fs.rmSync(file);
  const infos = new Map<string, ValueInfoProto>();
  const concrete: ConcreteShapes["types"] = new Map();
  for (const [name, ta] of Object.entries(ra)) {
    if (known.has(name)) continue; // declared model outputs: writeSplit falls back to the model's declaration
    const tb = rb[name]!;
    const elem = dtypeCode(ta.type)!;
    const dims = ta.dims.map((d, i) => (d === tb.dims[i] ? d : `d${d}_${tb.dims[i]}`));
    infos.set(name, makeValueInfo(name, ta.type, dims));
    concrete.set(name, { elemType: elem, dims: [...ta.dims] });
  }
  return { typeOf: (n) => infos.get(n), concrete };
}

function int64(dims: number[], f: (i: number) => number): HostTensor {
  const n = dims.reduce((x, y) => x * y, 1);
  return { type: "int64", dims, data: BigInt64Array.from({ length: n }, (_, i) => BigInt(f(i))) };
}

function gpt2Feeds(batch: number, seq: number): TensorMap {
  return {
    input_ids: int64([batch, seq], (i) => (i * 37 + 11) % 256),
    attention_mask: int64([batch, seq], () => 1),
  };
}

function float32(dims: number[], f: (i: number) => number): HostTensor {
  const n = dims.reduce((x, y) => x * y, 1);
  return { type: "float32", dims, data: Float32Array.from({ length: n }, (_, i) => f(i)) };
}

/** Runs the chain of segments the manifest lists, feeding model inputs and earlier outputs by name. */
async function runChain(dir: string, m: Manifest, feeds: TensorMap): Promise<TensorMap> {
  const env: TensorMap = { ...feeds };
  for (const seg of m.segments) {
    const s = await OrtSession.create(path.join(dir, seg.file));
    const input: TensorMap = {};
    for (const t of seg.inputs) input[t.name] = env[t.name]!;
    assert.deepEqual([...s.inputNames].sort(), seg.inputs.map((t) => t.name).sort());
    Object.assign(env, await s.run(input));
    await s.release();
  }
  return env;
}

async function runWhole(file: string, feeds: TensorMap): Promise<TensorMap> {
  const s = await OrtSession.create(file);
  const r = await s.run(feeds);
  await s.release();
  return r;
}

function maxDiff(a: HostTensor, b: HostTensor): number {
  assert.deepEqual(a.dims, b.dims);
  let d = 0;
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

/** Runs the whole model and the segment chain on each feed set; `output` must agree within `tol`. */
async function assertChainMatches(out: string, m: Manifest, modelFile: string, feedSets: TensorMap[], output: string, tol: number): Promise<void> {
  for (const feeds of feedSets) {
    const whole = await runWhole(modelFile, feeds);
    const chained = await runChain(out, m, feeds);
    const d = maxDiff(whole[output]!, chained[output]!);
    assert.ok(d < tol, `${output} at ${JSON.stringify(Object.values(feeds).map((t) => t.dims))} differs by ${d}`);
  }
}

/** Options for writeSplit from a probe (flops: one per compute node, so the sums are checkable). */
async function splitOptions(g: Graph, modelPath: string, work: string, a: TensorMap, b: TensorMap, shapes: Record<string, number[]>): Promise<WriteSplitOptions> {
  const probe = await probeTypes(g, work, a, b);
  return { modelPath, typeOf: probe.typeOf, concrete: { types: probe.concrete, shapes, dims: {} }, nodeFlops: () => 1 };
}

/** Every external tensor of a saved segment: its location, offset and length. */
function externalTensors(file: string): { name: string; location: string; offset: number; length: number; t: TensorProto }[] {
  const m = loadModel(file);
  const out: { name: string; location: string; offset: number; length: number; t: TensorProto }[] = [];
  const visit = (t: TensorProto): undefined => {
    const ref = externalRef(t, m.dir);
    if (ref) out.push({ name: t.name, location: ref.location, offset: ref.offset, length: ref.length, t });
    return undefined;
  };
  mapGraphTensors(m.proto.graph!, visit);
  return out;
}

/** Checks the manifest on disk against the returned one, the schema, its splitId, every file hash and every external offset. */
async function checkManifestFiles(dir: string, m: Manifest): Promise<void> {
  // The manifest's own loader: schema, cross-field rules, file sizes, every sha256 and the splitId.
  const loaded = loadManifest(path.join(dir, "manifest.json"), { checkHashes: true });
  assert.deepEqual(loaded.manifest, m);
  assert.equal(m.splitId, computeSplitId(m));
  assert.deepEqual(Object.keys(m), ["format", "splitId", "model", "shapes", "segments", "cuts", "dataFiles", "sharedWeights", "state"]);
  for (const s of m.segments) assert.equal(sha256FileSync(path.join(dir, s.file)), s.sha256);
  for (const d of m.dataFiles) {
    assert.equal(sha256FileSync(path.join(dir, d.file)), d.sha256);
    assert.equal(fs.statSync(path.join(dir, d.file)).size, d.bytes);
  }
  assert.equal(sha256FileSync(path.resolve(dir, m.model.file)), m.model.sha256);
  for (const s of m.segments) {
    for (const e of externalTensors(path.join(dir, s.file))) {
      assert.equal(e.offset % 4096, 0, `${s.file}: ${e.name} at offset ${e.offset}`);
      assert.ok(m.dataFiles.some((d) => d.file === e.location), `${e.location} is listed in dataFiles`);
    }
  }
}

/** gpt2-tiny cut after the given tensors (one per cut). */
function gpt2Partition(g: Graph, cutsAt: string[]): Partition {
  const c = constantInfo(g);
  const fronts = cutsAt.map((t) => frontOf(g, [t], c));
  return partition(g, cutsAt.length + 1, (i) => {
    const k = fronts.findIndex((f) => f.has(i));
    return k < 0 ? cutsAt.length : k;
  }, c);
}

test("gpt2-tiny split after block 0: segments run standalone and chain to the whole model at [1,8] and [2,5]", async (t) => {
  const work = tmpDir(t);
  const g = Graph.load(GPT2);
  const p = gpt2Partition(g, ["/h.0/Add_1_output_0"]);
  const opts = await splitOptions(g, GPT2, work, gpt2Feeds(1, 8), gpt2Feeds(2, 5), { input_ids: [1, 8], attention_mask: [1, 8] });
  const out = path.join(work, "split");
  const m = await writeSplit(g, p, out, opts);
  await checkManifestFiles(out, m);
  assert.deepEqual(fs.readdirSync(out).sort(), ["manifest.json", "segment-0.onnx", "segment-1.onnx", "weights.data"]);

  assert.equal(m.model.file, path.relative(out, GPT2));
  assert.deepEqual(m.model.inputs, [
    { name: "input_ids", type: "int64", shape: ["batch", "sequence"] },
    { name: "attention_mask", type: "int64", shape: ["batch", "sequence"] },
  ]);
  assert.deepEqual(m.model.outputs, [{ name: "logits", type: "float32", shape: ["batch", "sequence", 256] }]);
  assert.deepEqual(m.shapes, { input_ids: [1, 8], attention_mask: [1, 8] });
  assert.equal(m.segments.length, 2);
  assert.equal(m.cuts.length, 1);
  const cut = m.cuts[0]!;
  assert.equal(cut.after, 0);
  const h = cut.tensors.find((t) => t.name === "/h.0/Add_1_output_0");
  assert.deepEqual(h, { name: "/h.0/Add_1_output_0", type: "float32", shape: ["d1_2", "d8_5", 64], bytes: 1 * 8 * 64 * 4 });
  // The mask is processed in front and crosses as a tensor: no model input is re-sent.
  assert.deepEqual(cut.tensors.map((t) => t.name), ["/Unsqueeze_2_output_0", "/h.0/Add_1_output_0"]);
  assert.deepEqual(cut.modelInputs, []);
  assert.deepEqual(m.segments[1]!.outputs, [{ name: "logits", type: "float32", shape: ["batch", "sequence", 256], modelOutput: true }]);
  assert.ok(m.segments[0]!.outputs.every((t) => !t.modelOutput));
  assert.equal(m.segments[0]!.flops, p.segments[0]!.computeNodes.length);
  assert.equal(m.segments[1]!.flops, p.segments[1]!.computeNodes.length);
  const totalWeights = [...g.initializers.values()].reduce((s, t) => s + t.rawData.length, 0);
  assert.ok(m.segments[0]!.weightBytes > 0 && m.segments[1]!.weightBytes > 0);
  assert.ok(m.segments[0]!.weightBytes + m.segments[1]!.weightBytes >= totalWeights);
  // The de-duplicated LayerNorm weights feed Identity nodes copied into both segments.
  assert.ok(m.sharedWeights.some((w) => w.name === "core.h.0.ln_1.weight" && w.segments.join() === "0,1" && w.bytes === 256));
  assert.deepEqual(m.state, []);

  // The segment declares the symbolic shape, not the 1x8 the split was computed at.
  const seg1 = loadModel(path.join(out, "segment-1.onnx")).proto;
  const hIn = seg1.graph!.input.find((v) => v.name === "/h.0/Add_1_output_0")!;
  const dims = hIn.type!.value.case === "tensorType" ? hIn.type!.value.value.shape!.dim.map((d) => d.value.value) : [];
  assert.deepEqual(dims, ["d1_2", "d8_5", 64n]);

  await assertChainMatches(out, m, GPT2, [gpt2Feeds(1, 8), gpt2Feeds(2, 5)], "logits", 1e-4);
});

test("gpt2-tiny 3-way split chains to the whole model at two shapes", async (t) => {
  const work = tmpDir(t);
  const g = Graph.load(GPT2);
  const p = gpt2Partition(g, ["/h.0/Add_output_0", "/h.1/Add_output_0"]);
  const opts = await splitOptions(g, GPT2, work, gpt2Feeds(1, 8), gpt2Feeds(2, 5), { input_ids: [1, 8], attention_mask: [1, 8] });
  const out = path.join(work, "split3");
  const m = await writeSplit(g, p, out, opts);
  await checkManifestFiles(out, m);
  assert.equal(m.segments.length, 3);
  assert.deepEqual(m.cuts.map((c) => c.after), [0, 1]);
  assert.equal(m.dataFiles.length, 1);
  await assertChainMatches(out, m, GPT2, [gpt2Feeds(1, 8), gpt2Feeds(2, 5)], "logits", 1e-4);
});

test("with edgecut's own symbolic shape inference, gpt2-tiny segments keep batch/sequence and run at another shape", async (t) => {
  const work = tmpDir(t);
  const g = Graph.load(GPT2);
  const sym = inferShapes(g).types;
  const shapes = { input_ids: [1, 8], attention_mask: [1, 8] };
  const conc = inferShapes(g, { inputShapes: shapes }).types;
  const typeOf = (n: string): ValueInfoProto | undefined => {
    const t = sym.get(n);
    const type = t && dtypeName(t.elemType);
    return t && type ? makeValueInfo(n, type, t.dims) : undefined;
  };
  const out = path.join(work, "split");
  const m = await writeSplit(g, gpt2Partition(g, ["/h.0/Add_1_output_0"]), out, {
    modelPath: GPT2, typeOf, concrete: { types: conc, shapes, dims: {} }, nodeFlops: () => null,
  });
  await checkManifestFiles(out, m);
  assert.deepEqual(m.cuts[0]!.tensors.map((t) => [t.shape, t.bytes]), [[["batch", 1, 1, "sequence"], 8], [["batch", "sequence", 64], 2048]]);
  assert.deepEqual(m.segments.map((s) => s.flops), [null, null]);
  await assertChainMatches(out, m, GPT2, [gpt2Feeds(2, 5)], "logits", 1e-4);
});

/** Splits a graph in two after the nodes that `tensor` depends on. */
function splitAfter(g: Graph, tensor: string): Partition {
  const c = constantInfo(g);
  const front = frontOf(g, [tensor], c);
  return partition(g, 2, (i) => (front.has(i) ? 0 : 1), c);
}

/** Deterministic float data. */
function values(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 0.5);
}

/** Embedding and LM head tied: one initializer W read by the first node (Gather) and the last (Gemm). */
function tiedModel(extraUnused = false): ModelProto {
  const b = new GraphBuilder({ name: "tied" });
  const ids = b.input("ids", "int64", ["n"]);
  const w = b.initializer("W", "float32", [64, 32], values(64 * 32, 1));
  if (extraUnused) b.initializer("unused", "float32", [128, 128], values(128 * 128, 2));
  const e = b.op("Gather", [w, ids], {}, { output: "emb" });
  const r = b.op("Relu", [e], {}, { output: "hidden" });
  b.op("Gemm", [r, w], { transB: 1 }, { output: "logits" });
  b.output("logits", "float32", ["n", 64]);
  return b.build();
}

const tiedFeeds = (n: number): TensorMap => ({ ids: int64([n], (i) => (i * 7) % 64) });

test("a weight read by both segments (tied embedding / LM head) is stored once and listed in sharedWeights", async (t) => {
  const work = tmpDir(t);
  const file = path.join(work, "tied.onnx");
  saveModel(tiedModel(), file, { sourceDir: work });
  const g = Graph.load(file);
  const opts = await splitOptions(g, file, work, tiedFeeds(3), tiedFeeds(5), { ids: [3] });
  const out = path.join(work, "split");
  const m = await writeSplit(g, splitAfter(g, "hidden"), out, opts);
  await checkManifestFiles(out, m);
  assert.equal(m.model.file, "../tied.onnx");
  assert.deepEqual(m.sharedWeights, [{ name: "W", bytes: 64 * 32 * 4, segments: [0, 1] }]);
  assert.deepEqual(m.dataFiles.map((d) => [d.file, d.bytes]), [["weights.data", 64 * 32 * 4]]);
  assert.deepEqual(m.segments.map((s) => s.weightBytes), [8192, 8192]);
  assert.deepEqual(m.cuts[0]!.tensors, [{ name: "hidden", type: "float32", shape: ["d3_5", 32], bytes: 3 * 32 * 4 }]);
  const refs = m.segments.map((s) => externalTensors(path.join(out, s.file)).map((e) => [e.name, e.location, e.offset, e.length]));
  assert.deepEqual(refs, [[["W", "weights.data", 0, 8192]], [["W", "weights.data", 0, 8192]]]);
  await assertChainMatches(out, m, file, [tiedFeeds(3), tiedFeeds(5)], "logits", 1e-5);
});

test("a source model with external data splits, and the split copies only the ranges its segments use", async (t) => {
  const work = tmpDir(t);
  const src = path.join(work, "src");
  fs.mkdirSync(src);
  const file = path.join(src, "tied-ext.onnx");
  const w = new ExternalDataWriter(path.join(src, "tied-ext.data"));
  saveModel(tiedModel(true), file, { sourceDir: work, externalData: w, threshold: 1024 });
  w.close();
  const srcData = fs.statSync(path.join(src, "tied-ext.data")).size;
  assert.ok(srcData >= 8192 + 128 * 128 * 4);
  const g = Graph.load(file);
  assert.equal(g.initializers.get("W")!.dataLocation, TensorProto_DataLocation.EXTERNAL);
  const opts = await splitOptions(g, file, work, tiedFeeds(3), tiedFeeds(5), { ids: [3] });
  const out = path.join(work, "split");
  const m = await writeSplit(g, splitAfter(g, "hidden"), out, { ...opts, dataFile: "shared.bin" });
  await checkManifestFiles(out, m);
  // "unused" (64 KiB) is in the source's data file but no segment reads it.
  assert.deepEqual(m.dataFiles.map((d) => [d.file, d.bytes]), [["shared.bin", 8192]]);
  const expected = tensorRawBytes(g.initializers.get("W")!, g.dir);
  for (const s of m.segments) {
    const ext = externalTensors(path.join(out, s.file));
    assert.deepEqual(ext.map((e) => [e.name, e.location]), [["W", "shared.bin"]]);
    assert.deepEqual(tensorRawBytes(ext[0]!.t, out), expected);
  }
  await assertChainMatches(out, m, file, [tiedFeeds(4)], "logits", 1e-5);
});

test("control-flow: an If reading outer-scope tensors, split before and after it, runs and matches", async (t) => {
  const work = tmpDir(t);
  const g = Graph.load(CONTROL);
  const ifNode = g.nodes.find((n) => n.opType === "If")!;
  const pos = (i: number): number => g.order.indexOf(i);
  const xs = [float32([1, 16], (i) => i / 8 - 1), float32([3, 16], (i) => Math.cos(i)), float32([2, 16], (i) => -i / 4)];
  const opts = await splitOptions(g, CONTROL, work, { x: xs[0]! }, { x: xs[1]! }, { x: [1, 16] });
  for (const [label, before] of [["before", true], ["after", false]] as const) {
    const c = constantInfo(g);
    const p = partition(g, 2, (i) => (before ? pos(i) < pos(ifNode.index) : pos(i) <= pos(ifNode.index)) ? 0 : 1, c);
    const out = path.join(work, label);
    const m = await writeSplit(g, p, out, opts);
    await checkManifestFiles(out, m);
    const ifSeg = before ? 1 : 0;
    // The If's outer-scope reads are inputs of the segment holding it when they come from the other one.
    if (before) {
      const names = m.segments[1]!.inputs.map((t) => t.name);
      assert.ok(names.includes("/pre/Gemm_output_0") && names.includes("/Sigmoid_output_0"), names.join());
    } else {
      assert.deepEqual(m.cuts[0]!.tensors.map((t) => t.name), ["y.7"]);
    }
    const segModel = loadModel(path.join(out, `segment-${ifSeg}.onnx`)).proto;
    assert.ok(segModel.graph!.node.some((n) => n.opType === "If" && n.attribute.length === 2));
    await assertChainMatches(out, m, CONTROL, xs.map((x) => ({ x })), "y", 1e-5);
  }
});

/** A two-weight chain: small W0 in front, big W1 behind; types given directly (no onnxruntime). */
function twoWeightModel(): { model: ModelProto; typeOf: (n: string) => ValueInfoProto | undefined; concrete: ConcreteShapes } {
  const b = new GraphBuilder({ name: "two" });
  const x = b.input("x", "float32", ["batch", 4]);
  const w0 = b.initializer("W0", "float32", [4, 64], values(4 * 64, 3).map((v) => v / 4));
  const w1 = b.initializer("W1", "float32", [64, 64], values(64 * 64, 4));
  const h = b.op("MatMul", [x, w0], {}, { output: "h" });
  const r = b.op("Relu", [h], {}, { output: "r" });
  b.op("MatMul", [r, w1], {}, { output: "y" });
  b.output("y", "float32", ["batch", 64]);
  const infos = new Map([["h", makeValueInfo("h", "float32", ["batch", 64])], ["r", makeValueInfo("r", "float32", ["batch", 64])]]);
  const types: ConcreteShapes["types"] = new Map([["h", { elemType: 1, dims: [2, 64] }], ["r", { elemType: 1, dims: [2, 64] }]]);
  return { model: b.build(), typeOf: (n) => infos.get(n), concrete: { types, shapes: { x: [2, 4] }, dims: { batch: 2 } } };
}

function siblings(out: string): string[] {
  return fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith(`${path.basename(out)}.`));
}

function isCode(code: string, re?: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof EdgecutError && e.code === code && (!re || re.test(e.message));
}

test("a failure midway (a weight's external file is missing) leaves neither the output folder nor a temp folder", async (t) => {
  const work = tmpDir(t);
  const { model, typeOf, concrete } = twoWeightModel();
  const file = path.join(work, "two.onnx");
  const w = new ExternalDataWriter(path.join(work, "two.data"));
  saveModel(model, file, { sourceDir: work, externalData: w, threshold: 4096 }); // only W1 (16 KiB) goes external
  w.close();
  fs.rmSync(path.join(work, "two.data"));
  const g = Graph.load(file);
  const opts: WriteSplitOptions = { modelPath: file, typeOf, concrete, nodeFlops: () => 1 };
  // Segment 0 (W0 embedded) is written before segment 1 needs W1's missing bytes.
  const out = path.join(work, "split");
  await assert.rejects(writeSplit(g, splitAfter(g, "r"), out, opts), isCode("E_EXTERNAL_DATA", /two\.data/));
  assert.deepEqual(fs.readdirSync(work).sort(), ["two.onnx"], "no output folder, no temp folder");
  const nested = path.join(work, "nested", "split");
  await assert.rejects(writeSplit(g, splitAfter(g, "r"), nested, opts), isCode("E_EXTERNAL_DATA"));
  assert.deepEqual(fs.readdirSync(work).sort(), ["two.onnx"], "the parent folder writeSplit created is removed too");
});

test("output folder rules: non-empty -> E_OUTPUT_EXISTS, empty is used, overwrite replaces, the model's own folder is refused", async (t) => {
  const work = tmpDir(t);
  const { model, typeOf, concrete } = twoWeightModel();
  const file = path.join(work, "two.onnx");
  saveModel(model, file, { sourceDir: work });
  const g = Graph.load(file);
  const p = splitAfter(g, "r");
  const opts: WriteSplitOptions = { modelPath: file, typeOf, concrete, nodeFlops: (i) => (i === 2 ? null : 10) };
  const out = path.join(work, "out");
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, "keep.txt"), "mine");
  await assert.rejects(writeSplit(g, p, out, opts), isCode("E_OUTPUT_EXISTS", /not empty/));
  assert.deepEqual(fs.readdirSync(out), ["keep.txt"]);
  assert.deepEqual(siblings(out), []);
  fs.writeFileSync(path.join(work, "afile"), "x");
  await assert.rejects(writeSplit(g, p, path.join(work, "afile"), opts), isCode("E_OUTPUT_EXISTS", /not a folder/));

  // --force replaces a previous split only, never other files.
  await assert.rejects(writeSplit(g, p, out, { ...opts, overwrite: true }), isCode("E_OUTPUT_EXISTS", /not part of a previous split \(keep\.txt\)/));
  assert.deepEqual(fs.readdirSync(out), ["keep.txt"]);
  fs.rmSync(path.join(out, "keep.txt"));
  await writeSplit(g, p, out, opts);
  const m = await writeSplit(g, p, out, { ...opts, overwrite: true });
  assert.deepEqual(fs.readdirSync(out).sort(), ["manifest.json", "segment-0.onnx", "segment-1.onnx", "weights.data"]);
  fs.writeFileSync(path.join(out, "notes.txt"), "mine");
  await assert.rejects(writeSplit(g, p, out, { ...opts, overwrite: true }), isCode("E_OUTPUT_EXISTS", /notes\.txt/));
  assert.ok(fs.existsSync(path.join(out, "notes.txt")));
  fs.rmSync(path.join(out, "notes.txt"));
  assert.deepEqual(siblings(out), []);
  assert.deepEqual(m.segments.map((s) => s.flops), [20, null], "flops: sum of compute nodes, null when one is unknown");
  assert.deepEqual(m.shapes, { batch: 2, x: [2, 4] });
  assert.deepEqual(m.sharedWeights, []);
  await checkManifestFiles(out, m);

  const empty = path.join(work, "empty");
  fs.mkdirSync(empty);
  const m2 = await writeSplit(g, p, empty, opts);
  assert.equal(m2.splitId, m.splitId, "same split, same splitId");
  await assert.rejects(writeSplit(g, p, work, { ...opts, overwrite: true }), isCode("E_USAGE", /holds the model/));
  assert.ok(fs.existsSync(file));
});

test("data file options: null embeds everything, a high threshold writes no data file, bad names are refused", async (t) => {
  const work = tmpDir(t);
  const { model, typeOf, concrete } = twoWeightModel();
  const file = path.join(work, "two.onnx");
  saveModel(model, file, { sourceDir: work });
  const g = Graph.load(file);
  const p = splitAfter(g, "r");
  const opts: WriteSplitOptions = { modelPath: file, typeOf, concrete, nodeFlops: () => 0 };
  for (const [name, extra] of [["embedded", { dataFile: null }], ["high", { externalThreshold: 1 << 20 }]] as const) {
    const out = path.join(work, name);
    const m = await writeSplit(g, p, out, { ...opts, ...extra });
    assert.deepEqual(m.dataFiles, []);
    assert.deepEqual(fs.readdirSync(out).sort(), ["manifest.json", "segment-0.onnx", "segment-1.onnx"]);
    for (const s of m.segments) assert.deepEqual(externalTensors(path.join(out, s.file)), []);
    await checkManifestFiles(out, m);
  }
  for (const bad of ["../w.data", "sub/w.data", "manifest.json", "segment-1.onnx", ""]) {
    await assert.rejects(writeSplit(g, p, path.join(work, "bad"), { ...opts, dataFile: bad }), isCode("E_USAGE", /data file name/), bad);
  }
  await assert.rejects(writeSplit(g, p, path.join(work, "bad"), { ...opts, externalThreshold: -1 }), isCode("E_USAGE", /externalThreshold/));
  assert.equal(fs.existsSync(path.join(work, "bad")), false);
});

test("unknown types or sizes fail before anything is written", async (t) => {
  const work = tmpDir(t);
  const { model, typeOf, concrete } = twoWeightModel();
  const file = path.join(work, "two.onnx");
  saveModel(model, file, { sourceDir: work });
  const g = Graph.load(file);
  const p = splitAfter(g, "r");
  const out = path.join(work, "out");
  const noSize: ConcreteShapes = { ...concrete, types: new Map([["r", { elemType: 1, dims: ["batch", 64] }]]) };
  await assert.rejects(writeSplit(g, p, out, { modelPath: file, typeOf, concrete: noSize, nodeFlops: () => 1 }), isCode("E_SHAPE_INFERENCE", /cut tensor "r"/));
  await assert.rejects(writeSplit(g, p, out, { modelPath: file, typeOf: () => undefined, concrete, nodeFlops: () => 1 }), isCode("E_SHAPE_INFERENCE", /"r" is unknown/));
  await assert.rejects(writeSplit(g, p, out, { modelPath: path.join(work, "gone.onnx"), typeOf, concrete, nodeFlops: () => 1 }), isCode("E_MODEL_READ"));
  assert.deepEqual(fs.readdirSync(work), ["two.onnx"]);
});
