import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../../sdk/graph/graph.js";
import { GraphBuilder } from "../../sdk/graph/builder.js";
import { resolveInputShapes, sampleInputs } from "../../sdk/runtime/sample-inputs.js";
import { halfToFloat } from "../../sdk/runtime/tensor.js";
import { EdgecutError } from "../../sdk/errors.js";

const FIX = new URL("../fixtures/torch/", import.meta.url).pathname;
const gpt2 = Graph.load(`${FIX}gpt2-tiny.onnx`);
const gpt2kv = Graph.load(`${FIX}gpt2-tiny-kv.onnx`);

const usage = (...parts: string[]) => (e: unknown): boolean => {
  if (!(e instanceof EdgecutError) || e.code !== "E_USAGE") return false;
  for (const p of parts) if (!e.message.includes(p)) assert.fail(`message "${e.message}" lacks "${p}"`);
  return true;
};

test("gpt2-tiny: token ids inside the 256-row vocabulary, attention mask all ones", () => {
  const m = sampleInputs(gpt2, { shapes: { input_ids: [2, 64] } });
  assert.deepEqual(Object.keys(m), ["input_ids", "attention_mask"]);
  const ids = m.input_ids!;
  assert.equal(ids.type, "int64");
  assert.deepEqual(ids.dims, [2, 64]);
  const v = Array.from(ids.data as BigInt64Array, Number);
  assert.ok(v.every((x) => x >= 0 && x < 256));
  assert.ok(Math.max(...v) >= 100, "ids should use the vocabulary's range, not [0, 10)");
  assert.ok(new Set(v).size > 50);
  const mask = m.attention_mask!;
  assert.equal(mask.type, "int64");
  assert.deepEqual(mask.dims, [2, 64], "batch and sequence learned from input_ids");
  assert.ok(Array.from(mask.data as BigInt64Array).every((x) => x === 1n));
});

test("same seed, same tensors; another seed, other tensors", () => {
  const a = sampleInputs(gpt2, { dims: { batch: 1, sequence: 8 }, seed: 7 });
  const b = sampleInputs(gpt2, { dims: { batch: 1, sequence: 8 }, seed: 7 });
  const c = sampleInputs(gpt2, { dims: { batch: 1, sequence: 8 }, seed: 8 });
  assert.deepEqual(a.input_ids!.data, b.input_ids!.data);
  assert.notDeepEqual(a.input_ids!.data, c.input_ids!.data);
});

test("gpt2-tiny-kv: past 0 gives empty caches, past 3 gives [b, 4, 3, 16] and a mask over past + sequence", () => {
  const p0 = sampleInputs(gpt2kv, { dims: { batch: 1, sequence: 5, past_sequence: 0 } });
  assert.deepEqual(p0["past_key_values.0.key"]!.dims, [1, 4, 0, 16]);
  assert.equal(p0["past_key_values.1.value"]!.data.length, 0);
  assert.deepEqual(p0.attention_mask!.dims, [1, 5]);
  const p3 = sampleInputs(gpt2kv, { shapes: { input_ids: [2, 5] }, dims: { past_sequence: 3 } });
  for (const k of ["past_key_values.0.key", "past_key_values.0.value", "past_key_values.1.key", "past_key_values.1.value"]) {
    const t = p3[k]!;
    assert.equal(t.type, "float32");
    assert.deepEqual(t.dims, [2, 4, 3, 16]);
    const v = Array.from(t.data as Float32Array);
    assert.ok(v.every((x) => x >= -1 && x < 1));
    assert.ok(v.some((x) => x < -0.5) && v.some((x) => x > 0.5), "floats spread over [-1, 1)");
  }
  assert.deepEqual(p3.attention_mask!.dims, [2, 8], '"past_sequence + sequence" evaluated');
  assert.ok(Array.from(p3.attention_mask!.data as BigInt64Array).every((x) => x === 1n));
  assert.ok(Array.from(p3.input_ids!.data as BigInt64Array).every((x) => x >= 0n && x < 256n));
});

