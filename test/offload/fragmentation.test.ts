// Fragmentation both ways: requests and replies larger than the message cap travel as fragments
// (4 KiB here), bytes count every message, a retry of a fragmented request is a new frame, and
// the broker's Maximum Packet Size sets the cap when none is configured.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OffloadClient } from "../../sdk/offload/client.js";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { publishPacketSize } from "../../sdk/transport/limits.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { PREFIX_BYTES, type FragmentHeader } from "../../sdk/wire/index.js";
import { splitFixture, startFakeWorker, tapTransport, type Tap } from "./support.js";

const CAP = 4096;
/** tiny-gpt at input_ids [2, 32]: 16 KiB cross each cut and the logits are 64 KiB. */
const wideGpt = () => splitFixture("tiny-gpt-wide", "tiny-gpt", { layers: 2 }, { shapes: { input_ids: [2, 32] } });

/** The JSON header of a fragment message (peekHeader reads only the ids). */
function fragmentHeader(msg: Uint8Array): FragmentHeader {
  const len = new DataView(msg.buffer, msg.byteOffset).getUint32(6, true);
  const h = JSON.parse(new TextDecoder().decode(msg.subarray(PREFIX_BYTES, PREFIX_BYTES + len))) as FragmentHeader;
  assert.equal(h.kind, "fragment");
  return h;
}

async function rig(t: { after: (fn: () => Promise<void>) => void }, o: { tap?: Partial<Tap>; busPacket?: number; clientCap?: number; timeoutMs?: number } = {}) {
  const f = await wideGpt();
  const bus = createMemoryBus(o.busPacket ? { maxPacketSize: o.busPacket } : {});
  const worker = await startFakeWorker({ transport: bus.connect(), manifestPath: f.manifestPath, maxMessageBytes: o.busPacket ? o.busPacket - 100 : CAP });
  const { transport, tap } = tapTransport(bus.connect(), o.tap);
  const client = new OffloadClient({ transport, deviceId: "pi-7", timeoutMs: o.timeoutMs ?? 2_000, backoffMs: 5, ...(o.clientCap ? { maxMessageBytes: o.clientCap } : {}) });
  await client.start();
  const runner = await SplitRunner.open(f.manifestPath, { client });
  t.after(async () => { await runner.close(); await client.close(); await worker.close(); });
  return { f, worker, client, runner, tap };
}

test("requests and replies over the 4 KiB cap travel as fragments both ways, at every split point", async (t) => {
  const { f, worker, runner, tap } = await rig(t, { clientCap: CAP });
  const n = runner.segmentCount;
  for (let k = 0; k < n; k++) {
    const sent = tap.published.length;
    const r = await runner.run(f.inputs, k);
    const cmp = compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 });
    assert.ok(cmp.ok, `k=${k}: ${JSON.stringify(cmp.outputs)}`);
    const msgs = tap.published.slice(sent);
    const req = worker.requests.at(-1)!;
    const rep = worker.replies.at(-1)!;
    assert.ok(msgs.every((m) => m.payload.byteLength <= CAP), `k=${k}: a message over ${CAP} bytes`);
    assert.equal(msgs.length, req.messages);
    if (k > 0) assert.ok(req.messages > 1, `k=${k}: the request should be fragmented (${req.frameBytes} bytes)`);
    assert.ok(rep.messages > 1, `k=${k}: the reply should be fragmented (${rep.bytes} bytes)`);
    assert.equal(r.breakdown.bytesUp, msgs.reduce((a, m) => a + m.payload.byteLength, 0), "bytes up = every fragment");
    if (req.messages > 1) assert.ok(r.breakdown.bytesUp > req.frameBytes, "fragment headers add to the frame");
    assert.equal(r.breakdown.bytesDown, rep.bytes, "bytes down = every reply fragment");
    assert.equal(r.breakdown.attempts, 1);
  }
  assert.deepEqual(worker.errors, []);
});

test("a lost reply fragment: the reply never completes, the retry goes out as a new frame and is answered", async (t) => {
  const { f, worker, client, runner, tap } = await rig(t, { clientCap: CAP, timeoutMs: 300, tap: { keep: (_topic, _p, n) => n !== 1 } });
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.equal(r.breakdown.attempts, 2);
  assert.equal(worker.requests.length, 2, "the worker reassembled and ran the retry");
  const frames = new Set(tap.published.map((m) => fragmentHeader(m.payload).frameId));
  assert.equal(frames.size, 2, "each attempt's fragments carry their own frameId");
  assert.equal(client.metrics().timeouts, 1);
});

test("without maxMessageBytes the broker's Maximum Packet Size caps each PUBLISH (topic overhead included)", async (t) => {
  const packet = 4096;
  const { f, runner, tap } = await rig(t, { busPacket: packet });
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.ok(tap.published.length > 1);
  for (const m of tap.published) assert.ok(publishPacketSize(m.topic, m.payload.byteLength, 5) <= packet);
  // The cap is used to the full: the first fragment fills its packet but for the header's slack.
  assert.ok(publishPacketSize(tap.published[0]!.topic, tap.published[0]!.payload.byteLength, 5) > packet - 64);
});

test("a configured maxMessageBytes above the broker's Maximum Packet Size is capped by it (the smaller of the two)", async (t) => {
  const packet = 4096;
  // The client is configured for 64 KiB messages, which this broker would refuse.
  const { f, runner, tap } = await rig(t, { busPacket: packet, clientCap: 64 * 1024 });
  const r = await runner.run(f.inputs, 1);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.ok(tap.published.length > 1, "the request went out in fragments");
  for (const m of tap.published) assert.ok(publishPacketSize(m.topic, m.payload.byteLength, 5) <= packet);
});

test("a reply whose fragments take longer than the client's default timeout completes within the request's own timeout", async (t) => {
  const f = await wideGpt();
  const bus = createMemoryBus();
  const inner = bus.connect();
  // The worker's messages leave 120 ms apart: the 64 KiB reply in 4 KiB fragments takes > 1.5 s.
  const slow: Transport = Object.assign(Object.create(Object.getPrototypeOf(inner) as object) as Transport, inner, {
    publish: async (topic: string, payload: Uint8Array) => {
      await new Promise((r) => setTimeout(r, 120));
      await inner.publish(topic, payload);
    },
  });
  const worker = await startFakeWorker({ transport: slow, manifestPath: f.manifestPath, maxMessageBytes: CAP });
  const client = new OffloadClient({ transport: bus.connect(), deviceId: "pi-7", timeoutMs: 300, retries: 0 });
  await client.start();
  const runner = await SplitRunner.open(f.manifestPath, { client });
  t.after(async () => { await runner.close(); await client.close(); await worker.close(); });
  const r = await runner.run(f.inputs, 1, { timeoutMs: 10_000 });
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.ok(r.breakdown.roundTripMs > 300, `the reply took ${r.breakdown.roundTripMs} ms, over the client's default timeout`);
  assert.equal(worker.replies.at(-1)!.messages > 10, true);
});
