/**
 * Checking a request against the split it names, before it takes a queue slot: the split is
 * served, the segment range exists, every input the segments need is in the request or made by
 * an earlier segment of the range (with the type and shape the manifest declares: the rank, every
 * fixed dim, one value per symbolic dim across the request's tensors, each at most `maxDim`), and
 * every wanted output is made by the range. All of it is read from the manifest, so a bad request
 * costs no compute (onnxruntime would refuse it only after it waited in the queue).
 */
import type { ErrorCode } from "../sdk/errors.js";
import type { RequestHeader } from "../sdk/wire/types.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import type { ServedSplit } from "./splits.js";

/** A request that can run: segments from..to-1 of `split`, sending back `want`. */
export interface Plan {
  readonly split: ServedSplit;
  readonly from: number;
  readonly to: number;
  /** Outputs to send back, in order. */
  readonly want: readonly string[];
}

/** Why a request cannot run: a catalogue code and a message for the device. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
}

const list = (names: readonly string[]): string => names.map((n) => JSON.stringify(n)).join(", ");

/** Largest value a symbolic dim of a request tensor may take when none is configured (2^28, the wire element limit). */
export const DEFAULT_MAX_DIM = 2 ** 28;

/**
 * The plan of a request, or why it cannot run (E_UNKNOWN_SPLIT, E_SEGMENT_RANGE, E_FRAME; E_FRAME_LIMIT
 * for a symbolic dim over `maxDim`).
 */
export function planRequest(header: RequestHeader, tensors: TensorMap, splits: ReadonlyMap<string, ServedSplit>, maxDim = DEFAULT_MAX_DIM): Plan | Refusal {
  const split = splits.get(header.splitId);
  if (split === undefined) {
    return { code: "E_UNKNOWN_SPLIT", message: `this worker serves no split ${header.splitId}; deploy the split folder to the worker's --models folder (and use one share group per set of splits)` };
  }
  const { from, to } = header.segments;
  const n = split.manifest.segments.length;
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= n)) {
    return { code: "E_SEGMENT_RANGE", message: `split ${header.splitId} has segments 0..${n - 1}; the request asks for ${from}..${to - 1} (segments.from <= segments.to <= ${n})` };
  }
  // A probe (docs/wire-format.md §3.1): nothing runs; the tensors named in wantOutputs are echoed.
  if (from === to) {
    const echo = [...new Set(header.wantOutputs ?? [])];
    // Own properties only: "constructor" or "toString" must not pass for a tensor the probe carries.
    const absent = echo.filter((name) => !Object.hasOwn(tensors, name));
    if (absent.length > 0) return { code: "E_FRAME", message: `the probe asks to echo ${list(absent)}, which it does not carry` };
    return { split, from, to, want: echo };
  }
  const available = new Set(Object.keys(tensors));
  const produced = new Set<string>();
  /** Values of symbolic dims seen so far, with the tensor that set each. */
  const bound = new Map<string, { value: number; tensor: string }>();
  for (let i = from; i < to; i++) {
    const seg = split.manifest.segments[i]!;
    const missing = seg.inputs.filter((t) => !available.has(t.name)).map((t) => t.name);
    if (missing.length > 0) {
      return { code: "E_FRAME", message: `segment ${i} of split ${header.splitId} needs input(s) ${list(missing)}, which the request does not carry and no earlier segment of ${from}..${to - 1} makes` };
    }
    for (const t of seg.inputs) {
      if (produced.has(t.name)) continue;
      const got = tensors[t.name]!;
      if (got.type !== t.type) {
        return { code: "E_FRAME", message: `input ${JSON.stringify(t.name)} of segment ${i} must be ${t.type}; the request carries ${got.type}` };
      }
      const bad = shapeProblem(t.name, t.shape, got.dims, bound, maxDim);
      if (bad !== undefined) return { code: bad.code, message: `input ${JSON.stringify(t.name)} of segment ${i}: ${bad.message}` };
    }
    for (const t of seg.outputs) {
      available.add(t.name);
      produced.add(t.name);
    }
  }
  const want = header.wantOutputs === undefined
    ? split.manifest.segments[to - 1]!.outputs.map((t) => t.name)
    : [...new Set(header.wantOutputs)];
  const unknown = want.filter((name) => !produced.has(name));
  if (unknown.length > 0) {
    return { code: "E_FRAME", message: `wantOutputs names ${list(unknown)}, which segments ${from}..${to - 1} of split ${header.splitId} do not make` };
  }
  return { split, from, to, want };
}

/**
 * Why `dims` do not fit a declared `shape` (rank, fixed dims, symbolic dims bound consistently
 * and at most maxDim), or undefined. Binds the symbolic dims it sees in `bound`.
 */
function shapeProblem(name: string, shape: readonly (number | string | null)[], dims: readonly number[], bound: Map<string, { value: number; tensor: string }>, maxDim: number): Refusal | undefined {
  const show = (d: readonly unknown[]): string => `[${d.map((x) => (x === null ? "?" : String(x))).join(", ")}]`;
  if (dims.length !== shape.length) {
    return { code: "E_FRAME", message: `the split declares rank ${shape.length} ${show(shape)}; the request carries rank ${dims.length} ${show(dims)}` };
  }
  for (let a = 0; a < shape.length; a++) {
    const want = shape[a]!;
    const got = dims[a]!;
    if (typeof want === "number") {
      if (got !== want) return { code: "E_FRAME", message: `dim ${a} must be ${want} (shape ${show(shape)}); the request carries ${show(dims)}` };
      continue;
    }
    if (want === null) continue;
    if (got > maxDim) {
      return { code: "E_FRAME_LIMIT", message: `dim ${a} (${want}) is ${got}, over this worker's limit of ${maxDim} for a symbolic dim` };
    }
    const prev = bound.get(want);
    if (prev === undefined) bound.set(want, { value: got, tensor: name });
    else if (prev.value !== got) {
      return { code: "E_FRAME", message: `dim ${a} (${want}) is ${got}, but ${JSON.stringify(prev.tensor)} of the request has ${want} = ${prev.value}` };
    }
  }
  return undefined;
}

/** Type guard: a refusal rather than a plan. */
export function isRefusal(p: Plan | Refusal): p is Refusal {
  return "code" in p;
}
