// Step frames (docs/wire-format.md §9.2): round trips, append slices, the header's size, and
// every malformed or truncated frame rejected with an EdgecutError (20,000 seeded mutations).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EdgecutError } from "../../sdk/errors.js";
import { appendedSlice, concatAlong } from "../../sdk/generate/tensors.js";
import { uniformRng } from "../../sdk/graph/models/rng.js";
import type { HostTensor } from "../../sdk/runtime/tensor.js";
import { decodeStepReply, decodeStepRequest, encodeStepReply, encodeStepRequest, peekStep, stepRequestId } from "../../sdk/wire/step.js";
import type { WireType } from "../../sdk/wire/types.js";

const hidden = (d: number): HostTensor => ({ type: "float32", dims: [1, 1, d], data: Float32Array.from({ length: d }, (_, i) => i / 7 - 3) });
const mask = (n: number): HostTensor => ({ type: "float32", dims: [1, 1, 1, n], data: new Float32Array(n) });
const types: WireType[] = ["float32", "float32", "int64"];
const typeOf = (slot: number): WireType | undefined => types[slot];

describe("step frames", () => {
  test("a request round-trips: full and append tensors, session id and step", () => {
    const ids: HostTensor = { type: "int64", dims: [1, 1], data: BigInt64Array.from([42n]) };
    const bytes = encodeStepRequest({ sessionId: "a1b2c3d4e5f60718", step: 17, tensors: [
      { slot: 0, mode: "full", axis: 0, tensor: hidden(64) },
      { slot: 1, mode: "append", axis: 3, tensor: mask(1) },
      { slot: 2, mode: "full", axis: 0, tensor: ids },
    ] }, (s) => types[s]!);
    const r = decodeStepRequest(bytes, typeOf);
    assert.equal(r.sessionId, "a1b2c3d4e5f60718");
    assert.equal(r.step, 17);
    assert.deepEqual(r.tensors.map((t) => [t.slot, t.mode, t.axis, t.tensor.dims]), [[0, "full", 0, [1, 1, 64]], [1, "append", 3, [1, 1, 1, 1]], [2, "full", 0, [1, 1]]]);
    assert.deepEqual(r.tensors[0]!.tensor.data, hidden(64).data);
    assert.deepEqual(r.tensors[2]!.tensor.data, BigInt64Array.from([42n]));
    assert.deepEqual(peekStep(bytes), { kind: "request", sessionId: "a1b2c3d4e5f60718", step: 17 });
  });

  test("a decode step (one token's hidden state and mask element) is within 1.1 x the hidden state + 64 bytes", () => {
    for (const d of [64, 768, 4096]) {
      const bytes = encodeStepRequest({ sessionId: "0123456789abcdef", step: 5, tensors: [
        { slot: 0, mode: "full", axis: 0, tensor: hidden(d) }, { slot: 1, mode: "append", axis: 3, tensor: mask(1) },
      ] }, (s) => types[s]!);
      assert.ok(bytes.byteLength <= 1.1 * 4 * d + 64, `d ${d}: ${bytes.byteLength} bytes`);
      assert.ok(bytes.byteLength - 4 * d <= 80, `d ${d}: ${bytes.byteLength - 4 * d} bytes besides the hidden state`);
    }
  });

  test("a reply carries the token and logprob, or a U-shaped split's tensors", () => {
    const tok = decodeStepReply(encodeStepReply({ sessionId: "s", step: 3, computeMs: 1.5, queueMs: 0.25, token: 1234, logprob: -0.5, tensors: [] }, () => "float32"), typeOf);
    assert.deepEqual([tok.token, tok.logprob, tok.computeMs, tok.queueMs, tok.tensors.length], [1234, -0.5, 1.5, 0.25, 0]);
    const u = decodeStepReply(encodeStepReply({ sessionId: "s", step: 3, computeMs: 0, queueMs: 0, token: -1, logprob: 0, tensors: [{ slot: 0, mode: "full", axis: 0, tensor: hidden(8) }] }, () => "float32"), typeOf);
    assert.equal(u.token, -1);
    assert.deepEqual(u.tensors[0]!.tensor.data, hidden(8).data);
    assert.equal(stepRequestId("s", 3), "s#3");
  });

  test("appendedSlice finds the grown slice and concatAlong restores the tensor", () => {
    const a: HostTensor = { type: "int64", dims: [1, 3], data: BigInt64Array.from([1n, 1n, 1n]) };
    const b: HostTensor = { type: "int64", dims: [1, 4], data: BigInt64Array.from([1n, 1n, 1n, 1n]) };
    const g = appendedSlice(a, b)!;
    assert.equal(g.axis, 1);
    assert.deepEqual(g.slice.dims, [1, 1]);
    assert.deepEqual(concatAlong(a, g.slice, 1), b);
    const c: HostTensor = { type: "float32", dims: [2, 2], data: Float32Array.from([1, 2, 3, 4]) };
    const d: HostTensor = { type: "float32", dims: [2, 3], data: Float32Array.from([1, 2, 9, 3, 4, 8]) };
    const s = appendedSlice(c, d)!;
    assert.deepEqual([...s.slice.data as Float32Array], [9, 8]);
    assert.deepEqual(concatAlong(c, s.slice, 1), d);
    assert.equal(appendedSlice(c, { type: "float32", dims: [2, 3], data: Float32Array.from([1, 5, 9, 3, 4, 8]) }), undefined, "a changed prefix travels whole");
    assert.equal(appendedSlice(hidden(4), hidden(4)), undefined, "same shape: whole");
  });

  test("encoding refuses a wrong slot type, a bad axis, too many tensors, a long session id", () => {
    const bad = (f: () => unknown, code: string): void => assert.throws(f, (e: unknown) => e instanceof EdgecutError && e.code === code);
    bad(() => encodeStepRequest({ sessionId: "s", step: 0, tensors: [{ slot: 0, mode: "full", axis: 0, tensor: { type: "int64", dims: [1], data: BigInt64Array.from([1n]) } }] }, () => "float32"), "E_USAGE");
    bad(() => encodeStepRequest({ sessionId: "s", step: 0, tensors: [{ slot: 0, mode: "append", axis: 5, tensor: hidden(2) }] }, () => "float32"), "E_USAGE");
    bad(() => encodeStepRequest({ sessionId: "x".repeat(65), step: 0, tensors: [] }, () => "float32"), "E_USAGE");
    bad(() => encodeStepRequest({ sessionId: "s", step: 0, tensors: Array.from({ length: 33 }, (_, slot) => ({ slot, mode: "full" as const, axis: 0, tensor: hidden(1) })) }, () => "float32"), "E_FRAME_LIMIT");
  });

  test("20,000 truncated and mutated frames: each decodes or fails with an EdgecutError, never anything else", () => {
    const base = encodeStepRequest({ sessionId: "feedfacecafebeef", step: 9, tensors: [
      { slot: 0, mode: "full", axis: 0, tensor: hidden(16) }, { slot: 1, mode: "append", axis: 3, tensor: mask(1) },
    ] }, (s) => types[s]!);
    const next = uniformRng(7);
    const rng = { next };
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      let m = base.slice(0, rng.next() < 0.3 ? Math.floor(rng.next() * base.byteLength) : base.byteLength);
      const flips = 1 + Math.floor(rng.next() * 4);
      for (let f = 0; f < flips && m.byteLength > 0; f++) m[Math.floor(rng.next() * m.byteLength)] = Math.floor(rng.next() * 256);
      if (rng.next() < 0.1) m = new Uint8Array([...m, ...new Uint8Array(Math.floor(rng.next() * 64))]);
      try {
        decodeStepRequest(m, typeOf);
        decoded++;
      } catch (e) {
        assert.ok(e instanceof EdgecutError, `mutation ${i}: ${String(e)}`);
        refused++;
      }
      peekStep(m);
    }
    assert.equal(decoded + refused, 20_000);
    assert.ok(refused > 10_000, `refused ${refused}`);
  });
});
