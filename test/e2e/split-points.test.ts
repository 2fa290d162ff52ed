// End to end on each broker (aedes embedded, mosquitto): `edgecut cloud` runs as a separate process
// serving tiny-gpt (3 layers) and tiny-cnn, each split at every local-minimum candidate (9 and 3
// segments); the device (SplitRunner + OffloadClient over MQTT, in this process) runs every split
// point k = 0..n and gets the whole model's outputs (fp32, within 1e-5). The bytes sent are the
// manifest's crossing bytes (plus the model inputs the back reads) plus the frame overhead, the
// overhead computed independently from the frame's header length and its tensor table. Then
// `edgecut infer --split 1` as a process against the same worker writes the whole model's outputs.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { readTensorFile, writeTensorFile } from "../../sdk/runtime/tensor-file.js";
import { peekHeader, decodeFrame, encodedByteLength } from "../../sdk/wire/index.js";
import { brokerMatrix, type BrokerHandle } from "../support/brokers.js";
import {
  connectDevice, dataBytes, readFrameLayout, requestsDone, runCliProcess, spawnWorker, standardSplits, tempDir, finalMetrics,
  type Device, type E2ESplit, type WorkerProcess,
} from "./support.js";

const TOL = { atol: 1e-5, rtol: 0 };
const root = tempDir("split-points");
const splits = standardSplits(path.join(root, "models"));

