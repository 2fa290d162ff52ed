// `edgecut verify` must be able to fail: a split whose segment weights were changed exits 1 with
// ok false; the untouched split exits 0. Bad --inputs files exit 2 with stable codes.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { externalRef, loadModel, saveModel } from "../../sdk/graph/model-io.js";
import { TensorProto_DataType } from "../../sdk/graph/onnx/onnx_pb.js";
import { main } from "../../sdk/cli/main.js";
import { assertCliError, assertJsonError, jsonOf, runCli, tempDir } from "./helpers.js";

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-cli-verify-"));
const MODEL = path.join(ROOT, "tiny-gpt.onnx");
const SPLIT = path.join(ROOT, "split");
const EMBEDDED = path.join(ROOT, "split-embedded");

before(async () => {
  for (const argv of [
    ["model", "tiny-gpt", "--layers", "2", "--d-model", "32", "--vocab", "64", "-o", MODEL],
    ["split", GPT_CUT(), "-o", SPLIT],
    ["split", GPT_CUT(), "--embed", "-o", EMBEDDED],
  ]) {
    const r = await runCli(argv.flat());
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
  }
});
process.on("exit", () => fs.rmSync(ROOT, { recursive: true, force: true }));

function GPT_CUT(): string[] {
  // Two segments, cut after block 0, bytes and FLOPs at 1x8.
  return [MODEL, "--cut", "@4", "--shape", "input_ids=1x8"];
}

/** A copy of a split folder (the model stays where the manifest points: ../tiny-gpt.onnx). */
function copySplit(from: string, name: string): string {
  const to = path.join(ROOT, name);
  fs.cpSync(from, to, { recursive: true });
  return to;
}

/** Adds `delta` to every float of one float32 initializer of segment `seg`, in place in its data file. */
function perturbExternalWeight(dir: string, seg: number, delta: number): string {
  const file = path.join(dir, `segment-${seg}.onnx`);
  const m = loadModel(file);
  const t = m.proto.graph!.initializer.find((x) => x.dataType === TensorProto_DataType.FLOAT && externalRef(x, m.dir) !== null);
  assert.ok(t, `segment-${seg} has an external float32 weight`);
  const ref = externalRef(t, m.dir)!;
  assert.equal(path.basename(ref.path), "weights.data");
  const fd = fs.openSync(ref.path, "r+");
  try {
    const buf = Buffer.alloc(ref.length);
    fs.readSync(fd, buf, 0, ref.length, ref.offset);
    const f = new Float32Array(buf.buffer, buf.byteOffset, ref.length / 4);
    for (let i = 0; i < f.length; i++) f[i]! += delta;
    fs.writeSync(fd, buf, 0, ref.length, ref.offset);
  } finally {
    fs.closeSync(fd);
  }
  return t.name;
}

/** Adds `delta` to every float of one embedded float32 initializer of segment `seg` and re-saves the file. */
function perturbEmbeddedWeight(dir: string, seg: number, delta: number): string {
  const file = path.join(dir, `segment-${seg}.onnx`);
  const m = loadModel(file);
  const t = m.proto.graph!.initializer.find((x) => x.dataType === TensorProto_DataType.FLOAT && x.rawData.length >= 64);
  assert.ok(t, `segment-${seg} has an embedded float32 weight`);
  const copy = Uint8Array.from(t.rawData);
  const f = new Float32Array(copy.buffer, 0, copy.length / 4);
  for (let i = 0; i < f.length; i++) f[i]! += delta;
  t.rawData = copy;
  saveModel(m.proto, file, { sourceDir: m.dir });
  return t.name;
}

interface VerifyJson { ok: boolean; atol: number; rtol: number; outputs: { name: string; maxAbsDiff: number; maxRelDiff: number; ok: boolean }[] }

