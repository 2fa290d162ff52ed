// SplitRunner end to end on the memory bus with the fake worker: every split point k = 0..n of a
// small split gives the whole model's outputs, bytes up are exactly the request frame, the other
// encodings stay within the wire format's documented bounds, and k = n touches no network.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OffloadClient } from "../../sdk/offload/client.js";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { encodedByteLength, type Encoding } from "../../sdk/wire/index.js";
import { gptSplit, kvSplit, mlpSplit, startFakeWorker, tapTransport, type SplitFixture } from "./support.js";

const bytesOf = (m: TensorMap, names: readonly string[]): number =>
  names.reduce((a, n) => a + (m[n]!.data as ArrayBufferView).byteLength, 0);

async function rig(t: { after: (fn: () => Promise<void>) => void }, f: SplitFixture) {
  const bus = createMemoryBus();
  const worker = await startFakeWorker({ transport: bus.connect(), manifestPath: f.manifestPath });
  const { transport, tap } = tapTransport(bus.connect());
  const client = new OffloadClient({ transport, deviceId: "pi-7" });
  await client.start();
  const runner = await SplitRunner.open(f.manifestPath, { client });
  t.after(async () => {
    await runner.close();
    await client.close();
    await worker.close();
  });
  return { worker, client, runner, tap };
}

for (const [name, fixture] of [["mlp", mlpSplit], ["tiny-gpt (2 layers)", gptSplit], ["tiny-gpt --kv-cache (model inputs cross)", kvSplit]] as const) {
  test(`${name}: every split point k = 0..n matches the whole model (fp32, 1e-5); bytes up are the request frame`, async (t) => {
    const f = await fixture();
    const { worker, client, runner, tap } = await rig(t, f);
    const n = runner.segmentCount;
    assert.ok(n >= 3, `${name}: ${n} segments; the test wants a front, a middle and a back`);
    if (fixture === kvSplit) assert.ok(f.manifest.cuts.some((c) => c.modelInputs.length > 0), "some cut carries a model input");
    for (let k = 0; k <= n; k++) {
      const before = worker.requests.length;
      const publishedBefore = tap.published.length;
      const r = await runner.run(f.inputs, k);
      const cmp = compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 });
      assert.ok(cmp.ok, `k=${k}: ${JSON.stringify(cmp.outputs)}`);
      assert.deepEqual(Object.keys(r.outputs), f.manifest.model.outputs.map((o) => o.name));
      const b = r.breakdown;
      assert.equal(b.k, k);
      assert.equal(b.segments, n);
      if (k === n) {
        assert.equal(worker.requests.length, before, "k = n sends nothing");
        assert.equal(tap.published.length, publishedBefore, "k = n publishes nothing");
        assert.deepEqual([b.bytesUp, b.bytesDown, b.attempts, b.roundTripMs, b.encodeMs], [0, 0, 0, 0, 0]);
        continue;
      }
      assert.equal(worker.requests.length, before + 1, `k=${k}: one request`);
      const req = worker.requests.at(-1)!;
      const plan = runner.plan(k);
      assert.deepEqual(req.header.segments, { from: k, to: n });
      assert.equal(req.header.splitId, f.manifest.splitId);
      assert.equal(req.header.deviceId, "pi-7");
      assert.equal(req.header.ttlMs, 10_000);
      assert.deepEqual(req.header.wantOutputs, plan.wantOutputs);
      assert.deepEqual(Object.keys(req.tensors).sort(), [...plan.send].sort());

      // What crosses: the cut's tensors at the split's shapes (the manifest's bytes), plus the model inputs the back reads.
      const cut = k === 0 ? undefined : f.manifest.cuts[k - 1]!;
      const crossing = cut ? cut.tensors.reduce((a, c) => a + c.bytes, 0) : 0;
      const inputNames = cut ? cut.modelInputs : f.manifest.model.inputs.map((i) => i.name);
      const payload = bytesOf(req.tensors, Object.keys(req.tensors));
      assert.equal(payload, crossing + bytesOf(f.inputs, inputNames), `k=${k}: tensor bytes on the wire = crossing bytes of the manifest + model inputs`);
      // The exact relation for fp32: bytes up are the one encoded frame, header and 64-byte padding included.
      assert.equal(b.bytesUp, req.frameBytes, `k=${k}: bytes up = the frame the worker decoded`);
      assert.equal(b.bytesUp, encodedByteLength({ ...req.header }, req.tensors), `k=${k}: bytes up = encodedByteLength`);
      assert.equal(req.messages, 1);
      const overhead = b.bytesUp - payload;
      assert.ok(overhead > 0 && overhead < 10 + JSON.stringify(req.header).length + 200 * (Object.keys(req.tensors).length + 1) + 64, `k=${k}: overhead ${overhead}`);
      assert.equal(b.bytesDown, worker.replies.at(-1)!.bytes, `k=${k}: bytes down = the reply's messages`);
      assert.equal(b.attempts, 1);
      assert.ok(b.roundTripMs >= b.cloudComputeMs && b.totalMs >= b.localMs + b.roundTripMs);
    }
    // Sessions are cached per runner: a second run loads nothing.
    const again = await runner.run(f.inputs, n);
    assert.equal(again.breakdown.loadMs, 0);
    const m = client.metrics();
    assert.equal(m.requests, n);
    assert.equal(m.succeeded, n);
    assert.equal(m.attempts, n);
    assert.deepEqual([m.failed, m.retries, m.duplicateReplies, m.unknownReplies, m.badMessages, m.inFlight], [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(worker.errors, []);
  });
}

