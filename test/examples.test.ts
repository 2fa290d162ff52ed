// The example apps (examples/) run for real as child processes, as a user runs them: classify on
// a tiny-cnn split all-local and with a real worker over the embedded MQTT broker; agent-client
// against a real agent core behind the real local API, and in-process with --manifest. Outputs
// are checked against the whole model (tiny-cnn) or bit for bit (the contract model).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { z } from "zod";
import { startApi, type ApiServer } from "../agent/api/index.js";
import { Agent } from "../agent/core/agent.js";
import { systemClock } from "../agent/clock.js";
import { FakeSampler } from "../agent/monitor/index.js";
import { openStore, type AgentStore } from "../agent/store/index.js";
import { startWorker, type Worker } from "../cloud-stub/worker.js";
import { readTensorFile, writeTensorFile } from "../sdk/runtime/tensor-file.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../sdk/transport/embedded-broker.js";
import { connectMqtt } from "../sdk/transport/mqtt.js";
import type { Transport } from "../sdk/transport/transport.js";
import { splitFixture, type SplitFixture } from "./offload/support.js";
import { contractModel, type ContractModel } from "./support/contract-model.js";
import { fakeModel } from "./support/fake-core.js";
import { assertSameTensor, contractInputs } from "./support/inference-contract.js";

const root = path.resolve(import.meta.dirname, "..");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-examples-"));

