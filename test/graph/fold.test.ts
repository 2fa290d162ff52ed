// fixInputs: fixing inputs to constants and folding the If nodes that makes constant, checked on the
// optimum-style merged GPT-2 fixture against the plain exports (onnxruntime) and on hand-made graphs.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Graph } from "../../sdk/graph/graph.js";
import { fixInputs, fixedInputTensor } from "../../sdk/graph/fold.js";
import { serializeModel, tensorRawBytes } from "../../sdk/graph/model-io.js";
import { GraphBuilder, makeTensor } from "../../sdk/graph/builder.js";
import { assertCuttable, candidateCuts, type CutMetrics } from "../../sdk/graph/cuts.js";
import { constantInfo } from "../../sdk/graph/partition.js";
import { inferShapes, tensorBytes } from "../../sdk/graph/shapes.js";
import type { GraphProto, ModelProto } from "../../sdk/graph/onnx/onnx_pb.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import { sampleInputs } from "../../sdk/runtime/sample-inputs.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

const FIX = path.resolve(import.meta.dirname, "../fixtures/torch");
const merged = Graph.load(path.join(FIX, "gpt2-tiny-merged.onnx"));
const kv = Graph.load(path.join(FIX, "gpt2-tiny-kv.onnx"));
const PAST = ["past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"];
const OUTS = ["logits", "present.0.key", "present.0.value", "present.1.key", "present.1.value"];