/** The output bounds the wire format asserts for the built-in models (docs/wire-format.md §5.4). */
const TOLERANCE: Record<Exclude<Encoding, "fp32" | "raw">, number> = { fp16: 1e-3, "int8-tensor": 3e-2, "int8-row": 3e-2 };

test("tiny-gpt: fp16, int8-tensor and int8-row at every cut stay within the documented bounds, with their section sizes", async (t) => {
  const f = await gptSplit();
  const { worker, runner } = await rig(t, f);
  const n = runner.segmentCount;
  for (let k = 1; k < n; k++) {
    const fp32 = (await runner.run(f.inputs, k)).breakdown.bytesUp;
    for (const [encoding, atol] of Object.entries(TOLERANCE) as [Encoding, number][]) {
      const r = await runner.run(f.inputs, k, { encoding });
      const cmp = compareOutputs(f.expected, r.outputs, { atol, rtol: 0 });
      assert.ok(cmp.ok, `k=${k} ${encoding}: ${JSON.stringify(cmp.outputs)}`);
      const req = worker.requests.at(-1)!;
      assert.equal(r.breakdown.bytesUp, req.frameBytes);
      assert.equal(r.breakdown.bytesUp, encodedByteLength({ ...req.header }, req.tensors, { encoding }), `k=${k} ${encoding}: bytes up = the encoded frame`);
      assert.ok(r.breakdown.bytesUp < fp32, `k=${k} ${encoding}: ${r.breakdown.bytesUp} bytes, fp32 ${fp32}`);
    }
  }
  assert.deepEqual(worker.errors, []);
});

test("k = n runs without a client or any transport; k < n without a client is E_USAGE; k outside 0..n is E_USAGE", async (t) => {
  const f = await mlpSplit();
  const runner = await SplitRunner.open(f.manifestPath);
  t.after(() => runner.close());
  const n = runner.segmentCount;
  const r = await runner.run(f.inputs, n);
  assert.ok(compareOutputs(f.expected, r.outputs, { atol: 1e-5, rtol: 0 }).ok);
  assert.equal(r.breakdown.attempts, 0);
  await assert.rejects(runner.run(f.inputs, n - 1), { code: "E_USAGE", message: /OffloadClient/ });
  for (const k of [-1, n + 1, 1.5, Number.NaN]) await assert.rejects(runner.run(f.inputs, k), { code: "E_USAGE", message: /split point/ });
});

test("inputs that do not fit the model: E_INPUT_MISSING or E_USAGE before anything runs", async (t) => {
  const f = await mlpSplit();
  const runner = await SplitRunner.open(f.manifestPath);
  t.after(() => runner.close());
  const x = f.inputs.x!;
  await assert.rejects(runner.run({}, 1), { code: "E_INPUT_MISSING" });
  await assert.rejects(runner.run({ ...f.inputs, y: x }, 1), { code: "E_USAGE", message: /not a model input/ });
  await assert.rejects(runner.run({ x: { type: "float64", dims: x.dims, data: new Float64Array(x.data.length) } }, 1), { code: "E_USAGE", message: /float64/ });
  await assert.rejects(runner.run({ x: { ...x, dims: [64] } as typeof x }, 1), { code: "E_USAGE", message: /rank/ });
  await assert.rejects(runner.run({ x: { ...x, dims: [1, 64] } as typeof x }, 1), { code: "E_USAGE", message: /fixed at 32/ });
  await assert.rejects(SplitRunner.open("/nonexistent/manifest.json"), { code: "E_MANIFEST" });
});
