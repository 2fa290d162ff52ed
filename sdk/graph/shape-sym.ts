/**
 * Symbolic dims: the small algebra shape inference uses to keep names like "batch" and
 * expressions like "past_sequence + sequence" through Shape/Gather/Add chains.
 *
 * A symbolic dim is a polynomial with integer coefficients over dim names, printed in a
 * canonical form (terms sorted by name, constant last), so two computations of the same size
 * give the same string. Expressions that get too big, or divisions that are not exact, give
 * null (unknown) rather than a guess.
 */
import type { Dim } from "./shape-types.js";

/** Monomial key (sorted symbol names joined by NUL; "" = constant) -> integer coefficient. */
type Poly = Map<string, number>;

const SEP = "\u0000";
/** Beyond these an expression is "complicated" and becomes null. */
const MAX_TERMS = 8;
const MAX_DEGREE = 4;

const cache = new Map<string, Poly | null>();

function constPoly(c: number): Poly {
  return c === 0 ? new Map() : new Map([["", c]]);
}

function symPoly(name: string): Poly {
  return new Map([[name, 1]]);
}

function addInto(p: Poly, key: string, c: number): void {
  const v = (p.get(key) ?? 0) + c;
  if (v === 0) p.delete(key);
  else p.set(key, v);
}

function pAdd(a: Poly, b: Poly, sign = 1): Poly {
  const out = new Map(a);
  for (const [k, c] of b) addInto(out, k, sign * c);
  return out;
}

function mulKeys(a: string, b: string): string {
  if (a === "") return b;
  if (b === "") return a;
  return [...a.split(SEP), ...b.split(SEP)].sort().join(SEP);
}

function pMul(a: Poly, b: Poly): Poly {
  const out: Poly = new Map();
  for (const [ka, ca] of a) for (const [kb, cb] of b) addInto(out, mulKeys(ka, kb), ca * cb);
  return out;
}

function degree(key: string): number {
  return key === "" ? 0 : key.split(SEP).length;
}

/** Null when the polynomial is too big or its coefficients are not safe integers. */
function tame(p: Poly | null): Poly | null {
  if (!p) return null;
  if (p.size > MAX_TERMS) return null;
  for (const [k, c] of p) if (!Number.isSafeInteger(c) || degree(k) > MAX_DEGREE) return null;
  return p;
}

/** Exact division by a constant, or null. */
function pDivConst(a: Poly, c: number): Poly | null {
  if (c === 0) return null;
  const out: Poly = new Map();
  for (const [k, v] of a) {
    if (v % c !== 0) return null;
    out.set(k, v / c);
  }
  return out;
}

/** Exact division `a / b` when the quotient is a constant or a monomial, else null. */
function pDiv(a: Poly, b: Poly): Poly | null {
  if (b.size === 0) return null;
  if (b.size === 1 && b.has("")) return pDivConst(a, b.get("")!);
  if (b.size === 1) {
    // divide every term by one monomial
    const [bk, bc] = [...b][0]!;
    const bs = bk.split(SEP);
    const out: Poly = new Map();
    for (const [k, v] of a) {
      const syms = k === "" ? [] : k.split(SEP);
      for (const s of bs) {
        const i = syms.indexOf(s);
        if (i < 0) return null;
        syms.splice(i, 1);
      }
      if (v % bc !== 0) return null;
      out.set(syms.join(SEP), v / bc);
    }
    return out;
  }
  // a == q * b for a constant q?
  const [bk, bc] = [...b][0]!;
  const av = a.get(bk);
  if (av === undefined || av % bc !== 0) return null;
  const q = av / bc;
  return pAdd(a, pMul(b, constPoly(q)), -1).size === 0 ? constPoly(q) : null;
}

// ---- parsing ------------------------------------------------------------------------------

type Tok = { kind: "num"; v: number } | { kind: "id"; v: string } | { kind: "op"; v: string };

