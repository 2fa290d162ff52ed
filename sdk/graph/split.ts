/**
 * Writes a partition to disk: one standalone model per segment (`segment-<i>.onnx`), one data
 * file the segments share (large weights at 4096-aligned offsets, a weight two segments use stored
 * once), and `manifest.json` describing how the segments chain.
 *
 * Everything is written into a sibling temp folder that is renamed to the output folder at the
 * end, so an error at any point leaves no half-written split behind. The data file sits next to
 * the segments because onnxruntime refuses external data outside a model's folder.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ValueInfoProto } from "./onnx/onnx_pb.js";
import type { Graph } from "./graph.js";
import type { Partition, SegmentIO } from "./partition.js";
import { extractSegment, segmentValueInfo, type TypeLookup } from "./segment.js";
import { ExternalDataWriter, initializerBytes, serializeModel } from "./model-io.js";
import { byteLength, dtypeName } from "./dtypes.js";
import { protoDims } from "./shape-types.js";
import { sha256FileSync, sha256Hex } from "./hash.js";
import { findStatePairs, type StateNaming } from "./state.js";
import { computeSplitId, type Manifest, type ManifestDim, type ManifestTensor } from "./manifest.js";
import { EdgecutError, fail } from "../errors.js";

/** Concrete types and shapes of one shape setting (e.g. batch 1, sequence 64). */
export interface ConcreteShapes {
  /** Concrete type of each tensor (from shape inference at these shapes). */
  types: Map<string, { elemType: number; dims: (number | string | null)[] | null }>;
  /** Whole input shapes, e.g. { input_ids: [1, 64] }. */
  shapes: Record<string, number[]>;
  /** Symbolic dim values, e.g. { past_sequence: 0 }. */
  dims: Record<string, number>;
}

/** How writeSplit writes a split folder. */
export interface WriteSplitOptions {
  /** The source .onnx: recorded in manifest.model.file relative to the output folder, with its sha256. */
  modelPath: string;
  /** Symbolic types for segment inputs/outputs (dims stay dim_param names). */
  typeOf: (name: string) => ValueInfoProto | undefined;
  /** Concrete shapes behind cut bytes and flops; recorded in manifest.shapes. */
  concrete: ConcreteShapes;
  /** Floating-point operations of a top-level node at the concrete shapes, or null when unknown. */
  nodeFlops: (node: number) => number | null;
  /** Tensors of at least this many bytes go to the shared data file (default 1024). */
  externalThreshold?: number;
  /** Shared data file name inside the output folder (default "weights.data"); null embeds every tensor. */
  dataFile?: string | null;
  /** Allow replacing a non-empty output folder (default false: E_OUTPUT_EXISTS). */
  overwrite?: boolean;
  /** KV cache pairs (default: found by Hugging Face optimum names, see state.ts). */
  state?: readonly StateNaming[];
}

const SEGMENT_FILE = /^segment-\d+\.onnx$/;

/** File name of segment `i` inside the split folder. */
export function segmentFileName(i: number): string {
  return `segment-${i}.onnx`;
}

/**
 * Writes `p` to `outDir` and returns the manifest it wrote to `outDir/manifest.json`.
 *
 * Manifest choices: `shapes` merges `concrete.dims` and `concrete.shapes` into one record (the
 * manifest schema's form; an input shape wins over a dim of the same name). A segment's `flops` is
 * the sum over its compute nodes (constant nodes copied into it are not counted) and null when any
 * of them is unknown. `sharedWeights` lists every initializer two or more segments use, whether it
 * went to the data file (stored once) or is small enough to be embedded in each segment.
 * `dataFiles` is empty when no tensor reached the threshold.
 */
