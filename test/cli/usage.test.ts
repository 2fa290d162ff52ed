// Usage errors (flags, modes, --shape/--dim/--bandwidth/--rtt, model options), -o into a
// non-empty folder, --shape splitting at the last '=', and inspect --dot.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { saveModel } from "../../sdk/graph/model-io.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import type { ErrorCode } from "../../sdk/errors.js";
import {
  CONTROL_FLOW, FIXTURES, GPT2_TINY, assertCliError, assertNoOutput, jsonOf, runCli, smallMlp, snapshotDir, tempDir,
} from "./helpers.js";

interface UsageCase { what: string; argv: (out: string) => string[]; code: ErrorCode; message?: RegExp }

const SPLIT_USAGE: UsageCase[] = [
  { what: "no mode", argv: (o) => ["split", GPT2_TINY, "-o", o], code: "E_USAGE", message: /--cut, --segments N, --candidates or --optimal/ },
  { what: "two modes", argv: (o) => ["split", GPT2_TINY, "--candidates", "--segments", "2", "-o", o], code: "E_USAGE", message: /--segments.*--candidates/ },
  { what: "--cut and --optimal", argv: (o) => ["split", GPT2_TINY, "--cut", "@1", "--optimal", "-o", o], code: "E_USAGE", message: /--cut.*--optimal/ },
  { what: "missing -o", argv: () => ["split", GPT2_TINY, "--candidates"], code: "E_USAGE", message: /-o, --output/ },
  { what: "missing model argument", argv: (o) => ["split", "-o", o], code: "E_USAGE", message: /model/ },
  { what: "unknown option", argv: (o) => ["split", GPT2_TINY, "--candidates", "--frobnicate", "-o", o], code: "E_USAGE", message: /--frobnicate/ },
  { what: "--shape input_ids=1xq", argv: (o) => ["split", GPT2_TINY, "--candidates", "--shape", "input_ids=1xq", "-o", o], code: "E_BAD_SHAPE_FLAG", message: /input_ids=1xq.*name=AxBxC/ },
  { what: "--shape =1x2 (no name)", argv: (o) => ["split", GPT2_TINY, "--candidates", "--shape", "=1x2", "-o", o], code: "E_BAD_SHAPE_FLAG", message: /=1x2/ },
  { what: "--shape without '='", argv: (o) => ["split", GPT2_TINY, "--candidates", "--shape", "input_ids", "-o", o], code: "E_BAD_SHAPE_FLAG" },
  { what: "--shape 1x-2", argv: (o) => ["split", GPT2_TINY, "--candidates", "--shape", "input_ids=1x-2", "-o", o], code: "E_BAD_SHAPE_FLAG" },
  { what: "--shape given twice", argv: (o) => ["split", GPT2_TINY, "--candidates", "--shape", "input_ids=1x8", "--shape", "input_ids=1x9", "-o", o], code: "E_BAD_SHAPE_FLAG", message: /twice/ },
  { what: "--shape of the wrong rank", argv: (o) => ["split", GPT2_TINY, "--candidates", "--shape", "input_ids=1x2x3", "-o", o], code: "E_BAD_SHAPE_FLAG", message: /rank 2/ },
  { what: "--shape of a scalar for a rank-2 input", argv: (o) => ["split", GPT2_TINY, "--candidates", "--shape", "input_ids=", "-o", o], code: "E_BAD_SHAPE_FLAG", message: /rank 2/ },
  { what: "--dim batch=-1", argv: (o) => ["split", GPT2_TINY, "--candidates", "--dim", "batch=-1", "-o", o], code: "E_BAD_SHAPE_FLAG", message: /dim_param=N/ },
  { what: "--dim batch (no value)", argv: (o) => ["split", GPT2_TINY, "--candidates", "--dim", "batch", "-o", o], code: "E_BAD_SHAPE_FLAG" },
  { what: "--dim =3 (no name)", argv: (o) => ["split", GPT2_TINY, "--candidates", "--dim", "=3", "-o", o], code: "E_BAD_SHAPE_FLAG" },
  { what: "--dim batch=1.5", argv: (o) => ["split", GPT2_TINY, "--candidates", "--dim", "batch=1.5", "-o", o], code: "E_BAD_SHAPE_FLAG" },
  { what: "--bandwidth without a unit", argv: (o) => ["split", GPT2_TINY, "--optimal", "--bandwidth", "10", "-o", o], code: "E_USAGE", message: /--bandwidth 10/ },
  { what: "--bandwidth fast", argv: (o) => ["split", GPT2_TINY, "--optimal", "--bandwidth", "fast", "-o", o], code: "E_USAGE", message: /--bandwidth fast/ },
  { what: "--bandwidth 0mbit", argv: (o) => ["split", GPT2_TINY, "--optimal", "--bandwidth", "0mbit", "-o", o], code: "E_USAGE", message: /positive/ },
  { what: "--bandwidth 10 furlongs", argv: (o) => ["split", GPT2_TINY, "--optimal", "--bandwidth", "10furlong", "-o", o], code: "E_USAGE" },
  { what: "--rtt without a unit", argv: (o) => ["split", GPT2_TINY, "--optimal", "--rtt", "40", "-o", o], code: "E_USAGE", message: /--rtt 40/ },
  { what: "--rtt -4ms", argv: (o) => ["split", GPT2_TINY, "--optimal", "--rtt", "-4ms", "-o", o], code: "E_USAGE", message: /--rtt/ },
  { what: "--cloud-speedup abc", argv: (o) => ["split", GPT2_TINY, "--optimal", "--cloud-speedup", "abc", "-o", o], code: "E_USAGE", message: /--cloud-speedup/ },
  { what: "--device-gflops 0", argv: (o) => ["split", GPT2_TINY, "--optimal", "--device-gflops", "0", "-o", o], code: "E_USAGE", message: /--device-gflops/ },
  { what: "--segments 1", argv: (o) => ["split", GPT2_TINY, "--segments", "1", "-o", o], code: "E_USAGE", message: /--segments 1/ },
  { what: "--segments two", argv: (o) => ["split", GPT2_TINY, "--segments", "two", "-o", o], code: "E_USAGE", message: /--segments two/ },
  { what: "--segments 99 (more than the candidates allow)", argv: (o) => ["split", GPT2_TINY, "--segments", "99", "-o", o], code: "E_SEGMENTS", message: /at most/ },
  { what: "--balance latency", argv: (o) => ["split", GPT2_TINY, "--segments", "2", "--balance", "latency", "-o", o], code: "E_USAGE", message: /flops or weights/ },
];

