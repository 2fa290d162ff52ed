/**
 * Every malformed-frame case of docs/wire-format.md §6 and §8 is rejected with its code:
 * E_FRAME (malformed), E_FRAME_LIMIT (over a limit, before any allocation), E_PROTOCOL_VERSION
 * (another version, with the request id still reachable through peekHeader), E_FRAGMENT.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { EdgecutError } from "../../sdk/errors.js";
import { decodeFrame, encodeFrame, fragmentFrame, peekHeader, type RequestHeader, type WireLimits } from "../../sdk/wire/index.js";

const req: RequestHeader = { kind: "request", requestId: "req-42", deviceId: "pi-1", splitId: "s1", segments: { from: 1, to: 2 }, ttlMs: 500 };
const TENSORS: TensorMap = {
  h: { type: "float32", dims: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
  ids: { type: "int64", dims: [2], data: BigInt64Array.from([7n, 8n]) },
};
const valid = encodeFrame(req, TENSORS);

type Json = Record<string, unknown> & { tensors: Record<string, unknown>[] };

function headerOf(frame: Uint8Array): Json {
  const len = new DataView(frame.buffer, frame.byteOffset).getUint32(6, true);
  return JSON.parse(Buffer.from(frame.subarray(10, 10 + len)).toString("utf8")) as Json;
}

/** A frame with `header` written raw (object as JSON, or bytes) and `total` bytes, sections copied from `valid` shifted by SHIFT. */
const SHIFT = 4096;
function build(header: unknown, opts: { total?: number; version?: number; copyBody?: boolean } = {}): Uint8Array {
  const json = header instanceof Uint8Array ? header : Buffer.from(JSON.stringify(header), "utf8");
  const bodyStart = headerOf(valid).tensors.reduce((m, e) => Math.min(m, e.offset as number), Infinity);
  const total = opts.total ?? valid.length + SHIFT;
  const f = new Uint8Array(Math.max(total, 10 + json.length));
  f.set(Buffer.from("ECUT", "latin1"), 0);
  new DataView(f.buffer).setUint16(4, opts.version ?? 1, true);
  new DataView(f.buffer).setUint32(6, json.length, true);
  f.set(json, 10);
  if (opts.copyBody !== false && bodyStart + SHIFT < f.length) f.set(valid.subarray(bodyStart, Math.min(valid.length, f.length - SHIFT)), bodyStart + SHIFT);
  return f.subarray(0, total);
}

/** The valid frame's header with offsets moved by SHIFT, then changed by `edit`. */
function edited(edit: (h: Json) => void): Json {
  const h = headerOf(valid);
  for (const e of h.tensors) e.offset = (e.offset as number) + SHIFT;
  edit(h);
  return h;
}

function rejects(bytes: Uint8Array, code: string, what: string, limits?: Partial<WireLimits>): void {
  assert.throws(() => decodeFrame(bytes, limits), (e: unknown) => {
    assert.ok(e instanceof EdgecutError, `${what}: threw ${String(e)}`);
    assert.equal(e.code, code, `${what}: ${e.message}`);
    return true;
  }, what);
}

