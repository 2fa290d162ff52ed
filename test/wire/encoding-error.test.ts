/**
 * The error each float encoding adds, measured on real activations (docs/wire-format.md §5.4):
 * each built-in model is split at every candidate cut, the front segment runs in onnxruntime,
 * the tensors crossing the cut travel through encodeFrame/decodeFrame with each encoding, and the
 * back segment's outputs are compared with the fp32 path. The bounds asserted here are the ones
 * the document states; the measured numbers are printed as test diagnostics.
 */
import { uniformRng } from "../../sdk/graph/models/rng.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildModel, type ModelKind, type ModelOptions } from "../../sdk/graph/models/index.js";
import { serializeModel } from "../../sdk/graph/model-io.js";
import { Graph } from "../../sdk/graph/graph.js";
import { analyze, symbolicTypeOf } from "../../sdk/graph/analyze.js";
import { candidateCuts } from "../../sdk/graph/cuts.js";
import { assignmentFromFronts } from "../../sdk/graph/segmentation.js";
import { partition } from "../../sdk/graph/partition.js";
import { writeSplit } from "../../sdk/graph/split.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { decodeFrame, encodeFrame, type Encoding, type RequestHeader } from "../../sdk/wire/index.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-wire-err-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

const ENCODINGS: Encoding[] = ["fp16", "int8-tensor", "int8-row"];

/** Documented bounds (docs/wire-format.md §5.4), per model and encoding: max abs error of the model output, over every candidate cut. */
interface Bounds {
  /** Largest |output error| allowed. */
  output: Record<Exclude<Encoding, "fp32" | "raw">, number>;
}

interface Case {
  kind: ModelKind;
  opts: ModelOptions;
  shapes: Record<string, number[]>;
  bounds: Bounds;
}

const CASES: Case[] = [
  { kind: "tiny-gpt", opts: { layers: 4 }, shapes: { input_ids: [1, 32] }, bounds: { output: { "fp16": 1e-3, "int8-tensor": 3e-2, "int8-row": 3e-2 } } },
  { kind: "tiny-cnn", opts: {}, shapes: { pixels: [2, 3, 32, 32] }, bounds: { output: { "fp16": 1e-3, "int8-tensor": 3e-2, "int8-row": 3e-2 } } },
];

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
const rng = uniformRng;

/** Token ids uniform over the vocabulary (256, the default) for tiny-gpt; pixels uniform in [-1, 1) for tiny-cnn. */
function inputsFor(c: Case): TensorMap {
  const r = rng(7);
  const out: TensorMap = {};
  for (const [name, dims] of Object.entries(c.shapes)) {
    const n = dims.reduce((a, b) => a * b, 1);
    out[name] = name === "input_ids"
      ? { type: "int64", dims, data: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(r() * 256))) }
      : { type: "float32", dims, data: Float32Array.from({ length: n }, () => r() * 2 - 1) };
  }
  return out;
}

const header: RequestHeader = { kind: "request", requestId: "r", deviceId: "d", splitId: "s", segments: { from: 1, to: 2 }, ttlMs: 1000 };

function maxAbsDiff(a: TensorMap, b: TensorMap, names: Iterable<string>): { abs: number; scale: number } {
  let abs = 0;
  let scale = 0;
  for (const n of names) {
    const x = a[n]!.data as Float32Array;
    const y = b[n]!.data as Float32Array;
    assert.equal(x.length, y.length);
    for (let i = 0; i < x.length; i++) {
      abs = Math.max(abs, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(x[i]!));
    }
  }
  return { abs, scale };
}

/** Per-element bound of the activation error for one tensor's values (§5.2, §5.3), checked element by element. */
function checkActivationBound(enc: Encoding, x: Float32Array, y: Float32Array, dims: number[]): void {
  const rowLen = enc === "int8-row" ? dims[dims.length - 1]! : x.length;
  for (let r = 0; r * rowLen < x.length; r++) {
    let maxAbs = 0;
    for (let i = r * rowLen; i < (r + 1) * rowLen; i++) maxAbs = Math.max(maxAbs, Math.abs(x[i]!));
    for (let i = r * rowLen; i < (r + 1) * rowLen; i++) {
      const bound = enc === "fp16" ? Math.max(Math.abs(x[i]!) * 2 ** -11, 2 ** -25) : (maxAbs / 127) * 0.5 * (1 + 1e-6) + Math.abs(x[i]!) * 2 ** -22;
      assert.ok(Math.abs(x[i]! - y[i]!) <= bound, `${enc}: element ${i} ${x[i]} came back ${y[i]} (bound ${bound})`);
    }
  }
}