for (const c of SPLIT_USAGE) {
  test(`split with ${c.what}: ${c.code}, exit 2, no output`, async (t) => {
    const dir = tempDir(t);
    const out = path.join(dir, "split");
    const r = await runCli(c.argv(out));
    assertCliError(r, c.code, c.message ? { message: c.message } : {});
    assertNoOutput(out);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
}

const OTHER_USAGE: { what: string; argv: string[]; code: ErrorCode; message?: RegExp }[] = [
  { what: "inspect --shape for an unknown input", argv: ["inspect", GPT2_TINY, "--shape", "token_ids=1x8"], code: "E_UNKNOWN_TENSOR", message: /"token_ids".*input_ids, attention_mask/ },
  { what: "inspect --shape with a fixed dim changed", argv: ["inspect", CONTROL_FLOW, "--shape", "x=2x17"], code: "E_BAD_SHAPE_FLAG", message: /fixed at 16/ },
  { what: "inspect --shape that disagrees with another --shape", argv: ["inspect", GPT2_TINY, "--shape", "input_ids=1x8", "--shape", "attention_mask=1x9"], code: "E_USAGE", message: /sequence/ },
  { what: "inspect with an unknown option", argv: ["inspect", GPT2_TINY, "--frobnicate"], code: "E_USAGE", message: /unknown option '--frobnicate'/ },
  { what: "inspect without a model", argv: ["inspect"], code: "E_USAGE", message: /missing required argument/ },
  { what: "an unknown command", argv: ["slice", GPT2_TINY], code: "E_USAGE", message: /unknown command 'slice'/ },
  { what: "model with an unknown kind", argv: ["model", "tiny-rnn", "-o", "/nonexistent/never-written.onnx"], code: "E_USAGE", message: /unknown model kind "tiny-rnn".*tiny-gpt, tiny-cnn, mlp/ },
  { what: "model --heads 5 --d-model 64", argv: ["model", "tiny-gpt", "--heads", "5", "--d-model", "64", "-o", "/nonexistent/never-written.onnx"], code: "E_USAGE", message: /heads 5/ },
  { what: "model --layers 0", argv: ["model", "tiny-gpt", "--layers", "0", "-o", "/nonexistent/never-written.onnx"], code: "E_USAGE", message: /--layers 0/ },
  { what: "model --vocab x", argv: ["model", "tiny-gpt", "--vocab", "x", "-o", "/nonexistent/never-written.onnx"], code: "E_USAGE", message: /--vocab x/ },
  { what: "model without -o", argv: ["model", "mlp"], code: "E_USAGE", message: /-o, --output/ },
];

for (const c of OTHER_USAGE) {
  test(`${c.what}: ${c.code}, exit 2`, async () => {
    const r = await runCli(c.argv);
    assertCliError(r, c.code, c.message ? { message: c.message } : {});
    assert.equal(fs.existsSync("/nonexistent"), false);
  });
}

test("commander's own usage errors are one `edgecut: E_USAGE: ...` line, as every other error", async () => {
  const r = await runCli(["inspect", GPT2_TINY, "--frobnicate"]);
  assertCliError(r, "E_USAGE");
  assert.equal(r.stderr, "edgecut: E_USAGE: unknown option '--frobnicate' (see edgecut inspect --help)\n");
});

test("edgecut with no command prints help and exits 2 (usage error), --help / help exit 0", async () => {
  const none = await runCli([]);
  assert.equal(none.code, 2, `no command is a usage error: ${none.stderr}`);
  assert.match(none.stderr, /Usage: edgecut/);
  assert.match(none.stderr, /edgecut: E_USAGE: /);
  for (const argv of [["--help"], ["help"], ["split", "--help"], ["help", "inspect"], ["--version"]]) {
    const r = await runCli(argv);
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /edgecut: E_/);
  }
});

test("model --heads 5 --d-model 64 writes no file", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "sub", "m.onnx");
  assertCliError(await runCli(["model", "tiny-gpt", "--heads", "5", "--d-model", "64", "-o", out]), "E_USAGE");
  assert.deepEqual(fs.readdirSync(dir), []);
});