export async function writeSplit(g: Graph, p: Partition, outDir: string, opts: WriteSplitOptions): Promise<Manifest> {
  const out = path.resolve(outDir);
  const threshold = opts.externalThreshold ?? 1024;
  if (!Number.isSafeInteger(threshold) || threshold < 0) {
    throw fail("E_USAGE", `externalThreshold must be a non-negative integer number of bytes (got ${threshold})`);
  }
  const dataFile = opts.dataFile === undefined ? "weights.data" : opts.dataFile;
  if (dataFile !== null) checkDataFileName(dataFile);
  if (p.segments.length === 0) throw fail("E_SEGMENTS", "the partition has no segments");
  checkOutDir(out, opts.overwrite ?? false, [path.resolve(opts.modelPath), g.dir]);

  // Everything that can fail without touching the disk runs first.
  const typeOf = memoize(opts.typeOf);
  const describe = (name: string, what: string): ManifestTensor => describeTensor(g, name, typeOf, opts.concrete, what);
  const segModels = p.segments.map((seg) => extractSegment(g, seg, typeOf));
  const modelPart = {
    file: toPosix(path.relative(out, path.resolve(opts.modelPath))),
    sha256: sha256FileSync(opts.modelPath),
    inputs: g.inputs.map((t) => describe(t, "model input")),
    outputs: g.outputs.map((t) => describe(t, "model output")),
  };
  const segmentInfo = p.segments.map((seg) => ({
    inputs: seg.inputs.map((t) => describe(t, `segment ${seg.index} input`)),
    outputs: seg.outputs.map((t) => ({ ...describe(t, `segment ${seg.index} output`), modelOutput: seg.modelOutputs.includes(t) })),
    weightBytes: seg.weights.reduce((sum, w) => sum + initializerBytes(g, w), 0),
    flops: segmentFlops(seg, opts.nodeFlops),
  }));
  const cuts = p.cuts.map((c) => ({
    after: c.after,
    tensors: c.tensors.map((t) => ({ ...describe(t, `tensor crossing the cut after segment ${c.after}`), bytes: concreteBytes(t, opts.concrete) })),
    modelInputs: [...c.modelInputs],
  }));
  const sharedWeights = findSharedWeights(g, p.segments);
  const state = findStatePairs(g, p.segments, opts.state);

  const tmp = `${out}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  let createdParent: string | undefined;
  let writer: ExternalDataWriter | undefined;
  try {
    createdParent = fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.mkdirSync(tmp);
    writer = dataFile === null ? undefined : new ExternalDataWriter(path.join(tmp, dataFile));
    const segments: Manifest["segments"] = [];
    for (const [i, model] of segModels.entries()) {
      const bytes = serializeModel(model, { sourceDir: g.dir, externalData: writer, threshold });
      const file = segmentFileName(i);
      fs.writeFileSync(path.join(tmp, file), bytes);
      segments.push({ index: i, file, sha256: sha256Hex(bytes), ...segmentInfo[i]! });
    }
    const dataFiles: Manifest["dataFiles"] = [];
    if (writer) {
      writer.close();
      if (writer.bytes > 0) dataFiles.push({ file: dataFile!, sha256: writer.sha256, bytes: writer.bytes });
      else fs.rmSync(writer.path);
    }
    // Merged: the manifest schema keeps input shapes and dim values in one record.
    const shapes: Manifest["shapes"] = { ...opts.concrete.dims, ...opts.concrete.shapes };
    const body = { format: 1 as const, model: modelPart, shapes, segments, cuts, dataFiles, sharedWeights, state };
    const manifest: Manifest = {
      format: 1, splitId: computeSplitId(body), model: modelPart, shapes, segments, cuts, dataFiles, sharedWeights, state,
    };
    fs.writeFileSync(path.join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    replaceFolder(tmp, out, (o) => checkOutDir(o, opts.overwrite ?? false));
    return manifest;
  } catch (e) {
    try { writer?.close(); } catch { /* already failing; the temp folder goes anyway */ }
    fs.rmSync(tmp, { recursive: true, force: true });
    if (createdParent) fs.rmSync(createdParent, { recursive: true, force: true });
    if (e instanceof EdgecutError) throw e;
    throw fail("E_IO", `writing the split to ${out} failed: ${(e as Error).message}; check that the output folder's parent is writable, the disk has room, and the model's files are readable`, e);
  }
}

function checkDataFileName(name: string): void {
  if (name === "" || name === "." || name === ".." || name !== path.basename(name) || name.includes("\\")) {
    throw fail("E_USAGE", `data file name "${name}" must be a plain file name: the data file sits next to the segments, where onnxruntime looks for it`);
  }
  if (name === "manifest.json" || SEGMENT_FILE.test(name)) {
    throw fail("E_USAGE", `data file name "${name}" collides with a file of the split; pick another name such as weights.data`);
  }
}

function isNonEmptyDir(dir: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return false;
  }
  if (!st.isDirectory()) throw fail("E_OUTPUT_EXISTS", `${dir} exists and is not a folder; choose another output folder`);
  return fs.readdirSync(dir).length > 0;
}

/**
 * Fails early (before any analysis) when `out` cannot take a split: E_OUTPUT_EXISTS. With
 * `overwrite`, only a folder holding nothing but a previous split (manifest.json, its segment
 * files and the data files it lists) may be replaced: --force must never delete other files.
 */
export function checkOutDir(out: string, overwrite: boolean, protect: readonly string[] = []): void {
  if (overwrite) checkNotInside(out, protect);
  if (!isNonEmptyDir(out)) return;
  if (!overwrite) {
    throw fail("E_OUTPUT_EXISTS", `output folder ${out} exists and is not empty; choose another folder, or --force to replace a previous split there`);
  }
  const strangers = notPartOfSplit(out);
  if (strangers.length > 0) {
    throw fail("E_OUTPUT_EXISTS", `output folder ${out} holds files that are not part of a previous split (${strangers.slice(0, 5).join(", ")}${strangers.length > 5 ? ", ..." : ""}); --force only replaces a split: choose another folder`);
  }
}

/** Entries of `dir` that a previous split did not write. */
function notPartOfSplit(dir: string): string[] {
  const entries = fs.readdirSync(dir);
  let listed: string[] = [];
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as { dataFiles?: { file?: unknown }[] };
    listed = (m.dataFiles ?? []).map((d) => d.file).filter((f): f is string => typeof f === "string");
  } catch {
    return entries; // no readable manifest: nothing here is known to be a split
  }
  return entries.filter((e) => e !== "manifest.json" && !SEGMENT_FILE.test(e) && !listed.includes(e));
}

/** Overwriting must not delete the model being split (or its external data). */
function checkNotInside(out: string, paths: readonly string[]): void {
  for (const p of paths) {
    const rel = path.relative(out, p);
    const outside = rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
    if (!outside) {
      throw fail("E_USAGE", `cannot overwrite ${out}: it holds the model being split (${p}); write the split to another folder`);
    }
  }
}

/**
 * Moves the finished temp folder `tmp` to `out`. A non-empty `out` is first checked again with
 * `recheck` (it may have changed while `tmp` was written) and replaced only after the move succeeds,
 * so a failure leaves the old folder in place. Shared by `edgecut split` and `edgecut pack`.
 */
export function replaceFolder(tmp: string, out: string, recheck: (out: string) => void): void {
  if (fs.existsSync(out)) {
    if (isNonEmptyDir(out)) {
      recheck(out);
      const old = `${out}.old-${process.pid}-${randomBytes(4).toString("hex")}`;
      fs.renameSync(out, old);
      try {
        fs.renameSync(tmp, out);
      } catch (e) {
        fs.renameSync(old, out);
        throw e;
      }
      fs.rmSync(old, { recursive: true, force: true });
      return;
    }
    fs.rmdirSync(out);
  }
  fs.renameSync(tmp, out);
}

function memoize(typeOf: TypeLookup): TypeLookup {
  const cache = new Map<string, ValueInfoProto | undefined>();
  return (name) => {
    if (!cache.has(name)) cache.set(name, typeOf(name));
    return cache.get(name);
  };
}

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

/** Name, type name and symbolic shape of a tensor, as the segment models declare it. */
function describeTensor(g: Graph, name: string, typeOf: TypeLookup, concrete: ConcreteShapes, what: string): ManifestTensor {
  const vi = segmentValueInfo(g, name, typeOf, what);
  const tt = vi.type?.value;
  if (tt?.case !== "tensorType") {
    throw fail("E_UNSUPPORTED", `${what} "${name}" is a ${tt?.case ?? "untyped"} value; a split can only pass tensors between segments`);
  }
  const type = dtypeName(tt.value.elemType);
  if (type === undefined) {
    throw fail("E_UNSUPPORTED", `${what} "${name}" has element type ${tt.value.elemType}, which edgecut does not know`);
  }
  let shape: ManifestDim[];
  if (tt.value.shape) {
    shape = protoDims(tt.value.shape)!;
  } else {
    // Rank known only from the concrete run: every dim is unknown symbolically.
    const dims = concrete.types.get(name)?.dims;
    if (!dims) throw fail("E_SHAPE_INFERENCE", `the rank of ${what} "${name}" is unknown; pass the input shapes (--shape/--dim) so shape inference can resolve it`);
    shape = dims.map(() => null);
  }
  return { name, type, shape };
}

/** Bytes a tensor occupies at the concrete shapes. */
function concreteBytes(name: string, concrete: ConcreteShapes): number {
  const t = concrete.types.get(name);
  const dims = t?.dims;
  const bytes = t && dims && dims.every((d) => typeof d === "number") ? byteLength(t.elemType, (dims as number[]).reduce((a, b) => a * b, 1)) : undefined;
  if (bytes === undefined) {
    throw fail("E_SHAPE_INFERENCE", `the size of cut tensor "${name}" is unknown at the given shapes (dims ${JSON.stringify(dims ?? null)}); pass every input shape (--shape/--dim), or cut elsewhere`);
  }
  return bytes;
}

function segmentFlops(seg: SegmentIO, nodeFlops: (node: number) => number | null): number | null {
  let sum = 0;
  for (const i of seg.computeNodes) {
    const f = nodeFlops(i);
    if (f === null) return null;
    if (!Number.isFinite(f) || f < 0) throw fail("E_INTERNAL", `the cost model gave node #${i} ${f} flops`);
    sum += f;
  }
  return sum;
}

/** Initializers used by two or more segments, in order of first use. */
function findSharedWeights(g: Graph, segments: readonly SegmentIO[]): Manifest["sharedWeights"] {
  const users = new Map<string, number[]>();
  for (const seg of segments) {
    for (const w of seg.weights) {
      const list = users.get(w) ?? [];
      if (!list.includes(seg.index)) list.push(seg.index);
      users.set(w, list);
    }
  }
  return [...users].filter(([, s]) => s.length >= 2).map(([name, s]) => ({ name, bytes: initializerBytes(g, name), segments: s }));
}
