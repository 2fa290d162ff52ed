/**
 * `npm run demo`: split inference end to end on this machine. Builds the tiny GPT model (cached
 * in .cache/demo), splits it at its candidate cuts, starts the embedded MQTT broker and a cloud
 * worker, then runs one request at every split point k (k = 0: all in the cloud; k = n: all on
 * the device) and prints the breakdown and the largest difference from the whole model. Then
 * split generation with a KV cache (scripts/demo-generate.ts), and the device agent picking the
 * split itself while the link changes (scripts/demo-agent.ts).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Graph } from "../sdk/graph/graph.js";
import { analyze, symbolicTypeOf } from "../sdk/graph/analyze.js";
import { candidateCuts } from "../sdk/graph/cuts.js";
import { assignmentFromFronts } from "../sdk/graph/segmentation.js";
import { partition } from "../sdk/graph/partition.js";
import { writeSplit } from "../sdk/graph/split.js";
import { buildModel } from "../sdk/graph/models/index.js";
import { saveModel } from "../sdk/graph/model-io.js";
import { OrtSession } from "../sdk/runtime/ort.js";
import { sampleInputs } from "../sdk/runtime/sample-inputs.js";
import { compareOutputs } from "../sdk/runtime/compare.js";
import { startEmbeddedBroker } from "../sdk/transport/embedded-broker.js";
import { connectMqtt } from "../sdk/transport/mqtt.js";
import { OffloadClient, SplitRunner } from "../sdk/offload/index.js";
import { startWorker } from "../cloud-stub/index.js";
import { createLogger } from "../cloud-stub/log.js";
import { agentDemo } from "./demo-agent.js";
import { generationDemo, prepareGenerationSplit } from "./demo-generate.js";

const root = path.resolve(import.meta.dirname, "..");
const cache = path.join(root, ".cache", "demo");
const MODEL_OPTS = { layers: 4, dModel: 64, heads: 4, vocab: 256 } as const;
const SHAPE = { input_ids: [1, 32] };
const started = performance.now();

// 1. The model, built once and cached (the options are part of the file name).
fs.mkdirSync(cache, { recursive: true });
const modelFile = path.join(cache, `tiny-gpt-${MODEL_OPTS.layers}x${MODEL_OPTS.dModel}.onnx`);
if (!fs.existsSync(modelFile)) {
  saveModel(buildModel("tiny-gpt", MODEL_OPTS), modelFile, { sourceDir: cache });
  console.log(`built ${path.relative(root, modelFile)}`);
} else {
  console.log(`using cached ${path.relative(root, modelFile)}`);
}

// 2. Split at every candidate whose crossing bytes are a local minimum, keeping a handful.
const g = Graph.load(modelFile);
const a = analyze(g, { shapes: SHAPE });
const cands = candidateCuts(g, a.metrics, { constants: a.constants }).filter((c) => c.localMin);
const picked = cands.filter((_, i) => i % Math.ceil(cands.length / 4) === 0);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-demo-"));
const splitDir = path.join(work, "split");
const p = partition(g, picked.length + 1, assignmentFromFronts(g, picked.map((c) => c.front), a.constants), a.constants);
const manifest = await writeSplit(g, p, splitDir, {
  modelPath: modelFile, typeOf: symbolicTypeOf(a),
  concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
});
console.log(`split into ${manifest.segments.length} segments after ${picked.map((c) => c.after).join(", ")}`);
// The KV-cache variant for generation, served by the same worker.
const genSplit = await prepareGenerationSplit(cache, path.join(work, "gen-split"));

// 3. The embedded broker and one cloud worker serving the split folder.
const broker = await startEmbeddedBroker({ port: 0 });
const workerTransport = await connectMqtt({ url: broker.url });
const worker = await startWorker({ transport: workerTransport, models: work, logger: createLogger({ level: "warn" }) });
const deviceTransport = await connectMqtt({ url: broker.url });
const client = new OffloadClient({ transport: deviceTransport, deviceId: "demo-device" });
await client.start();
console.log(`broker ${broker.url} (MQTT ${workerTransport.protocolVersion === 5 ? "5" : "3.1.1"}); worker serves ${worker.splits.length} split(s)`);

// 4. The reference: the whole model on the same inputs.
const inputs = sampleInputs(g, { shapes: SHAPE, seed: 7 });
const whole = await OrtSession.create(modelFile, { allowSpinning: false });
const expected = await whole.run(inputs);
await whole.release();

// 5. One request at every split point.
const runner = await SplitRunner.open(path.join(splitDir, "manifest.json"), { client });
const rows: string[][] = [["split k", "local ms", "bytes up", "bytes down", "round trip ms", "cloud ms", "total ms", "max |diff|"]];
let worst = 0;
try {
  for (let k = 0; k <= manifest.segments.length; k++) {
    await runner.run(inputs, k); // warm: sessions load on first use on both sides
    const { outputs, breakdown: b } = await runner.run(inputs, k);
    const cmp = compareOutputs(expected, outputs, { atol: 1e-5, rtol: 1e-4 });
    const diff = Math.max(...cmp.outputs.map((o) => o.maxAbsDiff));
    worst = Math.max(worst, diff);
    if (!cmp.ok) throw new Error(`split ${k}: outputs differ from the whole model (${JSON.stringify(cmp.outputs)})`);
    const label = k === 0 ? "0 (cloud)" : k === manifest.segments.length ? `${k} (local)` : String(k);
    rows.push([label, b.localMs.toFixed(1), String(b.bytesUp), String(b.bytesDown), b.roundTripMs.toFixed(1),
      b.cloudComputeMs.toFixed(1), b.totalMs.toFixed(1), diff.toExponential(1)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log();
  for (const r of rows) console.log(r.map((c, i) => c.padStart(widths[i]!)).join("  "));
  console.log(`every split point matches the whole model (max |diff| ${worst.toExponential(1)})`);
  await generationDemo(client, genSplit);
  await agentDemo(broker.url, path.join(splitDir, "manifest.json"), inputs);
} finally {
  await runner.close();
  await client.close();
  await deviceTransport.close();
  await worker.stop();
  await workerTransport.close();
  await broker.close();
  fs.rmSync(work, { recursive: true, force: true });
}

console.log(`\ndemo: done in ${((performance.now() - started) / 1e3).toFixed(1)} s`);
