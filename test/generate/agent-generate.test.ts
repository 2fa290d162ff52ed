// generate() through the agent, one contract for both ways in: the agent client
// (connectAgent().generate over POST /v1/generate on a real agent API) and the in-process
// inference (createInference().generate on the agent core), each on tiny-gpt with a KV cache and a
// real worker on the memory bus.
import * as path from "node:path";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { systemClock } from "../../agent/clock.js";
import { startApi } from "../../agent/api/index.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { connectAgent } from "../../sdk/infer/agent-client.js";
import { createInference } from "../../sdk/infer/in-process.js";
import { generationContract } from "../support/generation-contract.js";
import { drain, genFixture, PROMPT, startGenAgent, type GenAgent, type GenFixture } from "./agent-support.js";
import { tempDir } from "./support.js";

const root = tempDir("agent-gen");
let fixture: Promise<GenFixture> | undefined;
const shared = (): Promise<GenFixture> => (fixture ??= genFixture(path.join(root, "fx")));
after(async () => { await (await fixture)?.close(); });

generationContract("agent client over HTTP (the agent's own policy, static split 2)", async () => {
  const fx = await shared();
  const a = await startGenAgent(fx, { policy: { name: "static", split: 2 } });
  const api = await startApi(a.agent, { listen: "127.0.0.1:0", version: "test" });
  const client = await connectAgent({ url: api.address, timeoutMs: 10_000 });
  return {
    gen: client, split: fx.split, tokenizer: fx.tokenizer, defaultSplit: 2,
    close: async () => { await client.close(); await api.close(); await a.close(); },
  };
});

generationContract("in-process (createInference, static split 1)", async () => {
  const fx = await shared();
  const transport = fx.bus.connect();
  const inference = await createInference({
    manifest: fx.manifestPath, deviceId: "pi-gen-inproc", broker: transport, sampler: new FakeSampler({ clock: systemClock }),
    policy: { name: "static", split: 1 }, tokenizer: fx.tokenizerPath, intraOpThreads: 1, offload: { timeoutMs: 5000, retries: 1 },
  });
  return {
    gen: inference, split: fx.split, tokenizer: fx.tokenizer, defaultSplit: 1,
    close: async () => { await inference.close(); await transport.close(); },
  };
});

describe("generation steps teach the agent's network estimator", () => {
  const root = tempDir("gen-estimator");
  let fx: GenFixture;
  let ga: GenAgent;
  before(async () => {
    fx = await genFixture(root);
    // No idle probes: every round trip the estimator sees is a generation step.
    ga = await startGenAgent(fx, { network: { probeIntervalMs: 1e9, confirmProbeMs: 1e9 } });
  });
  after(async () => {
    await ga?.close();
    await fx?.close();
  });

  test("each decode step that had the link to itself is a round trip the estimator learns from", async () => {
    assert.equal(ga.agent.status().network.samples, 0, "no round trip yet");
    const { stats } = await drain(ga.agent.generate(PROMPT, { maxNewTokens: 12, split: 1 }));
    assert.equal(stats.tokens, 12);
    const after = ga.agent.status().network.samples;
    // 11 decode steps, one at a time (the opening carries the prompt and is not a link sample); a
    // level shift the estimator detects cuts its window to the newest 3, so at least that many stay.
    assert.ok(after >= 3, `estimator samples after 11 steps: ${after}`);
    assert.notEqual(ga.agent.status().network.lastObservationAt, null);
    const local = await drain(ga.agent.generate(PROMPT, { maxNewTokens: 4, split: fx.split.manifest.segments.length }));
    assert.equal(local.stats.bytesUp, 0);
    assert.equal(ga.agent.status().network.samples, after, "an all-local generation sends nothing and teaches nothing");
  });
});
