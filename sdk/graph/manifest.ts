/**
 * manifest.json: what a split folder holds and how its segments chain. Written by the splitter,
 * read by `verify`, the device runtime and the cloud stub.
 *
 * - `splitId` is the sha256 of the canonical JSON of the manifest without `splitId`, so device and
 *   cloud can tell they hold the same split.
 * - `file` paths are relative to the manifest's folder. Segment and data files may not leave it;
 *   `model.file` (the source model, used by `verify`, never shipped) may ("../model.onnx").
 * - `shapes` records the concrete dims behind `bytes` and `flops`: whole input shapes
 *   (`"input_ids": [1, 64]`) and/or symbolic dim values (`"past_sequence": 0`).
 * - A `shape` entry is a dim value, a dim_param name, or null (unknown).
 * - `state` lists the recurrent state (KV cache) pairs of a decoder: each past input with the
 *   present output it becomes, the segment that keeps it, and segments that read it for its
 *   shape only (sdk/graph/state.ts). Empty for a model without a cache.
 */
import { fieldPath } from "../validation.js";
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { fail } from "../errors.js";
import { dtypeCode, type DTypeName } from "./dtype-names.js";
import { sha256FileSync, sha256Hex } from "./hash.js";

/** True for a relative path that stays inside its base folder (no absolute path, drive or `..`). */
export function isContainedPath(p: string): boolean {
  if (p === "" || path.isAbsolute(p) || path.win32.isAbsolute(p)) return false;
  return !p.split(/[\\/]/).includes("..");
}

const RelPath = z.string().min(1).refine(isContainedPath, { message: "must be a relative path inside the manifest's folder (no absolute path, no ..)" });
/** The source model is referenced, not shipped: it may sit outside the split folder ("../model.onnx"), but not at an absolute path. */
const ModelPath = z.string().min(1).refine((p) => !path.isAbsolute(p) && !path.win32.isAbsolute(p), {
  message: "must be a path relative to the manifest's folder, not an absolute path",
});
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: "must be a sha256: 64 lowercase hex digits" });
const Count = z.int().nonnegative();
const DType = z.custom<DTypeName>((v) => typeof v === "string" && dtypeCode(v) !== undefined, {
  message: "is not a tensor type name (float32, float16, int64, bool, ...)",
});
/** One dim of a declared shape: a value, a dim_param name, or null when unknown. */
const ShapeDim = z.union([Count, z.string().min(1), z.null()]);

const TensorInfoSchema = z.strictObject({ name: z.string().min(1), type: DType, shape: z.array(ShapeDim) });
const SegmentOutputSchema = z.strictObject({ name: z.string().min(1), type: DType, shape: z.array(ShapeDim), modelOutput: z.boolean() });
const CutTensorSchema = z.strictObject({ name: z.string().min(1), type: DType, shape: z.array(ShapeDim), bytes: Count });

const SegmentSchema = z.strictObject({
  index: Count,
  file: RelPath,
  sha256: Sha256,
  inputs: z.array(TensorInfoSchema),
  outputs: z.array(SegmentOutputSchema),
  weightBytes: Count,
  /** Floating-point operations at `shapes`; null when some op's cost is unknown. */
  flops: z.number().nonnegative().nullable(),
});

const CutSchema = z.strictObject({
  /** Index of the segment the cut follows. */
  after: Count,
  /** Tensors crossing the cut (computed in front, needed behind). */
  tensors: z.array(CutTensorSchema),
  /** Model inputs that segments behind the cut also read: they must be sent along. */
  modelInputs: z.array(z.string().min(1)),
});