test("verify on the untouched split exits 0 with ok true (text and --json)", async () => {
  const text = await runCli(["verify", path.join(SPLIT, "manifest.json")]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^OK: /);
  const r = await runCli(["verify", path.join(SPLIT, "manifest.json"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = jsonOf(r) as unknown as VerifyJson;
  assert.equal(doc.ok, true);
  assert.ok(doc.outputs.length > 0 && doc.outputs.every((o) => o.ok && o.maxAbsDiff <= doc.atol));
  const emb = await runCli(["verify", path.join(EMBEDDED, "manifest.json"), "--json"]);
  assert.equal(emb.code, 0, emb.stdout + emb.stderr);
});

test("verify fails (exit 1, ok false, maxAbsDiff > atol) when a weight in the shared weights.data changes", async () => {
  const dir = copySplit(SPLIT, "changed-data");
  const name = perturbExternalWeight(dir, 1, 0.5);
  const r = await runCli(["verify", path.join(dir, "manifest.json"), "--json"]);
  assert.equal(r.code, 1, `changing ${name} must make verify fail: ${r.stdout}${r.stderr}`);
  const doc = jsonOf(r) as unknown as VerifyJson;
  assert.equal(doc.ok, false);
  const logits = doc.outputs.find((o) => o.name === "logits");
  assert.ok(logits);
  assert.equal(logits.ok, false);
  assert.ok(logits.maxAbsDiff > doc.atol, `maxAbsDiff ${logits.maxAbsDiff} > atol ${doc.atol}`);
  // Text mode says MISMATCH and exits 1 too.
  const text = await runCli(["verify", path.join(dir, "manifest.json")]);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^MISMATCH: /);
  assert.match(text.stdout, /logits .* NO/);
  // A tolerance above the difference lets it pass.
  const loose = await runCli(["verify", path.join(dir, "manifest.json"), "--atol", "1e6", "--json"]);
  assert.equal(loose.code, 0, loose.stdout);
});

test("verify fails when a weight of segment 0 changes (the front segment)", async () => {
  const dir = copySplit(SPLIT, "changed-front");
  perturbExternalWeight(dir, 0, 0.25);
  const r = await runCli(["verify", path.join(dir, "manifest.json"), "--json"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal((jsonOf(r) as unknown as VerifyJson).ok, false);
});

test("verify fails when an embedded initializer of segment-1.onnx (split --embed) is modified and re-saved", async () => {
  const dir = copySplit(EMBEDDED, "changed-embedded");
  assert.equal(fs.existsSync(path.join(dir, "weights.data")), false, "--embed writes no data file");
  perturbEmbeddedWeight(dir, 1, 0.5);
  const r = await runCli(["verify", path.join(dir, "manifest.json"), "--json"]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const doc = jsonOf(r) as unknown as VerifyJson;
  assert.equal(doc.ok, false);
  assert.ok(doc.outputs.some((o) => !o.ok && o.maxAbsDiff > doc.atol));
});

test("verify --check-hashes on a modified split: E_MANIFEST_HASH, exit 1", async () => {
  const dir = copySplit(EMBEDDED, "changed-hash");
  perturbEmbeddedWeight(dir, 1, 0.5);
  assertCliError(await runCli(["verify", path.join(dir, "manifest.json"), "--check-hashes"]), "E_MANIFEST_HASH", { exit: 1, message: /segment-1\.onnx/ });
  const ok = await runCli(["verify", path.join(SPLIT, "manifest.json"), "--check-hashes"]);
  assert.equal(ok.code, 0, ok.stderr);
});

test("main() does not leak a failed verify's exit code into the caller or the next run", async () => {
  const dir = copySplit(SPLIT, "changed-leak");
  perturbExternalWeight(dir, 1, 0.5);
  const saved = process.exitCode;
  const quiet = async (argv: string[]): Promise<number> => (await runCli(argv)).code;
  try {
    process.exitCode = undefined;
    // Called the way scripts/demo.ts calls it, with output captured by runCli around it.
    const failed = await quiet(["verify", path.join(dir, "manifest.json"), "--json"]);
    assert.equal(failed, 1);
    // A raw main() call must leave process.exitCode as it found it.
    const out = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(["verify", path.join(dir, "manifest.json"), "--json"]);
    } finally {
      process.stdout.write = out;
    }
    assert.equal(code, 1);
    assert.equal(process.exitCode, undefined, "main() left process.exitCode set");
    // A caller whose exitCode is already 1 (e.g. node --test after a failed test) still gets 0 for a good run.
    process.exitCode = 1;
    assert.equal(await quiet(["verify", path.join(SPLIT, "manifest.json"), "--json"]), 0);
    assert.equal(process.exitCode, 1, "the caller's exit code is kept");
  } finally {
    process.exitCode = saved;
  }
});

/** Writes a tensor file and returns its path. */
function inputsFile(dir: string, doc: unknown): string {
  const f = path.join(dir, `inputs-${fs.readdirSync(dir).length}.json`);
  fs.writeFileSync(f, typeof doc === "string" ? doc : JSON.stringify(doc));
  return f;
}

test("verify --inputs with a good tensor file: exit 0, the inputs are the given ones", async (t) => {
  const dir = tempDir(t);
  const f = inputsFile(dir, { input_ids: { type: "int64", dims: [2, 5], data: [1, 2, 3, 4, 5, 63, 62, 61, 0, 7] } });
  const r = await runCli(["verify", path.join(SPLIT, "manifest.json"), "--inputs", f, "--json"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const doc = jsonOf(r);
  assert.equal(doc.ok, true);
  assert.deepEqual(doc.inputs, [{ name: "input_ids", type: "int64", dims: [2, 5] }]);
});

const BAD_INPUTS: { what: string; doc: unknown; code: "E_TENSOR_FILE" | "E_INPUT_MISSING" | "E_USAGE"; message: RegExp }[] = [
  { what: "an unknown tensor type", doc: { input_ids: { type: "long", dims: [1, 2], data: [1, 2] } }, code: "E_TENSOR_FILE", message: /"long" is not a tensor type/ },
  { what: "the wrong type for the input (float32 for int64)", doc: { input_ids: { type: "float32", dims: [1, 2], data: [1, 2] } }, code: "E_USAGE", message: /float32.*int64/ },
  { what: "only a tensor that is not a model input", doc: { other: { type: "int64", dims: [1], data: [1] } }, code: "E_USAGE", message: /"other".*not a model input/ },
  { what: "an empty object (input missing)", doc: {}, code: "E_INPUT_MISSING", message: /"input_ids"/ },
  { what: "an unknown key in an entry", doc: { input_ids: { type: "int64", dims: [1, 2], data: [1, 2], shape: [1, 2] } }, code: "E_TENSOR_FILE", message: /unknown key.*"shape"/ },
  { what: "an extra tensor that is not a model input", doc: { input_ids: { type: "int64", dims: [1, 2], data: [1, 2] }, bogus: { type: "int64", dims: [1], data: [1] } }, code: "E_USAGE", message: /"bogus"/ },
  { what: "data that does not match dims", doc: { input_ids: { type: "int64", dims: [1, 3], data: [1, 2] } }, code: "E_TENSOR_FILE", message: /2 values.*need 3/ },
  { what: "a missing data field", doc: { input_ids: { type: "int64", dims: [1, 2] } }, code: "E_TENSOR_FILE", message: /data/ },
  { what: "text that is not JSON", doc: "input_ids: [1, 2]", code: "E_TENSOR_FILE", message: /not valid JSON/ },
  { what: "a JSON array", doc: "[1, 2, 3]", code: "E_TENSOR_FILE", message: /top level must be an object/ },
];

for (const c of BAD_INPUTS) {
  test(`verify --inputs with ${c.what}: ${c.code}, exit 2 (text and --json)`, async (t) => {
    const dir = tempDir(t);
    const f = inputsFile(dir, c.doc);
    assertCliError(await runCli(["verify", path.join(SPLIT, "manifest.json"), "--inputs", f]), c.code, { message: c.message });
    assertJsonError(await runCli(["verify", path.join(SPLIT, "manifest.json"), "--inputs", f, "--json"]), c.code, { message: c.message });
  });
}

test("verify --inputs with a file that does not exist: E_TENSOR_FILE, exit 2", async (t) => {
  const dir = tempDir(t);
  assertCliError(await runCli(["verify", path.join(SPLIT, "manifest.json"), "--inputs", path.join(dir, "nope.json")]), "E_TENSOR_FILE", { message: /ENOENT/ });
});

test("verify --inputs with the wrong rank is an input error (exit 2), not an onnxruntime failure", async (t) => {
  const dir = tempDir(t);
  const f = inputsFile(dir, { input_ids: { type: "int64", dims: [4], data: [1, 2, 3, 4] } });
  const r = await runCli(["verify", path.join(SPLIT, "manifest.json"), "--inputs", f]);
  assert.equal(r.code, 2, r.stderr);
});

test("verify --inputs with token ids beyond the vocabulary is an input error (exit 2)", async (t) => {
  const dir = tempDir(t);
  const f = inputsFile(dir, { input_ids: { type: "int64", dims: [1, 2], data: [1, 400] } });
  const r = await runCli(["verify", path.join(SPLIT, "manifest.json"), "--inputs", f]);
  assert.equal(r.code, 2, r.stderr);
});

test("verify on a manifest that does not exist / is not JSON: E_MANIFEST, exit 2", async (t) => {
  const dir = tempDir(t);
  assertCliError(await runCli(["verify", path.join(dir, "manifest.json")]), "E_MANIFEST");
  fs.writeFileSync(path.join(dir, "manifest.json"), "{ nope");
  assertCliError(await runCli(["verify", path.join(dir, "manifest.json")]), "E_MANIFEST");
});

test("verify with bad flags: E_USAGE / E_BAD_SHAPE_FLAG, exit 2", async () => {
  const m = path.join(SPLIT, "manifest.json");
  assertCliError(await runCli(["verify", m, "--atol", "-1"]), "E_USAGE", { message: /--atol/ });
  assertCliError(await runCli(["verify", m, "--rtol", "x"]), "E_USAGE", { message: /--rtol/ });
  assertCliError(await runCli(["verify", m, "--seed", "1.5"]), "E_USAGE", { message: /--seed/ });
  assertCliError(await runCli(["verify", m, "--shape", "input_ids=2xq"]), "E_BAD_SHAPE_FLAG");
  assertCliError(await runCli(["verify", m, "--shape", "input_ids=1x2x3"]), "E_USAGE", { message: /rank/ });
  assertCliError(await runCli(["verify", m, "--shape", "pixels=1x3"]), "E_USAGE", { message: /"pixels"/ });
});
