/**
 * Request sizes for `edgecut plan`: the bytes of the model inputs, of the tensors crossing each cut
 * and of the model outputs, at the shapes the user asks about (--shape / --dim) or else at the
 * shapes the split was written for (manifest.shapes). Dims bind as in analyze(): --dim values
 * first, then --shape (an expression dim such as "past_sequence + sequence" is solved for its one
 * unknown), then the manifest's recorded dims and input shapes for whatever is still unbound.
 *
 * FLOPs cannot be rescaled without the graph: they stay the manifest's, and a note says so when
 * the shapes differ from the split's.
 */
import { fail } from "../errors.js";
import { byteLength, dtypeCode } from "../graph/dtypes.js";
import type { Manifest, ManifestTensor } from "../graph/manifest.js";
import { dimSymbols, normDim, solveDim } from "../graph/shape-sym.js";

/** What resolveSizes found. */
export interface ResolvedSizes {
  /** Bytes of each model input. */
  inputBytes: Record<string, number>;
  /** Bytes of all model outputs (what the cloud returns for any k < n). */
  outputBytes: number;
  /** The manifest with every cut tensor's `bytes` at these shapes (an in-memory copy; the file is untouched). */
  manifest: Manifest;
  /** Concrete model input shapes used. */
  inputShapes: Record<string, number[]>;
  /** Symbolic dim values used. */
  dims: Record<string, number>;
  /** True when the shapes differ from the ones the split was written for. */
  differsFromSplit: boolean;
  /** What was estimated or kept from the split rather than computed at these shapes. */
  notes: string[];
}

/** Every dim name the manifest mentions (model and segment I/O, cut tensors). */
function manifestSymbols(m: Manifest): Set<string> {
  const out = new Set<string>();
  const add = (ts: readonly { shape: ManifestTensor["shape"] }[]): void => {
    for (const t of ts) for (const d of t.shape) for (const s of dimSymbols(d)) out.add(s);
  };
  add(m.model.inputs);
  add(m.model.outputs);
  for (const s of m.segments) { add(s.inputs); add(s.outputs); }
  for (const c of m.cuts) add(c.tensors);
  return out;
}

/** Binds the dim names of `decl` from a concrete shape; returns a conflict message or null. */
function bindFrom(decl: ManifestTensor["shape"], shape: readonly number[], b: Map<string, number>): string | null {
  for (let i = 0; i < decl.length; i++) {
    const d = decl[i]!;
    const n = shape[i]!;
    const v = normDim(d, b);
    if (typeof v === "number") {
      if (v !== n) return `dim ${i} is ${v} (${String(d)}), not ${n}`;
      continue;
    }
    if (typeof v === "string") {
      const solved = solveDim(v, n, b);
      if (solved) b.set(solved[0], solved[1]);
    }
  }
  return null;
}

/** A tensor's concrete dims under the bindings, or undefined when a dim stays unknown. */
function concreteDims(t: Pick<ManifestTensor, "shape">, b: ReadonlyMap<string, number>): number[] | undefined {
  const dims = t.shape.map((d) => normDim(d, b));
  return dims.every((d): d is number => typeof d === "number" && Number.isSafeInteger(d) && d >= 0) ? dims : undefined;
}

function bytesOf(type: string, dims: readonly number[]): number | undefined {
  const code = dtypeCode(type);
  return code === undefined ? undefined : byteLength(code, dims.reduce((a, x) => a * x, 1));
}

/**
 * Sizes of a request at `shapes` (whole model input shapes) and `dims` (dim values), as parsed
 * from --shape and --dim. E_UNKNOWN_TENSOR for a --shape naming no model input, E_BAD_SHAPE_FLAG
 * for a wrong rank, a fixed dim given another value, a --dim the split has no dim for, or an
 * input whose size stays unknown.
 */
