// generate() through the agent, one contract for both ways in: the agent client
// (connectAgent().generate over POST /v1/generate on a real agent API) and the in-process
// inference (createInference().generate on the agent core), each on tiny-gpt with a KV cache and a
// real worker on the memory bus.
import * as path from "node:path";
import { after } from "node:test";
import { systemClock } from "../../agent/clock.js";
import { startApi } from "../../agent/api/index.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { connectAgent } from "../../sdk/infer/agent-client.js";
import { createInference } from "../../sdk/infer/in-process.js";
import { generationContract } from "../support/generation-contract.js";
import { genFixture, startGenAgent, type GenFixture } from "./agent-support.js";
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
