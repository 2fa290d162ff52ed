// `split --cut ...` on cuts that cannot work: unknown tensors, bad candidate indices, cuts that do
// not separate the graph, cuts inside an If body, models whose work sits inside one Loop, and
// cuts that would carry a sequence. Each exits 2 with a stable code and leaves no output.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { saveModel } from "../../sdk/graph/model-io.js";
import type { ErrorCode } from "../../sdk/errors.js";
import {
  CONTROL_FLOW, GPT2_TINY, assertCliError, assertNoOutput, jsonOf, loopModel, runCli, sequenceModel, tempDir,
} from "./helpers.js";

/** Runs `split <model> <args> -o <fresh dir>` and checks the error and that no output was left. */
async function splitFails(t: { after: (fn: () => void) => void }, model: string, args: string[], code: ErrorCode, message?: RegExp): Promise<string> {
  const dir = tempDir(t);
  const out = path.join(dir, "split");
  const r = await runCli(["split", model, ...args, "-o", out]);
  const msg = assertCliError(r, code, message ? { message } : {});
  assertNoOutput(out);
  assert.deepEqual(fs.readdirSync(dir), [], "nothing written next to the output folder");
  return msg;
}

async function splitWorks(t: { after: (fn: () => void) => void }, model: string, args: string[]): Promise<Record<string, unknown>> {
  const dir = tempDir(t);
  const out = path.join(dir, "split");
  const r = await runCli(["split", model, ...args, "--json", "-o", out]);
  assert.equal(r.code, 0, `split ${args.join(" ")} should work: ${r.stdout}${r.stderr}`);
  return jsonOf(r);
}

test("--cut with an unknown tensor name: E_UNKNOWN_TENSOR naming it", async (t) => {
  await splitFails(t, GPT2_TINY, ["--cut", "no/such/tensor"], "E_UNKNOWN_TENSOR", /"no\/such\/tensor"/);
  // One good name and one unknown: still the unknown one is reported.
  await splitFails(t, GPT2_TINY, ["--cut", "/h.0/Add_1_output_0", "--cut", "typo_output_0"], "E_UNKNOWN_TENSOR", /"typo_output_0"/);
});

test("--cut @99 beyond the candidates: E_USAGE saying how many candidates there are", async (t) => {
  const inspect = jsonOf(await runCli(["inspect", GPT2_TINY, "--json"]));
  const n = (inspect.candidateCuts as unknown[]).length;
  assert.ok(n > 0 && n < 99);
  await splitFails(t, GPT2_TINY, ["--cut", "@99"], "E_USAGE", new RegExp(`@99.*${n} candidate cuts \\(0\\.\\.${n - 1}\\)`));
  await splitFails(t, GPT2_TINY, ["--cut", `@${n}`], "E_USAGE", /candidate cuts/);
  await splitFails(t, GPT2_TINY, ["--cut", "@1", "--cut", "@99"], "E_USAGE", /@99/);
  // The last candidate itself is fine.
  await splitWorks(t, GPT2_TINY, ["--cut", `@${n - 1}`]);
});

test("--cut @ with a malformed index: E_USAGE", async (t) => {
  for (const bad of ["@-1", "@x", "@1.5", "@"]) await splitFails(t, GPT2_TINY, ["--cut", bad], "E_USAGE", /--cut/);
});

test("--cut mixing tensor names and @indices: E_USAGE", async (t) => {
  await splitFails(t, GPT2_TINY, ["--cut", "@1", "--cut", "/h.0/Add_1_output_0"], "E_USAGE", /either tensor names or @candidate indices/);
  await splitFails(t, GPT2_TINY, ["--cut", "/h.0/Add_1_output_0", "--cut", "@1"], "E_USAGE", /either tensor names or @candidate indices/);
});

test("--cut naming the same candidate twice: E_CUT_ORDER", async (t) => {
  await splitFails(t, GPT2_TINY, ["--cut", "@2", "--cut", "@2"], "E_CUT_ORDER");
});

test("a cut that leaves a front tensor behind: E_CUT_NOT_SEPARATING naming the missing mask tensor", async (t) => {
  // After block 0 of gpt2-tiny the back still needs the attention mask "/Unsqueeze_2_output_0".
  const msg = await splitFails(t, GPT2_TINY, ["--cut", "/h.0/Add_1_output_0"], "E_CUT_NOT_SEPARATING", /"\/Unsqueeze_2_output_0"/);
  assert.match(msg, /--cut \/h\.0\/Add_1_output_0,\/Unsqueeze_2_output_0/, "the message says how to fix the cut");
  // With the mask tensor added, the same cut works and carries both.
  const manifest = await splitWorks(t, GPT2_TINY, ["--cut", "/h.0/Add_1_output_0,/Unsqueeze_2_output_0"]);
  const cuts = manifest.cuts as { tensors: { name: string }[] }[];
  assert.deepEqual(cuts.map((c) => c.tensors.map((x) => x.name).sort()), [["/Unsqueeze_2_output_0", "/h.0/Add_1_output_0"]]);
});

test("repeated --cut makes several cuts (in any order); cuts that cross or coincide are E_CUT_ORDER", async (t) => {
  const block0 = "/h.0/Add_1_output_0,/Unsqueeze_2_output_0";
  const manifest = await splitWorks(t, GPT2_TINY, ["--cut", "/h.1/Add_1_output_0", "--cut", block0]);
  const cuts = manifest.cuts as { tensors: { name: string }[] }[];
  assert.deepEqual(cuts.map((c) => c.tensors.map((x) => x.name).sort()), [["/Unsqueeze_2_output_0", "/h.0/Add_1_output_0"], ["/h.1/Add_1_output_0"]]);
  await splitFails(t, GPT2_TINY, ["--cut", "/h.1/Add_1_output_0", "--cut", "/h.1/Add_1_output_0"], "E_CUT_ORDER");
});

