// The CLI's output contracts: inspect --json and verify --json documents, errors as JSON with
// --json, and (in a real process) exit codes and the `edgecut: E_CODE: message` stderr line.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  CONTROL_FLOW, FIXTURES, GPT2_TINY, assertCliError, assertJsonError, isRecord, jsonOf, runCli, spawnCli, tempDir,
} from "./helpers.js";

const ROOT = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-cli-contracts-"));
process.on("exit", () => fs.rmSync(ROOT, { recursive: true, force: true }));
const MLP = path.join(ROOT, "mlp.onnx");
const SPLIT = path.join(ROOT, "split");

before(async () => {
  assert.equal((await runCli(["model", "mlp", "-o", MLP])).code, 0);
  const r = await runCli(["split", MLP, "--segments", "2", "-o", SPLIT]);
  assert.equal(r.code, 0, r.stderr);
});

type Check = "string" | "number" | "boolean" | "integer" | "object" | "array";
function hasTypes(where: string, v: unknown, spec: Record<string, Check>): Record<string, unknown> {
  assert.ok(isRecord(v), `${where} is an object`);
  for (const [k, want] of Object.entries(spec)) {
    assert.ok(k in v, `${where} has "${k}" (keys: ${Object.keys(v).join(", ")})`);
    const x = v[k];
    const ok = want === "integer" ? Number.isSafeInteger(x) && (x as number) >= 0
      : want === "array" ? Array.isArray(x)
        : want === "object" ? isRecord(x)
          : want === "number" ? typeof x === "number" && Number.isFinite(x) && x >= 0
            : typeof x === want;
    assert.ok(ok, `${where}.${k} should be ${want}, got ${JSON.stringify(x)}`);
  }
  return v;
}

function checkInspectJson(doc: Record<string, unknown>, model: string): void {
  hasTypes("inspect", doc, { model: "string", nodeCount: "integer", ops: "object", weightBytes: "integer", flops: "number", candidateCuts: "array" });
  assert.equal(doc.model, model);
  const ops = doc.ops as Record<string, unknown>;
  assert.ok(Object.keys(ops).length > 0);
  for (const [op, n] of Object.entries(ops)) assert.ok(Number.isSafeInteger(n) && (n as number) > 0, `ops.${op} = ${String(n)}`);
  assert.equal(Object.values(ops).reduce((a: number, n) => a + (n as number), 0), doc.nodeCount, "ops add up to nodeCount");
  const cuts = doc.candidateCuts as unknown[];
  assert.ok(cuts.length > 0);
  cuts.forEach((c, i) => {
    const cut = hasTypes(`candidateCuts[${i}]`, c, {
      index: "integer", after: "string", tensors: "array", bytes: "integer", frontWeightBytes: "integer", frontFlops: "number", localMin: "boolean",
    });
    assert.equal(cut.index, i, "index is the position in the list (what --cut @i means)");
    const tensors = cut.tensors as unknown[];
    assert.ok(tensors.length > 0);
    tensors.forEach((t, j) => hasTypes(`candidateCuts[${i}].tensors[${j}]`, t, { name: "string", bytes: "integer" }));
    assert.equal(tensors.reduce((a: number, t) => a + ((t as { bytes: number }).bytes), 0), cut.bytes, "bytes is the sum over the tensors");
  });
}

