// `edgecut split --fix-input`: the merged GPT-2 fixture folded to its decode (use_cache_branch=true) and
// prefill (false) decoders, split, and verified against the folded model the manifest names; flag errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Graph } from "../../sdk/graph/graph.js";
import { loadManifest } from "../../sdk/graph/manifest.js";
import { ExternalDataWriter, saveModel } from "../../sdk/graph/model-io.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { FIXTURES, assertCliError, assertNoOutput, runCli, tempDir } from "./helpers.js";

const MERGED = path.join(FIXTURES, "gpt2-tiny-merged.onnx");
const PAST = ["past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"];

async function ok(argv: string[]): Promise<string> {
  const r = await runCli(argv);
  assert.equal(r.code, 0, `edgecut ${argv.join(" ")}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

test("use_cache_branch=true: 3 segments cut from the folded decoder, verified at two shapes", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "decode");
  const text = await ok(["split", MERGED, "--fix-input", "use_cache_branch=true", "--segments", "3", "-o", out]);
  assert.match(text, /fixed use_cache_branch=true: folded 1 If node; model for verify: .*decode\.folded\.onnx/);
  const { manifest } = loadManifest(path.join(out, "manifest.json"));
  assert.equal(manifest.model.file, "../decode.folded.onnx");
  assert.deepEqual(manifest.model.inputs.map((i) => i.name), ["input_ids", "attention_mask", ...PAST]);
  assert.equal(manifest.segments.length, 3);
  const folded = Graph.load(`${out}.folded.onnx`);
  assert.equal(folded.nodes.some((n) => n.opType === "If"), false);
  assert.equal(folded.inputs.includes("use_cache_branch"), false);
  for (const s of manifest.segments) assert.equal(Graph.load(path.join(out, s.file)).nodes.some((n) => n.opType === "If"), false);

  assert.match(await ok(["verify", path.join(out, "manifest.json"), "--check-hashes"]), /^OK: 5 outputs/);
  assert.match(await ok(["verify", path.join(out, "manifest.json"), "--shape", "input_ids=2x5", "--dim", "past_sequence=3"]), /^OK: 5 outputs, inputs input_ids\[2x5\] attention_mask\[2x8\]/);
});

test("use_cache_branch=false with --drop-unused-inputs: the past inputs go; the prefill split verifies", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "prefill");
  const text = await ok(["split", MERGED, "--fix-input", "use_cache_branch=false", "--drop-unused-inputs", "--dim", "past_sequence=0", "--segments", "2", "-o", out]);
  assert.match(text, new RegExp(`removed inputs no node reads now: ${PAST.join(", ")}`));
  const { manifest } = loadManifest(path.join(out, "manifest.json"));
  assert.deepEqual(manifest.model.inputs.map((i) => i.name), ["input_ids", "attention_mask"]);
  assert.match(await ok(["verify", path.join(out, "manifest.json"), "--shape", "input_ids=2x6", "--dim", "past_sequence=0"]), /^OK: 5 outputs/);

});

test("bad --fix-input flags: unknown input, bad value, wrong count, no '=', twice, --drop-unused-inputs alone", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "out");
  const cases: [string[], RegExp][] = [
    [["--fix-input", "use_cache=true"], /cannot fix "use_cache": the model has no such input; fixable inputs: input_ids, .*use_cache_branch/],
    [["--fix-input", "use_cache_branch=maybe"], /input "use_cache_branch" \(bool\): "maybe" is not true or false/],
    [["--fix-input", "use_cache_branch=1,0"], /shape \[1\] \(1 value\), but 2 were given/],
    [["--fix-input", "use_cache_branch"], /--fix-input use_cache_branch: expected name=value/],
    [["--fix-input", "use_cache_branch="], /expected name=value/],
    [["--fix-input", "use_cache_branch=true", "--fix-input", "use_cache_branch=false"], /--fix-input use_cache_branch given twice/],
    [["--fix-input", "core.wte.weight=1"], /it is a weight/],
    [["--drop-unused-inputs"], /--drop-unused-inputs applies to the model --fix-input folds/],
  ];
  for (const [flags, message] of cases) {
    assertCliError(await runCli(["split", MERGED, ...flags, "--segments", "2", "-o", out]), "E_USAGE", { message });
    assertNoOutput(out);
    assert.equal(fs.existsSync(`${out}.folded.onnx`), false);
  }
  // Without --fix-input the merged model cannot be cut at all: all its work sits inside the If.
  assertCliError(await runCli(["split", MERGED, "--segments", "2", "-o", out]), "E_CUT_CONTROL_FLOW_ONLY");
});

/**
 * x [batch, 16], c bool [1] -> If(Greater(k, 0) when `viaGreater`, else c):
 * then h = Relu(x @ w1), y = Relu(h @ w2); else y = Neg(x). w1, w2 1 KiB each, saved as external data.
 */
function writeIfModel(dir: string, viaGreater = false): string {
  const b = new GraphBuilder();
  b.input("x", "float32", ["batch", 16]);
  b.input("c", viaGreater ? "float32" : "bool", [1]);
  b.initializer("w1", "float32", [16, 16], Float32Array.from({ length: 256 }, (_, i) => Math.sin(i) / 4));
  b.initializer("w2", "float32", [16, 16], Float32Array.from({ length: 256 }, (_, i) => Math.cos(i) / 4));
  const then = new GraphBuilder({ name: "then" });
  const h = then.op("Relu", [then.op("MatMul", ["x", "w1"])], {}, { output: "h" });
  then.op("Relu", [then.op("MatMul", [h, "w2"])], {}, { output: "y_then" });
  then.output("y_then", "float32", ["batch", 16]);
  const els = new GraphBuilder({ name: "else" });
  els.op("Neg", ["x"], {}, { output: "y_else" });
  els.output("y_else", "float32", ["batch", 16]);
  const cond = viaGreater ? b.op("Greater", ["c", b.constFloat([0])]) : "c";
  b.node("If", [cond], { then_branch: then.graph(), else_branch: els.graph() }, ["y"]);
  b.output("y", "float32", ["batch", 16]);
  const file = path.join(dir, viaGreater ? "greater.onnx" : "if.onnx");
  const writer = new ExternalDataWriter(`${file}.data`);
  try {
    saveModel(b.build(), file, { sourceDir: dir, externalData: writer });
  } finally {
    writer.close();
  }
  return file;
}

test("a model with external data: the folded model gets its own data file; an existing one needs --force", async (t) => {
  const dir = tempDir(t);
  const model = writeIfModel(dir);
  const out = path.join(dir, "split");
  fs.writeFileSync(`${out}.folded.onnx`, "not mine");
  const argv = ["split", model, "--fix-input", "c=true", "--cut", "h", "-o", out];
  assertCliError(await runCli(argv), "E_OUTPUT_EXISTS", { message: /split\.folded\.onnx exists; .*--force/ });
  assert.equal(fs.readFileSync(`${out}.folded.onnx`, "utf8"), "not mine");
  await ok([...argv, "--force"]);
  assert.ok(fs.statSync(`${out}.folded.onnx.data`).size >= 2048, "w1 and w2 in the folded model's data file");
  assert.match(await ok(["verify", path.join(out, "manifest.json"), "--check-hashes", "--dim", "batch=3"]), /^OK: 1 outputs/);
});

test("a condition the folding cannot evaluate is E_UNSUPPORTED; a failed split leaves no folded model behind", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "split");
  assertCliError(await runCli(["split", writeIfModel(dir, true), "--fix-input", "c=1.5", "--segments", "2", "-o", out]), "E_UNSUPPORTED", {
    message: /depends on fixed input "c" through ops edgecut does not evaluate/,
  });
  assertNoOutput(out);
  // Folding works, the cut does not: the folded model is removed with the failed split.
  assertCliError(await runCli(["split", writeIfModel(dir), "--fix-input", "c=false", "--cut", "h", "-o", out]), "E_UNKNOWN_TENSOR");
  assertNoOutput(out);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["greater.onnx", "greater.onnx.data", "if.onnx", "if.onnx.data"]);
});
