/**
 * ONNX I/O promises: unknown fields survive a read/write round trip (top level and nested, and
 * through a split), weights are views into the file buffer, external data is read from the range
 * it names and written aligned and deduplicated, and typed-field tensors read like raw_data ones.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { create, toBinary, type Message, type MessageInitShape, type UnknownField } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  ModelProtoSchema, SparseTensorProtoSchema, StringStringEntryProtoSchema, TensorProtoSchema, TensorProto_DataLocation, TensorProto_DataType as DT,
  type ModelProto, type StringStringEntryProto, type TensorProto,
} from "../../sdk/graph/onnx/onnx_pb.js";
import {
  ExternalDataWriter, externalRef, forEachNodeTensor, forEachTensor, loadModel, mapGraphTensors, mapNodeTensors, parseModelBytes, saveModel,
  serializeModel, tensorRawBytes,
} from "../../sdk/graph/model-io.js";
import { Graph } from "../../sdk/graph/graph.js";
import { analyze, symbolicTypeOf } from "../../sdk/graph/analyze.js";
import { frontOf, partition } from "../../sdk/graph/partition.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { GraphBuilder, makeTensor } from "../../sdk/graph/builder.js";
import { EdgecutError } from "../../sdk/errors.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import { verifySplit } from "../../sdk/runtime/verify.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";

const GPT2 = path.resolve(import.meta.dirname, "../fixtures/torch/gpt2-tiny.onnx");

function tmpDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-modelio-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const isCode = (code: string, text?: string) => (e: unknown): boolean =>
  e instanceof EdgecutError && e.code === code && (text === undefined || e.message.includes(text));

/** Unknown fields as protobuf-es stores them: the field's value bytes, without its tag. */
function unknownVarint(no: number, v: bigint): UnknownField {
  return { no, wireType: WireType.Varint, data: new BinaryWriter().uint64(v).finish() };
}
function unknownBytes(no: number, text: string): UnknownField {
  return { no, wireType: WireType.LengthDelimited, data: new BinaryWriter().string(text).finish() };
}
/** The same fields as they appear on the wire (tag + value). */
function wire(fields: UnknownField[]): Uint8Array {
  const w = new BinaryWriter();
  for (const f of fields) w.tag(f.no, f.wireType).raw(f.data);
  return w.finish();
}
/** Plain-data view of a message's unknown fields, for deepEqual. */
function unknownOf(m: Message | undefined): { no: number; wireType: number; data: number[] }[] {
  return (m?.$unknown ?? []).map((f) => ({ no: f.no, wireType: f.wireType, data: [...f.data] }));
}
function plain(fields: UnknownField[]): { no: number; wireType: number; data: number[] }[] {
  return fields.map((f) => ({ no: f.no, wireType: f.wireType, data: [...f.data] }));
}

/** Byte equality that ignores Buffer vs Uint8Array. */
function sameBytes(actual: Uint8Array, expected: Uint8Array, what?: string): void {
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), what ?? "bytes differ");
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

async function runModel(file: string, feeds: TensorMap): Promise<TensorMap> {
  const s = await OrtSession.create(file);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function f32(dims: number[], f: (i: number) => number): HostTensor {
  return { type: "float32", dims, data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => f(i)) };
}

// ---------------------------------------------------------------------------------------------
// Unknown fields

test("unknown fields appended to a real model's ModelProto survive loadModel -> serializeModel -> parse, byte for byte", (t) => {
  const dir = tmpDir(t);
  const src = fs.readFileSync(GPT2);
  const fields = [unknownVarint(9999, 123456789n), unknownBytes(10000, "future field")];
  const file = path.join(dir, "gpt2-unknown.onnx");
  const withUnknown = concat(src, wire(fields));
  fs.writeFileSync(file, withUnknown);

  const m = loadModel(file);
  assert.deepEqual(unknownOf(m.proto), plain(fields));
  const out = serializeModel(m.proto, { sourceDir: m.dir });
  assert.ok(Buffer.from(out).equals(Buffer.from(withUnknown)), "the written model is the file read, byte for byte");
  const again = parseModelBytes(out, "round trip");
  assert.deepEqual(unknownOf(again), plain(fields));
  // Without the unknown fields the fixture also round-trips exactly (nothing else is rewritten).
  assert.ok(Buffer.from(serializeModel(loadModel(GPT2).proto, { sourceDir: dir })).equals(src));
});

