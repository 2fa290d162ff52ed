/**
 * Comparing two sets of model outputs: floats within atol + rtol * |expected|, everything else exactly.
 */
import { fail } from "../errors.js";
import { halfToFloat, type HostTensor, type TensorMap } from "./tensor.js";

/** Tolerances for float outputs: an element passes when |a - e| <= atol + rtol * |e|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** How one output compared. */
export interface OutputComparison {
  name: string;
  /** Largest |actual - expected|; Infinity when NaN/Infinity positions differ or the output is missing or misshapen. */
  maxAbsDiff: number;
  /** Largest |actual - expected| / |expected| over elements whose expected value is not 0. */
  maxRelDiff: number;
  /** Elements out of tolerance (or unequal, for exact types). */
  mismatches: number;
  ok: boolean;
  /** Why it failed before any element was compared (missing, wrong type or dims). */
  reason?: string;
}

/** The comparison of every expected output. */
export interface CompareResult {
  ok: boolean;
  outputs: OutputComparison[];
}

/**
 * Compares `actual` against `expected`, output by output (outputs only in `actual` are ignored).
 * Floats pass within tolerance, NaN only against NaN in the same place, ±Infinity only against
 * itself; integer, bool and string outputs must match exactly; dims and types must match; a
 * missing output fails.
 */
export function compareOutputs(expected: TensorMap, actual: TensorMap, tol: Tolerance): CompareResult {
  for (const [k, v] of Object.entries(tol)) {
    if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) throw fail("E_USAGE", `${k} must be a finite number >= 0 (got ${v})`);
  }
  const outputs = Object.entries(expected).map(([name, e]) => compareOne(name, e, actual[name], tol));
  return { ok: outputs.every((o) => o.ok), outputs };
}

function failed(name: string, reason: string): OutputComparison {
  return { name, maxAbsDiff: Infinity, maxRelDiff: Infinity, mismatches: 0, ok: false, reason };
}

function compareOne(name: string, e: HostTensor, a: HostTensor | undefined, tol: Tolerance): OutputComparison {
  if (!a) return failed(name, "missing from the actual outputs");
  if (a.type !== e.type) return failed(name, `type ${a.type}, expected ${e.type}`);
  if (a.dims.length !== e.dims.length || a.dims.some((d, i) => d !== e.dims[i])) {
    return failed(name, `dims [${a.dims.join(", ")}], expected [${e.dims.join(", ")}]`);
  }
  if (a.data.length !== e.data.length) return failed(name, `${a.data.length} values, expected ${e.data.length}`);
  switch (e.type) {
    case "float32": case "float64": return compareFloats(name, e.data, a.data as ArrayLike<number>, tol);
    case "float16": return compareFloats(name, Array.from(e.data, halfToFloat), Array.from(a.data as Uint16Array, halfToFloat), tol);
    case "int64": case "uint64": return compareExact(name, e.data, a.data as ArrayLike<bigint>, (x, y) => Math.abs(Number(x - y)), (x) => Math.abs(Number(x)));
    case "string": return compareExact(name, e.data, a.data as string[], () => 1, () => 0);
    default: return compareExact(name, e.data as ArrayLike<number>, a.data as ArrayLike<number>, (x, y) => Math.abs(x - y), Math.abs);
  }
}

function compareFloats(name: string, e: ArrayLike<number>, a: ArrayLike<number>, tol: Tolerance): OutputComparison {
  let maxAbs = 0;
  let maxRel = 0;
  let mismatches = 0;
  for (let i = 0; i < e.length; i++) {
    const x = e[i]!;
    const y = a[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const diff = Math.abs(y - x);
    if (Number.isNaN(diff) || !Number.isFinite(diff)) {
      // NaN against a number, or an Infinity that the other side does not share.
      maxAbs = Infinity;
      maxRel = Infinity;
      mismatches++;
      continue;
    }
    if (diff > maxAbs) maxAbs = diff;
    if (x !== 0) maxRel = Math.max(maxRel, diff / Math.abs(x));
    if (!(diff <= tol.atol + tol.rtol * Math.abs(x))) mismatches++;
  }
  return { name, maxAbsDiff: maxAbs, maxRelDiff: maxRel, mismatches, ok: mismatches === 0 };
}

function compareExact<T>(name: string, e: ArrayLike<T>, a: ArrayLike<T>, dist: (x: T, y: T) => number, mag: (x: T) => number): OutputComparison {
  let maxAbs = 0;
  let maxRel = 0;
  let mismatches = 0;
  for (let i = 0; i < e.length; i++) {
    const x = e[i]!;
    const y = a[i]!;
    if (x === y) continue;
    mismatches++;
    const diff = dist(x, y);
    maxAbs = Math.max(maxAbs, diff);
    const m = mag(x);
    if (m !== 0) maxRel = Math.max(maxRel, diff / m);
  }
  return { name, maxAbsDiff: maxAbs, maxRelDiff: maxRel, mismatches, ok: mismatches === 0 };
}
