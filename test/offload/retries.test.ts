// Exactly one result per request id: timeouts retried with the same id, late and duplicate
// replies dropped and counted, E_BUSY / E_FRAGMENT / E_EXPIRED retried then surfaced, error
// replies to superseded attempts ignored, E_TIMEOUT when nobody answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OffloadClient } from "../../sdk/offload/client.js";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import type { OffloadClientOptions } from "../../sdk/offload/types.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { peekHeader } from "../../sdk/wire/index.js";
import { mlpSplit, sleep, startFakeWorker, tapTransport, type Behaviour, type Tap } from "./support.js";

interface RigOptions {
  behave?: (n: number) => Behaviour | undefined;
  tap?: Partial<Tap>;
  client?: Partial<OffloadClientOptions>;
  noWorker?: boolean;
}

async function rig(t: { after: (fn: () => Promise<void>) => void }, o: RigOptions = {}) {
  const f = await mlpSplit();
  const bus = createMemoryBus();
  const worker = o.noWorker ? undefined : await startFakeWorker({
    transport: bus.connect(), manifestPath: f.manifestPath, ...(o.behave ? { behave: (_h, n) => o.behave!(n) } : {}),
  });
  const { transport, tap } = tapTransport(bus.connect(), o.tap);
  const client = new OffloadClient({ transport, deviceId: "pi-7", timeoutMs: 200, backoffMs: 5, ...o.client });
  await client.start();
  const runner = await SplitRunner.open(f.manifestPath, { client });
  t.after(async () => {
    await runner.close();
    await client.close();
    await worker?.close();
  });
  return { f, worker, client, runner, tap };
}

const idOf = (payload: Uint8Array): string | undefined => peekHeader(payload)?.header?.requestId;

test("a lost reply: the attempt times out, the retry carries the same request id, the result arrives once", async (t) => {
  const { f, worker, client, runner, tap } = await rig(t, { tap: { keep: (_t, _p, n) => n !== 0 } });
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.equal(r.breakdown.attempts, 2);
  assert.ok(r.breakdown.roundTripMs >= 200, `the round trip includes the timed-out attempt: ${r.breakdown.roundTripMs} ms`);
  assert.equal(worker!.requests.length, 2);
  const [a, b] = worker!.requests;
  assert.equal(a!.header.requestId, b!.header.requestId, "a retry reuses the request id");
  assert.deepEqual(tap.published.map((m) => idOf(m.payload)), [a!.header.requestId, a!.header.requestId]);
  assert.equal(r.breakdown.bytesUp, a!.frameBytes + b!.frameBytes, "bytes up count every attempt");
  assert.equal(r.breakdown.bytesDown, worker!.replies[1]!.bytes, "the dropped reply never reached the client");
  const m = client.metrics();
  assert.deepEqual([m.requests, m.succeeded, m.attempts, m.timeouts, m.retries, m.duplicateReplies, m.inFlight], [1, 1, 2, 1, 1, 0, 0]);
});

test("a late reply: the first answer arrives after the retry went out, settles the request, and the retry's answer is dropped", async (t) => {
  const { f, worker, client, runner } = await rig(t, { behave: (n) => (n === 0 ? { delayMs: 350 } : undefined) });
  const r = await runner.run(f.inputs, 2);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.equal(r.breakdown.attempts, 2);
  await worker!.idle();
  await sleep(20);
  assert.equal(worker!.replies.length, 2, "the worker answered both attempts");
  const m = client.metrics();
  assert.equal(m.succeeded, 1);
  assert.equal(m.duplicateReplies, 1, "the second answer for the same id is dropped and counted");
  assert.equal(m.timeouts, 1);
});

test("every reply delivered twice (QoS 1 redelivery): one result, the copy counted as a duplicate", async (t) => {
  const { f, client, runner } = await rig(t, { tap: { copies: 2 } });
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.equal(r.breakdown.attempts, 1);
  await sleep(10);
  const m = client.metrics();
  assert.deepEqual([m.succeeded, m.duplicateReplies, m.unknownReplies], [1, 1, 0]);
});