/** x -> Relu (r) -> MatMul W (h) -> Sigmoid (y); unknown fields on model, graph, nodes, an attribute, W, value infos. */
function unknownModel(): { model: ModelProto; put: Map<string, UnknownField[]> } {
  const b = new GraphBuilder({ name: "unk" });
  b.input("x", "float32", ["batch", 4]);
  b.initializer("W", "float32", [4, 4], Float32Array.from({ length: 16 }, (_, i) => (i % 7) / 3 - 1));
  b.op("Relu", ["x"], {}, { output: "r" });
  b.op("MatMul", ["r", "W"], {}, { output: "h" });
  b.op("LeakyRelu", ["h"], { alpha: 0.25 }, { output: "y" });
  b.output("y", "float32", ["batch", 4]);
  const model = b.build();
  const g = model.graph!;
  const put = new Map<string, UnknownField[]>([
    ["model", [unknownVarint(9999, 7n)]],
    ["graph", [unknownBytes(4242, "graph extra")]],
    ["node0", [unknownVarint(900, 1n), unknownBytes(901, "relu extra")]],
    ["node1", [unknownVarint(900, 2n)]],
    ["node2", [unknownBytes(901, "leaky extra")]],
    ["attr", [unknownVarint(77, 3n)]],
    ["W", [unknownBytes(555, "weight extra")]],
    ["input", [unknownVarint(66, 4n)]],
    ["opset", [unknownVarint(99, 5n)]],
  ]);
  model.$unknown = put.get("model");
  g.$unknown = put.get("graph");
  g.node.forEach((n, i) => { n.$unknown = put.get(`node${i}`); });
  g.node[2]!.attribute[0]!.$unknown = put.get("attr");
  g.initializer[0]!.$unknown = put.get("W");
  g.input[0]!.$unknown = put.get("input");
  model.opsetImport[0]!.$unknown = put.get("opset");
  return { model, put };
}

function checkUnknown(m: ModelProto, put: Map<string, UnknownField[]>, what: string): void {
  const g = m.graph!;
  assert.deepEqual(unknownOf(m), plain(put.get("model")!), `${what}: model`);
  assert.deepEqual(unknownOf(g), plain(put.get("graph")!), `${what}: graph`);
  g.node.forEach((n, i) => assert.deepEqual(unknownOf(n), plain(put.get(`node${i}`)!), `${what}: node ${i}`));
  assert.deepEqual(unknownOf(g.node[2]!.attribute[0]), plain(put.get("attr")!), `${what}: attribute`);
  assert.deepEqual(unknownOf(g.initializer[0]), plain(put.get("W")!), `${what}: initializer`);
  assert.deepEqual(unknownOf(g.input[0]), plain(put.get("input")!), `${what}: graph input`);
  assert.deepEqual(unknownOf(m.opsetImport[0]), plain(put.get("opset")!), `${what}: opset import`);
}

test("unknown fields of nested messages (graph, nodes, attribute, initializer, value info, opset) survive a round trip", (t) => {
  const dir = tmpDir(t);
  const { model, put } = unknownModel();
  const bytes1 = serializeModel(model, { sourceDir: dir });
  const file = path.join(dir, "unk.onnx");
  fs.writeFileSync(file, bytes1);
  const loaded = loadModel(file);
  checkUnknown(loaded.proto, put, "after load");
  const bytes2 = serializeModel(loaded.proto, { sourceDir: loaded.dir });
  assert.ok(Buffer.from(bytes2).equals(Buffer.from(bytes1)), "second write is byte-identical to the first");
  checkUnknown(parseModelBytes(bytes2, "again"), put, "after a second write");

  // Moving W to external data (and back) keeps the TensorProto's unknown fields.
  const w = new ExternalDataWriter(path.join(dir, "unk.data"));
  const extBytes = serializeModel(loaded.proto, { sourceDir: loaded.dir, externalData: w, threshold: 16 });
  w.close();
  const ext = parseModelBytes(extBytes, "external");
  assert.equal(ext.graph!.initializer[0]!.dataLocation, TensorProto_DataLocation.EXTERNAL);
  checkUnknown(ext, put, "with W external");
  const embedded = parseModelBytes(serializeModel(ext, { sourceDir: dir }), "re-embedded");
  assert.equal(embedded.graph!.initializer[0]!.dataLocation, TensorProto_DataLocation.DEFAULT);
  checkUnknown(embedded, put, "with W embedded again");
});