async function run(model: ModelProto, dir: string, feeds: TensorMap): Promise<TensorMap> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-fold-"));
  try {
    const file = path.join(tmp, "m.onnx");
    fs.writeFileSync(file, serializeModel(model, { sourceDir: dir }));
    const s = await OrtSession.create(file, { allowSpinning: false });
    try {
      return await s.run(feeds);
    } finally {
      await s.release();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function maxAbsDiff(a: HostTensor | undefined, b: HostTensor | undefined, what: string): number {
  assert.ok(a && b, `${what}: missing`);
  assert.deepEqual(a.dims, b.dims, `${what}: dims`);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(Number(a.data[i]) - Number(b.data[i])));
  return m;
}

function assertClose(actual: TensorMap, expected: TensorMap, names: readonly string[], tol = 1e-5): void {
  for (const n of names) {
    const d = maxAbsDiff(actual[n], expected[n], n);
    assert.ok(d < tol, `${n}: max abs diff ${d}`);
  }
}

const flag = (on: boolean): HostTensor => ({ type: "bool", dims: [1], data: Uint8Array.of(on ? 1 : 0) });
const kvInputs = (past: number, seed = 1): TensorMap => sampleInputs(kv, { dims: { batch: 2, sequence: 5, past_sequence: past }, seed });
const withoutPast = (feeds: TensorMap): TensorMap => Object.fromEntries(Object.entries(feeds).filter(([k]) => !PAST.includes(k)));

const isError = (code: ErrorCode, ...parts: (string | RegExp)[]) => (e: unknown): boolean => {
  assert.ok(e instanceof EdgecutError, `expected EdgecutError, got ${String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const p of parts) assert.match(e.message, typeof p === "string" ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : p);
  return true;
};

test("the merged fixture: use_cache_branch=true runs the with-past decoder, false the no-past one with presents", async () => {
  const feeds = kvInputs(3);
  const want = await run(kv.model, kv.dir, feeds);
  assertClose(await run(merged.model, merged.dir, { ...feeds, use_cache_branch: flag(true) }), want, OUTS, 1e-6);
  // Prefill: an empty past through either branch gives the no-cache logits and the same presents.
  const empty = kvInputs(0);
  const prefill = await run(kv.model, kv.dir, empty);
  const noCache = Graph.load(path.join(FIX, "gpt2-tiny.onnx"));
  assertClose(prefill, await run(noCache.model, noCache.dir, withoutPast(empty)), ["logits"]);
  assertClose(await run(merged.model, merged.dir, { ...empty, use_cache_branch: flag(false) }), prefill, OUTS);
  assertClose(await run(merged.model, merged.dir, { ...empty, use_cache_branch: flag(true) }), prefill, OUTS);
});

test("use_cache_branch=true folds to the with-past decoder: no If, gpt2-tiny-kv's interface and outputs", async () => {
  const f = fixInputs(merged, { use_cache_branch: "true" });
  assert.equal(f.foldedIfs, 1);
  assert.deepEqual(f.fixed, ["use_cache_branch"]);
  assert.ok(f.removedInitializers.includes("use_cache_branch"));
  assert.deepEqual(f.unusedInputs, []);
  const g = f.graph;
  assert.equal(g.nodes.filter((n) => n.opType === "If").length, 0);
  assert.equal(g.nodes.length, kv.nodes.length);
  assert.deepEqual(g.inputs, kv.inputs);
  assert.deepEqual(g.outputs, kv.outputs);
  assert.deepEqual([...g.initializers.keys()].sort(), [...kv.initializers.keys()].sort());
  // The same weights under the same names: with-past names won the merge's deduplication.
  for (const [name, t] of kv.initializers) assert.deepEqual(tensorRawBytes(g.initializers.get(name)!, g.dir), tensorRawBytes(t, kv.dir), name);
  for (const past of [3, 0]) {
    const feeds = kvInputs(past, 7);
    assertClose(await run(f.model, g.dir, feeds), await run(kv.model, kv.dir, feeds), OUTS);
  }
  // The source model is untouched.
  assert.equal(merged.graph.node.length, 1);
  assert.ok(merged.inputs.includes("use_cache_branch"));
});

test("use_cache_branch=false folds to the prefill decoder; its past inputs stay declared unless dropped", async () => {
  const f = fixInputs(merged, { use_cache_branch: false });
  assert.equal(f.graph.nodes.filter((n) => n.opType === "If").length, 0);
  assert.deepEqual(f.unusedInputs, PAST);
  assert.deepEqual(f.graph.inputs, ["input_ids", "attention_mask", ...PAST]);
  const feeds = kvInputs(0, 3);
  const want = await run(merged.model, merged.dir, { ...feeds, use_cache_branch: flag(false) });
  assertClose(await run(f.model, f.graph.dir, feeds), want, OUTS);

  const d = fixInputs(merged, { use_cache_branch: "0" }, { dropUnusedInputs: true });
  assert.deepEqual(d.droppedInputs, PAST);
  assert.deepEqual(d.unusedInputs, []);
  assert.deepEqual(d.graph.inputs, ["input_ids", "attention_mask"]);
  assertClose(await run(d.model, d.graph.dir, withoutPast(feeds)), want, OUTS);
});

test("the folded decoder's candidate cuts include the block boundaries (hidden state + mask)", () => {
  const g = fixInputs(merged, { use_cache_branch: true }).graph;
  const types = inferShapes(g, { dims: { batch: 1, sequence: 8, past_sequence: 4 } }).types;
  const bytes = (n: string): number | null => tensorBytes(types.get(n)) ?? null;
  const metrics: CutMetrics = {
    tensorBytes: bytes,
    nodeFlops: (i) => g.nodes[i]!.outputs.reduce((s, o) => s + (bytes(o) ?? 0) / 4, 0),
    weightBytes: () => 0,
  };
  const cs = candidateCuts(g, metrics);
  const between = cs.find((c) => c.after === "/h.0/Add_1_output_0");
  assert.ok(between, `no cut between the blocks; got ${cs.map((c) => c.after).join(", ")}`);
  assert.deepEqual(between.tensors.map((t) => t.name), ["/Unsqueeze_2_output_0", "/h.0/Add_1_output_0"]);
  assert.deepEqual(between.modelInputs, ["past_key_values.1.key", "past_key_values.1.value"]);
  // The merged model itself cannot be cut: everything sits inside its If.
  assert.throws(() => assertCuttable(merged, constantInfo(merged)), isError("E_CUT_CONTROL_FLOW_ONLY"));
});

test("errors: unknown input, weight, values that do not fit the type or shape", () => {
  assert.throws(() => fixInputs(merged, { use_cache: "true" }), isError("E_USAGE", '"use_cache"', "no such input", "use_cache_branch"));
  assert.throws(() => fixInputs(merged, { "core.wte.weight": "1" }), isError("E_USAGE", "a weight"));
  assert.throws(() => fixInputs(merged, { use_cache_branch: "maybe" }), isError("E_USAGE", 'input "use_cache_branch" (bool)', '"maybe" is not true or false'));
  assert.throws(() => fixInputs(merged, { use_cache_branch: "true,false" }), isError("E_USAGE", "shape [1] (1 value), but 2 were given"));
  assert.throws(() => fixInputs(merged, { use_cache_branch: "" }), isError("E_USAGE", "empty value"));
  assert.throws(() => fixInputs(merged, { input_ids: "1,2" }), isError("E_USAGE", "symbolic shape [batch, sequence]"));
  assert.throws(() => fixInputs(merged, { input_ids: "1.5" }), isError("E_USAGE", "is not an integer"));
  assert.throws(() => fixInputs(merged, { past_key_values_0: "1" }), isError("E_USAGE", "fixable inputs: input_ids, attention_mask"));
});

/**
 * x float [2] -> If(cond) -> y, z; t = Relu(x) is a top-level output too.
 * then: t_local = x * w (w a branch initializer), t = -t_local (clashes with the top-level t),
 *       y <- Identity(t + x), z <- w (a branch initializer returned as is);
 * else: y, z <- Identity(x) (one branch tensor returned twice).
 * Reference runs use `clash: false` (the local named t2, else returning two tensors): onnxruntime rejects the
 * shadowing t (as ONNX's checker does), and 1.23 returns zeros for one of two If outputs fed by one branch tensor.
 */
function ifModel(cond: (b: GraphBuilder, c: string) => string, condType: "bool" | "int64" | "float32" = "bool", clash = true): ModelProto {
  const b = new GraphBuilder();
  const x = b.input("x", "float32", [2]);
  const c = b.input("c", condType, [1]);
  const t = b.op("Relu", [x], {}, { output: "t" });
  const then = new GraphBuilder({ name: "then" });
  then.initializer("w", "float32", [2], Float32Array.of(2, 3));
  then.op("Mul", [x, "w"], {}, { output: "t_local", name: "Relu" });
  then.op("Neg", ["t_local"], {}, { output: "t2" });
  then.op("Identity", [then.op("Add", ["t2", x])], {}, { output: "t_out" });
  then.output("t_out", "float32", [2]);
  then.output("w", "float32", [2]);
  const els = new GraphBuilder({ name: "else" });
  els.op("Identity", [x], {}, { output: "x_id" });
  if (!clash) els.op("Identity", [x], {}, { output: "x_id2" });
  els.output("x_id", "float32", [2]);
  els.output(clash ? "x_id" : "x_id2", "float32", [2]);
  b.node("If", [cond(b, c)], { then_branch: clash ? renameLocal(then.graph(), "t2", "t") : then.graph(), else_branch: els.graph() }, ["y", "z"]);
  b.output("y", "float32", [2]);
  b.output("z", "float32", [2]);
  b.output(t, "float32", [2]);
  return b.build();
}

/** Renames a local of a subgraph (the builder would not let us pick a clashing name directly). */
function renameLocal(g: GraphProto, from: string, to: string): GraphProto {
  const r = (s: string): string => (s === from ? to : s);
  return { ...g, node: g.node.map((n) => ({ ...n, input: n.input.map(r), output: n.output.map(r) })) };
}

const xFeed: HostTensor = { type: "float32", dims: [2], data: Float32Array.of(-1, 4) };

test("inlining: clashing locals renamed, branch initializers lifted, outputs renamed or wired through Identity; as onnxruntime's If", async () => {
  for (const on of [true, false]) {
    const m = ifModel((_, c) => c);
    const f = fixInputs(Graph.fromModel(m, "."), { c: on });
    assert.equal(f.foldedIfs, 1);
    assert.equal(f.graph.nodes.filter((n) => n.opType === "If").length, 0);
    assert.deepEqual(f.graph.inputs, ["x"]);
    if (on) {
      assert.deepEqual(f.graph.nodes.map((n) => [n.opType, n.inputs.join(), n.outputs.join()]), [
        ["Relu", "x", "t"], ["Mul", "x,w", "t_local"], ["Neg", "t_local", "t__1"], ["Add", "t__1,x", "add_out"],
        ["Identity", "add_out", "y"], ["Identity", "w", "z"],
      ]);
      assert.deepEqual([...f.graph.initializers.keys()], ["w"], "the branch initializer is lifted; c is gone");
      assert.equal(new Set(f.graph.nodes.map((n) => n.proto.name)).size, f.graph.nodes.length, "node names kept apart");
    } else {
      assert.deepEqual(f.graph.nodes.map((n) => [n.opType, n.inputs.join(), n.outputs.join()]), [["Relu", "x", "t"], ["Identity", "x", "y"], ["Identity", "y", "z"]]);
    }
    const reference = ifModel((_, c) => c, "bool", false);
    assertClose(await run(f.model, ".", { x: xFeed }), await run(reference, ".", { x: xFeed, c: flag(on) }), ["y", "z", "t"], 1e-7);
  }
});

test("a branch output that is an outer-scope value (onnxruntime rejects it, ONNX allows it) becomes an Identity", async () => {
  const b = new GraphBuilder();
  b.input("x", "float32", [2]);
  b.input("c", "bool", []);
  const els = new GraphBuilder({ name: "else" });
  els.output("x", "float32", [2]);
  const then = new GraphBuilder({ name: "then" });
  then.op("Neg", ["x"], {}, { output: "n" });
  then.output("n", "float32", [2]);
  b.node("If", ["c"], { then_branch: then.graph(), else_branch: els.graph() }, ["y"]);
  b.output("y", "float32", [2]);
  const f = fixInputs(Graph.fromModel(b.build(), "."), { c: "false" });
  assert.deepEqual(f.graph.nodes.map((n) => [n.opType, n.inputs.join(), n.outputs.join()]), [["Identity", "x", "y"]]);
  assert.deepEqual([...(await run(f.model, ".", { x: xFeed })).y!.data as Float32Array], [-1, 4]);
});

test("conditions through Cast, Identity and Not of a fixed input or a Constant fold; nested Ifs in the chosen branch too", async () => {
  const viaCast = ifModel((b, c) => b.op("Not", [b.op("Identity", [b.op("Cast", [c], { to: 9 })])]), "int64");
  const f = fixInputs(Graph.fromModel(viaCast, "."), { c: "2" });
  assert.equal(f.foldedIfs, 1);
  assert.deepEqual(f.graph.nodes.map((n) => n.opType), ["Relu", "Identity", "Identity"], "Not(2 != 0) is false; the Cast chain is dead");

  // Outer If on a Constant; its then-branch holds an If on the fixed input.
  const b = new GraphBuilder();
  const x = b.input("x", "float32", [2]);
  b.input("c", "float32", [1]);
  const inner = (op: string): GraphProto => {
    const s = new GraphBuilder({ name: op });
    s.op(op, [x], {}, { output: `${op}_y` });
    s.output(`${op}_y`, "float32", [2]);
    return s.graph();
  };
  const outerThen = new GraphBuilder({ name: "outer_then" });
  outerThen.node("If", [outerThen.op("Cast", ["c"], { to: 9 })], { then_branch: inner("Relu"), else_branch: inner("Neg") }, ["r"]);
  outerThen.output("r", "float32", [2]);
  const one = b.op("Constant", [], { value: makeTensor("", "bool", [], Uint8Array.of(1)) });
  b.node("If", [one], { then_branch: outerThen.graph(), else_branch: inner("Abs") }, ["y"]);
  b.output("y", "float32", [2]);
  const nested = fixInputs(Graph.fromModel(b.build(), "."), { c: "0.0" });
  assert.equal(nested.foldedIfs, 2);
  assert.deepEqual(nested.graph.nodes.map((n) => n.opType), ["Neg"]);
  const out = await run(nested.model, ".", { x: xFeed });
  assert.deepEqual([...(out.y!.data as Float32Array)], [1, -4]);
});

test("an If whose condition depends on a fixed input through other ops is E_UNSUPPORTED; a data-dependent If stays", () => {
  const viaGreater = ifModel((b, c) => b.op("Greater", [c, b.constFloat([0])]), "float32");
  assert.throws(() => fixInputs(Graph.fromModel(viaGreater, "."), { c: "1" }), isError("E_UNSUPPORTED", 'depends on fixed input "c"', "from Greater"));
  // The condition reads only x: fixing c (then unused) leaves the If alone.
  const dataDependent = ifModel((b) => b.op("Greater", [b.op("ReduceSum", ["x"], { keepdims: 1 }), b.constFloat([0])]));
  const f = fixInputs(Graph.fromModel(dataDependent, "."), { c: true });
  assert.equal(f.foldedIfs, 0);
  assert.equal(f.graph.nodes.filter((n) => n.opType === "If").length, 1);
  assert.deepEqual(f.graph.inputs, ["x"]);
  assert.deepEqual(f.removedInitializers, ["c"]);
});

test("fixedInputTensor: the declared type; a static shape, a rank-1 symbolic length, or one value for a symbolic shape", () => {
  const b = new GraphBuilder();
  b.input("ids", "int64", ["n"]);
  b.input("grid", "int32", [2, 2]);
  b.input("scale", "float32", ["a", "b"]);
  b.input("u8", "uint8", []);
  b.op("Identity", ["ids"], {}, { output: "o" });
  b.output("o", "int64", ["n"]);
  const g = Graph.fromModel(b.build(), ".");
  const ids = fixedInputTensor(g, "ids", "1, -2,9007199254740993");
  assert.deepEqual(ids.dims, [3n]);
  assert.deepEqual([...new BigInt64Array(new Uint8Array(ids.rawData).buffer)], [1n, -2n, 9007199254740993n]);
  const grid = fixedInputTensor(g, "grid", [1, 2, 3, 4]);
  assert.deepEqual(grid.dims, [2n, 2n]);
  assert.deepEqual([...new Int32Array(new Uint8Array(grid.rawData).buffer)], [1, 2, 3, 4]);
  assert.deepEqual([...new Float32Array(new Uint8Array(fixedInputTensor(g, "scale", "0.5").rawData).buffer)], [0.5]);
  assert.deepEqual(fixedInputTensor(g, "scale", 2).dims, [1n, 1n]);
  assert.deepEqual(fixedInputTensor(g, "u8", "255").dims, []);
  assert.throws(() => fixedInputTensor(g, "u8", "256"), isError("E_USAGE", "an integer in [0, 255]"));
  assert.throws(() => fixedInputTensor(g, "grid", "1,2,3"), isError("E_USAGE", "shape [2, 2] (4 values), but 3 were given"));
  assert.throws(() => fixedInputTensor(g, "scale", "nan"), isError("E_USAGE", "a finite number"));
});
