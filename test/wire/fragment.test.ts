/**
 * Fragmentation and reassembly (docs/wire-format.md §7): sizes around the message cap, any
 * delivery order, duplicates, a missing fragment timing out on an injected monotonic clock, and
 * the memory bounds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { EdgecutError } from "../../sdk/errors.js";
import { decodeFrame, encodeFrame, fragmentFrame, peekHeader, Reassembler, type RequestHeader } from "../../sdk/wire/index.js";

const ids = { requestId: "req-7", deviceId: "jetson-2" };
const req: RequestHeader = { kind: "request", ...ids, splitId: "s", segments: { from: 1, to: 2 }, ttlMs: 1000 };

/** A valid frame of `total` bytes (a uint8 tensor filling the rest), with recognisable content. */
function frameOf(total: number): Uint8Array {
  const base = encodeFrame(req, { x: { type: "uint8", dims: [0], data: new Uint8Array(0) } }).length;
  const n = total - base;
  const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
  const f = encodeFrame(req, { x: { type: "uint8", dims: [n], data } });
  assert.equal(f.length, total, "frameOf: pick a size whose header keeps the data start");
  return f;
}

/** Bytes to fragment: fragmentation does not look inside the frame, so any bytes of any length do. */
function bytesOf(total: number): Uint8Array {
  return Uint8Array.from({ length: total }, (_, i) => (i * 131 + (i >> 8)) & 0xff);
}

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function reassemble(parts: Uint8Array[], r = new Reassembler({ maxBytes: 2 ** 24, timeoutMs: 1000 })): Uint8Array[] {
  const done: Uint8Array[] = [];
  for (const p of parts) {
    const out = r.push(p);
    if (out) done.push(out);
  }
  return done;
}

test("frames of many sizes around the message cap: every message fits, one that fits is sent unchanged, reassembly restores the bytes", () => {
  for (const max of [300, 512, 1000, 4096]) {
    for (let total = 1; total <= 3 * max; total += Math.abs(total - max) > 70 ? 97 : 1) {
      const f = bytesOf(total);
      const parts = fragmentFrame(f, max, ids);
      if (total <= max) {
        assert.equal(parts.length, 1);
        assert.equal(parts[0], f, "a frame that fits is passed as is");
      } else {
        assert.ok(parts.length >= 2);
        for (const p of parts) assert.ok(p.length <= max, `a ${p.length}-byte fragment over the cap ${max}`);
      }
      const done = reassemble(parts);
      assert.equal(done.length, 1);
      assert.deepEqual(done[0], f, `total ${total}, cap ${max}`);
    }
  }
  // Fragments of a 128 KiB-capped broker: a 1 MiB frame in 9 messages, decodable after reassembly.
  const big = frameOf(2 ** 20);
  const parts = fragmentFrame(big, 128 * 1024, ids);
  assert.equal(parts.length, 9);
  const back = reassemble(parts)[0]!;
  assert.deepEqual(back, big);
  assert.deepEqual(decodeFrame(back).tensors.x!.data, decodeFrame(big).tensors.x!.data);
});

test("any delivery order, with duplicates anywhere, gives the frame exactly once", () => {
  const f = frameOf(5000);
  const parts = fragmentFrame(f, 700, ids);
  const n = parts.length;
  fc.assert(fc.property(fc.array(fc.nat(n - 1), { minLength: n, maxLength: 3 * n }), fc.func(fc.integer()), (extra, key) => {
    const order = [...parts.keys(), ...extra].sort((a, b) => key(a) - key(b) || a - b);
    const done = reassemble(order.map((i) => parts[i]!));
    assert.equal(done.length, 1);
    assert.deepEqual(done[0], f);
  }), { numRuns: 300 });
});

