/**
 * Verifying a split: run the whole model, run the chain of segments on the same inputs, and
 * compare the model outputs. This is the check that a split is correct, so it must be able to fail.
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fail } from "../errors.js";
import { Graph } from "../graph/graph.js";
import { loadManifest, type Manifest } from "../graph/manifest.js";
import { compareOutputs, type OutputComparison } from "./compare.js";
import { OrtSession } from "./ort.js";
import { indexRange, sampleInputs } from "./sample-inputs.js";
import type { HostTensor, HostType, TensorMap } from "./tensor.js";

/** Options for verifySplit. */
export interface VerifyOptions {
  /** Model inputs to use; without them sample inputs are made. */
  inputs?: TensorMap;
  /** Input shapes for sample inputs. When shapes or dims are given, the manifest's `shapes` are not used. */
  shapes?: Record<string, number[]>;
  /** Symbolic dim values for sample inputs (e.g. past_sequence). */
  dims?: Record<string, number>;
  /** Absolute tolerance for float outputs (default 1e-5). */
  atol?: number;
  /** Relative tolerance for float outputs (default 1e-4). */
  rtol?: number;
  /** Seed for sample inputs (default 0). */
  seed?: number;
  /** Also check every file's sha256 and the splitId before running (default false). */
  checkHashes?: boolean;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  intraOpThreads?: number;
  /** Put the inputs and both sets of outputs in the report (for saving them). Default false. */
  keepTensors?: boolean;
}

/** What verifySplit found. */
export interface VerifyReport {
  /** True when every model output of the chain matches the whole model's. */
  ok: boolean;
  atol: number;
  rtol: number;
  outputs: OutputComparison[];
  splitId: string;
  /** Where the inputs came from. */
  inputSource: "given" | "sampled";
  /** Name, type and dims of each input fed. */
  inputs: { name: string; type: HostType; dims: number[] }[];
  /** Wall time of the whole model's run (one cold run, session creation excluded), ms. */
  wholeMs: number;
  /** Sum of the segments' run times, ms. */
  chainedMs: number;
  /** Each segment's run time, ms, in index order. */
  segmentMs: number[];
  /** With keepTensors: inputs, whole-model outputs (expected) and chained outputs (actual). */
  tensors?: { inputs: TensorMap; expected: TensorMap; actual: TensorMap };
}

/**
 * Runs the whole model and the chain of segments a manifest describes, on the same inputs, one
 * session at a time (each released before the next is created), and compares the model outputs.
 * Returns ok: false on a mismatch (the caller decides whether that is E_VERIFY_MISMATCH).
 */
export async function verifySplit(manifestPath: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-4;
  const { manifest, dir } = loadManifest(manifestPath, { checkHashes: opts.checkHashes ?? false });
  const modelPath = path.resolve(dir, manifest.model.file);
  const inputs = opts.inputs ? checkGivenInputs(manifest, Graph.load(modelPath), opts.inputs) : sample(manifest, modelPath, opts);

  const outputNames = manifest.model.outputs.map((o) => o.name);
  const sessionOpts = { allowSpinning: false, intraOpThreads: opts.intraOpThreads };
  const whole = await runOnce(modelPath, sessionOpts, inputs, outputNames);
  const expected: TensorMap = {};
  for (const name of outputNames) {
    const t = whole.outputs[name];
    if (!t) throw fail("E_RUNTIME", `the whole model ${modelPath} did not return output "${name}" listed in the manifest`);
    expected[name] = t;
  }

  const pool = new Map(Object.entries(inputs));
  const actual: TensorMap = {};
  const segmentMs: number[] = [];
  for (const seg of manifest.segments) {
    const feeds: TensorMap = {};
    for (const t of seg.inputs) {
      const v = pool.get(t.name);
      if (!v) throw fail("E_MANIFEST", `${manifestPath}: segment ${seg.index} reads "${t.name}", which no model input or earlier segment provides`);
      feeds[t.name] = v;
    }
    const file = path.resolve(dir, seg.file);
    const r = await runOnce(file, sessionOpts, feeds, seg.outputs.map((o) => o.name));
    segmentMs.push(r.ms);
    for (const o of seg.outputs) {
      const v = r.outputs[o.name];
      if (!v) throw fail("E_RUNTIME", `segment ${seg.index} (${file}) did not return output "${o.name}" listed in the manifest`);
      pool.set(o.name, v);
      if (o.modelOutput) actual[o.name] = v;
    }
  }

  const cmp = compareOutputs(expected, actual, { atol, rtol });
  const report: VerifyReport = {
    ok: cmp.ok, atol, rtol, outputs: cmp.outputs, splitId: manifest.splitId,
    inputSource: opts.inputs ? "given" : "sampled",
    inputs: Object.entries(inputs).map(([name, t]) => ({ name, type: t.type, dims: [...t.dims] })),
    wholeMs: whole.ms, chainedMs: segmentMs.reduce((a, b) => a + b, 0), segmentMs,
  };
  if (opts.keepTensors) report.tensors = { inputs, expected, actual };
  return report;
}

