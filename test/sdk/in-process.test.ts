// The in-process Inference (sdk/infer/in-process.ts) on a real ONNX model split in 3 segments
// (test/support/contract-model.ts): the Inference contract all-local, with a real worker on the
// memory bus, and with a real worker over the embedded MQTT broker (createInference connecting
// itself); then what is specific to in-process: the queue calls, owning the connection and the
// store, and failing clearly when the broker cannot be reached.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import { systemClock } from "../../agent/clock.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { EdgecutError } from "../../sdk/errors.js";
import { createInference, type InProcessInference } from "../../sdk/infer/in-process.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { createMemoryBus, type MemoryBus } from "../../sdk/transport/memory.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { topics } from "../../sdk/transport/topics.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { gatedTransport } from "../support/gated-transport.js";
import { contractModel } from "../support/contract-model.js";
import { fakeModel } from "../support/fake-core.js";
import { assertSameTensor, contractInputs, inferenceContract } from "../support/inference-contract.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-inproc-"));
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const silent = pino({ level: "silent" });
const sampler = (): FakeSampler => new FakeSampler({ clock: systemClock });

/** Memoises a resource made on first use and closed after the file's tests. */
function shared<T>(make: () => Promise<T>, close: (t: T) => Promise<void>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    if (p === undefined) {
      p = make();
      cleanups.push(async () => close(await p!));
    }
    return p;
  };
}

/** A memory bus with a worker serving the contract model. */
const memoryCloud = shared(async () => {
  const model = await contractModel();
  const bus = createMemoryBus();
  const worker = await startWorker({ transport: bus.connect(), models: model.modelsDir, logger: silent });
  return { bus, worker };
}, async ({ worker }: { bus: MemoryBus; worker: Worker }) => { await worker.stop(); });

/** The embedded aedes broker with a worker serving the contract model over MQTT. */
const mqttCloud = shared(async () => {
  const model = await contractModel();
  const broker = await startEmbeddedBroker();
  const transport = await connectMqtt({ url: broker.url });
  const worker = await startWorker({ transport, models: model.modelsDir, logger: silent });
  return { broker, transport, worker };
}, async ({ broker, transport, worker }: { broker: EmbeddedBroker; transport: Transport; worker: Worker }) => {
  await worker.stop();
  await transport.close();
  await broker.close();
});

/**
 * Wraps a Transport so hold() stops offload requests before they are published until release():
 * a request is then in flight on the device (for the contract's mid-flight abort test).
 */
function gated(inner: Transport, prefix?: string): { transport: Transport; hold(): { started: Promise<void>; release(): void } } {
  const t = topics(prefix);
  const g = gatedTransport(inner, (topic) => t.parseRequestTopic(topic) !== undefined);
  return { transport: g.transport, hold: () => { const h = g.holdAfter(0); return { started: h.held, release: h.release }; } };
}

inferenceContract("in-process, all-local (no broker)", async () => {
  const model = await contractModel();
  // The default sampler (the real device), as an app gets it.
  const inference = await createInference({ manifest: model.manifestPath, deviceId: "contract-local" });
  return { inference, segments: model.segments, cloud: false, stop: async () => undefined };
});

inferenceContract("in-process, real worker on the memory bus", async () => {
  const model = await contractModel();
  const { bus } = await memoryCloud();
  const inner = bus.connect();
  const g = gated(inner);
  // A static split 1 sends every unforced request to the worker, so the hold catches it.
  const inference = await createInference({
    manifest: model.manifestPath, deviceId: "contract-bus", broker: g.transport, sampler: sampler(),
    policy: { name: "static", split: 1 }, offload: { timeoutMs: 10_000 },
  });
  return { inference, segments: model.segments, hold: g.hold, stop: () => inner.close() };
});

inferenceContract("in-process, real worker over MQTT (embedded broker, connected by createInference)", async () => {
  const model = await contractModel();
  const { broker } = await mqttCloud();
  const inference = await createInference({ manifest: model.manifestPath, deviceId: "contract-mqtt", broker: broker.url });
  return { inference, segments: model.segments, stop: async () => undefined };
});

async function rejection(p: Promise<unknown>): Promise<EdgecutError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof EdgecutError, `expected an EdgecutError, got ${e === undefined ? "success" : String(e)}`);
  return e;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A TCP server that accepts connections and never answers (a broker that hangs), counting them. */
