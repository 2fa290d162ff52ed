// The symbolic dim algebra behind shape inference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dimAdd, dimCeilDiv, dimDiv, dimDivExact, dimEq, dimMul, dimProduct, dimSub, dimSymbols, normDim, solveDim } from "../../sdk/graph/shape-sym.js";

test("sums and differences print canonically and cancel", () => {
  assert.equal(dimAdd("sequence", "past_sequence"), "past_sequence + sequence");
  assert.equal(dimAdd("past_sequence", "sequence"), "past_sequence + sequence");
  assert.equal(dimSub("past_sequence + sequence", "sequence"), "past_sequence");
  assert.equal(dimSub("past_sequence + sequence", "past_sequence + sequence"), 0);
  assert.equal(dimAdd("sequence", 1), "sequence + 1");
  assert.equal(dimSub("sequence", 1), "sequence - 1");
  assert.equal(dimSub(0, "sequence"), "-sequence");
  assert.equal(dimAdd(2, 3), 5);
  assert.equal(dimAdd("a", null), null);
});

test("products and exact divisions", () => {
  assert.equal(dimMul("batch", "sequence"), "batch*sequence");
  assert.equal(dimMul("sequence", 2), "2*sequence");
  assert.equal(dimMul("sequence", 0), 0);
  assert.equal(dimProduct(["batch", "sequence", 64]), "64*batch*sequence");
  assert.equal(dimDivExact("64*batch*sequence", 64), "batch*sequence");
  assert.equal(dimDivExact("64*batch*sequence", "4*batch*sequence"), 16);
  assert.equal(dimDivExact("2*a + 2*b", "a + b"), 2);
  assert.equal(dimDivExact("sequence", 2), null, "not exact");
  assert.equal(dimDivExact(7, 2), null);
  assert.equal(dimDiv(7, 2), 3);
  assert.equal(dimCeilDiv(7, 2), 4);
  assert.equal(dimDiv("a", 0), null);
});

test("equality is proven, refuted or unknown", () => {
  assert.equal(dimEq("a + b", "b + a"), true);
  assert.equal(dimEq("a + 1", "a"), false);
  assert.equal(dimEq(3, 4), false);
  assert.equal(dimEq("a", "b"), undefined);
  assert.equal(dimEq(null, 1), undefined);
});

test("normDim substitutes bindings; text that is not an expression stays one opaque name", () => {
  const b = new Map([["past_sequence", 5], ["sequence", 3]]);
  assert.equal(normDim("past_sequence + sequence", b), 8);
  assert.equal(normDim("sequence+past_sequence"), "past_sequence + sequence");
  assert.equal(normDim("2*(s + 1) - 2"), "2*s");
  assert.equal(normDim("floor(h/2)"), "floor(h/2)");
  assert.equal(normDim("h/2"), "h/2", "an inexact division is kept as a name");
  assert.equal(normDim("batch size", new Map([["batch size", 4]])), 4);
  assert.equal(normDim("unk__12"), "unk__12");
  assert.equal(normDim(7), 7);
  assert.equal(normDim(null), null);
});

test("expressions that grow too big become unknown", () => {
  let d: string | number | null = "a";
  for (let i = 0; i < 6; i++) d = dimMul(d, "a");
  assert.equal(d, null, "degree over the limit");
  let s: string | number | null = 0;
  for (const n of "abcdefghij") s = dimAdd(s, n);
  assert.equal(s, null, "too many terms");
});

test("solveDim finds the one unbound name of a linear expression", () => {
  assert.deepEqual(solveDim("past_sequence + sequence", 8, new Map([["sequence", 3]])), ["past_sequence", 5]);
  assert.deepEqual(solveDim("batch", 2, new Map()), ["batch", 2]);
  assert.deepEqual(solveDim("2*h + 1", 9, new Map()), ["h", 4]);
  assert.equal(solveDim("2*h", 9, new Map()), undefined);
  assert.equal(solveDim("a + b", 9, new Map()), undefined);
  assert.equal(solveDim(5, 5, new Map()), undefined);
});

test("names are sizes: a name plus a positive constant is never 0, a name is never negative", () => {
  assert.equal(dimEq("batch", -1), false);
  assert.equal(dimEq("past + 1", 0), false);
  assert.equal(dimEq("past", 0), undefined, "past may be 0");
  assert.equal(dimEq("a - b", 0), undefined);
  assert.equal(dimEq("a - 1", 0), undefined);
});

test("a name with '-' or '/' and no spaces is one name, also inside expressions; spaced arithmetic still parses", () => {
  assert.equal(normDim("batch-size"), "batch-size");
  assert.equal(normDim("batch-size", new Map([["batch", 2], ["size", 3]])), "batch-size", "not batch minus size");
  assert.equal(normDim("batch-size", new Map([["batch-size", 4]])), 4);
  assert.deepEqual(dimSymbols("batch-size"), ["batch-size"]);
  assert.deepEqual(dimSymbols("seq/len"), ["seq/len"]);
  // What the printer makes from such names parses back to the same polynomial.
  const twice = dimMul("batch-size", 2);
  assert.equal(twice, "2*batch-size");
  assert.equal(normDim(twice, new Map([["batch-size", 3]])), 6);
  assert.equal(dimAdd("seq/len", "batch-size"), "batch-size + seq/len");
  assert.deepEqual(solveDim("seq/len + 1", 9, new Map()), ["seq/len", 8]);
  assert.equal(dimEq(dimSub(dimAdd("seq/len", 1), 1), "seq/len"), true);
  assert.equal(normDim("-batch-size", new Map([["batch-size", 3]])), -3);
  // Exporter expressions with spaces, and our own printed forms, are still arithmetic.
  assert.equal(normDim("s0 - 1", new Map([["s0", 5]])), 4);
  assert.deepEqual(dimSymbols("past_sequence + sequence").sort(), ["past_sequence", "sequence"]);
  assert.equal(normDim("batch*sequence", new Map([["batch", 2], ["sequence", 3]])), 6);
  assert.equal(normDim("2*h", new Map([["h", 4]])), 8);
  assert.equal(normDim("s//2"), "s//2", "floor division of a name stays one unknown");
});