test("a duplicate arriving after the frame completed is ignored, not a new partial frame", () => {
  const c = clock();
  const r = new Reassembler({ maxBytes: 1e6, timeoutMs: 500, now: c.now });
  const parts = fragmentFrame(frameOf(3000), 1000, ids);
  assert.equal(reassemble(parts, r).length, 1);
  assert.equal(r.push(parts[1]!), undefined);
  assert.equal(r.pendingFrames, 0);
  c.advance(10_000);
  assert.deepEqual(r.sweep(), []);
  // A retry of the same request is fragmented afresh (a new frameId) and completes again.
  assert.equal(reassemble(fragmentFrame(frameOf(3000), 1000, ids), r).length, 1);
});

test("a missing fragment times out on the injected monotonic clock: sweep reports the request and frees its memory", () => {
  const c = clock();
  const r = new Reassembler({ maxBytes: 1e6, timeoutMs: 500, now: c.now });
  const parts = fragmentFrame(frameOf(4000), 1000, ids);
  parts.slice(1).forEach((p) => assert.equal(r.push(p), undefined));
  assert.equal(r.pendingFrames, 1);
  assert.ok(r.bytesInFlight >= 4000);
  c.advance(500);
  assert.deepEqual(r.sweep(), [], "not before timeoutMs has passed");
  c.advance(1);
  assert.deepEqual(r.sweepFrames(), [{ requestId: "req-7", deviceId: "jetson-2", received: parts.length - 1, count: parts.length }]);
  assert.equal(r.pendingFrames, 0);
  assert.equal(r.bytesInFlight, 0);
  assert.equal(r.push(parts[0]!), undefined, "the late fragment does not complete or restart the frame");
  assert.equal(r.pendingFrames, 0);
  assert.deepEqual(r.sweep(), []);
});

test("an expiry noticed during push is still reported by the next sweep", () => {
  const c = clock();
  const r = new Reassembler({ maxBytes: 1e6, timeoutMs: 100, now: c.now });
  r.push(fragmentFrame(frameOf(3000), 1000, ids)[0]!);
  c.advance(200);
  r.push(fragmentFrame(frameOf(3000), 1000, { requestId: "other", deviceId: "d" })[0]!);
  assert.deepEqual(r.sweep(), ["req-7"]);
  assert.equal(r.pendingFrames, 1);
});

test("memory bounds: a frame over maxBytes, bytes in flight over maxBytes, and more than maxPending frames are E_FRAGMENT", () => {
  const parts = fragmentFrame(frameOf(10_000), 2000, ids);
  const small = new Reassembler({ maxBytes: 9_000, timeoutMs: 100 });
  assert.throws(() => small.push(parts[0]!), { code: "E_FRAGMENT" });
  assert.equal(small.bytesInFlight, 0);
  const r = new Reassembler({ maxBytes: 25_000, timeoutMs: 100 });
  const a = fragmentFrame(frameOf(10_000), 2000, { requestId: "a", deviceId: "d" });
  const b = fragmentFrame(frameOf(10_000), 2000, { requestId: "b", deviceId: "d" });
  const c = fragmentFrame(frameOf(10_000), 2000, { requestId: "c", deviceId: "d" });
  r.push(a[0]!);
  r.push(b[0]!);
  assert.throws(() => r.push(c[0]!), (e: unknown) => e instanceof EdgecutError && e.code === "E_FRAGMENT" && /in flight/.test(e.message));
  assert.equal(reassemble(a.slice(1), r).length, 1, "the frames already admitted still complete");
  assert.equal(reassemble(c, r).length, 1, "memory freed by a completed frame admits the next one");
  const few = new Reassembler({ maxBytes: 1e9, timeoutMs: 100, maxPending: 2 });
  few.push(a[0]!);
  few.push(b[0]!);
  assert.throws(() => few.push(c[0]!), { code: "E_FRAGMENT" });
  assert.throws(() => new Reassembler({ maxBytes: 0, timeoutMs: 1 }), { code: "E_USAGE" });
});