test("-o pointing to a non-empty folder: E_OUTPUT_EXISTS and the folder's contents untouched", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "busy");
  fs.mkdirSync(path.join(out, "nested"), { recursive: true });
  fs.writeFileSync(path.join(out, "notes.txt"), "keep me");
  fs.writeFileSync(path.join(out, "manifest.json"), "{\"not\": \"a split\"}");
  fs.writeFileSync(path.join(out, "nested", "segment-0.onnx"), Buffer.from([1, 2, 3]));
  const before = snapshotDir(dir);
  for (const how of [["--cut", "@5"], ["--candidates"], ["--segments", "2"], ["--cut", "/h.1/Add_1_output_0"], ["--cut", "@5", "--embed"]]) {
    const r = await runCli(["split", GPT2_TINY, ...how, "-o", out]);
    assertCliError(r, "E_OUTPUT_EXISTS", { message: /not empty.*--force/ });
    assert.deepEqual(snapshotDir(dir), before, `${how.join(" ")}: folder changed`);
  }
});

test("-o pointing to a file: E_OUTPUT_EXISTS and the file untouched", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "a-file");
  fs.writeFileSync(out, "precious");
  const r = await runCli(["split", GPT2_TINY, "--cut", "@5", "-o", out]);
  assertCliError(r, "E_OUTPUT_EXISTS", { message: /not a folder/ });
  assert.equal(fs.readFileSync(out, "utf8"), "precious");
  assert.deepEqual(fs.readdirSync(dir), ["a-file"]);
});

test("-o pointing to an existing empty folder is fine", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "empty");
  fs.mkdirSync(out);
  const r = await runCli(["split", GPT2_TINY, "--cut", "@5", "-o", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(out, "manifest.json")));
  assert.deepEqual(fs.readdirSync(dir), ["empty"]);
});

test("--force into the folder that holds the model: E_USAGE and nothing deleted", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "model.onnx");
  saveModel(smallMlp(), model, { sourceDir: dir });
  const before = snapshotDir(dir);
  const r = await runCli(["split", model, "--cut", "h", "--force", "-o", dir]);
  assertCliError(r, "E_USAGE", { message: /holds the model/ });
  assert.deepEqual(snapshotDir(dir), before);
  assert.deepEqual(fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`${path.basename(dir)}.`)), []);
});