test("a cut with one side empty: E_CUT_NOT_SEPARATING", async (t) => {
  // At the model output: nothing left after the cut.
  await splitFails(t, GPT2_TINY, ["--cut", "logits"], "E_CUT_NOT_SEPARATING", /"logits".*nothing after/);
  // At the first node's input (a model input): nothing before it.
  await splitFails(t, GPT2_TINY, ["--cut", "input_ids"], "E_CUT_NOT_SEPARATING", /"input_ids" is a model input/);
  await splitFails(t, CONTROL_FLOW, ["--cut", "x"], "E_CUT_NOT_SEPARATING", /"x"/);
  // At the last top-level tensor before the output of control-flow.onnx: y is the output itself.
  await splitFails(t, CONTROL_FLOW, ["--cut", "y"], "E_CUT_NOT_SEPARATING", /"y"/);
  // At a weight: it never crosses a cut.
  await splitFails(t, CONTROL_FLOW, ["--cut", "pre.weight"], "E_CUT_NOT_SEPARATING", /"pre\.weight" is a weight/);
});

test("a cut naming a tensor that would not cross: E_CUT_NOT_SEPARATING", async (t) => {
  // /h.0/Add_output_0 is only used to make /h.0/Add_1_output_0 (and inside block 0).
  await splitFails(t, GPT2_TINY, ["--cut", "/h.0/Add_1_output_0,/Unsqueeze_2_output_0,/h.0/Add_output_0"],
    "E_CUT_NOT_SEPARATING", /"\/h\.0\/Add_output_0" would not cross/);
});

test("a cut inside an If branch of control-flow.onnx: E_CUT_INSIDE_SUBGRAPH naming the If and the cuts around it", async (t) => {
  // "16" (Mul) and "y.1" (the then-branch output) and "18" (Tanh in the else branch) exist only inside the If.
  for (const inner of ["16", "y.1", "18"]) {
    const msg = await splitFails(t, CONTROL_FLOW, ["--cut", inner], "E_CUT_INSIDE_SUBGRAPH", new RegExp(`"${inner.replace(".", "\\.")}" is inside a subgraph of node #7 \\(If`));
    assert.match(msg, /"y\.7"/, "the message names the If's output as a cut after it");
  }
  // Mixed with a valid top-level name, the inner one is still reported.
  await splitFails(t, CONTROL_FLOW, ["--cut", "/Relu_output_0", "--cut", "16"], "E_CUT_INSIDE_SUBGRAPH", /"16"/);
  // Control: the cut right after the If works.
  const manifest = await splitWorks(t, CONTROL_FLOW, ["--cut", "y.7"]);
  assert.equal((manifest.segments as unknown[]).length, 2);
});

test("a model whose work sits inside one Loop: split refuses every mode with E_CUT_CONTROL_FLOW_ONLY saying which cuts exist", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "loop.onnx");
  saveModel(loopModel(), model, { sourceDir: dir });
  for (const how of [["--candidates"], ["--segments", "2"], ["--optimal"], ["--cut", "v"], ["--cut", "@0"], ["--cut", "body_mm"]]) {
    const msg = await splitFails(t, model, how, "E_CUT_CONTROL_FLOW_ONLY");
    assert.match(msg, /Loop/, `names the Loop: ${msg}`);
    assert.match(msg, /the only cuts are after it, leaving just Identity/, `says which cuts exist: ${msg}`);
  }
});

test("inspect on the Loop model: E_CUT_CONTROL_FLOW_ONLY too (it has no candidate cuts to show)", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "loop.onnx");
  saveModel(loopModel(), model, { sourceDir: dir });
  assertCliError(await runCli(["inspect", model]), "E_CUT_CONTROL_FLOW_ONLY", { message: /Loop.*only cuts are after it/ });
});

test("a model that is only a Loop: E_CUT_CONTROL_FLOW_ONLY saying no cut exists", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "loop-only.onnx");
  saveModel(loopModel({ identityAfter: false }), model, { sourceDir: dir });
  await splitFails(t, model, ["--candidates"], "E_CUT_CONTROL_FLOW_ONLY", /no cut exists at the top level/);
});

test("a cut at a sequence value: E_CUT_NON_TENSOR", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "sequence.onnx");
  saveModel(sequenceModel(), model, { sourceDir: dir });
  await splitFails(t, model, ["--cut", "seq"], "E_CUT_NON_TENSOR", /"seq"/);
  // Control: cutting at the tensor before SplitToSequence works.
  const manifest = await splitWorks(t, model, ["--cut", "r"]);
  assert.deepEqual((manifest.cuts as { tensors: { name: string }[] }[])[0]!.tensors.map((x) => x.name), ["r"]);
});

test("a sequence value without value_info (only known from its SplitToSequence producer): E_CUT_NON_TENSOR", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "sequence-noinfo.onnx");
  const m = sequenceModel();
  m.graph!.valueInfo = [];
  saveModel(m, model, { sourceDir: dir });
  await splitFails(t, model, ["--cut", "seq"], "E_CUT_NON_TENSOR", /"seq"/);
});

test("split --candidates on gpt2-tiny cuts at its local-minimum candidates (they nest)", async (t) => {
  // Was E_CUT_ORDER while candidates 0 and 1 (the two embedding Gathers) had crossing fronts.
  const manifest = await splitWorks(t, GPT2_TINY, ["--candidates"]);
  assert.ok((manifest.segments as unknown[]).length >= 2);
});