/** Runs an example with tsx; resolves with its exit code and output (never rejects on a failing exit). */
function runExample(name: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", path.join(root, "examples", name), ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const BreakdownJson = z.object({ totalMs: z.number(), localMs: z.number(), bytesUp: z.number(), attempts: z.number() });
const ClassifyJson = z.object({
  segments: z.number(),
  classes: z.number(),
  runs: z.array(z.object({ requestId: z.string(), split: z.number(), breakdown: BreakdownJson })),
  logits: z.array(z.number()),
  top: z.array(z.object({ class: z.number(), probability: z.number() })),
});
const ClientJson = z.object({
  agent: z.object({ deviceId: z.string(), segments: z.number(), ready: z.boolean() }),
  request: z.object({ id: z.string(), queued: z.boolean(), created: z.boolean().optional(), split: z.number(), breakdown: BreakdownJson }),
  outputs: z.array(z.object({ name: z.string(), type: z.string(), dims: z.array(z.number()) })),
});

let cnn: SplitFixture;
let cnnInputs: string;
let broker: EmbeddedBroker;
let workerTransport: Transport;
let worker: Worker;

before(async () => {
  cnn = await splitFixture("examples-cnn", "tiny-cnn", {}, { shapes: { pixels: [1, 3, 32, 32] } }, 3);
  cnnInputs = path.join(tmp, "pixels.json");
  writeTensorFile(cnnInputs, cnn.inputs);
  broker = await startEmbeddedBroker();
  workerTransport = await connectMqtt({ url: broker.url });
  worker = await startWorker({ transport: workerTransport, models: path.dirname(path.dirname(cnn.manifestPath)), logger: pino({ level: "silent" }) });
});
after(async () => {
  await worker?.stop();
  await workerTransport?.close();
  await broker?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Checks classify's logits against the whole model's and its top classes against the logits. */
function checkClassification(json: z.infer<typeof ClassifyJson>, top: number): void {
  const expected = cnn.expected.logits!;
  assert.equal(expected.type, "float32");
  assert.equal(json.classes, expected.dims[1]);
  assert.equal(json.logits.length, json.classes);
  json.logits.forEach((v, i) => assert.ok(Math.abs(v - (expected.data[i] as number)) <= 1e-5, `logit ${i}: ${v} vs ${expected.data[i]}`));
  assert.equal(json.top.length, top);
  const argmax = json.logits.indexOf(Math.max(...json.logits));
  assert.equal(json.top[0]!.class, argmax, "the top class is the largest logit");
  for (let i = 1; i < json.top.length; i++) assert.ok(json.top[i - 1]!.probability >= json.top[i]!.probability, "sorted by probability");
  const sum = json.top.reduce((a, t) => a + t.probability, 0);
  assert.ok(sum > 0 && sum <= 1 + 1e-9, `probabilities sum to ${sum}`);
}

describe("examples/classify.ts", { concurrency: true }, () => {
  test("--help describes the options and exits 0", async () => {
    const r = await runExample("classify.ts", ["--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const flag of ["--manifest", "--broker", "--split", "--inputs", "--json"]) assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  });

  test("with a broker: split 1 offloads to the worker and gives the same classes", async () => {
    const r = await runExample("classify.ts", ["--manifest", cnn.manifestPath, "--inputs", cnnInputs, "--broker", broker.url, "--split", "1", "--runs", "2", "--json", "--device-id", "example-pi"]);
    assert.equal(r.code, 0, r.stderr);
    const json = ClassifyJson.parse(JSON.parse(r.stdout));
    for (const run of json.runs) {
      assert.equal(run.split, 1);
      assert.ok(run.breakdown.bytesUp > 0 && run.breakdown.attempts >= 1, "the run went to the worker");
    }
    checkClassification(json, 5);
  });

  test("all-local (no broker): text output names the split and the top classes; errors exit 2 with the code", async () => {
    const [r, bad] = await Promise.all([
      runExample("classify.ts", ["--manifest", cnn.manifestPath, "--inputs", cnnInputs, "--runs", "2"]),
      runExample("classify.ts", ["--manifest", path.join(tmp, "missing", "manifest.json")]),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const n = cnn.manifest.segments.length;
    assert.match(r.stdout, new RegExp(`^run 1: split ${n} \\(all local\\): .* 0 B up`, "m"));
    assert.match(r.stdout, new RegExp(`^run 2: split ${n} \\(all local\\)`, "m"));
    // The top class line is the whole model's largest logit.
    const logits = Array.from(cnn.expected.logits!.data as Float32Array);
    const best = logits.indexOf(Math.max(...logits));
    assert.match(r.stdout, new RegExp(`top 5 of 10 classes:\\n  class +${best} `));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^classify: E_MANIFEST: /);
  });
});

describe("examples/agent-client.ts", { concurrency: true }, () => {
  let model: ContractModel;
  let store: AgentStore;
  let agent: Agent;
  let api: ApiServer;
  let inputsFile: string;
  const inputs = contractInputs(3);

  before(async () => {
    model = await contractModel();
    store = openStore(":memory:");
    agent = await Agent.start({
      deviceId: "example-agent", manifestPath: model.manifestPath, store, sampler: new FakeSampler({ clock: systemClock }),
      sampleIntervalMs: 60_000, telemetry: { flushIntervalMs: 0, publishIntervalMs: 0 },
    });
    api = await startApi(agent, { listen: "127.0.0.1:0", version: "test" });
    inputsFile = path.join(tmp, "contract-inputs.json");
    writeTensorFile(inputsFile, inputs);
  });
  after(async () => {
    await api?.close();
    await agent?.stop();
    store?.close();
  });

  test("--help describes the options and exits 0", async () => {
    const r = await runExample("agent-client.ts", ["--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const flag of ["--url", "--socket", "--manifest", "--queue", "--out"]) assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  });

  test("a direct request to a running agent returns the model's outputs bit for bit", async () => {
    const out = path.join(tmp, "direct-out.json");
    const r = await runExample("agent-client.ts", ["--url", api.address, "--inputs", inputsFile, "--out", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const json = ClientJson.parse(JSON.parse(r.stdout));
    assert.equal(json.agent.deviceId, "example-agent");
    assert.equal(json.request.queued, false);
    assert.deepEqual(json.outputs.map((o) => [o.name, o.dims]), [["y", [3, 4]], ["next", [3]]]);
    const got = readTensorFile(out);
    const want = fakeModel(inputs);
    assertSameTensor(got.y, want.y!, "y");
    assertSameTensor(got.next, want.next!, "next");
  });

  test("a queued request runs once per key: the second call gets the same request back", async () => {
    const first = await runExample("agent-client.ts", ["--url", api.address, "--inputs", inputsFile, "--queue", "example-key", "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const a = ClientJson.parse(JSON.parse(first.stdout));
    assert.deepEqual([a.request.queued, a.request.created], [true, true]);
    const second = await runExample("agent-client.ts", ["--url", api.address, "--inputs", inputsFile, "--queue", "example-key"]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`request ${a.request.id} was queued before under this key`));
  });

  test("--manifest runs the same calls in-process, with the same outputs", async () => {
    const out = path.join(tmp, "in-process-out.json");
    const r = await runExample("agent-client.ts", ["--manifest", model.manifestPath, "--inputs", inputsFile, "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ran at split 3/);
    const got = readTensorFile(out);
    assertSameTensor(got.y, fakeModel(inputs).y!, "y");
    assertSameTensor(got.next, fakeModel(inputs).next!, "next");
  });

  test("no agent at the address: exit 2 with E_AGENT_UNREACHABLE naming it", async () => {
    const closed = await startApi(agent, { listen: "127.0.0.1:0", version: "test" });
    const url = closed.address;
    await closed.close();
    const r = await runExample("agent-client.ts", ["--url", url]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^agent-client: E_AGENT_UNREACHABLE: /);
    assert.ok(r.stderr.includes(url), r.stderr);
  });
});