for (const kind of brokerMatrix()) {
  describe(`${kind.name}: edgecut cloud process, every split point`, { skip: kind.skip }, () => {
    let broker: BrokerHandle;
    let worker: WorkerProcess;
    let device: Device;
    /** Requests the device sent that the worker must have computed. */
    let sent = 0;

    before(async () => {
      await splits;
      broker = await kind.start();
      worker = await spawnWorker({ broker: broker.url, models: path.join(root, "models"), clientId: `e2e-worker-points-${kind.name}` });
      device = await connectDevice(broker.url, `points-${kind.name}`);
    });

    after(async () => {
      await device?.close();
      await worker?.stop();
      await broker?.close();
    });

    test("the worker process is ready with both splits, on the expected kind of subscription", async () => {
      const { gpt, cnn } = await splits;
      assert.deepEqual([...(worker.ready.splits as string[])].sort(), [gpt.manifest.splitId, cnn.manifest.splitId].sort());
      assert.equal(worker.ready.shared, kind.sharedSubscriptions);
      assert.equal(worker.ready.protocolVersion, kind.protocolVersion);
      assert.ok(gpt.manifest.segments.length >= 3 && cnn.manifest.segments.length >= 3, "at least 3 segments each");
    });

    for (const which of ["gpt", "cnn"] as const) {
      test(`${which === "gpt" ? "tiny-gpt (3 layers)" : "tiny-cnn"}: every k = 0..n equals the whole model; bytes up = crossing bytes + frame overhead`, async () => {
        const f: E2ESplit = (await splits)[which];
        const m = f.manifest;
        const runner = await SplitRunner.open(f.manifestPath, { client: device.client, intraOpThreads: 1 });
        const ids: string[] = [];
        try {
          const n = runner.segmentCount;
          assert.equal(n, m.cuts.length + 1);
          for (let k = 0; k <= n; k++) {
            const before = device.tap.published.length;
            const r = await runner.run(f.inputs, k, { encoding: "fp32" });
            const cmp = compareOutputs(f.expected, r.outputs, TOL);
            assert.ok(cmp.ok, `k=${k}: ${JSON.stringify(cmp.outputs)}`);
            const msgs = device.tap.published.slice(before);
            if (k === n) {
              assert.equal(msgs.length, 0, "k = n touches no network");
              assert.equal(r.breakdown.bytesUp, 0);
              continue;
            }
            assert.equal(msgs.length, 1, `k=${k}: one message, not fragmented`);
            const payload = msgs[0]!.payload;
            assert.equal(r.breakdown.bytesUp, payload.byteLength, `k=${k}: bytesUp is the one message`);
            assert.equal(r.breakdown.attempts, 1);

            // What the manifest says crosses: cuts[k-1] (tensors + model inputs the back reads), or every model input for k = 0.
            const cut = k === 0 ? undefined : m.cuts[k - 1]!;
            if (cut) assert.equal(cut.after, k - 1);
            const expectBytes = new Map<string, number>();
            for (const t of cut?.tensors ?? []) expectBytes.set(t.name, t.bytes);
            for (const name of cut ? cut.modelInputs : m.model.inputs.map((i) => i.name)) expectBytes.set(name, dataBytes(f.inputs[name]!));
            const crossing = [...expectBytes.values()].reduce((a, b) => a + b, 0);

            // The frame read by hand: its table names exactly those tensors, each section as long as the manifest says.
            const layout = readFrameLayout(payload);
            assert.equal(layout.version, 1);
            assert.equal(layout.header.kind, "request");
            assert.equal(layout.header.splitId, m.splitId);
            assert.equal(layout.header.deviceId, device.client.deviceId);
            assert.deepEqual(layout.header.segments, { from: k, to: n });
            assert.deepEqual(layout.table.map((t) => t.name).sort(), [...expectBytes.keys()].sort(), `k=${k}: what crosses`);
            for (const t of layout.table) {
              assert.equal(t.length, expectBytes.get(t.name), `k=${k}: ${t.name} carries the manifest's bytes`);
              assert.equal(t.encoding, t.type === "float32" ? "fp32" : "raw");
            }
            assert.equal(layout.payloadBytes, crossing);
            // Overhead = prefix + JSON header + zero padding to 64-byte sections, and nothing else.
            assert.equal(payload.byteLength, layout.expectedLength, `k=${k}: frame length from header length and table`);
            const overhead = r.breakdown.bytesUp - crossing;
            assert.ok(overhead >= 10 + layout.headerLength && overhead < 10 + layout.headerLength + 64 * layout.table.length,
              `k=${k}: overhead ${overhead} is the ${10 + layout.headerLength}-byte prefix and header plus under 64 bytes of padding per section`);
            // And the encoder's own size computation agrees.
            const { header, tensors } = decodeFrame(payload);
            assert.equal(r.breakdown.bytesUp, encodedByteLength(header, tensors), `k=${k}: bytesUp = encodedByteLength of the request`);
            assert.ok(r.breakdown.bytesDown > 0 && r.breakdown.cloudComputeMs >= 0);
            ids.push(peekHeader(payload)!.header!.requestId!);
          }
          sent += ids.length;
          // Each request was computed once by the worker process (its JSON log lines say so).
          await worker.waitFor(() => requestsDone(worker, device.client.deviceId).length >= sent, `${sent} "request done" lines`);
          const done = requestsDone(worker, device.client.deviceId).filter((r) => ids.includes(r.requestId as string));
          assert.deepEqual(done.map((r) => r.requestId).sort(), [...ids].sort());
          for (const d of done) assert.equal(d.splitId, m.splitId);
        } finally {
          await runner.close();
        }
      });
    }

    test("edgecut infer --split 1 as a process against the worker process: exit 0, out.json = the whole model's outputs", async () => {
      const { gpt } = await splits;
      const dir = tempDir(`infer-${kind.name}`);
      const inFile = path.join(dir, "in.json");
      const outFile = path.join(dir, "out.json");
      writeTensorFile(inFile, gpt.inputs);
      const deviceId = `cli-${kind.name}`;
      const r = await runCliProcess(["infer", gpt.manifestPath, "--split", "1", "--broker", broker.url, "--inputs", inFile, "--out", outFile,
        "--json", "--device-id", deviceId, "--timeout", "10s"]);
      assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
      const out = readTensorFile(outFile);
      assert.deepEqual(Object.keys(out).sort(), Object.keys(gpt.expected).sort());
      const cmp = compareOutputs(gpt.expected, out, TOL);
      assert.ok(cmp.ok, JSON.stringify(cmp.outputs));
      const j = JSON.parse(r.stdout) as { outputs: Array<{ name: string; dims: number[] }>; breakdown: Record<string, number> };
      assert.equal(j.breakdown.k, 1);
      assert.equal(j.breakdown.segments, gpt.manifest.segments.length);
      assert.equal(j.breakdown.attempts, 1);
      const crossing = gpt.manifest.cuts[0]!.tensors.reduce((a, t) => a + t.bytes, 0);
      assert.ok(j.breakdown.bytesUp! > crossing && j.breakdown.bytesUp! < crossing + 2048, `bytesUp ${j.breakdown.bytesUp} vs crossing ${crossing}`);
      const done = await worker.waitFor((x) => x.msg === "request done" && x.deviceId === deviceId, `the infer request's "request done"`);
      assert.deepEqual(done.segments, { from: 1, to: gpt.manifest.segments.length });
      sent++;
    });

    test("SIGTERM: the worker exits 0; its final metrics count every request computed and no errors", async () => {
      assert.equal(await worker.stop(), 0, worker.tail());
      const metrics = finalMetrics(worker);
      assert.equal(metrics.computed, sent);
      assert.equal(metrics.replayedFromCache, 0);
      assert.deepEqual(metrics.errors, {});
      assert.ok(worker.records.every((r) => !("raw" in r)), `every log line is JSON:\n${worker.tail()}`);
    });
  });
}