async function runOnce(file: string, sessionOpts: { allowSpinning: boolean; intraOpThreads?: number }, feeds: TensorMap, fetch: readonly string[]): Promise<{ outputs: TensorMap; ms: number }> {
  const session = await OrtSession.create(file, sessionOpts);
  try {
    const t0 = performance.now();
    const outputs = await session.run(feeds, fetch);
    return { outputs, ms: performance.now() - t0 };
  } finally {
    await session.release();
  }
}

/**
 * Given inputs must fit the model before onnxruntime sees them: names, types, ranks, fixed dims,
 * one value per symbolic dim across inputs, and token ids within their embedding's rows (an
 * out-of-range id is the user's input error, not a runtime failure).
 */
function checkGivenInputs(manifest: Manifest, graph: Graph, given: TensorMap): TensorMap {
  const wanted = new Map(manifest.model.inputs.map((t) => [t.name, t]));
  for (const name of Object.keys(given)) {
    if (!wanted.has(name)) throw fail("E_USAGE", `the inputs include "${name}", which is not a model input (inputs: ${[...wanted.keys()].join(", ")})`);
  }
  const out: TensorMap = {};
  const symbols = new Map<string, [number, string]>();
  for (const [name, decl] of wanted) {
    const t = given[name];
    if (!t) throw fail("E_INPUT_MISSING", `model input "${name}" (${decl.type} [${decl.shape.map((d) => d ?? "?").join(", ")}]) is missing from the inputs; add it to the inputs file`);
    if (t.type !== decl.type) throw fail("E_USAGE", `input "${name}" is ${t.type} but the model wants ${decl.type}`);
    checkDims(name, decl.shape, t.dims, symbols);
    checkIndices(graph, name, t);
    out[name] = t;
  }
  return out;
}

function checkDims(name: string, declared: readonly (number | string | null)[], dims: readonly number[], symbols: Map<string, [number, string]>): void {
  const show = declared.map((d) => d ?? "?").join(", ");
  if (declared.length !== dims.length) {
    throw fail("E_USAGE", `input "${name}" has dims [${dims.join(", ")}] but the model wants rank ${declared.length} ([${show}])`);
  }
  declared.forEach((d, i) => {
    if (typeof d === "number" && d !== dims[i]) {
      throw fail("E_USAGE", `input "${name}": dim ${i} is ${dims[i]} but the model fixes it at ${d} ([${show}])`);
    }
    if (typeof d === "string") {
      const prior = symbols.get(d);
      if (prior && prior[0] !== dims[i]) {
        throw fail("E_USAGE", `input "${name}": dim "${d}" is ${dims[i]} here but ${prior[0]} in input "${prior[1]}"; inputs sharing a dim must agree`);
      }
      symbols.set(d, [dims[i]!, name]);
    }
  });
}

function checkIndices(graph: Graph, name: string, t: HostTensor): void {
  if (t.type !== "int64" && t.type !== "int32" && t.type !== "uint8" && t.type !== "int8" && t.type !== "int16" && t.type !== "uint16" && t.type !== "uint32" && t.type !== "uint64") return;
  const rows = indexRange(graph, name);
  if (rows === undefined) return;
  for (let i = 0; i < t.data.length; i++) {
    const v = Number(t.data[i]!);
    if (v < -rows || v >= rows) {
      throw fail("E_USAGE", `input "${name}" holds ${v} at flat position ${i}, outside the ${rows} rows of the table it indexes (valid: ${-rows}..${rows - 1})`);
    }
  }
}

/** Sample inputs sized by opts.shapes/dims when given, else by the manifest's `shapes`. */
function sample(manifest: Manifest, modelPath: string, opts: VerifyOptions): TensorMap {
  let shapes: Record<string, number[]> = {};
  let dims: Record<string, number> = {};
  if (opts.shapes || opts.dims) {
    shapes = opts.shapes ?? {};
    dims = opts.dims ?? {};
  } else {
    // The manifest may record shapes of more than the inputs; only input shapes size the samples.
    const inputNames = new Set(manifest.model.inputs.map((t) => t.name));
    for (const [k, v] of Object.entries(manifest.shapes)) {
      if (typeof v === "number") dims[k] = v;
      else if (inputNames.has(k)) shapes[k] = v;
    }
  }
  return sampleInputs(Graph.load(modelPath), { shapes, dims, seed: opts.seed });
}
