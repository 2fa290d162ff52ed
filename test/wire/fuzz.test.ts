/**
 * Fuzzing the decoder (docs/wire-format.md §6): over random bytes, random bytes behind a valid
 * prefix, byte mutations, truncations and header-object mutations of valid frames, decodeFrame
 * either returns a consistent frame or throws EdgecutError with E_FRAME, E_FRAME_LIMIT,
 * E_PROTOCOL_VERSION or E_FRAGMENT — nothing else; peekHeader never throws; the Reassembler
 * throws only E_FRAGMENT. At least 20,000 decoder cases per run (fixed seed, reproducible).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { EdgecutError } from "../../sdk/errors.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { decodeFrame, encodeFrame, fragmentFrame, peekHeader, Reassembler, type FrameHeader, type WireLimits } from "../../sdk/wire/index.js";

const ALLOWED = new Set(["E_FRAME", "E_FRAME_LIMIT", "E_PROTOCOL_VERSION", "E_FRAGMENT"]);
const SEED = 20240611;
let cases = 0;

/** Decodes; a success must be self-consistent, a failure one of the allowed codes. */
function probe(bytes: Uint8Array, limits?: Partial<WireLimits>): void {
  cases++;
  peekHeader(bytes);
  let frame;
  try {
    frame = decodeFrame(bytes, limits);
  } catch (e) {
    if (e instanceof EdgecutError && ALLOWED.has(e.code)) return;
    throw e;
  }
  for (const t of Object.values(frame.tensors)) {
    assert.equal(t.data.length, t.dims.reduce((a, b) => a * b, 1));
  }
}

const req: FrameHeader = { kind: "request", requestId: "r1", deviceId: "d1", splitId: "s", segments: { from: 0, to: 2 }, ttlMs: 100, sessionId: "x", step: 3, wantOutputs: ["y"] };
const reply: FrameHeader = { kind: "reply", requestId: "r1", deviceId: "d1", computeMs: 1, queueMs: 2, ok: false, error: { code: "E_BUSY", message: "full" } };
const T: TensorMap = {
  a: { type: "float32", dims: [2, 3], data: Float32Array.from([1, -2, 3, 0.5, NaN, 6]) },
  b: { type: "int64", dims: [], data: BigInt64Array.from([-9n]) },
  c: { type: "bool", dims: [0, 4], data: new Uint8Array(0) },
  d: { type: "float16", dims: [2], data: Uint16Array.from([0x3c00, 0x7c00]) },
};
const finiteA = { ...T, a: { type: "float32" as const, dims: [2, 3], data: Float32Array.from([1, -2, 3, 0.5, 4, 6]) } };
const SEEDS: Uint8Array[] = [
  encodeFrame(req, T),
  encodeFrame(req, finiteA, { encoding: "int8-row" }),
  encodeFrame(req, finiteA, { encoding: "int8-tensor" }),
  encodeFrame(req, T, { encoding: "fp16" }),
  encodeFrame(reply, {}),
  encodeFrame({ kind: "reply", requestId: "r", deviceId: "d", computeMs: 0, queueMs: 0, ok: true }, { a: T.a! }),
  fragmentFrame(encodeFrame(req, T), 200, req)[1]!,
];

const seedFrame = fc.integer({ min: 0, max: SEEDS.length - 1 }).map((i) => SEEDS[i]!);
/** Mostly the defaults; one case in four under tight random limits. */
const limits = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.record({ maxTensors: fc.nat(5), maxRank: fc.nat(3), maxElements: fc.nat(20), maxHeaderBytes: fc.nat(600), maxFrameBytes: fc.nat(2000) }, { requiredKeys: [] }), weight: 1 },
);

test("random bytes: an error with a wire code, never another exception", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => probe(b)), { seed: SEED, numRuns: 3000 });
});

test("random bytes behind a valid prefix (magic, version 1, any header length)", () => {
  const prefixed = fc.tuple(fc.nat(700), fc.uint8Array({ maxLength: 700 })).map(([len, rest]) => {
    const b = new Uint8Array(10 + rest.length);
    b.set([0x45, 0x43, 0x55, 0x54, 1, 0]);
    new DataView(b.buffer).setUint32(6, len, true);
    b.set(rest, 10);
    return b;
  });
  fc.assert(fc.property(prefixed, (b) => probe(b)), { seed: SEED, numRuns: 3000 });
});

test("byte mutations of valid frames, under default and tight limits", () => {
  const mutated = fc.tuple(seedFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })).map(([f, edits]) => {
    const b = Uint8Array.from(f);
    for (const [pos, v] of edits) b[pos % b.length] = v;
    return b;
  });
  fc.assert(fc.property(mutated, limits, (b, l) => probe(b, l)), { seed: SEED, numRuns: 6000 });
});

test("truncations, extensions and splices of valid frames, at any byte offset in the buffer", () => {
  const cut = fc.tuple(seedFrame, fc.nat(), fc.uint8Array({ maxLength: 80 }), fc.nat(7)).map(([f, n, tail, shift]) => {
    const keep = f.subarray(0, n % (f.length + 1));
    const b = new Uint8Array(shift + keep.length + tail.length);
    b.set(keep, shift);
    b.set(tail, shift + keep.length);
    return b.subarray(shift);
  });
  fc.assert(fc.property(cut, (b) => probe(b)), { seed: SEED, numRuns: 3000 });
});

