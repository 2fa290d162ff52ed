// Hostile frames: 100,000 seeded random and mutated messages into decodeFrame, peekHeader and a
// Reassembler, then 12,000 more published at a real worker (startWorker on the memory bus, a
// real split of tiny-gpt). Nothing may crash, throw anything but the wire's EdgecutErrors, hang,
// or keep memory; every message the worker cannot run is answered with an E_ code or dropped
// with a log line, as its counters say; and it still answers a valid request afterwards.
import assert from "node:assert/strict";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { pino, type Logger } from "pino";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { EdgecutError, ERRORS } from "../../sdk/errors.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { topics } from "../../sdk/transport/topics.js";
import { decodeFrame, encodeFrame, peekHeader, Reassembler, type Encoding, type Frame, type ReplyHeader } from "../../sdk/wire/index.js";
import { makeSplit, maxAbsDiff, referenceChain, requestTensors, tempDir, type TestSplit } from "../cloud/support.js";
import { HAS_GC, heapAfterGc, mib } from "./heap.js";
import { FRAGMENT_MUTATIONS, mutate, mutateFragments, randomFrame, Rng, SINGLE_MUTATIONS, type MutationKind } from "./mutate.js";

const DECODER_MESSAGES = 100_000;
const WORKER_MESSAGES = 12_000;
const WIRE_CODES = new Set(["E_FRAME", "E_FRAME_LIMIT", "E_PROTOCOL_VERSION", "E_FRAGMENT"]);
const counts = { decoder: 0, worker: 0 };

/** Unhandled rejections and uncaught exceptions while the fuzz runs: there must be none. */
const stray: unknown[] = [];
const onStray = (e: unknown): void => { stray.push(e); };
before(() => {
  process.on("unhandledRejection", onStray);
  process.on("uncaughtException", onStray);
});
after(() => {
  process.off("unhandledRejection", onStray);
  process.off("uncaughtException", onStray);
});

/** The error a call threw, checked to be an EdgecutError of the wire; undefined when it returned. */
function wireError<T>(what: string, input: Uint8Array, fn: () => T): { value?: T; error?: EdgecutError } {
  try {
    return { value: fn() };
  } catch (e) {
    const hex = Buffer.from(input.subarray(0, 96)).toString("hex");
    assert.ok(e instanceof EdgecutError, `${what} threw a non-EdgecutError ${(e as Error)?.stack ?? String(e)}\ninput (${input.length} bytes) starts ${hex}`);
    assert.ok(WIRE_CODES.has(e.code), `${what} threw ${e.code}: ${e.message}\ninput starts ${hex}`);
    assert.ok(e.message.length > 10, `${what}: ${e.code} without a message`);
    return { error: e };
  }
}

/** A decoded frame is whole: every tensor's data fits its dims, and it encodes and decodes back to the same. */
function checkDecoded(f: Frame): void {
  for (const [name, t] of Object.entries(f.tensors)) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    assert.ok(t.data.length === n, `tensor ${name}: ${t.data.length} values for dims [${t.dims.join(", ")}]`);
  }
  const again = decodeFrame(encodeFrame(f.header, f.tensors));
  assert.deepEqual(again.header, JSON.parse(JSON.stringify(f.header)), "the header survives a round trip (as JSON: -0 is written 0)");
  for (const [name, t] of Object.entries(f.tensors)) {
    const u = again.tensors[name]!;
    assert.equal(u.type, t.type, name);
    assert.deepEqual(u.dims, t.dims.map((d) => d + 0), name); // -0 (JSON "-0") comes back as 0
    const bytes = (d: HostTensor["data"]): Buffer => Buffer.from((d as Uint8Array).buffer, (d as Uint8Array).byteOffset, (d as Uint8Array).byteLength);
    assert.ok(bytes(u.data).equals(bytes(t.data)), `tensor ${name} changed in a round trip`);
  }
}