test("a split keeps the unknown fields of the model, graph, nodes and weights each segment carries, and still verifies", async (t) => {
  const dir = tmpDir(t);
  const { model, put } = unknownModel();
  const file = path.join(dir, "unk.onnx");
  saveModel(model, file, { sourceDir: dir });
  const g = Graph.load(file);
  const a = analyze(g, { shapes: { x: [2, 4] } });
  const front = frontOf(g, ["h"], a.constants);
  const p = partition(g, 2, (i) => (front.has(i) ? 0 : 1), a.constants);
  const out = path.join(dir, "split");
  const m = await writeSplit(g, p, out, {
    modelPath: file, typeOf: symbolicTypeOf(a), externalThreshold: 16,
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
  });
  const s0 = loadModel(path.join(out, m.segments[0]!.file)).proto;
  const s1 = loadModel(path.join(out, m.segments[1]!.file)).proto;
  assert.deepEqual(s0.graph!.node.map((n) => n.opType), ["Relu", "MatMul"]);
  assert.deepEqual(unknownOf(s0.graph!.node[0]), plain(put.get("node0")!));
  assert.deepEqual(unknownOf(s0.graph!.node[1]), plain(put.get("node1")!));
  assert.deepEqual(unknownOf(s0.graph!.initializer[0]), plain(put.get("W")!), "W went to the data file with its unknown fields");
  assert.equal(s0.graph!.initializer[0]!.dataLocation, TensorProto_DataLocation.EXTERNAL);
  assert.deepEqual(s1.graph!.node.map((n) => n.opType), ["LeakyRelu"]);
  assert.deepEqual(unknownOf(s1.graph!.node[0]), plain(put.get("node2")!));
  assert.deepEqual(unknownOf(s1.graph!.node[0]!.attribute[0]), plain(put.get("attr")!));
  assert.deepEqual(unknownOf(s1.opsetImport[0]), plain(put.get("opset")!));
  for (const seg of [s0, s1]) {
    assert.deepEqual(unknownOf(seg), plain(put.get("model")!), "model-level unknown fields ride along");
    assert.deepEqual(unknownOf(seg.graph), plain(put.get("graph")!), "graph-level unknown fields ride along");
  }
  const r = await verifySplit(path.join(out, "manifest.json"), { shapes: { x: [3, 4] } });
  assert.ok(r.ok, JSON.stringify(r.outputs));
});

// ---------------------------------------------------------------------------------------------
// Weights are views

test("after loadModel, embedded weights are views into the one file buffer, not copies", () => {
  const m = loadModel(GPT2);
  const file = fs.readFileSync(GPT2);
  const inits = m.proto.graph!.initializer.filter((t) => t.rawData.length > 0);
  assert.ok(inits.length >= 2);
  const buf = inits[0]!.rawData.buffer;
  assert.ok(buf.byteLength >= m.fileBytes, `buffer of ${buf.byteLength} bytes holds the whole ${m.fileBytes}-byte file`);
  for (const t of inits) {
    assert.equal(t.rawData.buffer, buf, `${t.name} shares the file's ArrayBuffer`);
    // The view sits exactly where the file holds the weight's bytes.
    const at = t.rawData.byteOffset;
    assert.ok(Buffer.from(file.subarray(at, at + t.rawData.length)).equals(Buffer.from(t.rawData)), `${t.name} bytes at offset ${at}`);
  }
  // Bytes of Constant node tensors are views too.
  const constT = m.proto.graph!.node.map((n) => n.attribute[0]?.t).filter((x) => x !== undefined && x.rawData.length > 0);
  assert.ok(constT.length > 0);
  for (const c of constT) assert.equal(c!.rawData.buffer, buf);
});

// ---------------------------------------------------------------------------------------------
// External data

function extEntries(location: string, offset?: number, length?: number): StringStringEntryProto[] {
  const e = [create(StringStringEntryProtoSchema, { key: "location", value: location })];
  if (offset !== undefined) e.push(create(StringStringEntryProtoSchema, { key: "offset", value: String(offset) }));
  if (length !== undefined) e.push(create(StringStringEntryProtoSchema, { key: "length", value: String(length) }));
  return e;
}

function externalTensor(name: string, type: DT, dims: number[], location: string, offset?: number, length?: number): TensorProto {
  return create(TensorProtoSchema, {
    name, dataType: type, dims: dims.map(BigInt), dataLocation: TensorProto_DataLocation.EXTERNAL,
    externalData: extEntries(location, offset, length),
  });
}