for (const c of CASES) {
  test(`${c.kind}: fp16 and int8 activations at every candidate cut stay within the documented output error`, async (t) => {
    const file = path.join(tmp, `${c.kind}.onnx`);
    fs.writeFileSync(file, serializeModel(buildModel(c.kind, c.opts), { sourceDir: tmp }));
    const g = Graph.load(file);
    const a = analyze(g, { shapes: c.shapes });
    const cands = candidateCuts(g, a.metrics, { constants: a.constants });
    assert.ok(cands.length >= 2);
    const inputs = inputsFor(c);
    const worst: Record<string, { act: number; actScale: number; out: number; outScale: number; argmaxChanged: number; rows: number }> = {};
    for (const cut of cands) {
      const out = path.join(tmp, `${c.kind}-cut-${cut.index}`);
      const p = partition(g, 2, assignmentFromFronts(g, [cut.front], a.constants), a.constants);
      const m = await writeSplit(g, p, out, {
        modelPath: file, typeOf: symbolicTypeOf(a),
        concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
      });
      const [front, back] = [m.segments[0]!, m.segments[1]!];
      const s0 = await OrtSession.create(path.join(out, front.file), { allowSpinning: false });
      const s1 = await OrtSession.create(path.join(out, back.file), { allowSpinning: false });
      try {
        const fromFront = await s0.run(Object.fromEntries(front.inputs.map((i) => [i.name, inputs[i.name]!])), front.outputs.map((o) => o.name));
        const pool: TensorMap = { ...inputs, ...fromFront };
        const feeds: TensorMap = Object.fromEntries(back.inputs.map((i) => [i.name, pool[i.name]!]));
        const outNames = back.outputs.map((o) => o.name);
        const floatFeeds = Object.keys(feeds).filter((n) => feeds[n]!.type === "float32");
        assert.ok(floatFeeds.length >= 1, "a float activation crosses the cut");
        const reference = await s1.run(decodeFrame(encodeFrame(header, feeds)).tensors, outNames);
        for (const enc of ENCODINGS) {
          const got = decodeFrame(encodeFrame(header, feeds, { encoding: enc })).tensors;
          for (const n of floatFeeds) checkActivationBound(enc, feeds[n]!.data as Float32Array, got[n]!.data as Float32Array, feeds[n]!.dims);
          const act = maxAbsDiff(feeds, got, floatFeeds);
          const res = await s1.run(got, outNames);
          const o = maxAbsDiff(reference, res, outNames);
          const changed = argmaxChanges(reference, res, outNames);
          const w = (worst[enc] ??= { act: 0, actScale: 0, out: 0, outScale: 0, argmaxChanged: 0, rows: 0 });
          w.act = Math.max(w.act, act.abs);
          w.actScale = Math.max(w.actScale, act.scale);
          w.out = Math.max(w.out, o.abs);
          w.outScale = Math.max(w.outScale, o.scale);
          w.argmaxChanged += changed;
          w.rows += outNames.reduce((k, n) => k + reference[n]!.data.length / reference[n]!.dims[reference[n]!.dims.length - 1]!, 0);
        }
      } finally {
        await s0.release();
        await s1.release();
      }
    }
    for (const enc of ENCODINGS) {
      const w = worst[enc]!;
      t.diagnostic(`${c.kind} ${enc} over ${cands.length} cuts: activation max|err| ${w.act.toExponential(2)} (max|x| ${w.actScale.toFixed(2)}), output max|err| ${w.out.toExponential(2)} (max|y| ${w.outScale.toFixed(2)}), argmax changed ${w.argmaxChanged} of ${w.rows} rows`);
      assert.ok(w.out <= c.bounds.output[enc as keyof Bounds["output"]], `${c.kind} ${enc}: output error ${w.out} over the documented bound`);
    }
  });
}

/** Positions (over the last axis) whose argmax differs: did the encoding change a prediction? */
function argmaxChanges(a: TensorMap, b: TensorMap, names: string[]): number {
  let changed = 0;
  for (const n of names) {
    const x = a[n]!.data as Float32Array;
    const y = b[n]!.data as Float32Array;
    const k = a[n]!.dims[a[n]!.dims.length - 1]!;
    for (let r = 0; r < x.length / k; r++) {
      let ix = 0;
      let iy = 0;
      for (let i = 1; i < k; i++) {
        if (x[r * k + i]! > x[r * k + ix]!) ix = i;
        if (y[r * k + i]! > y[r * k + iy]!) iy = i;
      }
      if (ix !== iy) changed++;
    }
  }
  return changed;
}