function tokenize(s: string): Tok[] | null {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (/\s/.test(ch)) { i++; continue; }
    if (s.startsWith("//", i)) { out.push({ kind: "op", v: "//" }); i += 2; continue; }
    if ("+-*/()".includes(ch)) { out.push({ kind: "op", v: ch }); i++; continue; }
    const num = /^\d+/.exec(s.slice(i));
    if (num) {
      out.push({ kind: "num", v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    // A name runs on across "-" and "/" written without spaces ("batch-size", "seq/len"):
    // exporters put spaces around arithmetic ("past_sequence + sequence", "s0 - 1"), and our
    // printer never writes "/" nor a "-" inside a term, so its output parses back the same.
    const id = /^[^\s+\-*/()]+(?:[-/][^\s+\-*/()]+)*/.exec(s.slice(i));
    if (!id) return null;
    out.push({ kind: "id", v: id[0] });
    i += id[0].length;
  }
  return out;
}

/** Recursive descent over + - * / // ( ) and unary minus; null on any syntax it does not know. */
function parseExpr(s: string): Poly | null {
  const toks = tokenize(s);
  if (!toks || toks.length === 0) return null;
  let pos = 0;
  const peek = (): Tok | undefined => toks[pos];
  const isOp = (v: string): boolean => { const t = peek(); return t?.kind === "op" && t.v === v; };
  const factor = (): Poly | null => {
    const t = toks[pos++];
    if (!t) return null;
    if (t.kind === "num") return constPoly(t.v);
    if (t.kind === "id") return symPoly(t.v);
    if (t.v === "-") { const f = factor(); return f && pMul(f, constPoly(-1)); }
    if (t.v === "(") {
      const e = expr();
      if (!e || !isOp(")")) return null;
      pos++;
      return e;
    }
    return null;
  };
  const term = (): Poly | null => {
    let acc = factor();
    while (acc && (isOp("*") || isOp("/") || isOp("//"))) {
      const op = (toks[pos++] as Tok).v;
      const f = factor();
      if (!f) return null;
      acc = op === "*" ? pMul(acc, f) : pDiv(acc, f);
    }
    return acc;
  };
  const expr = (): Poly | null => {
    let acc = term();
    while (acc && (isOp("+") || isOp("-"))) {
      const sign = (toks[pos++] as Tok).v === "+" ? 1 : -1;
      const t = term();
      if (!t) return null;
      acc = pAdd(acc, t, sign);
    }
    return acc;
  };
  const p = expr();
  return p && pos === toks.length ? tame(p) : null;
}

/** Parses a dim_param; text that is not an expression is one opaque symbol. */
function parseDim(s: string): Poly {
  const hit = cache.get(s);
  if (hit) return hit;
  const p = parseExpr(s) ?? symPoly(s.trim());
  if (cache.size > 10_000) cache.clear();
  cache.set(s, p);
  return p;
}

// ---- printing -----------------------------------------------------------------------------

function format(p: Poly): Dim {
  if (p.size === 0) return 0;
  if (p.size === 1 && p.has("")) return p.get("")!;
  const keys = [...p.keys()].filter((k) => k !== "").sort();
  if (p.has("")) keys.push("");
  let out = "";
  keys.forEach((k, i) => {
    const c = p.get(k)!;
    const mag = Math.abs(c);
    const body = k === "" ? String(mag) : (mag === 1 ? "" : `${mag}*`) + k.split(SEP).join("*");
    if (i === 0) out = c < 0 ? `-${body}` : body;
    else out += c < 0 ? ` - ${body}` : ` + ${body}`;
  });
  return out;
}

// ---- public API ---------------------------------------------------------------------------

/** Bindings of dim names to sizes. */
export type DimBindings = ReadonlyMap<string, number>;

function substitute(p: Poly, b: DimBindings): Poly {
  if (b.size === 0) return p;
  const out: Poly = new Map();
  for (const [k, c] of p) {
    let coef = c;
    const rest: string[] = [];
    for (const s of k === "" ? [] : k.split(SEP)) {
      const v = b.get(s);
      if (v === undefined) rest.push(s);
      else coef *= v;
    }
    addInto(out, rest.join(SEP), coef);
  }
  return out;
}

function toPoly(d: Dim): Poly | null {
  if (d === null) return null;
  if (typeof d === "number") return Number.isSafeInteger(d) ? constPoly(d) : null;
  return parseDim(d);
}

function fromPoly(p: Poly | null): Dim {
  const t = tame(p);
  return t ? format(t) : null;
}

/** Canonical form of a dim with the bound names replaced by their sizes. */
export function normDim(d: Dim, b: DimBindings = new Map()): Dim {
  if (d === null || typeof d === "number") return d;
  const direct = b.get(d) ?? b.get(d.trim());
  if (direct !== undefined) return direct;
  return fromPoly(substitute(parseDim(d), b));
}

function binary(a: Dim, b: Dim, f: (x: Poly, y: Poly) => Poly | null): Dim {
  const pa = toPoly(a);
  const pb = toPoly(b);
  return pa && pb ? fromPoly(f(pa, pb)) : null;
}

/** a + b (numbers stay exact, including non-integers used by float shape math). */
export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a + b;
  return binary(a, b, (x, y) => pAdd(x, y));
}

/** a - b. */
export function dimSub(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return binary(a, b, (x, y) => pAdd(x, y, -1));
}

/** a * b. */
export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a * b;
  if (a === 0 || b === 0) return 0;
  return binary(a, b, pMul);
}