test("the test's own builder makes a frame that decodes (so each case below breaks one thing)", () => {
  const d = decodeFrame(build(edited(() => {})));
  assert.deepEqual([...(d.tensors.h!.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...(d.tensors.ids!.data as BigInt64Array)], [7n, 8n]);
});

test("a valid frame truncated at every byte, or with bytes appended, is E_FRAME", () => {
  for (let n = 0; n < valid.length; n++) rejects(valid.subarray(0, n), "E_FRAME", `truncated to ${n} bytes`);
  for (const extra of [1, 63, 64, 1000]) {
    const longer = new Uint8Array(valid.length + extra);
    longer.set(valid);
    rejects(longer, "E_FRAME", `${extra} bytes appended`);
  }
  rejects(encodeFrame(req, {}).subarray(0, 20), "E_FRAME", "tensorless frame truncated");
});

test("wrong magic is E_FRAME and peekHeader gives nothing", () => {
  for (let i = 0; i < 4; i++) {
    const f = Uint8Array.from(valid);
    f[i] = f[i]! ^ 0x20;
    rejects(f, "E_FRAME", `magic byte ${i}`);
    assert.equal(peekHeader(f), undefined);
  }
  rejects(Buffer.from("PK\x03\x04 not a frame at all"), "E_FRAME", "zip magic");
  assert.throws(() => decodeFrame("ECUT" as unknown as Uint8Array), { code: "E_FRAME" });
});

test("another protocol version is E_PROTOCOL_VERSION, and peekHeader still surfaces the request id", () => {
  for (const version of [0, 2, 0xffff]) {
    const f = Uint8Array.from(valid);
    new DataView(f.buffer).setUint16(4, version, true);
    assert.throws(() => decodeFrame(f), (e: unknown) => e instanceof EdgecutError && e.code === "E_PROTOCOL_VERSION" && e.message.includes("req-42") && e.message.includes(String(version)));
    assert.deepEqual(peekHeader(f), { version, header: { kind: "request", requestId: "req-42", deviceId: "pi-1", splitId: "s1" } });
  }
  // A future version's header need not follow our schema; the routing fields are enough.
  const v2 = build({ kind: "request", requestId: "r-v2", deviceId: "pi-2", newField: { x: 1 } }, { version: 2, total: 200 });
  rejects(v2, "E_PROTOCOL_VERSION", "v2 header");
  assert.deepEqual(peekHeader(v2)?.header, { kind: "request", requestId: "r-v2", deviceId: "pi-2" });
  // Too short for a header, or an unreadable one: the version alone.
  rejects(Uint8Array.from([0x45, 0x43, 0x55, 0x54, 3, 0]), "E_PROTOCOL_VERSION", "bare v3 prefix");
  assert.deepEqual(peekHeader(build(Buffer.from("{oops"), { version: 3, total: 15 })), { version: 3 });
});

test("a header length beyond the frame is E_FRAME (over maxHeaderBytes: E_FRAME_LIMIT); a header that is not a JSON object is E_FRAME", () => {
  const f = Uint8Array.from(valid);
  new DataView(f.buffer).setUint32(6, valid.length, true);
  rejects(f, "E_FRAME", "header length = frame length");
  new DataView(f.buffer).setUint32(6, 0xffffffff, true);
  rejects(f, "E_FRAME_LIMIT", "header length 2^32-1");
  for (const text of ["{not json", "", "[1,2]", "null", "42", "\"request\"", "{\"kind\":\"request\"}{}"]) {
    rejects(build(Buffer.from(text), { total: 10 + Buffer.byteLength(text) }), "E_FRAME", `header ${JSON.stringify(text)}`);
  }
  rejects(build(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), { total: 14 }), "E_FRAME", "header not UTF-8");
});

test("headers failing the schema are E_FRAME", () => {
  const cases: [string, (h: Json) => void][] = [
    ["unknown kind", (h) => { h.kind = "ping"; }],
    ["missing requestId", (h) => { delete h.requestId; }],
    ["empty deviceId", (h) => { h.deviceId = ""; }],
    ["requestId too long", (h) => { h.requestId = "x".repeat(257); }],
    ["unknown key", (h) => { h.priority = 1; }],
    ["segments from > to", (h) => { h.segments = { from: 3, to: 2 }; }],
    ["segments fractional", (h) => { h.segments = { from: 0.5, to: 2 }; }],
    ["negative ttl", (h) => { h.ttlMs = -1; }],
    ["ttl as text", (h) => { h.ttlMs = "500"; }],
    ["negative step", (h) => { h.step = -1; }],
    ["wantOutputs not a list", (h) => { h.wantOutputs = "logits"; }],
    ["tensors not a list", (h) => { h.tensors = {} as unknown as Json["tensors"]; }],
    ["reply without times", (h) => { h.kind = "reply"; h.ok = true; delete h.splitId; delete h.segments; delete h.ttlMs; }],
    ["failed reply without error", (h) => { Object.assign(h, { kind: "reply", ok: false, computeMs: 0, queueMs: 0 }); delete h.splitId; delete h.segments; delete h.ttlMs; }],
    ["error code not E_*", (h) => { Object.assign(h, { kind: "reply", ok: false, computeMs: 0, queueMs: 0, error: { code: "oops", message: "" } }); delete h.splitId; delete h.segments; delete h.ttlMs; }],
    ["entry type string", (h) => { h.tensors[1]!.type = "string"; }],
    ["entry type unknown", (h) => { h.tensors[1]!.type = "complex64"; }],
    ["entry encoding unknown", (h) => { h.tensors[0]!.encoding = "bf16"; }],
    ["entry unknown key", (h) => { h.tensors[0]!.scale = 1; }],
    ["entry empty name", (h) => { h.tensors[0]!.name = ""; }],
    ["entry dim negative", (h) => { h.tensors[0]!.dims = [-2, -3]; }],
    ["entry dim fractional", (h) => { h.tensors[0]!.dims = [1.5, 4]; }],
    ["entry dim beyond 2^53", (h) => { h.tensors[0]!.dims = [2 ** 60, 0]; }],
    ["entry offset negative", (h) => { h.tensors[0]!.offset = -64; }],
  ];
  for (const [what, edit] of cases) rejects(build(edited(edit)), "E_FRAME", what);
});