/** The zod schema of manifest.json (format 1). Unknown keys are rejected everywhere. */
export const ManifestSchema = z.strictObject({
  format: z.literal(1),
  splitId: Sha256,
  model: z.strictObject({
    file: ModelPath,
    sha256: Sha256,
    inputs: z.array(TensorInfoSchema),
    outputs: z.array(TensorInfoSchema),
  }),
  shapes: z.record(z.string().min(1), z.union([z.array(Count), Count])),
  segments: z.array(SegmentSchema).min(1),
  cuts: z.array(CutSchema),
  dataFiles: z.array(z.strictObject({ file: RelPath, sha256: Sha256, bytes: Count })),
  sharedWeights: z.array(z.strictObject({ name: z.string().min(1), bytes: Count, segments: z.array(Count).min(2) })),
  state: z.array(z.strictObject({ past: z.string().min(1), present: z.string().min(1), segment: Count, shapeReaders: z.array(Count) })),
});

/** A parsed manifest.json. */
export type Manifest = z.infer<typeof ManifestSchema>;
/** A segment entry of the manifest. */
export type ManifestSegment = Manifest["segments"][number];
/** A state (KV cache) pair of the manifest. */
export type ManifestState = Manifest["state"][number];
/** A cut entry of the manifest. */
export type ManifestCut = Manifest["cuts"][number];
/** A tensor's name, type and declared shape, as listed for model and segment inputs/outputs. */
export type ManifestTensor = z.infer<typeof TensorInfoSchema>;
/** A dim of a manifest shape. */
export type ManifestDim = z.infer<typeof ShapeDim>;

/** JSON with object keys sorted and no whitespace: the stable text that splitId hashes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
  }
  throw fail("E_INTERNAL", `canonicalJson: cannot encode a ${typeof value}`);
}

/** The splitId of a manifest: sha256 hex of its canonical JSON with `splitId` left out. */
export function computeSplitId(manifest: Omit<Manifest, "splitId"> & { splitId?: string }): string {
  const { splitId: _ignored, ...rest } = manifest;
  return sha256Hex(canonicalJson(rest));
}