test(`decoder: ${DECODER_MESSAGES} random and mutated messages into decodeFrame, peekHeader and a Reassembler`, (t) => {
  const r = new Rng(0xec07);
  const pool = Array.from({ length: 400 }, (_, i) => randomFrame(r, `req-${i}`));
  let clock = 0;
  const MAX_BYTES = 2 ** 20;
  const re = new Reassembler({ maxBytes: MAX_BYTES, timeoutMs: 1000, maxPending: 16, now: () => clock });
  const outcome = { decoded: 0, errors: new Map<string, number>(), reassembled: 0 };
  let slowest = 0;
  let baseline = { heap: 0, buffers: 0 };

  const feed = (msg: Uint8Array): void => {
    counts.decoder++;
    const t0 = performance.now();
    const peek = peekHeader(msg); // never throws
    if (peek !== undefined) assert.equal(typeof peek.version, "number");
    const d = wireError("decodeFrame", msg, () => decodeFrame(msg));
    if (d.value) {
      outcome.decoded++;
      checkDecoded(d.value);
    } else outcome.errors.set(d.error!.code, (outcome.errors.get(d.error!.code) ?? 0) + 1);
    const p = wireError("Reassembler.push", msg, () => re.push(msg));
    if (p.error) assert.equal(p.error.code, "E_FRAGMENT", `push: ${p.error.message}`);
    else if (p.value !== undefined && p.value !== msg) {
      outcome.reassembled++;
      const whole = p.value;
      const w = wireError("decodeFrame (reassembled)", whole, () => decodeFrame(whole));
      if (w.value) checkDecoded(w.value);
    }
    assert.ok(re.bytesInFlight <= MAX_BYTES && re.pendingFrames <= 16, `reassembler holds ${re.bytesInFlight} bytes in ${re.pendingFrames} frames`);
    slowest = Math.max(slowest, performance.now() - t0);
  };

  let unit = 0;
  while (counts.decoder < DECODER_MESSAGES) {
    unit++;
    if (unit === 2000) baseline = heapAfterGc();
    if (unit % 50 === 0) {
      clock += 1001; // partial frames time out, so the pending limit does not answer everything
      re.sweepFrames();
    }
    const base = r.pick(pool);
    if (r.chance(0.15)) {
      for (const m of mutateFragments(r, base, 220 + r.int(400), { requestId: `f-${unit}`, deviceId: "pi-1" }, r.pick(FRAGMENT_MUTATIONS))) feed(m);
    } else {
      feed(mutate(r, base, r.chance(0.02) ? "none" : r.pick(SINGLE_MUTATIONS), r.pick(pool)));
    }
  }
  const end = heapAfterGc();
  t.diagnostic(`decoder: ${counts.decoder} messages, ${outcome.decoded} decoded, ${outcome.reassembled} reassembled, errors ${JSON.stringify(Object.fromEntries(outcome.errors))}; ` +
    `slowest call ${slowest.toFixed(1)} ms; heap ${mib(baseline.heap)} -> ${mib(end.heap)}, buffers ${mib(baseline.buffers)} -> ${mib(end.buffers)} (gc: ${HAS_GC})`);
  assert.ok(counts.decoder >= DECODER_MESSAGES);
  for (const code of WIRE_CODES) assert.ok((outcome.errors.get(code) ?? 0) > 100, `the mix reaches ${code}`);
  assert.ok(outcome.decoded > 1000 && outcome.reassembled > 100, "valid frames stay in the mix");
  const bound = HAS_GC ? 32 * 2 ** 20 : 256 * 2 ** 20;
  assert.ok(end.heap - baseline.heap < bound, `heap grew by ${mib(end.heap - baseline.heap)}`);
  assert.ok(end.buffers - baseline.buffers < bound, `array buffers grew by ${mib(end.buffers - baseline.buffers)}`);
});