export function resolveSizes(m: Manifest, shapes: Record<string, number[]>, dims: Record<string, number>): ResolvedSizes {
  const declared = new Map(m.model.inputs.map((t) => [t.name, t]));
  for (const [name, shape] of Object.entries(shapes)) {
    const decl = declared.get(name);
    if (decl === undefined) throw fail("E_UNKNOWN_TENSOR", `--shape ${name}: the model has no input named "${name}"; its inputs are ${[...declared.keys()].join(", ")}`);
    if (decl.shape.length !== shape.length) {
      throw fail("E_BAD_SHAPE_FLAG", `--shape ${name}=${shape.join("x")}: the input has rank ${decl.shape.length} (${decl.shape.map((d) => d ?? "?").join("x")})`);
    }
  }
  const symbols = manifestSymbols(m);
  for (const name of Object.keys(dims)) {
    if (!symbols.has(name)) throw fail("E_BAD_SHAPE_FLAG", `--dim ${name}: the split has no symbolic dim named "${name}"; its dims are ${[...symbols].join(", ") || "(none: every dim is fixed)"}`);
  }
  const b = new Map(Object.entries(dims));
  for (const [name, shape] of Object.entries(shapes)) {
    const conflict = bindFrom(declared.get(name)!.shape, shape, b);
    if (conflict) throw fail("E_BAD_SHAPE_FLAG", `--shape ${name}=${shape.join("x")}: ${conflict} (fixed by the model or by --dim)`);
  }
  // What the split was written for fills in the rest; the user's values win.
  for (const [k, v] of Object.entries(m.shapes)) if (typeof v === "number" && !b.has(k)) b.set(k, v);
  for (const [k, v] of Object.entries(m.shapes)) {
    const decl = declared.get(k);
    if (Array.isArray(v) && decl && !(k in shapes) && decl.shape.length === v.length) bindFrom(decl.shape, v, b);
  }

  const inputShapes: Record<string, number[]> = {};
  const inputBytes: Record<string, number> = {};
  for (const t of m.model.inputs) {
    const dimsOf = shapes[t.name] ?? concreteDims(t, b);
    const unknown = t.shape.find((d) => typeof normDim(d, b) !== "number");
    if (dimsOf === undefined) {
      throw fail("E_BAD_SHAPE_FLAG", `the size of model input "${t.name}" [${t.shape.map((d) => d ?? "?").join(", ")}] is unknown (dim ${String(unknown ?? "?")}); pass --shape ${t.name}=${t.shape.map((d) => (typeof d === "number" ? d : "N")).join("x")}`);
    }
    inputShapes[t.name] = dimsOf;
    const bytes = bytesOf(t.type, dimsOf);
    if (bytes === undefined) throw fail("E_UNSUPPORTED", `model input "${t.name}" is a ${t.type} tensor, whose size in bytes cannot be predicted`);
    inputBytes[t.name] = bytes;
  }

  const notes: string[] = [];
  let outputBytes = 0;
  for (const t of m.model.outputs) {
    const d = concreteDims(t, b);
    const bytes = d === undefined ? undefined : bytesOf(t.type, d);
    if (bytes === undefined) notes.push(`model output "${t.name}" has a size unknown at these shapes: counted as 0 bytes down`);
    outputBytes += bytes ?? 0;
  }

  const kept: string[] = [];
  const cuts = m.cuts.map((c) => ({
    ...c,
    tensors: c.tensors.map((t) => {
      const d = concreteDims(t, b);
      const bytes = d === undefined ? undefined : bytesOf(t.type, d);
      if (bytes === undefined) kept.push(t.name);
      return { ...t, bytes: bytes ?? t.bytes };
    }),
  }));
  if (kept.length > 0) notes.push(`cut tensor(s) ${kept.join(", ")} sized at the split's shapes (their dims are unknown here)`);

  const differsFromSplit = Object.entries(m.shapes).some(([k, v]) =>
    typeof v === "number" ? b.get(k) !== v : declared.has(k) && JSON.stringify(inputShapes[k]) !== JSON.stringify(v));
  if (differsFromSplit) {
    const at = Object.entries(m.shapes).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("x") : v}`).join(", ");
    notes.push(`FLOPs are the manifest's, counted at the split's shapes (${at}); re-split at these shapes for FLOPs at them`);
  }
  return { inputBytes, outputBytes, manifest: { ...m, cuts }, inputShapes, dims: Object.fromEntries(b), differsFromSplit, notes };
}
