/**
 * Weighted least squares for the link model `time = rtt + bytes·secPerByte` (one or two byte
 * features: total, or up and down apart), with a Huber reweighting so that one round trip
 * inflated by a retry or a GC pause does not swing the fit.
 *
 * Why a regression and not an EWMA of bytes/time: each round trip mixes a fixed cost (RTT) and a
 * size-proportional cost (bandwidth). Dividing bytes by time over-charges small messages with the
 * RTT, so an EWMA of "throughput" depends on the message mix. Fitting a line through messages of
 * different sizes separates the two, as Neurosurgeon (Kang et al., ASPLOS 2017) and DADS (Hu et
 * al., INFOCOM 2019) need: their split choice depends on RTT and bandwidth separately.
 */

/** One sample for the solver: feature values (without the intercept), target, weight. */
export interface FitRow {
  x: readonly number[];
  y: number;
  w: number;
}

/** A solved fit: intercept (0 without one), one slope per feature, weighted RMS residual. */
export interface LinearFit {
  intercept: number;
  slopes: number[];
  rmsResidual: number;
}

/** When a fit with an intercept can tell the intercept (RTT) and the slopes apart. */
export interface Conditioning {
  /** Each feature's weighted standard deviation must reach this fraction of its mean. */
  minCv: number;
  /** With two features, |correlation| must stay at or below this. */
  maxCorrelation: number;
}

/**
 * Why the fit can be trusted: messages of one size cannot tell RTT from bandwidth (the feature
 * must vary: coefficient of variation >= minCv), and up and down sizes that move together
 * cannot tell the two bandwidths apart (|correlation| <= maxCorrelation).
 */
export function wellConditioned(rows: readonly FitRow[], c: Conditioning): boolean {
  const m = rows[0]?.x.length ?? 0;
  const sw = rows.reduce((s, r) => s + r.w, 0);
  if (m === 0 || !(sw > 0)) return false;
  const mean = Array.from({ length: m }, (_, j) => rows.reduce((s, r) => s + r.w * r.x[j]!, 0) / sw);
  const cov = (i: number, j: number): number => rows.reduce((s, r) => s + r.w * (r.x[i]! - mean[i]!) * (r.x[j]! - mean[j]!), 0) / sw;
  for (let j = 0; j < m; j++) {
    const sd = Math.sqrt(cov(j, j));
    if (!(sd > 0) || sd < c.minCv * Math.abs(mean[j]!)) return false;
  }
  for (let i = 0; i < m; i++) {
    for (let j = i + 1; j < m; j++) {
      if (Math.abs(cov(i, j) / Math.sqrt(cov(i, i) * cov(j, j))) > c.maxCorrelation) return false;
    }
  }
  return true;
}

/**
 * Solves weighted least squares. Returns null when the design is degenerate: with an
 * intercept, when `wellConditioned` fails; without one, when the normal matrix (columns scaled
 * to unit weighted norm) is numerically singular.
 */
export function solveWls(rows: readonly FitRow[], intercept: boolean, cond: Conditioning): LinearFit | null {
  if (rows.length === 0) return null;
  const m = rows[0]!.x.length + (intercept ? 1 : 0);
  if (m === 0 || rows.length < m) return null;
  if (intercept && !wellConditioned(rows, cond)) return null;
  const feat = (r: FitRow): number[] => (intercept ? [1, ...r.x] : [...r.x]);
  const a: number[][] = Array.from({ length: m }, () => new Array<number>(m).fill(0));
  const b: number[] = new Array<number>(m).fill(0);
  for (const r of rows) {
    const f = feat(r);
    for (let i = 0; i < m; i++) {
      b[i]! += r.w * f[i]! * r.y;
      for (let j = 0; j < m; j++) a[i]![j]! += r.w * f[i]! * f[j]!;
    }
  }
  const scale = a.map((row, i) => Math.sqrt(row[i]!));
  if (scale.some((s) => !(s > 0))) return null;
  const norm = a.map((row, i) => row.map((v, j) => v / (scale[i]! * scale[j]!)));
  const nb = b.map((v, i) => v / scale[i]!);
  const sol = gaussSolve(norm, nb, 1e-9);
  if (sol === null) return null;
  const coef = sol.map((v, i) => v / scale[i]!);
  const icpt = intercept ? coef[0]! : 0;
  const slopes = intercept ? coef.slice(1) : coef;
  return { intercept: icpt, slopes, rmsResidual: rmsResidual(rows, icpt, slopes) };
}