/** Parses and checks manifest text; `where` names the source. Throws E_MANIFEST naming the bad field's path. */
export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail("E_MANIFEST", `${where} is not valid JSON (${(e as Error).message}); re-run the split or restore the file`, e);
  }
  const r = ManifestSchema.safeParse(json, { reportInput: true });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const detail = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`
      : issue.code === "invalid_type" && issue.input === undefined ? `is missing (${issue.message})` : issue.message;
    throw fail("E_MANIFEST", `${where}: ${fieldPath(issue.path)}: ${detail}`);
  }
  checkConsistency(r.data, where);
  return r.data;
}

/** Cross-field rules the schema cannot express: segment order, who produces what, cut bounds. */
function checkConsistency(m: Manifest, where: string): void {
  const bad = (field: string, why: string): never => {
    throw fail("E_MANIFEST", `${where}: ${field}: ${why}`);
  };
  const modelInputs = new Set<string>();
  m.model.inputs.forEach((t, i) => {
    if (modelInputs.has(t.name)) bad(`model.inputs[${i}].name`, `"${t.name}" is listed twice`);
    modelInputs.add(t.name);
  });
  const modelOutputs = new Set<string>();
  m.model.outputs.forEach((t, i) => {
    if (modelOutputs.has(t.name)) bad(`model.outputs[${i}].name`, `"${t.name}" is listed twice`);
    modelOutputs.add(t.name);
  });
  const producedBy = new Map<string, number>();
  const outputFrom = new Map<string, number>();
  m.segments.forEach((s, i) => {
    if (s.index !== i) bad(`segments[${i}].index`, `is ${s.index} but segments must be listed in index order 0, 1, 2, ...`);
    s.inputs.forEach((t, k) => {
      if (!modelInputs.has(t.name) && !producedBy.has(t.name)) {
        bad(`segments[${i}].inputs[${k}].name`, `"${t.name}" is neither a model input nor an output of an earlier segment`);
      }
    });
    s.outputs.forEach((t, k) => {
      const f = `segments[${i}].outputs[${k}]`;
      const prev = producedBy.get(t.name);
      if (prev !== undefined) bad(`${f}.name`, `"${t.name}" is also produced by segment ${prev}`);
      producedBy.set(t.name, i);
      if (t.modelOutput && !modelOutputs.has(t.name)) bad(`${f}.modelOutput`, `"${t.name}" is not in model.outputs`);
      if (!t.modelOutput && modelOutputs.has(t.name)) bad(`${f}.modelOutput`, `"${t.name}" is a model output: modelOutput must be true`);
      if (t.modelOutput) outputFrom.set(t.name, i);
    });
  });
  m.model.outputs.forEach((t, i) => {
    if (!outputFrom.has(t.name)) bad(`model.outputs[${i}]`, `no segment outputs "${t.name}" with modelOutput: true`);
  });
  m.cuts.forEach((c, i) => {
    if (c.after >= m.segments.length - 1) bad(`cuts[${i}].after`, `is ${c.after}, but a cut must follow one of segments 0..${m.segments.length - 2}`);
    c.modelInputs.forEach((name, k) => {
      if (!modelInputs.has(name)) bad(`cuts[${i}].modelInputs[${k}]`, `"${name}" is not a model input`);
    });
  });
  m.sharedWeights.forEach((w, i) => {
    w.segments.forEach((s, k) => {
      if (s >= m.segments.length) bad(`sharedWeights[${i}].segments[${k}]`, `segment ${s} does not exist`);
    });
  });
}

/** Options for loadManifest. */
export interface LoadManifestOptions {
  /** Check that every listed file exists and data files have their listed size (default true). */
  checkFiles?: boolean;
  /** Also hash every file and check splitId (reads every byte: slow for large models). Default false. */
  checkHashes?: boolean;
}

/** A loaded manifest and the absolute folder its `file` paths are relative to. */
export interface LoadedManifest {
  manifest: Manifest;
  dir: string;
}

/**
 * Reads, parses and checks a manifest.json. Missing files are E_MANIFEST; with `checkHashes`, a
 * file whose sha256 differs (or a splitId that does not match the content) is E_MANIFEST_HASH.
 */
export function loadManifest(file: string, opts: LoadManifestOptions = {}): LoadedManifest {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw fail("E_MANIFEST", `cannot read manifest ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pass the split folder's manifest.json`, e);
  }
  const manifest = parseManifest(text, file);
  const dir = path.dirname(path.resolve(file));
  const files: { field: string; rel: string; sha256: string; bytes?: number }[] = [
    { field: "model.file", rel: manifest.model.file, sha256: manifest.model.sha256 },
    ...manifest.segments.map((s, i) => ({ field: `segments[${i}].file`, rel: s.file, sha256: s.sha256 })),
    ...manifest.dataFiles.map((d, i) => ({ field: `dataFiles[${i}].file`, rel: d.file, sha256: d.sha256, bytes: d.bytes })),
  ];
  if (opts.checkFiles ?? true) {
    for (const f of files) {
      const abs = path.resolve(dir, f.rel);
      let st: fs.Stats;
      try {
        st = fs.statSync(abs);
      } catch {
        throw fail("E_MANIFEST", `${file}: ${f.field}: "${f.rel}" is missing (looked for ${abs}); keep the split folder's files together`);
      }
      if (!st.isFile()) throw fail("E_MANIFEST", `${file}: ${f.field}: ${abs} is not a file`);
      if (f.bytes !== undefined && st.size !== f.bytes) {
        throw fail("E_MANIFEST_HASH", `${file}: ${f.field}: ${abs} is ${st.size} bytes but the manifest says ${f.bytes}: the file was truncated or replaced; re-run the split`);
      }
    }
  }
  if (opts.checkHashes) {
    const id = computeSplitId(manifest);
    if (id !== manifest.splitId) {
      throw fail("E_MANIFEST_HASH", `${file}: splitId ${manifest.splitId} does not match the manifest's content (${id}): it was edited after the split was written; re-run the split`);
    }
    for (const f of files) {
      const abs = path.resolve(dir, f.rel);
      const got = sha256FileSync(abs);
      if (got !== f.sha256) {
        throw fail("E_MANIFEST_HASH", `${file}: ${f.field}: sha256 of ${abs} is ${got}, the manifest says ${f.sha256}: the file changed after the split was written; re-run the split or restore the file`);
      }
    }
  }
  return { manifest, dir };
}