test("--shape splits at the last '=': an input named \"a=b\"", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "eq.onnx");
  saveModel(smallMlp("a=b"), model, { sourceDir: dir });
  const r = await runCli(["inspect", model, "--shape", "a=b=3x16", "--json"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const doc = jsonOf(r);
  assert.deepEqual(doc.inputShapes, { "a=b": [3, 16] });
  // h is [batch, 16] float32: 3 * 16 * 4 bytes at batch 3.
  const cuts = doc.candidateCuts as { after: string; bytes: number }[];
  assert.equal(cuts.find((c) => c.after === "h")?.bytes, 3 * 16 * 4);
  // "a" alone is not an input: the flag is read as a=b=3x16 -> name "a=b", never name "a".
  assertCliError(await runCli(["inspect", model, "--shape", "a=3x16"]), "E_UNKNOWN_TENSOR", { message: /"a"/ });
  // "a=b=3xb" is malformed (the spec after the last '=' is "3xb").
  assertCliError(await runCli(["inspect", model, "--shape", "a=b=3xb"]), "E_BAD_SHAPE_FLAG");
  // And split records the shape under the full name.
  const out = path.join(dir, "split");
  const s = await runCli(["split", model, "--cut", "h", "--shape", "a=b=3x16", "--json", "-o", out]);
  assert.equal(s.code, 0, s.stdout + s.stderr);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as { shapes: Record<string, unknown>; model: { inputs: { name: string }[] } };
  assert.deepEqual(manifest.shapes["a=b"], [3, 16]);
  assert.deepEqual(manifest.model.inputs.map((i) => i.name), ["a=b"]);
});

test("inspect --dot writes a DOT file with the cuts marked", async (t) => {
  const dir = tempDir(t);
  const dot = path.join(dir, "out.dot");
  const r = await runCli(["inspect", GPT2_TINY, "--dot", dot]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*out\.dot/);
  const text = fs.readFileSync(dot, "utf8");
  assert.match(text, /^digraph /);
  assert.match(text, /\}\s*$/);
  assert.match(text, /label="cut \d+/);
  assert.match(text, /"in:input_ids"/);
  assert.match(text, /"out:logits"/);
  // With --json the DOT file is still written and stdout stays pure JSON.
  const dot2 = path.join(dir, "out2.dot");
  const j = await runCli(["inspect", CONTROL_FLOW, "--dot", dot2, "--json"]);
  assert.equal(j.code, 0, j.stderr);
  jsonOf(j);
  assert.match(fs.readFileSync(dot2, "utf8"), /cut/);
});

test("inspect --dot into a folder that does not exist: exit 2 with a clear message, not an internal error", async (t) => {
  const dir = tempDir(t);
  const r = await runCli(["inspect", GPT2_TINY, "--dot", path.join(dir, "no", "such", "out.dot")]);
  assertCliError(r, "E_USAGE", { message: /--dot .*ENOENT/ });
});

test("--dim for a dim_param the model does not have is reported", async () => {
  const r = await runCli(["inspect", GPT2_TINY, "--dim", "seqeunce=64"]);
  assert.equal(r.code, 2, r.stdout.slice(0, 200));
});

test("inspect on a KV-cache model without flags works (symbolic dims assumed 1)", async () => {
  const r = await runCli(["inspect", path.join(FIXTURES, "gpt2-tiny-kv.onnx"), "--json"]);
  assert.equal(r.code, 0, r.stdout);
});

test("split warns on stderr about ops whose outputs change run to run, and still writes the split", async (t) => {
  const dir = tempDir(t);
  const b = new GraphBuilder();
  const x = b.input("x", "float32", ["batch", 4]);
  const w = b.initializer("w", "float32", [4, 4], new Float32Array(16).fill(0.25));
  const h = b.op("MatMul", [x, w], {}, { output: "h" });
  const noise = b.op("RandomUniformLike", [h], { seed: 1 });
  const y = b.op("Add", [h, noise], {}, { output: "y" });
  b.output(y, "float32", ["batch", 4]);
  const model = path.join(dir, "random.onnx");
  saveModel(b.build(), model, { sourceDir: dir });
  const r = await runCli(["split", model, "--cut", "h", "--shape", "x=1x4", "-o", path.join(dir, "out"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^edgecut: warning: node #\d+ \(RandomUniformLike\) draws random numbers/m);
  assert.doesNotThrow(() => JSON.parse(r.stdout), "stdout stays one JSON document");
});