test("an unknown dim is E_USAGE naming the input, the dim and the flag to pass", () => {
  assert.throws(() => sampleInputs(gpt2, {}), usage('input "input_ids"', '"batch"', "--dim batch=N"));
  assert.throws(() => sampleInputs(gpt2kv, { dims: { batch: 1, sequence: 4 } }), usage('"past_sequence + sequence"', "--dim past_sequence=N"));
  assert.throws(() => sampleInputs(gpt2, { shapes: { input_ids: [1, 2, 3] } }), usage("rank 3", "rank 2"));
  assert.throws(() => sampleInputs(gpt2, { shapes: { nope: [1] } }), usage('"nope"', "not a model input"));
  assert.throws(() => sampleInputs(gpt2, { shapes: { input_ids: [1, 4], attention_mask: [1, 5] } }), usage('"sequence" = 4', "says 5"));
  assert.throws(() => sampleInputs(gpt2, { shapes: { input_ids: [1, 4] }, dims: { sequence: 5 } }), usage('"sequence" = 5', "says 4"));
  assert.throws(() => sampleInputs(gpt2, { dims: { batch: -1, sequence: 2 } }), usage("dim batch", "non-negative", "-1"));
});

test("index inputs through Cast/Unsqueeze; other ints in [0, 10); bool masks; fixed dims checked; float16", () => {
  const b = new GraphBuilder();
  b.input("tok", "int32", [3]);
  b.input("other", "int64", [2000]);
  b.input("pad_mask", "bool", [4]);
  b.input("flags", "bool", [2000]);
  b.input("h", "float16", [2000]);
  b.initializer("emb", "float32", [7, 2], new Float32Array(14));
  const c = b.op("Cast", ["tok"], { to: 7 });
  const u = b.op("Unsqueeze", [c, b.constInt64([0])]);
  const g = b.op("Gather", ["emb", u], {}, { output: "y" });
  b.output(g, "float32", [1, 3, 2]);
  for (const x of ["other", "pad_mask", "flags", "h"]) b.output(b.op("Identity", [x]), x === "h" ? "float16" : x === "other" ? "int64" : "bool", null);
  const graph = Graph.fromModel(b.build(), ".");
  const m = sampleInputs(graph, { seed: 3 });
  const tok = Array.from(m.tok!.data as Int32Array);
  assert.ok(tok.every((x) => x >= 0 && x < 7));
  const other = Array.from(m.other!.data as BigInt64Array, Number);
  assert.ok(other.every((x) => x >= 0 && x < 10));
  assert.equal(new Set(other).size, 10);
  assert.deepEqual(Array.from(m.pad_mask!.data as Uint8Array), [1, 1, 1, 1]);
  const flags = Array.from(m.flags!.data as Uint8Array);
  assert.ok(flags.includes(0) && flags.includes(1) && flags.every((x) => x === 0 || x === 1));
  const h = Array.from(m.h!.data as Uint16Array, halfToFloat);
  assert.ok(h.every((x) => x >= -1 && x <= 1) && h.some((x) => x < -0.5));
  assert.throws(() => resolveInputShapes(graph, { shapes: { tok: [4] } }), usage("dim 0 is fixed to 3"));
});

test("float masks are all ones like int and bool ones; other floats stay random", () => {
  const b = new GraphBuilder();
  b.input("attention_mask", "float32", [2, 3]);
  b.input("key_padding_mask", "float16", [4]);
  b.input("Mask", "float64", [3]);
  b.input("x", "float32", [50]);
  for (const [x, t] of [["attention_mask", "float32"], ["key_padding_mask", "float16"], ["Mask", "float64"], ["x", "float32"]] as const) b.output(b.op("Identity", [x]), t, null);
  const m = sampleInputs(Graph.fromModel(b.build(), "."), { seed: 5 });
  assert.deepEqual(Array.from(m.attention_mask!.data as Float32Array), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(m.key_padding_mask!.data as Uint16Array, halfToFloat), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(m.Mask!.data as Float64Array), [1, 1, 1]);
  const x = Array.from(m.x!.data as Float32Array);
  assert.ok(x.every((v) => v >= -1 && v < 1) && x.some((v) => v < -0.5) && x.some((v) => v > 0.5));
});

test("a dim declared as -1 is unknown: --shape gives it, and without one the error asks for it", () => {
  const b = new GraphBuilder();
  b.input("x", "float32", [-1, 8]);
  b.output(b.op("Relu", ["x"]), "float32", [-1, 8]);
  const graph = Graph.fromModel(b.build(), ".");
  assert.deepEqual(resolveInputShapes(graph, { shapes: { x: [2, 8] } }), { x: [2, 8] });
  assert.deepEqual(sampleInputs(graph, { shapes: { x: [3, 8] } }).x!.dims, [3, 8]);
  assert.throws(() => resolveInputShapes(graph), usage('input "x" dim 0 has no name', "--shape x=NxN"));
  assert.throws(() => resolveInputShapes(graph, { shapes: { x: [2, 9] } }), usage("dim 1 is fixed to 8"));
});