test("inconsistent fragments are E_FRAGMENT; the partial frame they claim to belong to survives", () => {
  const f = frameOf(3000);
  const parts = fragmentFrame(f, 1000, ids);
  const header = (p: Uint8Array): Record<string, unknown> => JSON.parse(Buffer.from(p.subarray(10, 10 + new DataView(p.buffer, p.byteOffset).getUint32(6, true))).toString()) as Record<string, unknown>;
  const rebuild = (p: Uint8Array, edit: (h: Record<string, unknown>) => void, payloadDelta = 0): Uint8Array => {
    const h = header(p);
    const payload = p.subarray(10 + new DataView(p.buffer, p.byteOffset).getUint32(6, true));
    edit(h);
    const json = Buffer.from(JSON.stringify(h));
    const out = new Uint8Array(10 + json.length + payload.length + payloadDelta);
    out.set(p.subarray(0, 10));
    new DataView(out.buffer).setUint32(6, json.length, true);
    out.set(json, 10);
    out.set(payload.subarray(0, Math.min(payload.length, out.length - 10 - json.length)), 10 + json.length);
    return out;
  };
  const r = new Reassembler({ maxBytes: 1e6, timeoutMs: 100 });
  r.push(parts[0]!);
  const bad: [string, Uint8Array][] = [
    ["payload one byte short", rebuild(parts[1]!, () => {}, -1)],
    ["payload one byte long", rebuild(parts[1]!, () => {}, 1)],
    ["count that cannot carry totalBytes", rebuild(parts[1]!, (h) => { h.fragment = { index: 1, count: 9 }; })],
    ["totalBytes differs from the first fragment", rebuild(parts[1]!, (h) => { h.totalBytes = (h.totalBytes as number) + 1; })],
    ["index beyond count", rebuild(parts[1]!, (h) => { h.fragment = { index: parts.length, count: parts.length }; })],
    ["unknown key", rebuild(parts[1]!, (h) => { h.hops = 1; })],
    ["missing frameId", rebuild(parts[1]!, (h) => { delete h.frameId; })],
    ["count 1", rebuild(parts[1]!, (h) => { h.fragment = { index: 0, count: 1 }; })],
  ];
  for (const [what, msg] of bad) assert.throws(() => r.push(msg), { code: "E_FRAGMENT" }, what);
  assert.equal(reassemble(parts.slice(1), r).length, 1);
});

test("messages that are not fragments pass straight through, whatever they are", () => {
  const r = new Reassembler({ maxBytes: 1e6, timeoutMs: 100 });
  const small = encodeFrame(req, {});
  for (const m of [small, new Uint8Array(0), Buffer.from("hello"), Uint8Array.from([0x45, 0x43, 0x55, 0x54, 1, 0, 255, 255, 255, 255])]) {
    assert.equal(r.push(m), m);
  }
  // A fragment of another protocol version is not ours to reassemble: decodeFrame names the version.
  const v2 = Uint8Array.from(fragmentFrame(frameOf(3000), 1000, ids)[0]!);
  new DataView(v2.buffer).setUint16(4, 2, true);
  assert.equal(r.push(v2), v2);
  assert.throws(() => decodeFrame(v2), { code: "E_PROTOCOL_VERSION" });
  assert.equal(peekHeader(v2)?.header?.requestId, "req-7");
});

test("frames of different devices sharing a request id are kept apart; fragmentFrame refuses a cap below its header", () => {
  const f1 = frameOf(3000);
  const f2 = frameOf(3100);
  const p1 = fragmentFrame(f1, 1000, { requestId: "same", deviceId: "d1" });
  const p2 = fragmentFrame(f2, 1000, { requestId: "same", deviceId: "d2" });
  const interleaved = p1.flatMap((p, i) => [p, p2[i]!]).concat(p2.slice(p1.length)).filter(Boolean);
  const done = reassemble(interleaved);
  assert.equal(done.length, 2);
  assert.deepEqual(new Set(done.map((d) => d.length)), new Set([3000, 3100]));
  assert.throws(() => fragmentFrame(f1, 150, ids), { code: "E_USAGE" });
  assert.throws(() => fragmentFrame(f1, 0, ids), { code: "E_USAGE" });
  assert.throws(() => fragmentFrame(f1, 1000, { requestId: "", deviceId: "d" }), { code: "E_USAGE" });
});
