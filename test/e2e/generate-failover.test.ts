// Split generation with real processes: mosquitto, two `edgecut cloud` workers in one share
// group, the device here. The worker holding the session is killed with SIGKILL mid-generation;
// the device's next step times out, the session is rebuilt by replay on the other worker (through
// the shared subscription), and the tokens are the whole model's. Also: a long prompt's prefill
// travels in fragments no larger than the device's message cap.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { SplitGenerator } from "../../sdk/generate/generator.js";
import { peekHeader } from "../../sdk/wire/index.js";
import { mosquittoSkipReason, startMosquitto, type MosquittoHandle } from "../support/brokers.js";
import { collect, referenceRun, tinyGptKvSplit, type GenSplit } from "../generate/support.js";
import { connectDevice, spawnWorker, tempDir, type Device, type WorkerProcess } from "./support.js";

const PROMPT = [3, 1, 4, 1, 5, 9, 2, 6];

describe("generation over mosquitto with two worker processes", { skip: mosquittoSkipReason() }, () => {
  const root = tempDir("gen-failover");
  const models = path.join(root, "models");
  let split: GenSplit;
  let broker: MosquittoHandle;
  let workers: WorkerProcess[] = [];
  let device: Device;

  before(async () => {
    split = await tinyGptKvSplit(models, "gpt");
    broker = await startMosquitto();
    workers = await Promise.all([1, 2].map((i) => spawnWorker({ broker: broker.url, models, group: "gen", label: `worker ${i}` })));
    device = await connectDevice(broker.url, "gen-device", { timeoutMs: 1500, retries: 0, maxMessageBytes: 1024 });
  });
  after(async () => {
    await device?.close();
    for (const w of workers) await w.stop(2000);
    await broker?.close();
  });

  test("SIGKILL of the session's worker mid-generation: the other rebuilds it by replay; same tokens and logprobs", async () => {
    const ref = await referenceRun(split, PROMPT, { maxNewTokens: 48 });
    const gen = new SplitGenerator({ manifest: split.manifest, dir: split.dir, split: 1, client: device.client, intraOpThreads: 1 });
    try {
      const it = gen.generate(PROMPT, { maxNewTokens: 48 });
      const ids: number[] = [];
      const logprobs: number[] = [];
      let victim: WorkerProcess | undefined;
      for (;;) {
        const r = await it.next();
        if (r.done) {
          assert.equal(r.value.rebuilds, 1);
          assert.notEqual(r.value.workerId, victim!.ready.workerId);
          break;
        }
        ids.push(r.value.id);
        logprobs.push(r.value.logprob);
        if (r.value.index === 20) {
          const opened = workers.find((w) => w.find((x) => x.msg === "session opened").length > 0);
          assert.ok(opened !== undefined, "a worker logged the session opening");
          victim = opened;
          victim.child.kill("SIGKILL");
          await new Promise((res) => victim!.child.once("exit", res));
        }
      }
      assert.deepEqual(ids, ref.ids);
      assert.ok(Math.max(...logprobs.map((v, i) => Math.abs(v - ref.logprobs[i]!))) < 1e-4);
      const survivor = workers.find((w) => w !== victim)!;
      await survivor.waitFor((x) => x.msg === "session rebuilt", "the survivor's rebuild");
    } finally {
      await gen.close();
    }
  });

  test("a prefill larger than the message cap travels in fragments of at most the cap", async () => {
    const survivor = workers.find((w) => w.child.exitCode === null && w.child.signalCode === null)!;
    assert.ok(survivor !== undefined);
    const prompt = Array.from({ length: 60 }, (_, i) => (i * 37) % 256);
    const ref = await referenceRun(split, prompt, { maxNewTokens: 8 });
    const gen = new SplitGenerator({ manifest: split.manifest, dir: split.dir, split: 1, client: device.client, intraOpThreads: 1 });
    const before = device.tap.published.length;
    try {
      const got = await collect(gen, prompt, { maxNewTokens: 8 });
      assert.deepEqual(got.ids, ref.ids);
      const sent = device.tap.published.slice(before);
      const fragments = sent.filter((p) => peekHeader(p.payload)?.header?.kind === "fragment");
      assert.ok(fragments.length >= 2, `the prefill went in ${fragments.length} fragments`);
      for (const p of sent) assert.ok(p.payload.byteLength <= 1024, `a message of ${p.payload.byteLength} bytes`);
    } finally {
      await gen.close();
    }
  });
});