const bytesOf = (a: Float32Array | BigInt64Array | Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * A model whose weights live in hand-written external files: A in w.bin at 0 (length given),
 * B in sub/w.bin at 64 (no length: inferred), C in w.bin at 4096 (int64, offset and length given).
 * y = (x + A) * B + Cast(C).
 */
function handExternalModel(dir: string): { model: ModelProto; A: Float32Array; B: Float32Array; C: BigInt64Array } {
  const A = Float32Array.from({ length: 6 }, (_, i) => i + 0.5);
  const B = Float32Array.from({ length: 6 }, (_, i) => -i / 4);
  const C = BigInt64Array.from([3n, -2n, 1n]);
  const w = new Uint8Array(4096 + 24);
  w.fill(0xee);
  w.set(bytesOf(A), 0);
  w.set(bytesOf(C), 4096);
  fs.writeFileSync(path.join(dir, "w.bin"), w);
  fs.mkdirSync(path.join(dir, "sub"), { recursive: true });
  const sub = new Uint8Array(64 + 24 + 8).fill(0xdd);
  sub.set(bytesOf(B), 64);
  fs.writeFileSync(path.join(dir, "sub", "w.bin"), sub);

  const b = new GraphBuilder({ name: "ext" });
  b.input("x", "float32", [2, 3]);
  b.op("Add", ["x", "A"], {}, { output: "s" });
  b.op("Mul", ["s", "B"], {}, { output: "p" });
  b.op("Cast", ["C"], { to: DT.FLOAT }, { output: "c" });
  b.op("Add", ["p", "c"], {}, { output: "y" });
  b.output("y", "float32", [2, 3]);
  const model = b.build();
  model.graph!.initializer.push(
    externalTensor("A", DT.FLOAT, [2, 3], "w.bin", 0, 24),
    externalTensor("B", DT.FLOAT, [2, 3], "sub/w.bin", 64),
    externalTensor("C", DT.INT64, [3], "w.bin", 4096, 24),
  );
  return { model, A, B, C };
}

test("external data: same folder, a subfolder, an offset, a missing length: tensorRawBytes reads the right range", async (t) => {
  const dir = tmpDir(t);
  const { model, A, B, C } = handExternalModel(dir);
  const [tA, tB, tC] = model.graph!.initializer as [TensorProto, TensorProto, TensorProto];
  sameBytes(tensorRawBytes(tA, dir), bytesOf(A), "A: w.bin at 0, length given");
  sameBytes(tensorRawBytes(tB, dir), bytesOf(B), "B: sub/w.bin at 64, length inferred");
  sameBytes(tensorRawBytes(tC, dir), bytesOf(C), "C: w.bin at 4096");
  const refB = externalRef(tB, dir)!;
  assert.deepEqual([refB.location, refB.path, refB.offset, refB.length], ["sub/w.bin", path.join(dir, "sub", "w.bin"), 64, 24]);
  assert.equal(externalRef(makeTensor("e", "float32", [1], new Float32Array(1)), dir), null, "an embedded tensor has no ref");

  // The model as written loads in onnxruntime (which reads the same ranges), and matches its embedded form.
  const file = path.join(dir, "ext.onnx");
  fs.writeFileSync(file, serializeModel(model, { sourceDir: dir })); // no writer: external tensors get embedded
  const embeddedModel = loadModel(file).proto;
  for (const init of embeddedModel.graph!.initializer) assert.equal(init.dataLocation, TensorProto_DataLocation.DEFAULT);
  const keptExternal = path.join(dir, "ext-kept.onnx");
  // The proto itself, external references untouched.
  fs.writeFileSync(keptExternal, toBinary(ModelProtoSchema, model));
  const x = f32([2, 3], (i) => i - 2);
  const expected = Array.from(x.data as Float32Array, (v, i) => (v + A[i]!) * B[i]! + Number(C[i % 3]!));
  for (const f of [file, keptExternal]) {
    const y = (await runModel(f, { x })).y!;
    assert.deepEqual(Array.from(y.data as Float32Array), expected.map((v) => Math.fround(v)), f);
  }
});

test("external data errors: a length that contradicts the dims, a truncated file, a path outside the folder, a missing file", (t) => {
  const dir = tmpDir(t);
  handExternalModel(dir);
  const bad = (tensor: TensorProto, code: string, text: string): void => {
    assert.throws(() => tensorRawBytes(tensor, dir), isCode(code, text));
  };
  bad(externalTensor("L", DT.FLOAT, [2, 3], "w.bin", 0, 20), "E_EXTERNAL_DATA", "does not match its type and dims");
  bad(externalTensor("L2", DT.FLOAT, [2, 3], "w.bin", 0, 28), "E_EXTERNAL_DATA", "does not match its type and dims");
  bad(externalTensor("T", DT.FLOAT, [2, 3], "w.bin", 4096 + 8), "E_EXTERNAL_DATA", "truncated");
  bad(externalTensor("U", DT.FLOAT, [2, 3], "../w.bin", 0), "E_EXTERNAL_DATA", "inside the model's folder");
  bad(externalTensor("V", DT.FLOAT, [2, 3], path.join(dir, "w.bin"), 0), "E_EXTERNAL_DATA", "inside the model's folder");
  bad(externalTensor("M", DT.FLOAT, [2, 3], "nope.bin", 0), "E_EXTERNAL_DATA", "missing");
  bad(externalTensor("N", DT.FLOAT, [2, 3], "w.bin", -4), "E_EXTERNAL_DATA", "bad external offset");
  const noLoc = externalTensor("Q", DT.FLOAT, [2, 3], "w.bin", 0);
  noLoc.externalData = [];
  bad(noLoc, "E_EXTERNAL_DATA", "no location");
});

test("ExternalDataWriter: 4096-aligned offsets, a tensor shared by identity written once, sha256 of the file", (t) => {
  const dir = tmpDir(t);
  handExternalModel(dir);
  const t1 = makeTensor("t1", "float32", [3], Float32Array.from([1, 2, 3]));
  const t2 = makeTensor("t2", "float32", [1500], Float32Array.from({ length: 1500 }, (_, i) => i)); // 6000 bytes
  const t3 = makeTensor("t3", "int8", [5], Int8Array.from([1, -1, 2, -2, 3]));
  const t1Copy = makeTensor("t1", "float32", [3], Float32Array.from([1, 2, 3])); // equal content, other object
  const ext = externalTensor("B", DT.FLOAT, [2, 3], "sub/w.bin", 64); // read from a source file
  const w = new ExternalDataWriter(path.join(dir, "out.data"));
  assert.equal(w.align, 4096);
  const at1 = w.append(t1, dir);
  const at2 = w.append(t2, dir);
  const bytesBefore = w.bytes;
  assert.deepEqual(w.append(t1, dir), at1, "the same TensorProto again lands where it did");
  assert.deepEqual(w.append(t2, dir), at2);
  assert.equal(w.bytes, bytesBefore, "and nothing more is written");
  const at3 = w.append(t3, dir);
  const atCopy = w.append(t1Copy, dir);
  const atExt = w.append(ext, dir);
  assert.throws(() => w.sha256, isCode("E_INTERNAL"));
  w.close();
  w.close(); // idempotent

  const places = [[t1, at1], [t2, at2], [t3, at3], [t1Copy, atCopy], [ext, atExt]] as const;
  assert.deepEqual(places.map(([, p]) => p.offset), [0, 4096, 12288, 16384, 20480]);
  assert.notEqual(atCopy.offset, at1.offset, "dedup is by identity, not content");
  const data = fs.readFileSync(w.path);
  assert.equal(data.length, w.bytes);
  assert.equal(data.length, 20480 + 24, "no trailing padding");
  for (const [tensor, p] of places) {
    assert.equal(p.offset % 4096, 0);
    const want = tensorRawBytes(tensor, dir);
    assert.equal(p.length, want.length);
    assert.ok(data.subarray(p.offset, p.offset + p.length).equals(Buffer.from(want)), `${tensor.name} bytes at ${p.offset}`);
  }
  assert.ok(data.subarray(12, 4096).every((b) => b === 0), "padding is zeros");
  assert.equal(w.sha256, createHash("sha256").update(data).digest("hex"));
  // A custom alignment is honoured too.
  const w64 = new ExternalDataWriter(path.join(dir, "out64.data"), 64);
  assert.deepEqual([w64.append(t3, dir).offset, w64.append(t1, dir).offset, w64.append(t2, dir).offset], [0, 64, 128]);
  w64.close();
  assert.equal(w64.sha256, createHash("sha256").update(fs.readFileSync(w64.path)).digest("hex"));
});

/** x[n,k] -> MatMul by W_k (k*k floats) for three widths, plus Constant tensors; sizes straddle a threshold. */
function thresholdModel(): ModelProto {
  const b = new GraphBuilder({ name: "thr" });
  b.input("x", "float32", ["n", 16]);
  // 255 floats = 1020 bytes, 256 = 1024, 257 = 1028.
  b.initializer("small", "float32", [255], Float32Array.from({ length: 255 }, (_, i) => i / 255));
  b.initializer("exact", "float32", [16, 16], Float32Array.from({ length: 256 }, (_, i) => ((i * 7) % 11) / 11 - 0.5));
  b.initializer("big", "float32", [257], Float32Array.from({ length: 257 }, (_, i) => -i / 257));
  b.op("MatMul", ["x", "exact"], {}, { output: "h" });
  b.op("Slice", ["small", b.constInt64([0]), b.constInt64([16])], {}, { output: "s16" });
  b.op("Slice", ["big", b.constInt64([1]), b.constInt64([17])], {}, { output: "b16" });
  const c = b.constFloat(Array.from({ length: 300 }, (_, i) => i / 100), [300]); // a Constant node's 1200-byte tensor
  b.op("Slice", [c, b.constInt64([5]), b.constInt64([21])], {}, { output: "c16" });
  b.op("Add", ["h", "s16"], {}, { output: "h1" });
  b.op("Add", ["h1", "b16"], {}, { output: "h2" });
  b.op("Add", ["h2", "c16"], {}, { output: "y" });
  b.output("y", "float32", ["n", 16]);
  return b.build();
}

function locations(m: ModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  mapGraphTensors(m.graph!, (t) => {
    if (t.dims.length === 1 && t.dims[0] === 1n) return undefined; // the tiny Slice bounds
    out[t.name || `const[${t.dims.join("x")}]`] = t.dataLocation === TensorProto_DataLocation.EXTERNAL ? "external" : "embedded";
    return undefined;
  });
  return out;
}

test("serializeModel with a writer moves exactly the tensors of at least `threshold` bytes; onnxruntime gives the embedded model's outputs", async (t) => {
  const dir = tmpDir(t);
  const model = thresholdModel();
  const before = toPlainBytes(model);
  const embeddedFile = path.join(dir, "embedded.onnx");
  saveModel(model, embeddedFile, { sourceDir: dir });
  const extFile = path.join(dir, "ext.onnx");
  const w = new ExternalDataWriter(path.join(dir, "ext.data"));
  saveModel(model, extFile, { sourceDir: dir, externalData: w, threshold: 1024 });
  w.close();
  assert.ok(Buffer.from(toPlainBytes(model)).equals(Buffer.from(before)), "the input proto is not modified");

  const ext = loadModel(extFile).proto;
  assert.deepEqual(locations(ext), { small: "embedded", exact: "external", big: "external", "const[300]": "external" });
  assert.deepEqual(locations(loadModel(embeddedFile).proto), { small: "embedded", exact: "embedded", big: "embedded", "const[300]": "embedded" });
  // Node attributes are visited before initializers: the Constant's tensor, then exact, then big.
  assert.equal(w.bytes, 4096 * 2 + 1028);
  const refs: number[] = [];
  mapGraphTensors(ext.graph!, (tensor) => {
    const r = externalRef(tensor, dir);
    if (r) { refs.push(r.offset); assert.equal(r.location, "ext.data"); }
    return undefined;
  });
  assert.deepEqual(refs.sort((a, b) => a - b), [0, 4096, 8192]);
  // A threshold of 1028 leaves `exact` (1024 bytes) embedded.
  const w2 = new ExternalDataWriter(path.join(dir, "ext2.data"));
  const only = parseModelBytes(serializeModel(model, { sourceDir: dir, externalData: w2, threshold: 1028 }), "1028");
  w2.close();
  assert.deepEqual(locations(only), { small: "embedded", exact: "embedded", big: "external", "const[300]": "external" });

  const feeds = { x: f32([3, 16], (i) => Math.sin(i)) };
  const a = (await runModel(embeddedFile, feeds)).y!;
  const b = (await runModel(extFile, feeds)).y!;
  assert.deepEqual(b.dims, [3, 16]);
  assert.deepEqual(Array.from(b.data as Float32Array), Array.from(a.data as Float32Array));
});

function toPlainBytes(m: ModelProto): Uint8Array {
  return serializeModel(m, { sourceDir: os.tmpdir() });
}

// ---------------------------------------------------------------------------------------------
// Typed fields

test("typed-field tensors (float_data, int64_data, int32_data, double_data, uint64_data) read as raw little-endian bytes", () => {
  const T = (init: MessageInitShape<typeof TensorProtoSchema>): TensorProto => create(TensorProtoSchema, { name: "t", ...init });
  const raw = (tensor: TensorProto): number[] => [...tensorRawBytes(tensor, ".")];
  const le = (a: ArrayBufferView): number[] => [...new Uint8Array(a.buffer, a.byteOffset, a.byteLength)];
  assert.deepEqual(raw(T({ dataType: DT.FLOAT, dims: [2n, 2n], floatData: [1.5, -2, 0, 3.25] })), le(Float32Array.from([1.5, -2, 0, 3.25])));
  assert.deepEqual(raw(T({ dataType: DT.INT64, dims: [3n], int64Data: [1n, -1n, 1n << 40n] })), le(BigInt64Array.from([1n, -1n, 1n << 40n])));
  assert.deepEqual(raw(T({ dataType: DT.INT32, dims: [2n], int32Data: [-7, 1 << 30] })), le(Int32Array.from([-7, 1 << 30])));
  assert.deepEqual(raw(T({ dataType: DT.DOUBLE, dims: [2n], doubleData: [Math.PI, -1e300] })), le(Float64Array.from([Math.PI, -1e300])));
  assert.deepEqual(raw(T({ dataType: DT.UINT64, dims: [1n], uint64Data: [2n ** 63n + 5n] })), le(BigUint64Array.from([2n ** 63n + 5n])));
  assert.deepEqual(raw(T({ dataType: DT.UINT32, dims: [2n], uint64Data: [4294967295n, 1n] })), le(Uint32Array.from([4294967295, 1])));
  // Narrow types ride in int32_data, one value per element.
  assert.deepEqual(raw(T({ dataType: DT.INT8, dims: [3n], int32Data: [-128, 0, 127] })), [0x80, 0, 0x7f]);
  assert.deepEqual(raw(T({ dataType: DT.UINT8, dims: [2n], int32Data: [255, 1] })), [255, 1]);
  assert.deepEqual(raw(T({ dataType: DT.BOOL, dims: [2n], int32Data: [1, 0] })), [1, 0]);
  assert.deepEqual(raw(T({ dataType: DT.INT16, dims: [1n], int32Data: [-2] })), [0xfe, 0xff]);
  assert.deepEqual(raw(T({ dataType: DT.FLOAT16, dims: [1n], int32Data: [0x3c00] })), [0x00, 0x3c], "float16 bits in int32_data");
  // A scalar and an empty tensor.
  assert.deepEqual(raw(T({ dataType: DT.FLOAT, dims: [], floatData: [7] })), le(Float32Array.from([7])));
  assert.deepEqual(raw(T({ dataType: DT.FLOAT, dims: [0n, 4n] })), []);
  // Wrong counts are named.
  assert.throws(() => tensorRawBytes(T({ dataType: DT.FLOAT, dims: [3n], floatData: [1, 2] }), "."), isCode("E_TENSOR_DATA", "2 values for 3 elements"));
  assert.throws(() => tensorRawBytes(T({ dataType: DT.STRING, dims: [1n], stringData: [new Uint8Array([65])] }), "."), isCode("E_UNSUPPORTED"));
});

test("typed-field initializers embed as they are and move to external data as raw bytes; onnxruntime agrees", async (t) => {
  const dir = tmpDir(t);
  const b = new GraphBuilder({ name: "typed" });
  b.input("x", "float32", [2, 300]);
  b.input("i", "int64", [2]);
  b.op("Mul", ["x", "Wf"], {}, { output: "xf" });
  b.op("Add", ["i", "Wi"], {}, { output: "yi" });
  b.op("Cast", ["Wn"], { to: DT.FLOAT }, { output: "wn" });
  b.op("Add", ["xf", "wn"], {}, { output: "yf" });
  b.output("yf", "float32", [2, 300]);
  b.output("yi", "int64", [2]);
  const model = b.build();
  const wf = Array.from({ length: 300 }, (_, i) => i / 7 - 20);
  model.graph!.initializer.push(
    create(TensorProtoSchema, { name: "Wf", dataType: DT.FLOAT, dims: [300n], floatData: wf }),
    create(TensorProtoSchema, { name: "Wi", dataType: DT.INT64, dims: [2n], int64Data: [5n, -(1n << 35n)] }),
    create(TensorProtoSchema, { name: "Wn", dataType: DT.INT32, dims: [300n], int32Data: Array.from({ length: 300 }, (_, i) => i * 1000 - 7) }),
  );
  const embedded = path.join(dir, "typed.onnx");
  saveModel(model, embedded, { sourceDir: dir });
  const extFile = path.join(dir, "typed-ext.onnx");
  const w = new ExternalDataWriter(path.join(dir, "typed.data"));
  saveModel(model, extFile, { sourceDir: dir, externalData: w, threshold: 1024 });
  w.close();
  const ext = loadModel(extFile).proto.graph!.initializer;
  assert.deepEqual(ext.map((x) => [x.name, x.dataLocation]), [["Wf", 1], ["Wi", 0], ["Wn", 1]]);
  assert.deepEqual(ext[0]!.floatData, [], "typed fields cleared when the data moves out");
  assert.deepEqual(ext[2]!.int32Data, []);
  assert.deepEqual(ext[1]!.int64Data, [5n, -(1n << 35n)], "a small typed tensor stays as it was");
  sameBytes(tensorRawBytes(ext[0]!, dir), bytesOf(Float32Array.from(wf)));

  const feeds: TensorMap = { x: f32([2, 300], (i) => (i % 13) - 6), i: { type: "int64", dims: [2], data: BigInt64Array.from([1n, 2n]) } };
  const r1 = await runModel(embedded, feeds);
  const r2 = await runModel(extFile, feeds);
  assert.deepEqual(Array.from(r1.yi!.data as BigInt64Array), [6n, 2n - (1n << 35n)]);
  assert.deepEqual(Array.from(r2.yi!.data as BigInt64Array), Array.from(r1.yi!.data as BigInt64Array));
  const want = Array.from(feeds.x!.data as Float32Array, (v, k) => Math.fround(Math.fround(v * Math.fround(wf[k % 300]!)) + ((k % 300) * 1000 - 7)));
  assert.deepEqual(Array.from(r1.yf!.data as Float32Array), want);
  assert.deepEqual(Array.from(r2.yf!.data as Float32Array), want);
});

test("loadModel and parseModelBytes name the problem: missing file, a folder, garbage, no graph, no opset", (t) => {
  const dir = tmpDir(t);
  assert.throws(() => loadModel(path.join(dir, "none.onnx")), isCode("E_MODEL_READ", "none.onnx"));
  assert.throws(() => loadModel(dir), isCode("E_MODEL_READ", "is not a file"));
  assert.throws(() => parseModelBytes(new Uint8Array([0xff, 0xff, 0xff]), "junk.onnx"), isCode("E_MODEL_PARSE", "junk.onnx"));
  assert.throws(() => parseModelBytes(new Uint8Array(0), "empty.onnx"), isCode("E_MODEL_PARSE", "no graph"));
  const m = thresholdModel();
  m.opsetImport = [];
  assert.throws(() => parseModelBytes(serializeModel(m, { sourceDir: dir }), "noopset.onnx"), isCode("E_MODEL_INVALID", "opset_import"));
  // A truncated real model is a parse error, not a crash.
  const src = fs.readFileSync(GPT2);
  assert.throws(() => parseModelBytes(src.subarray(0, src.length - 1000), "cut.onnx"), isCode("E_MODEL_PARSE", "cut.onnx"));
});

test("forEachTensor visits what mapGraphTensors visits (initializers, sparse parts, attributes, subgraphs); mapNodeTensors leaves tensor-free nodes as they are", () => {
  const branch = (name: string, v: number): GraphBuilder => {
    const sb = new GraphBuilder({ name });
    sb.op("Identity", [sb.constFloat([v], [1])], {}, { output: `${name}_out` });
    sb.output(`${name}_out`, "float32", [1]);
    return sb;
  };
  const b = new GraphBuilder();
  b.input("c", "bool", []);
  b.initializer("w", "float32", [2], Float32Array.from([1, 2]));
  b.op("If", ["c"], { then_branch: branch("then", 1).graph(), else_branch: branch("else", 2).graph() }, { output: "y" });
  b.op("Relu", ["w"], {}, { output: "r" });
  b.output("y", "float32", [1]);
  b.output("r", "float32", [2]);
  const m = b.build();
  m.graph!.sparseInitializer.push(create(SparseTensorProtoSchema, {
    values: makeTensor("S", "float32", [1], Float32Array.from([3])),
    indices: makeTensor("", "int64", [1], BigInt64Array.from([0n])),
    dims: [2n],
  }));
  const mapped = new Set<TensorProto>();
  mapGraphTensors(m.graph!, (t) => { mapped.add(t); return undefined; });
  const visited: TensorProto[] = [];
  forEachTensor(m.graph!, (t) => visited.push(t));
  assert.equal(visited.length, 5, "w, S's values and indices, one Constant per branch");
  assert.deepEqual(new Set(visited), mapped);
  const relu = m.graph!.node.find((n) => n.opType === "Relu")!;
  assert.equal(mapNodeTensors(relu, () => assert.fail("no tensors to visit")), relu);
  const seen: TensorProto[] = [];
  forEachNodeTensor(m.graph!.node.find((n) => n.opType === "If")!, (t) => seen.push(t));
  assert.equal(seen.length, 2);
});
