// Starting a worker: which manifests it serves (bad ones and duplicates skipped with a warning),
// option validation, the shared-subscription probe, and two workers of one group sharing the load.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, test } from "node:test";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { parseByteSize } from "../../sdk/cli/flags.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import type { HostTensor } from "../../sdk/runtime/tensor.js";
import { captureLogger, FakeDevice, makeSplit, referenceChain, silent, tempDir, until, type TestSplit } from "./support.js";

const models = tempDir("setup");
let split: TestSplit;
let ref: Map<string, HostTensor>;

before(async () => {
  split = await makeSplit("mlp", { layers: 2 }, { x: [2, 32] }, 2, path.join(models, "mlp", "split"));
  ref = await referenceChain(split);
  // A copy (same splitId), an edited copy (splitId no longer matches), a broken manifest, and a
  // manifest whose segment file is missing: only the original is served.
  fs.cpSync(split.dir, path.join(models, "mlp", "split-copy"), { recursive: true });
  const edited = path.join(models, "mlp", "split-edited");
  fs.cpSync(split.dir, edited, { recursive: true });
  const m = JSON.parse(fs.readFileSync(path.join(edited, "manifest.json"), "utf8")) as { shapes: Record<string, unknown> };
  m.shapes.x = [4, 32];
  fs.writeFileSync(path.join(edited, "manifest.json"), JSON.stringify(m));
  fs.mkdirSync(path.join(models, "broken", "deep"), { recursive: true });
  fs.writeFileSync(path.join(models, "broken", "deep", "manifest.json"), "{ not json");
  const missing = path.join(models, "mlp", "split-missing");
  fs.cpSync(split.dir, missing, { recursive: true });
  fs.rmSync(path.join(missing, "segment-1.onnx"));
});

test("serves each valid split once; bad manifests and duplicates are skipped with warnings", async () => {
  const log = captureLogger();
  const worker = await startWorker({ transport: createMemoryBus().connect(), models, logger: log.logger });
  try {
    assert.deepEqual(worker.splits, [split.manifest.splitId]);
    const warnings = log.records.filter((r) => r.level === 40).map((r) => String(r.msg));
    assert.ok(warnings.includes("two manifests have the same splitId; serving the first"), JSON.stringify(warnings));
    assert.ok(warnings.includes("manifest splitId does not match its content (edited after the split?); skipped"));
    assert.equal(warnings.filter((w) => w === "invalid split manifest; skipped").length, 2, "broken JSON and a missing segment file");
    const served = log.records.find((r) => r.msg === "serving split");
    assert.equal(served?.manifest, path.join(split.dir, "manifest.json"), "the first in path order wins");
  } finally {
    await worker.stop();
  }
});

test("bad options and folders fail with stable codes", async () => {
  const t = createMemoryBus().connect();
  const empty = tempDir("empty");
  await assert.rejects(startWorker({ transport: t, models: empty, logger: silent }), { code: "E_MANIFEST" });
  await assert.rejects(startWorker({ transport: t, models: path.join(empty, "nope"), logger: silent }), { code: "E_USAGE" });
  await assert.rejects(startWorker({ transport: t, models, logger: silent, concurrency: 0 }), { code: "E_USAGE", message: /concurrency/ });
  await assert.rejects(startWorker({ transport: t, models, logger: silent, group: "a/b" }), { code: "E_USAGE", message: /group/ });
  await assert.rejects(startWorker({ transport: t, models, logger: silent, prefix: "$SYS" }), { code: "E_USAGE" });
  // @ts-expect-error an unknown option is refused, not ignored
  await assert.rejects(startWorker({ transport: t, models, logger: silent, concurency: 2 }), { code: "E_USAGE" });
});

test("--memory-budget and --max-message-bytes sizes", () => {
  assert.equal(parseByteSize("--memory-budget", "2gb"), 2e9);
  assert.equal(parseByteSize("--memory-budget", "1.5GiB"), 1.5 * 2 ** 30);
  assert.equal(parseByteSize("--max-message-bytes", "65536"), 65536);
  assert.equal(parseByteSize("--max-message-bytes", "64kib"), 65536);
  for (const bad of ["", "0", "-1", "2 parsecs", "gb"]) assert.throws(() => parseByteSize("--memory-budget", bad), { code: "E_USAGE" }, bad);
});

test("without working shared subscriptions the worker subscribes plainly and warns", async () => {
  const log = captureLogger();
  const worker = await startWorker({ transport: createMemoryBus({ sharedSubscriptions: false }).connect(), models, logger: log.logger, probeTimeoutMs: 50 });
  try {
    assert.equal(worker.shared, false);
    assert.equal(worker.filter, "edgecut/v1/req/+/+");
    assert.ok(log.records.some((r) => r.level === 40 && /second worker/.test(String(r.msg))));
  } finally {
    await worker.stop();
  }
});

test("two workers of one group share the requests: each runs once", async () => {
  const bus = createMemoryBus();
  const workers: Worker[] = [];
  for (let i = 0; i < 2; i++) workers.push(await startWorker({ transport: bus.connect(), models, logger: silent, group: "pool", prefix: "site-3/edgecut" }));
  const device = await new FakeDevice(bus.connect(), "pi-1", "site-3/edgecut").start();
  try {
    const n = 12;
    for (let i = 0; i < n; i++) {
      await device.send({ requestId: `r${i}`, deviceId: "pi-1", splitId: split.manifest.splitId, segments: { from: 0, to: 2 }, ttlMs: 10_000 }, { x: ref.get("x")! });
    }
    await until(() => device.replies.length >= n, `${n} replies`);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(device.replies.length, n, "no request answered twice");
    assert.ok(device.replies.every((f) => f.header.kind === "reply" && f.header.ok));
    const computed = workers.map((w) => w.metrics().computed);
    assert.equal(computed[0]! + computed[1]!, n);
    assert.ok(computed.every((c) => c > 0), `both workers took requests: ${computed.join(", ")}`);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});