/** Integer division rounding toward zero for numbers; exact division only for symbols. */
export function dimDiv(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return b === 0 ? null : Math.trunc(a / b);
  return binary(a, b, pDiv);
}

/** Exact division (symbols or numbers); null when it leaves a remainder. */
export function dimDivExact(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return b !== 0 && a % b === 0 ? a / b : null;
  return binary(a, b, pDiv);
}

/** ceil(a / b) for numbers; exact division for symbols. */
export function dimCeilDiv(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return b === 0 ? null : Math.ceil(a / b);
  return binary(a, b, pDiv);
}

/** Product of dims (1 for none). */
export function dimProduct(ds: readonly Dim[]): Dim {
  let acc: Dim = 1;
  for (const d of ds) acc = dimMul(acc, d);
  return acc;
}

/**
 * True when provably equal, false when provably different, undefined when it cannot tell.
 * Names are sizes (never negative), so "past + 1" differs from 0 and "batch" from -1 (the
 * Equal(shape, -1) test exporters emit before Where/Expand).
 */
export function dimEq(a: Dim, b: Dim): boolean | undefined {
  if (a === null || b === null) return undefined;
  if (typeof a === "number" && typeof b === "number") return a === b;
  const pa = toPoly(a);
  const pb = toPoly(b);
  if (!pa || !pb) return undefined;
  const diff = pAdd(pa, pb, -1);
  if (diff.size === 0) return true;
  const c = diff.get("") ?? 0;
  const coefs = [...diff].filter(([k]) => k !== "").map(([, v]) => v);
  if ((c > 0 && coefs.every((v) => v > 0)) || (c < 0 && coefs.every((v) => v < 0))) return false;
  return coefs.length === 0 ? false : undefined;
}

/**
 * Solves `d == n` for the one unbound name in d, if d is linear in exactly one name
 * (e.g. "past_sequence + sequence" == 8 with sequence bound to 3 gives past_sequence = 5).
 */
export function solveDim(d: Dim, n: number, b: DimBindings): [string, number] | undefined {
  if (typeof d !== "string") return undefined;
  const p = substitute(parseDim(d), b);
  const syms = [...p.keys()].filter((k) => k !== "");
  if (syms.length !== 1 || degree(syms[0]!) !== 1) return undefined;
  const c = p.get(syms[0]!)!;
  const rest = n - (p.get("") ?? 0);
  if (rest % c !== 0) return undefined;
  return [syms[0]!, rest / c];
}

/** The names a dim refers to ("past_sequence + sequence" -> past_sequence, sequence). */
export function dimSymbols(d: Dim): string[] {
  if (typeof d !== "string") return [];
  const names = new Set<string>();
  for (const key of parseDim(d).keys()) if (key !== "") for (const s of key.split(SEP)) names.add(s);
  return [...names];
}