/** Values that probe the schema and the table checks: edges of integers, wrong types, deep junk. */
const nasty = fc.oneof(
  fc.constantFrom(-1, 0, 1, 63, 64, 65, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, 0.5, "", "fp16", "raw", "int8-row", "float32", "string", "request", "reply", "fragment", null, true, [], {}, [2 ** 20, 2 ** 20], [0, 2 ** 40], [1, 1, 1, 1, 1, 1, 1, 1, 1]),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }),
);

type Obj = Record<string, unknown>;

/** Replaces (or deletes) the value at a random path of the header object; offsets stay absolute, the body stays put. */
function mutateHeader(f: Uint8Array, pick: number[], value: unknown, del: boolean): Uint8Array {
  const len = new DataView(f.buffer, f.byteOffset).getUint32(6, true);
  const h = JSON.parse(Buffer.from(f.subarray(10, 10 + len)).toString("utf8")) as Obj;
  let node: Obj = h;
  for (let depth = 0; ; depth++) {
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const k = keys[pick[depth % pick.length]! % keys.length]!;
    const child = node[k];
    if (depth < pick.length - 1 && typeof child === "object" && child !== null) {
      node = child as Obj;
      continue;
    }
    if (del) delete node[k];
    else node[k] = value;
    break;
  }
  const json = Buffer.from(JSON.stringify(h));
  const out = new Uint8Array(Math.max(f.length, 10 + json.length));
  out.set(f);
  out.fill(0, 10, 10 + len);
  new DataView(out.buffer).setUint32(6, json.length, true);
  out.set(json, 10);
  return out;
}

/** Sets one field of one tensor table entry, often to a near miss of its old value (an offset ±1 or ±64, a dim ±1). */
function mutateEntry(f: Uint8Array, which: number, field: number, delta: number, value: unknown, near: boolean): Uint8Array {
  const len = new DataView(f.buffer, f.byteOffset).getUint32(6, true);
  const h = JSON.parse(Buffer.from(f.subarray(10, 10 + len)).toString("utf8")) as Obj & { tensors?: Obj[] };
  const entry = h.tensors?.[which % Math.max(1, h.tensors.length)];
  if (!entry) return f;
  const k = ["name", "type", "dims", "encoding", "offset", "length"][field % 6]!;
  const old = entry[k];
  if (near && typeof old === "number") entry[k] = old + delta;
  else if (near && Array.isArray(old) && old.length) {
    const dims = old as number[];
    const i = Math.abs(delta) % dims.length;
    dims[i] = dims[i]! + delta;
  }
  else entry[k] = value;
  const json = Buffer.from(JSON.stringify(h));
  if (10 + json.length > (h.tensors ?? []).reduce((m, e) => Math.min(m, typeof e.offset === "number" ? e.offset : Infinity), f.length)) return f;
  const out = Uint8Array.from(f);
  out.fill(0, 10, 10 + len);
  new DataView(out.buffer).setUint32(6, json.length, true);
  out.set(json, 10);
  return out;
}

test("header-object mutations of valid frames: any field set to edge values or junk, or deleted", () => {
  const mutated = fc.tuple(seedFrame, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), nasty, fc.boolean()).map(([f, pick, v, del]) => mutateHeader(f, pick, v, del));
  fc.assert(fc.property(mutated, limits, (b, l) => probe(b, l)), { seed: SEED, numRuns: 5000 });
});

test("tensor-table mutations of valid frames: offsets, lengths, dims, types and encodings off by a little or replaced", () => {
  const delta = fc.constantFrom(-128, -64, -8, -4, -2, -1, 1, 2, 4, 8, 64, 128, 2 ** 20);
  const mutated = fc.tuple(seedFrame, fc.nat(), fc.nat(), delta, nasty, fc.boolean()).map(([f, w, k, d, v, near]) => mutateEntry(f, w, k, d, v, near));
  fc.assert(fc.property(mutated, limits, (b, l) => probe(b, l)), { seed: SEED, numRuns: 5000 });
});

test("the Reassembler fed mutated fragments throws only E_FRAGMENT, and what it returns decodes or fails with a wire code", () => {
  const parts = fragmentFrame(encodeFrame(req, T), 256, req);
  const r = new Reassembler({ maxBytes: 1e5, timeoutMs: 1e9, maxPending: 8 });
  const msg = fc.tuple(fc.nat(parts.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })).map(([i, edits]) => {
    const b = Uint8Array.from(parts[i]!);
    for (const [pos, v] of edits) b[pos % b.length] = v;
    return b;
  });
  fc.assert(fc.property(msg, (m) => {
    let out: Uint8Array | undefined;
    try {
      out = r.push(m);
    } catch (e) {
      if (e instanceof EdgecutError && e.code === "E_FRAGMENT") return;
      throw e;
    }
    if (out) probe(out);
  }), { seed: SEED, numRuns: 2000 });
});

test("the fuzz runs covered at least 20,000 decoder cases", () => {
  assert.ok(cases >= 20_000, `${cases} cases`);
});