/** Pino records reduced to what the test counts (nothing is kept, so the heap stays flat). */
function countingLogger(): { logger: Logger; byMsg: Map<string, number>; errors: string[] } {
  const byMsg = new Map<string, number>();
  const errors: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        const rec = JSON.parse(line) as { level: number; msg: string; code?: string; err?: string };
        byMsg.set(rec.msg, (byMsg.get(rec.msg) ?? 0) + 1);
        if (rec.level >= 50 && !(rec.msg === "running the request failed" && rec.code !== "E_INTERNAL")) errors.push(`${rec.msg}: ${rec.err ?? ""}`);
      }
      cb();
    },
  });
  return { logger: pino({ level: "warn" }, sink), byMsg, errors };
}

const DROP_LOGS = ["undecodable message without a request id to answer; dropped", "a reply frame on a request topic; dropped"];

describe(`worker: ${WORKER_MESSAGES} mutated messages on its request topic`, () => {
  const models = tempDir("fuzz");
  const bus = createMemoryBus();
  const T = topics();
  const REASSEMBLY_MS = 1000;
  let skew = 0;
  let split: TestSplit;
  let ref: Map<string, HostTensor>;
  let worker: Worker;
  const log = countingLogger();
  /** Replies of the current batch, by request id. */
  const replies = new Map<string, ReplyHeader[]>();
  let replyCount = 0;
  const badReplies: string[] = [];

  before(async () => {
    split = await makeSplit("tiny-gpt", { layers: 2, dModel: 16, heads: 2, vocab: 64, maxPositions: 16 }, { input_ids: [1, 4] }, 3, path.join(models, "gpt", "split"));
    ref = await referenceChain(split);
    worker = await startWorker({
      transport: bus.connect(), models, logger: log.logger, now: () => performance.now() + skew, sweepIntervalMs: 5,
      reassembly: { timeoutMs: REASSEMBLY_MS, maxBytes: 16 * 2 ** 20 },
    });
    const device = bus.connect();
    const re = new Reassembler({ maxBytes: 2 ** 26, timeoutMs: 60_000 });
    await device.subscribe(T.replyTopic("pi-1"), (_t, payload) => {
      try {
        const whole = re.push(payload);
        if (whole === undefined) return;
        const h = decodeFrame(whole).header;
        assert.equal(h.kind, "reply");
        replyCount++;
        const list = replies.get(h.requestId) ?? [];
        list.push(h);
        replies.set(h.requestId, list);
      } catch (e) {
        badReplies.push(`a reply the device cannot read: ${(e as Error).message}`);
      }
    });
  });
  after(() => worker.stop());

  /** A valid request for a segment range, its float inputs in `encoding`. */
  function validFrame(requestId: string, r: Rng): Uint8Array {
    const ranges: [number, number][] = [[0, 3], [0, 1], [1, 2], [1, 3], [2, 3], [1, 1]];
    const [from, to] = r.pick(ranges);
    const tensors: TensorMap = from === to ? requestTensors(split.manifest, from, from + 1, ref) : requestTensors(split.manifest, from, to, ref);
    const wantOutputs = from === to ? Object.keys(tensors) : r.chance(0.2) ? [split.manifest.segments[to - 1]!.outputs[0]!.name] : undefined;
    const encoding: Encoding = r.pick(["fp32", "fp16", "int8-row", "int8-tensor"]);
    return encodeFrame({
      kind: "request", requestId, deviceId: "pi-1", splitId: split.manifest.splitId, segments: { from, to }, ttlMs: 30_000,
      ...(wantOutputs ? { wantOutputs } : {}),
    }, tensors, { encoding });
  }

  const outcomes = (): { dropped: number; answered: number } => {
    const m = worker.metrics();
    return { dropped: m.dropped, answered: Object.values(m.errors).reduce((a, b) => a + b, 0) + m.computed + m.replayedFromCache };
  };

  const flush = async (): Promise<void> => {
    for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  async function waitFor(cond: () => boolean, what: () => string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`hang: ${what()}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  test("every message is answered with an E_ code or dropped with a log; memory stays bounded; valid requests still run", async (t) => {
    const r = new Rng(0x5eed);
    const requestTopic = T.requestTopic("pi-1", split.manifest.splitId);
    const fuzzer = bus.connect();
    const known = new Set(Object.keys(ERRORS));
    const stats = { units: 0, fragmentUnits: 0, ok: 0, errors: new Map<string, number>(), drops: 0 };
    let baseline = { heap: 0, buffers: 0 };
    let batch = 0;
    while (counts.worker < WORKER_MESSAGES) {
      batch++;
      if (batch === 3) baseline = heapAfterGc();
      const messages: Uint8Array[] = [];
      const validIds = new Set<string>();
      for (let n = 0; n < 150; n++) {
        const id = `fz-${stats.units++}`;
        const base = validFrame(id, r);
        if (r.chance(0.2)) {
          stats.fragmentUnits++;
          validIds.add(id); // its fragments may still make the valid frame
          messages.push(...mutateFragments(r, base, 260 + r.int(200), { requestId: id, deviceId: "pi-1" }, r.pick(FRAGMENT_MUTATIONS)));
        } else {
          const kind: MutationKind = r.chance(0.03) ? "none" : r.pick(SINGLE_MUTATIONS);
          const m = mutate(r, base, kind, validFrame(`${id}-other`, r));
          messages.push(m);
          try {
            const f = decodeFrame(m);
            if (f.header.kind === "request") validIds.add(f.header.requestId);
          } catch {
            // not a valid frame: the worker must answer it with an error or drop it
          }
        }
      }
      // What the worker must do with each message, read from the message alone: a readable
      // request id (of anything but a reply) is answered; the rest is dropped.
      const expectIds = new Set<string>();
      let expectDrops = 0;
      for (const m of messages) {
        const p = peekHeader(m);
        const id = p?.header?.requestId;
        if (id !== undefined && p!.header!.kind !== "reply") expectIds.add(id);
        else expectDrops++;
      }
      replies.clear();
      const before0 = outcomes();
      const replies0 = replyCount;
      for (const m of messages) await fuzzer.publish(requestTopic, m);
      counts.worker += messages.length;
      await flush();
      await waitFor(() => worker.metrics().running === 0 && worker.metrics().queued === 0, () => "the worker's queue never emptied");
      skew += REASSEMBLY_MS + 1; // partial frames and held fragments time out at the next sweep
      const missing = (): string[] => [...expectIds].filter((id) => !replies.has(id));
      await waitFor(() => missing().length === 0 && outcomes().dropped - before0.dropped >= expectDrops,
        () => `batch ${batch}: no reply to ${missing().slice(0, 10).join(", ")} (${missing().length} missing); dropped ${outcomes().dropped - before0.dropped} of ${expectDrops}`);
      await new Promise((resolve) => setTimeout(resolve, 20)); // late replies (a second code for one id) land now
      await flush();
      const now = outcomes();
      assert.equal(now.dropped - before0.dropped, expectDrops, `batch ${batch}: drops`);
      assert.equal(replyCount - replies0, now.answered - before0.answered, `batch ${batch}: every error, computed and replayed reply reached the device`);
      for (const [id, list] of replies) {
        assert.ok(expectIds.has(id), `batch ${batch}: a reply to ${id}, which no message of the batch named`);
        for (const h of list) {
          if (h.ok) {
            assert.ok(validIds.has(id), `batch ${batch}: ok reply to ${id}, whose message was not a valid request`);
            stats.ok++;
          } else {
            assert.ok(known.has(h.error.code), `batch ${batch}: ${id} answered with ${h.error.code}, not a catalogue code`);
            assert.notEqual(h.error.code, "E_INTERNAL", `batch ${batch}: ${id}: ${h.error.message}`);
            assert.ok(h.error.message.length > 10, `${id}: ${h.error.code} without a message`);
            stats.errors.set(h.error.code, (stats.errors.get(h.error.code) ?? 0) + 1);
          }
        }
      }
      stats.drops += expectDrops;
    }
    await flush();
    const end = heapAfterGc();
    const m = worker.metrics();
    t.diagnostic(`worker: ${counts.worker} messages in ${stats.units} units (${stats.fragmentUnits} fragmented), ${stats.ok} ok replies, ` +
      `errors ${JSON.stringify(Object.fromEntries(stats.errors))}, ${stats.drops} dropped; metrics ${JSON.stringify({ received: m.received, computed: m.computed, busy: m.busy, dropped: m.dropped })}; ` +
      `heap ${mib(baseline.heap)} -> ${mib(end.heap)}, buffers ${mib(baseline.buffers)} -> ${mib(end.buffers)}`);
    t.diagnostic(`fuzz frames: ${counts.decoder} into the decoder + ${counts.worker} into the worker = ${counts.decoder + counts.worker} frames`);
    assert.ok(counts.decoder + counts.worker >= 100_000, `only ${counts.decoder + counts.worker} frames`);
    assert.deepEqual(badReplies, []);
    assert.deepEqual(log.errors, [], "the worker logged errors (an exception in its handler?)");
    assert.equal(DROP_LOGS.reduce((a, msg) => a + (log.byMsg.get(msg) ?? 0), 0), m.dropped, "every drop is logged");
    assert.deepEqual(stray, [], "unhandled rejections or uncaught exceptions");
    for (const code of ["E_FRAME", "E_FRAME_LIMIT", "E_PROTOCOL_VERSION", "E_FRAGMENT", "E_DEVICE_MISMATCH"]) assert.ok((stats.errors.get(code) ?? 0) > 10, `the mix reaches ${code}`);
    assert.ok(stats.ok > 50 && stats.drops > 100, "valid requests and unanswerable messages stay in the mix");
    const bound = HAS_GC ? 48 * 2 ** 20 : 256 * 2 ** 20;
    assert.ok(end.heap - baseline.heap < bound, `heap grew by ${mib(end.heap - baseline.heap)}`);
    assert.ok(end.buffers - baseline.buffers < bound, `array buffers grew by ${mib(end.buffers - baseline.buffers)}`);

    // Positive control: a valid request after all of that gets the reference outputs.
    replies.clear();
    const frames: Frame[] = [];
    const control = bus.connect();
    await control.subscribe(T.replyTopic("pi-ctl"), (_t, payload) => frames.push(decodeFrame(payload)));
    await control.publish(T.requestTopic("pi-ctl", split.manifest.splitId), encodeFrame({
      kind: "request", requestId: "control", deviceId: "pi-ctl", splitId: split.manifest.splitId, segments: { from: 0, to: 3 }, ttlMs: 30_000,
    }, requestTensors(split.manifest, 0, 3, ref)));
    await waitFor(() => frames.length > 0, () => "no reply to the control request");
    const h = frames[0]!.header;
    assert.ok(h.kind === "reply" && h.ok, JSON.stringify(h));
    assert.ok(maxAbsDiff(frames[0]!.tensors.logits!, ref.get("logits")!) <= 1e-5);
  });

  test("a probe asking to echo names every object has (constructor, toString) is refused with E_FRAME", async () => {
    const frames: Frame[] = [];
    const device = bus.connect();
    await device.subscribe(T.replyTopic("pi-proto"), (_t, payload) => frames.push(decodeFrame(payload)));
    await device.publish(T.requestTopic("pi-proto", split.manifest.splitId), encodeFrame({
      kind: "request", requestId: "proto", deviceId: "pi-proto", splitId: split.manifest.splitId, segments: { from: 1, to: 1 }, ttlMs: 30_000,
      wantOutputs: ["constructor", "toString"],
    }, requestTensors(split.manifest, 1, 2, ref)));
    await waitFor(() => frames.length > 0, () => "no reply to the probe");
    const h = frames[0]!.header as ReplyHeader;
    assert.ok(!h.ok);
    assert.equal(h.error.code, "E_FRAME", h.error.message);
    assert.match(h.error.message, /"constructor"/);
  });
});