async function silentServer(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let seen = 0;
  const server = net.createServer((s) => { seen++; sockets.add(s); s.on("close", () => sockets.delete(s)); });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${port}`, connections: () => seen,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}

/** A TCP forwarder to `port` that counts the connections open through it. */
async function countingProxy(port: number): Promise<{ url: string; open: () => number; close(): Promise<void> }> {
  const pairs = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(port, "127.0.0.1");
    pairs.add(down);
    const end = (): void => { pairs.delete(down); down.destroy(); up.destroy(); };
    down.on("close", end).on("error", end);
    up.on("close", end).on("error", end);
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as net.AddressInfo;
  return {
    url: `mqtt://127.0.0.1:${addr.port}`, open: () => pairs.size,
    close: async () => { for (const s of pairs) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}

describe("in-process: queued requests and status", () => {
  test("submit() runs once per key, waitFor() returns exact outputs, request() of an unknown id is E_NOT_FOUND", async () => {
    const model = await contractModel();
    const inf = await createInference({ manifest: model.manifestPath, deviceId: "queue-test", sampler: sampler() });
    try {
      const inputs = contractInputs(3);
      const first = await inf.submit("job-1", inputs);
      assert.equal(first.created, true);
      const again = await inf.submit("job-1", inputs);
      assert.deepEqual([again.id, again.created], [first.id, false]);
      const done = await inf.waitFor(first.id, { pollMs: 5, timeoutMs: 10_000 });
      assert.ok(done.status === "done", `state ${done.status}`);
      assertSameTensor(done.result.outputs.y, fakeModel(inputs).y!, "y");
      assertSameTensor(done.result.outputs.next, fakeModel(inputs).next!, "next");
      assert.equal((await inf.submit("job-1", inputs)).created, false, "a finished key still maps to its request");
      const missing = await rejection(inf.request("no-such-id"));
      assert.equal(missing.code, "E_NOT_FOUND");
      assert.match(missing.message, /no-such-id/);
      assert.equal((await rejection(inf.submit("", inputs))).code, "E_USAGE");
      assert.equal((await rejection(inf.submit("k\u00e9y", inputs))).code, "E_USAGE");
      const bad = await rejection(inf.submit("job-2", { x: inputs.x! }));
      assert.equal(bad.code, "E_INPUT_MISSING");
      const s = await inf.status();
      assert.equal(s.deviceId, "queue-test");
      assert.equal(s.model.segments, model.segments);
      assert.equal(s.split, model.segments, "no broker: all-local");
      assert.equal(inf.health().ready, true);
    } finally {
      await inf.close();
    }
  });

  test("request events reach on() listeners", async () => {
    const model = await contractModel();
    const inf = await createInference({ manifest: model.manifestPath, deviceId: "events-test", sampler: sampler() });
    try {
      const seen: string[] = [];
      inf.on("request", (e) => seen.push(`${e.kind}:${e.outcome}:${e.split}`));
      const r = await inf.infer(contractInputs(1));
      assert.deepEqual(seen, [`direct:ok:${r.split}`]);
    } finally {
      await inf.close();
    }
  });

  test("a store file keeps a queued request across a restart; the default :memory: store does not", async () => {
    const model = await contractModel();
    const file = path.join(tmp, "agent.db");
    const inputs = contractInputs(2);
    // Static split 0 without a broker: the request waits for a cloud that never comes.
    const first = await createInference({ manifest: model.manifestPath, deviceId: "store-test", store: file, sampler: sampler(), policy: { name: "static", split: 0 } });
    const { id } = await first.submit("survives", inputs);
    assert.equal((await first.request(id)).status, "queued");
    await first.close();
    const second = await createInference({ manifest: model.manifestPath, deviceId: "store-test", store: file, sampler: sampler() });
    try {
      const done = await second.waitFor(id, { pollMs: 5, timeoutMs: 10_000 });
      assert.ok(done.status === "done", `state ${done.status}`);
      assertSameTensor(done.result.outputs.next, fakeModel(inputs).next!, "next");
    } finally {
      await second.close();
    }
    const fresh = await createInference({ manifest: model.manifestPath, deviceId: "store-test", sampler: sampler() });
    try {
      assert.equal((await rejection(fresh.request(id))).code, "E_NOT_FOUND");
    } finally {
      await fresh.close();
    }
  });
});

describe("in-process: close() and what it owns", () => {
  test("close() is idempotent (concurrent calls too) and every later call is E_USAGE", async () => {
    const model = await contractModel();
    const inf = await createInference({ manifest: model.manifestPath, deviceId: "close-test", sampler: sampler() });
    await Promise.all([inf.close(), inf.close()]);
    await inf.close();
    const calls: [string, Promise<unknown>][] = [
      ["infer", inf.infer(contractInputs(1))], ["signature", inf.signature()], ["submit", inf.submit("k", contractInputs(1))],
      ["request", inf.request("1")], ["waitFor", inf.waitFor("1")], ["status", inf.status()],
    ];
    for (const [what, p] of calls) {
      const e = await rejection(p);
      assert.equal(e.code, "E_USAGE", what);
      assert.match(e.message, /closed/, what);
    }
    assert.equal(inf.health().ready, false);
  });

  test("the broker connection createInference made is closed by close()", async () => {
    const model = await contractModel();
    const { broker } = await mqttCloud();
    const proxy = await countingProxy(broker.port);
    try {
      const inf = await createInference({ manifest: model.manifestPath, deviceId: "owned-conn", broker: proxy.url, sampler: sampler() });
      assert.equal(proxy.open(), 1, "one connection to the broker");
      const r = await inf.infer(contractInputs(2), { split: 0 });
      assertSameTensor(r.outputs.y, fakeModel(contractInputs(2)).y!, "y");
      await inf.close();
      await until(() => proxy.open() === 0, "the connection to close");
    } finally {
      await proxy.close();
    }
  });

  test("a Transport the app passed is left open", async () => {
    const model = await contractModel();
    const { bus } = await memoryCloud();
    const transport = bus.connect();
    try {
      const inf = await createInference({ manifest: model.manifestPath, deviceId: "app-conn", broker: transport, sampler: sampler() });
      assert.equal((await inf.infer(contractInputs(1), { split: 1 })).split, 1);
      await inf.close();
      let got = 0;
      await transport.subscribe("still/open", () => { got++; });
      await transport.publish("still/open", new Uint8Array([1]));
      await until(() => got === 1, "the app's transport to deliver after close()");
    } finally {
      await transport.close();
    }
  });
});

describe("in-process: failing to start", () => {
  test("nothing listening at the broker URL is E_BROKER naming it", async () => {
    const model = await contractModel();
    const s = await silentServer();
    const url = s.url;
    await s.close();
    const e = await rejection(createInference({ manifest: model.manifestPath, deviceId: "no-broker", broker: url, sampler: sampler() }));
    assert.equal(e.code, "E_BROKER");
    assert.ok(e.message.includes(url), e.message);
    assert.match(e.message, /ECONNREFUSED/);
  });

  test("a broker that never answers is E_BROKER once the connect timeout has passed", { timeout: 20_000 }, async () => {
    const model = await contractModel();
    const s = await silentServer();
    try {
      const e = await rejection(createInference({ manifest: model.manifestPath, deviceId: "hung-broker", broker: { url: s.url, connectTimeoutMs: 300 }, sampler: sampler() }));
      assert.equal(e.code, "E_BROKER");
      assert.match(e.message, /CONNACK/);
      assert.ok(s.connections() >= 1, "it did try the broker");
    } finally {
      await s.close();
    }
  });

  test("a bad manifest is E_MANIFEST before the broker is contacted; bad options are E_USAGE", async () => {
    const model = await contractModel();
    const s = await silentServer();
    try {
      const e = await rejection(createInference({ manifest: path.join(tmp, "nope", "manifest.json"), broker: s.url, sampler: sampler() }));
      assert.equal(e.code, "E_MANIFEST");
      assert.equal(s.connections(), 0, "no connection was made");
    } finally {
      await s.close();
    }
    const bad: [string, Parameters<typeof createInference>[0]][] = [
      ["empty manifest", { manifest: "" }],
      ["device id with a slash", { manifest: model.manifestPath, deviceId: "a/b" }],
      ["broker URL of another scheme", { manifest: model.manifestPath, broker: "http://127.0.0.1:1883" }],
      ["concurrency 0", { manifest: model.manifestPath, concurrency: 0 }],
    ];
    for (const [what, opts] of bad) {
      const err = await rejection(createInference({ sampler: sampler(), ...opts }));
      assert.equal(err.code, "E_USAGE", `${what}: ${err.message}`);
    }
  });
});

// Type check: the in-process inference can stand wherever an agent client is expected.
export const _asClient: (i: InProcessInference) => import("../../sdk/infer/agent-client.js").AgentClient = (i) => i;