test("inspect --json has the documented keys with the right types (gpt2-tiny, resnet-tiny, control-flow, a generated mlp)", async () => {
  for (const model of [GPT2_TINY, path.join(FIXTURES, "resnet-tiny.onnx"), CONTROL_FLOW, MLP]) {
    const r = await runCli(["inspect", model, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    checkInspectJson(jsonOf(r), model);
  }
});

test("inspect --json bytes follow --shape (gpt2-tiny at 2x16 vs 1x1)", async () => {
  const small = jsonOf(await runCli(["inspect", GPT2_TINY, "--json"]));
  const big = jsonOf(await runCli(["inspect", GPT2_TINY, "--json", "--shape", "input_ids=2x16", "--shape", "attention_mask=2x16"]));
  const last = (d: Record<string, unknown>): { after: string; bytes: number } => (d.candidateCuts as { after: string; bytes: number }[]).at(-1)!;
  assert.equal(last(big).after, last(small).after);
  assert.equal(last(big).bytes, 32 * last(small).bytes, "hidden state at 2x16 is 32x the one at 1x1");
  assert.ok((big.flops as number) > (small.flops as number));
});

test("verify --json has ok, atol, rtol and outputs[{name, maxAbsDiff, maxRelDiff, ok}]", async () => {
  const r = await runCli(["verify", path.join(SPLIT, "manifest.json"), "--json", "--atol", "0.001", "--rtol", "0.01"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = hasTypes("verify", jsonOf(r), { ok: "boolean", atol: "number", rtol: "number", outputs: "array" });
  assert.equal(doc.ok, true);
  assert.equal(doc.atol, 0.001);
  assert.equal(doc.rtol, 0.01);
  const outs = doc.outputs as unknown[];
  assert.ok(outs.length > 0);
  outs.forEach((o, i) => hasTypes(`outputs[${i}]`, o, { name: "string", maxAbsDiff: "number", maxRelDiff: "number", ok: "boolean" }));
});

test("errors with --json: { error: { code, message } } alone on stdout, exit 2, for each command", async (t) => {
  const dir = tempDir(t);
  const junk = path.join(dir, "junk.onnx");
  fs.writeFileSync(junk, "not a model");
  const out = path.join(dir, "out");
  assertJsonError(await runCli(["inspect", junk, "--json"]), "E_MODEL_PARSE");
  assertJsonError(await runCli(["inspect", GPT2_TINY, "--json", "--shape", "input_ids=1xq"]), "E_BAD_SHAPE_FLAG");
  assertJsonError(await runCli(["inspect", GPT2_TINY, "--json", "--bogus"]), "E_USAGE", { message: /--bogus/ });
  assertJsonError(await runCli(["split", GPT2_TINY, "--json", "--cut", "nope", "-o", out]), "E_UNKNOWN_TENSOR");
  assertJsonError(await runCli(["split", GPT2_TINY, "--json", "-o", out]), "E_USAGE");
  assertJsonError(await runCli(["split", GPT2_TINY, "--json", "--cut", "@1"]), "E_USAGE", { message: /-o, --output/ });
  assertJsonError(await runCli(["split", CONTROL_FLOW, "--json", "--cut", "16", "-o", out]), "E_CUT_INSIDE_SUBGRAPH");
  assertJsonError(await runCli(["verify", path.join(dir, "nope.json"), "--json"]), "E_MANIFEST");
  assertJsonError(await runCli(["model", "nope", "--json", "-o", path.join(dir, "m.onnx")]), "E_USAGE");
  assert.equal(fs.existsSync(out), false);
});

test("split --json prints the manifest that it wrote", async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "out");
  const r = await runCli(["split", MLP, "--json", "--cut", "@0", "-o", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(jsonOf(r), JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")));
});

// Real processes: exit codes as the shell sees them, and what lands on stdout/stderr.

test("process: an input error exits 2 with one `edgecut: E_CODE: message` line on stderr and nothing on stdout", (t) => {
  const dir = tempDir(t);
  const bytes = fs.readFileSync(GPT2_TINY);
  const truncated = path.join(dir, "truncated.onnx");
  fs.writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
  const r = spawnCli(["inspect", truncated]);
  assertCliError(r, "E_MODEL_PARSE");
  assert.match(r.stderr, /^edgecut: E_MODEL_PARSE: .*truncated\.onnx.*\n$/);
  assert.equal(r.stderr.split("\n").length, 2, "exactly one line");
});

test("process: --json errors go to stdout as JSON with exit 2 and an empty stderr", (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, "out");
  const r = spawnCli(["split", GPT2_TINY, "--cut", "/h.0/Add_1_output_0", "--json", "-o", out]);
  assertJsonError(r, "E_CUT_NOT_SEPARATING", { message: /"\/Unsqueeze_2_output_0"/ });
  assert.equal(fs.existsSync(out), false);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test("process: a usage error from commander exits 2 and ends with `edgecut: E_USAGE: ...`", () => {
  const r = spawnCli(["split", GPT2_TINY, "--cut", "@1"]);
  assertCliError(r, "E_USAGE", { message: /-o, --output/ });
});

test("process: no command at all exits 2", () => {
  const r = spawnCli([]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /Usage: edgecut/);
});

test("process: verify exits 1 on a mismatch and 0 on a good split, with pure JSON on stdout", () => {
  const dir = path.join(ROOT, "changed");
  fs.cpSync(SPLIT, dir, { recursive: true });
  // Every float of weights.data + 1: at least one segment weight changes.
  const data = path.join(dir, "weights.data");
  const buf = fs.readFileSync(data);
  const f = new Float32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
  for (let i = 0; i < f.length; i++) f[i]! += 1;
  fs.writeFileSync(data, buf);
  const bad = spawnCli(["verify", path.join(dir, "manifest.json"), "--json"]);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  const doc = JSON.parse(bad.stdout) as { ok: boolean };
  assert.equal(doc.ok, false);
  const good = spawnCli(["verify", path.join(SPLIT, "manifest.json")]);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^OK: /);
  assert.equal(good.stderr, "");
});