test("E_BUSY is retried after a backoff, with the same id, and the request then succeeds", async (t) => {
  const busy = { error: { code: "E_BUSY", message: "queue full" } };
  const { f, worker, client, runner } = await rig(t, { behave: (n) => (n < 2 ? busy : undefined), client: { retries: 2 } });
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.equal(r.breakdown.attempts, 3);
  assert.equal(new Set(worker!.requests.map((q) => q.header.requestId)).size, 1);
  const m = client.metrics();
  assert.deepEqual([m.busyReplies, m.retries, m.timeouts, m.succeeded], [2, 2, 0, 1]);
});

test("E_BUSY past the retry budget surfaces as E_BUSY after 1 + retries attempts", async (t) => {
  const { f, worker, client, runner } = await rig(t, { behave: () => ({ error: { code: "E_BUSY", message: "queue full" } }), client: { retries: 1 } });
  await assert.rejects(runner.run(f.inputs, 1), (e: Error & { code?: string; remoteCode?: string }) => {
    assert.equal(e.code, "E_BUSY");
    assert.equal(e.remoteCode, "E_BUSY");
    assert.match(e.message, /queue full.*2 attempt/);
    return true;
  });
  assert.equal(worker!.requests.length, 2);
  const m = client.metrics();
  assert.deepEqual([m.failed, m.failures.E_BUSY, m.busyReplies, m.inFlight], [1, 1, 2, 0]);
});

for (const code of ["E_FRAGMENT", "E_EXPIRED"]) {
  test(`${code} is retried like E_BUSY (same id, same budget), and the request then succeeds`, async (t) => {
    const refusal = { error: { code, message: `worker says ${code}` } };
    const { f, worker, client, runner } = await rig(t, { behave: (n) => (n === 0 ? refusal : undefined), client: { retries: 1 } });
    const r = await runner.run(f.inputs, 1);
    assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
    assert.equal(r.breakdown.attempts, 2);
    assert.equal(new Set(worker!.requests.map((q) => q.header.requestId)).size, 1);
    const m = client.metrics();
    assert.deepEqual([m.errorReplies, m.retries, m.timeouts, m.succeeded, m.failed], [1, 1, 0, 1, 0]);
  });

  test(`${code} past the retry budget surfaces as ${code} after 1 + retries attempts`, async (t) => {
    const { f, worker, client, runner } = await rig(t, { behave: () => ({ error: { code, message: `worker says ${code}` } }), client: { retries: 2 } });
    await assert.rejects(runner.run(f.inputs, 1), { code, message: new RegExp(`worker says ${code}.*3 attempt`) });
    assert.equal(worker!.requests.length, 3);
    assert.deepEqual(client.metrics().failures, { [code]: 1 });
  });
}

for (const code of ["E_FRAGMENT", "E_RUNTIME"]) {
  test(`an error reply (${code}) to an attempt a retry superseded is ignored: the retry's answer decides`, async (t) => {
    // Attempt 1 times out at 200 ms; the worker (one slot) answers it with an error at 300 ms,
    // while attempt 2 (the last of the budget) is pending; attempt 2 is then answered ok.
    const late = { delayMs: 300, error: { code, message: `late ${code} for attempt 1` } };
    const { f, worker, client, runner } = await rig(t, { behave: (n) => (n === 0 ? late : undefined), client: { retries: 1, timeoutMs: 200 } });
    const r = await runner.run(f.inputs, 1);
    assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
    assert.equal(r.breakdown.attempts, 2);
    assert.equal(worker!.replies[0]!.header.ok, false, "the worker did answer attempt 1 with the error");
    const m = client.metrics();
    assert.deepEqual([m.supersededReplies, m.timeouts, m.succeeded, m.failed], [1, 1, 1, 0]);
  });
}