test("tensor table entries that do not fit the frame are E_FRAME: misaligned, overlapping, beyond the end, in the header, wrong length, wrong encoding", () => {
  const cases: [string, (h: Json) => void][] = [
    ["offset misaligned", (h) => { h.tensors[0]!.offset = (h.tensors[0]!.offset as number) + 8; }],
    ["offset inside the header", (h) => { h.tensors[0]!.offset = 0; }],
    ["overlapping sections", (h) => { h.tensors[1]!.offset = h.tensors[0]!.offset; }],
    ["section beyond the frame", (h) => { h.tensors[1]!.offset = valid.length + SHIFT; }],
    ["length != dims x element size", (h) => { h.tensors[0]!.length = 20; }],
    ["dims changed, length kept", (h) => { h.tensors[0]!.dims = [3, 3]; }],
    ["float32 sent raw", (h) => { h.tensors[0]!.encoding = "raw"; }],
    ["int64 as fp16", (h) => { h.tensors[1]!.encoding = "fp16"; h.tensors[1]!.length = 4; }],
    ["duplicate names", (h) => { h.tensors[1]!.name = "h"; }],
    ["fragment kind", (h) => { h.kind = "fragments"; }],
  ];
  for (const [what, edit] of cases) rejects(build(edited(edit)), "E_FRAME", what);
});

test("limits are E_FRAME_LIMIT, checked before anything is allocated: absurd dims, tensor count, rank, elements, frame and header bytes", () => {
  const huge: [string, number[]][] = [["2^40 elements", [2 ** 20, 2 ** 20]], ["one 2^40 dim", [2 ** 40]], ["2^60 over many dims", [2 ** 15, 2 ** 15, 2 ** 15, 2 ** 15]], ["a huge dim times zero", [2 ** 40, 0]]];
  for (const [what, dims] of huge) {
    rejects(build(edited((h) => { h.tensors[0]!.dims = dims; h.tensors[0]!.length = Math.min(2 ** 52, 4 * dims.reduce((a, b) => a * b, 1)); })), "E_FRAME_LIMIT", what);
  }
  rejects(build(edited((h) => { h.tensors[0]!.dims = [1, 1, 1, 1, 1, 1, 1, 1, 6]; })), "E_FRAME_LIMIT", "rank 9");
  rejects(valid, "E_FRAME_LIMIT", "rank 2 over maxRank 1", { maxRank: 1 });
  rejects(valid, "E_FRAME_LIMIT", "2 tensors over maxTensors 1", { maxTensors: 1 });
  rejects(valid, "E_FRAME_LIMIT", "8 elements over maxElements 7", { maxElements: 7 });
  assert.equal(Object.keys(decodeFrame(valid, { maxElements: 8, maxTensors: 2, maxRank: 2 }).tensors).length, 2);
  rejects(valid, "E_FRAME_LIMIT", "frame over maxFrameBytes", { maxFrameBytes: valid.length - 1 });
  rejects(valid, "E_FRAME_LIMIT", "header over maxHeaderBytes", { maxHeaderBytes: 100 });
  const many = Array.from({ length: 1025 }, (_, i) => ({ name: `t${i}`, type: "uint8", dims: [0], encoding: "raw", offset: 128 * 1024, length: 0 }));
  rejects(build({ ...req, tensors: many }, { total: 128 * 1024, copyBody: false }), "E_FRAME_LIMIT", "1025 tensors");
  assert.throws(() => decodeFrame(valid, { maxTensors: -1 }), { code: "E_USAGE" });
});

test("an int8 section whose scale is NaN, infinite or negative is E_FRAME", () => {
  const f = encodeFrame(req, { x: { type: "float32", dims: [4], data: Float32Array.from([1, -1, 2, 0]) } }, { encoding: "int8-tensor" });
  const offset = (headerOf(f).tensors[0]!.offset as number);
  for (const scale of [NaN, Infinity, -1]) {
    const g = Uint8Array.from(f);
    new DataView(g.buffer).setFloat32(offset, scale, true);
    rejects(g, "E_FRAME", `scale ${scale}`);
  }
});

test("a fragment message handed to decodeFrame is E_FRAGMENT", () => {
  const big = encodeFrame(req, { x: { type: "uint8", dims: [4000], data: new Uint8Array(4000) } });
  const parts = fragmentFrame(big, 1024, req);
  assert.ok(parts.length > 1);
  rejects(parts[0]!, "E_FRAGMENT", "first fragment");
  assert.deepEqual(peekHeader(parts[1]!)?.header, { kind: "fragment", requestId: "req-42", deviceId: "pi-1" });
});