/** Weighted RMS of y - (intercept + slopes·x). */
export function rmsResidual(rows: readonly FitRow[], intercept: number, slopes: readonly number[]): number {
  let sw = 0;
  let s = 0;
  for (const r of rows) {
    const e = residual(r, intercept, slopes);
    s += r.w * e * e;
    sw += r.w;
  }
  return sw > 0 ? Math.sqrt(s / sw) : 0;
}

/** y - (intercept + slopes·x) for one row. */
export function residual(r: FitRow, intercept: number, slopes: readonly number[]): number {
  let p = intercept;
  slopes.forEach((s, i) => (p += s * r.x[i]!));
  return r.y - p;
}

/**
 * Huber-reweighted fit (iteratively reweighted least squares, `iterations` rounds): rows whose
 * residual exceeds `k` robust standard deviations (1.4826 × weighted median absolute residual)
 * get weight × k·σ/|e|, and rows beyond 2k σ get none. With k = 2 a clean Gaussian sample
 * loses almost nothing; a round trip that took a retry (hundreds of ms over the line) is
 * dropped, where plain Huber still let it pull the RTT up by a third in simulation.
 */
export function robustWls(rows: readonly FitRow[], intercept: boolean, cond: Conditioning, k = 2, iterations = 2): LinearFit | null {
  let fit = solveWls(rows, intercept, cond);
  for (let it = 0; it < iterations && fit !== null; it++) {
    const f = fit;
    const abs = rows.map((r) => ({ v: Math.abs(residual(r, f.intercept, f.slopes)), w: r.w }));
    const sigma = 1.4826 * weightedMedian(abs);
    if (!(sigma > 0)) break;
    const reweighted = rows.map((r, i) => {
      const e = abs[i]!.v;
      return { ...r, w: e > 2 * k * sigma ? 0 : e > k * sigma ? (r.w * k * sigma) / e : r.w };
    });
    const next = solveWls(reweighted, intercept, cond);
    if (next === null) break;
    fit = { ...next, rmsResidual: rmsResidual(rows, next.intercept, next.slopes) };
  }
  return fit;
}

/** The weighted median of values (the smallest v whose cumulative weight reaches half). */
export function weightedMedian(items: readonly { v: number; w: number }[]): number {
  if (items.length === 0) return 0;
  const sorted = [...items].sort((p, q) => p.v - q.v);
  const half = sorted.reduce((s, i) => s + i.w, 0) / 2;
  let acc = 0;
  for (const i of sorted) {
    acc += i.w;
    if (acc >= half) return i.v;
  }
  return sorted[sorted.length - 1]!.v;
}

/** Gaussian elimination with partial pivoting; null when the determinant is below minDet. */
function gaussSolve(a0: readonly number[][], b0: readonly number[], minDet: number): number[] | null {
  const n = b0.length;
  const a = a0.map((r) => [...r]);
  const b = [...b0];
  let det = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    if (p !== c) {
      [a[p], a[c]] = [a[c]!, a[p]!];
      [b[p], b[c]] = [b[c]!, b[p]!];
      det = -det;
    }
    const piv = a[c]![c]!;
    det *= piv;
    if (Math.abs(piv) < 1e-12) return null;
    for (let r = c + 1; r < n; r++) {
      const f = a[r]![c]! / piv;
      for (let j = c; j < n; j++) a[r]![j]! -= f * a[c]![j]!;
      b[r]! -= f * b[c]!;
    }
  }
  if (Math.abs(det) < minDet) return null;
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let j = r + 1; j < n; j++) s -= a[r]![j]! * x[j]!;
    x[r] = s / a[r]![r]!;
  }
  return x;
}