test("an error reply to the current attempt still fails the request after an earlier one was superseded", async (t) => {
  // Attempt 1 gets no answer at all (dropped); every later answer is E_RUNTIME. Each is taken for
  // the answer of the attempt before (ignored) until the last attempt times out: the request then
  // fails with the E_RUNTIME that came during it, not E_TIMEOUT.
  const refusal = { error: { code: "E_RUNTIME", message: "model broke" } };
  const { f, client, runner } = await rig(t, { behave: (n) => (n === 0 ? { drop: true } : refusal), client: { retries: 2, timeoutMs: 100 } });
  await assert.rejects(runner.run(f.inputs, 1), { code: "E_RUNTIME", message: /model broke.*3 attempt/ });
  const m = client.metrics();
  assert.deepEqual([m.attempts, m.supersededReplies, m.failed, m.failures.E_RUNTIME], [3, 2, 1, 1]);
});

test("nobody answers: E_TIMEOUT after 1 + retries attempts, every one with the same request id", async (t) => {
  const { f, client, runner, tap } = await rig(t, { noWorker: true, client: { timeoutMs: 40, retries: 2 } });
  const t0 = performance.now();
  await assert.rejects(runner.run(f.inputs, 1), { code: "E_TIMEOUT", message: /3 attempt/ });
  assert.ok(performance.now() - t0 >= 110, "three attempts of 40 ms each");
  const ids = tap.published.map((m) => idOf(m.payload));
  assert.equal(ids.length, 3);
  assert.equal(new Set(ids).size, 1);
  assert.match(ids[0]!, /^pi-7-\d+-[0-9a-f]{6}$/);
  const m = client.metrics();
  assert.deepEqual([m.attempts, m.timeouts, m.retries, m.failures.E_TIMEOUT, m.inFlight], [3, 3, 2, 1, 0]);
  // A per-run timeout and retries of 0 via the client's default.
  const c0 = new OffloadClient({ transport: tapTransport(createMemoryBus().connect()).transport, deviceId: "pi-8", retries: 0 });
  await c0.start();
  await assert.rejects(c0.request(f.manifest.splitId, { from: 1, to: 2 }, {}, { timeoutMs: 20 }), { code: "E_TIMEOUT", message: /1 attempt/ });
  await c0.close();
});

test("concurrent requests on one client each get their own reply", async (t) => {
  const { f, client, runner } = await rig(t, { client: { timeoutMs: 5_000 } });
  const n = runner.segmentCount;
  const runs = await Promise.all([0, 1, 2, 3, 1, 2, 0].filter((k) => k <= n).map((k) => runner.run(f.inputs, k)));
  for (const r of runs) assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  const m = client.metrics();
  assert.equal(m.succeeded, runs.filter((r) => r.breakdown.k < n).length);
  assert.equal(m.duplicateReplies + m.unknownReplies, 0);
});

test("close() fails pending requests with E_BROKER; request() before start() or after close() is E_USAGE", async () => {
  const f = await mlpSplit();
  const bus = createMemoryBus();
  const client = new OffloadClient({ transport: bus.connect(), deviceId: "pi-7", timeoutMs: 60_000 });
  await assert.rejects(client.request(f.manifest.splitId, { from: 1, to: 2 }, {}), { code: "E_USAGE", message: /start\(\)/ });
  await client.start();
  await client.start(); // idempotent
  const pending = client.request(f.manifest.splitId, { from: 1, to: 2 }, {});
  await sleep(5);
  assert.equal(client.metrics().inFlight, 1);
  await client.close();
  await assert.rejects(pending, { code: "E_BROKER", message: /closed/ });
  assert.equal(client.metrics().inFlight, 0);
  await assert.rejects(client.request(f.manifest.splitId, { from: 1, to: 2 }, {}), { code: "E_USAGE", message: /closed/ });
  await client.close(); // idempotent
});
