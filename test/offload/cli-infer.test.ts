// `edgecut infer`: bad flags are usage errors (exit 2) before any broker is contacted, --split n
// runs without a broker, and a real MQTT round trip (embedded aedes broker, fake worker) gives the
// whole model's outputs in the tensor file, with the breakdown in text or JSON.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ErrorCode } from "../../sdk/errors.js";
import { defaultDeviceId } from "../../sdk/transport/topics.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { readTensorFile, writeTensorFile } from "../../sdk/runtime/tensor-file.js";
import { startEmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { assertCliError, assertJsonError, jsonOf, runCli, tempDir } from "../cli/helpers.js";
import { pino } from "pino";
import { startWorker } from "../../cloud-stub/index.js";
import { mlpSplit, startFakeWorker } from "./support.js";

async function files(t: { after: (fn: () => void) => void }) {
  const f = await mlpSplit();
  const dir = tempDir(t, "edgecut-infer-");
  const inputs = path.join(dir, "in.json");
  writeTensorFile(inputs, f.inputs);
  return { f, dir, inputs, out: path.join(dir, "out.json"), n: f.manifest.segments.length };
}

interface BadCase { what: string; argv: (m: string, inputs: string, n: number) => string[]; code?: ErrorCode; message?: RegExp }

/** The broker URL points at a closed port: a usage error must be reported before anything connects. */
const NOWHERE = "mqtt://127.0.0.1:9";
const BAD: BadCase[] = [
  { what: "no --split", argv: (m, i) => ["infer", m, "--inputs", i, "--broker", NOWHERE], message: /--split <k> is required/ },
  { what: "--split abc", argv: (m, i) => ["infer", m, "--split", "abc", "--inputs", i, "--broker", NOWHERE], message: /--split abc/ },
  { what: "--split -1", argv: (m, i) => ["infer", m, "--split", "-1", "--inputs", i, "--broker", NOWHERE], message: /--split -1/ },
  { what: "--split 1.5", argv: (m, i) => ["infer", m, "--split", "1.5", "--inputs", i, "--broker", NOWHERE], message: /--split 1\.5/ },
  { what: "--split n + 1", argv: (m, i, n) => ["infer", m, "--split", String(n + 1), "--inputs", i, "--broker", NOWHERE], message: /0 \(all cloud\) to \d \(all local\)/ },
  { what: "--encoding int4", argv: (m, i) => ["infer", m, "--split", "1", "--encoding", "int4", "--inputs", i, "--broker", NOWHERE], message: /fp32, fp16, int8-tensor, int8-row, int8/ },
  { what: "--encoding raw", argv: (m, i) => ["infer", m, "--split", "1", "--encoding", "raw", "--inputs", i, "--broker", NOWHERE], message: /--encoding raw/ },
  { what: "--timeout without a unit", argv: (m, i) => ["infer", m, "--split", "1", "--timeout", "10", "--inputs", i, "--broker", NOWHERE], message: /--timeout 10/ },
  { what: "--timeout 0s", argv: (m, i) => ["infer", m, "--split", "1", "--timeout", "0s", "--inputs", i, "--broker", NOWHERE], message: /--timeout 0s/ },
  { what: "--retries -1", argv: (m, i) => ["infer", m, "--split", "1", "--retries", "-1", "--inputs", i, "--broker", NOWHERE], message: /--retries/ },
  { what: "--retries two", argv: (m, i) => ["infer", m, "--split", "1", "--retries", "two", "--inputs", i, "--broker", NOWHERE], message: /--retries/ },
  { what: "--max-message-bytes 0", argv: (m, i) => ["infer", m, "--split", "1", "--max-message-bytes", "0", "--inputs", i, "--broker", NOWHERE], message: /--max-message-bytes/ },
  { what: "--prefix $SYS", argv: (m, i) => ["infer", m, "--split", "1", "--prefix", "$SYS", "--inputs", i, "--broker", NOWHERE], message: /prefix/ },
  { what: "--device-id a/b", argv: (m, i) => ["infer", m, "--split", "1", "--device-id", "a/b", "--inputs", i, "--broker", NOWHERE], message: /deviceId/ },
  { what: "no --broker for k < n", argv: (m, i) => ["infer", m, "--split", "1", "--inputs", i], message: /--broker/ },
  { what: "no --inputs", argv: (m) => ["infer", m, "--split", "1", "--broker", NOWHERE], message: /--inputs/ },
  { what: "an unknown flag", argv: (m, i) => ["infer", m, "--split", "1", "--frobnicate", "--inputs", i, "--broker", NOWHERE], message: /--frobnicate/ },
  { what: "no manifest", argv: () => ["infer", "--split", "1"], message: /manifest/ },
  { what: "a missing manifest", argv: (_m, i) => ["infer", "/nonexistent/manifest.json", "--split", "1", "--inputs", i, "--broker", NOWHERE], code: "E_MANIFEST" },
  { what: "a missing inputs file", argv: (m) => ["infer", m, "--split", "1", "--inputs", "/nonexistent/in.json", "--broker", NOWHERE], code: "E_TENSOR_FILE" },
];

for (const c of BAD) {
  test(`infer with ${c.what}: ${c.code ?? "E_USAGE"}, exit 2`, async (t) => {
    const { f, inputs, n } = await files(t);
    const r = await runCli(c.argv(f.manifestPath, inputs, n));
    assertCliError(r, c.code ?? "E_USAGE", c.message ? { message: c.message } : {});
    const j = await runCli([...c.argv(f.manifestPath, inputs, n), "--json"]);
    assertJsonError(j, c.code ?? "E_USAGE");
  });
}

test("infer with an unreachable broker: E_BROKER, exit 2", async (t) => {
  const { f, inputs } = await files(t);
  const r = await runCli(["infer", f.manifestPath, "--split", "1", "--inputs", inputs, "--broker", NOWHERE]);
  assertCliError(r, "E_BROKER");
});

test("infer --split n runs everything here without a broker: --out, text and --json", async (t) => {
  const { f, inputs, out, n } = await files(t);
  const r = await runCli(["infer", f.manifestPath, "--split", String(n), "--inputs", inputs, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`split ${n}/${n}: all ${n} segments here, no network`));
  assert.match(r.stdout, /y\s+float32\s+\[2, 32\]/);
  assert.doesNotMatch(r.stdout, /round trip/);
  assert.ok(compareOutputs(f.expected, readTensorFile(out), { atol: 1e-5, rtol: 0 }).ok);
  const j = jsonOf(await runCli(["infer", f.manifestPath, "--split", String(n), "--inputs", inputs, "--json"]));
  assert.deepEqual(j.outputs, [{ name: "y", type: "float32", dims: [2, 32] }]);
  const b = j.breakdown as Record<string, number>;
  assert.equal(b.k, n);
  assert.equal(b.attempts, 0);
  assert.equal(b.bytesUp, 0);
  assert.ok(b.totalMs! >= b.localMs!);
});

test("infer over MQTT (embedded broker, fake worker): every k < n, fragmented at --max-message-bytes, int8 alias", async (t) => {
  const { f, inputs, out, n } = await files(t);
  const broker = await startEmbeddedBroker({ port: 0 });
  const wt = await connectMqtt({ url: broker.url });
  const worker = await startFakeWorker({ transport: wt, manifestPath: f.manifestPath, prefix: "site-3/edgecut", maxMessageBytes: 256 });
  t.after(async () => { await worker.close(); await wt.close(); await broker.close(); });
  for (let k = 0; k < n; k++) {
    const r = await runCli(["infer", f.manifestPath, "--split", String(k), "--broker", broker.url, "--inputs", inputs, "--out", out,
      "--prefix", "site-3/edgecut", "--device-id", "cli-dev", "--max-message-bytes", "512", "--timeout", "5s", "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const b = jsonOf(r).breakdown as Record<string, number>;
    assert.equal(b.k, k);
    assert.equal(b.attempts, 1);
    assert.equal(b.bytesUp, worker.requests.at(-1)!.bytes);
    assert.equal(b.bytesDown, worker.replies.at(-1)!.bytes);
    assert.ok(worker.replies.at(-1)!.messages > 1, "the reply was fragmented");
    assert.equal(worker.requests.at(-1)!.header.deviceId, "cli-dev");
    assert.ok(compareOutputs(f.expected, readTensorFile(out), { atol: 1e-5, rtol: 0 }).ok, `k=${k}`);
  }
  const text = await runCli(["infer", f.manifestPath, "--split", "1", "--broker", broker.url, "--inputs", inputs, "--out", out,
    "--prefix", "site-3/edgecut", "--device-id", "cli-dev", "--encoding", "int8", "--max-message-bytes", "0.25kib"]);
  assert.equal(text.code, 0, text.stderr);
  assert.ok(worker.requests.at(-1)!.messages > 1, "--max-message-bytes takes the units of `edgecut cloud` (0.25kib = 256 bytes)");
  assert.match(text.stdout, /device cli-dev, int8-row/);
  assert.match(text.stdout, /round trip.*cloud compute .* ms, queue .* ms, network and broker .* ms; 1 attempt/);
  assert.match(text.stdout, /outputs written to/);
  assert.ok(compareOutputs(f.expected, readTensorFile(out), { atol: 3e-2, rtol: 0 }).ok);
  assert.equal(fs.existsSync(out), true);
  assert.deepEqual(worker.errors, []);
});

test("infer over MQTT against the real worker (cloud-stub startWorker on the embedded broker)", async (t) => {
  const { f, inputs, out, n } = await files(t);
  const broker = await startEmbeddedBroker({ port: 0 });
  const wt = await connectMqtt({ url: broker.url });
  const worker = await startWorker({ transport: wt, models: path.dirname(f.manifestPath), logger: pino({ level: "silent" }), probeTimeoutMs: 100, maxMessageBytes: 1024 });
  t.after(async () => { await worker.stop(); await wt.close(); await broker.close(); });
  for (let k = 0; k < n; k++) {
    const r = await runCli(["infer", f.manifestPath, "--split", String(k), "--broker", broker.url, "--inputs", inputs, "--out", out, "--json"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((jsonOf(r).breakdown as Record<string, number>).attempts, 1);
    assert.ok(compareOutputs(f.expected, readTensorFile(out), { atol: 1e-5, rtol: 0 }).ok, `k=${k}`);
  }
  assert.equal(worker.metrics().computed, n);
});

test("the default device id is the hostname as one topic level", () => {
  assert.equal(defaultDeviceId("pi-7.local"), "pi-7.local");
  assert.equal(defaultDeviceId("a/b+c#d e"), "a-b-c-d-e");
  assert.equal(defaultDeviceId(""), "edgecut-device");
  assert.equal(Buffer.byteLength(defaultDeviceId("é".repeat(100)), "utf8"), 128);
});
