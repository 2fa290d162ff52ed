// Shared pieces of the agent generation tests: tiny-gpt with a KV cache split at its blocks, a
// byte-level tokenizer.json for its 256 ids, a worker on the memory bus, a transport wrapper that
// holds generation steps on their way to the worker, and the agent core on all of it.
import * as fs from "node:fs";
import * as path from "node:path";
import { systemClock } from "../../agent/clock.js";
import { Agent, type AgentOptions } from "../../agent/core/agent.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
import { startWorker, type Worker } from "../../cloud-stub/worker.js";
import { loadTokenizer, type TextTokenizer } from "../../sdk/generate/tokenizer.js";
import { tokenizerJson } from "../../sdk/graph/models/tokenizer-json.js";
import type { GenerationStats, StreamedToken } from "../../sdk/infer/generate-types.js";
import { createMemoryBus, type MemoryBus } from "../../sdk/transport/memory.js";
import { topics } from "../../sdk/transport/topics.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { gatedTransport, type GatedTransport } from "../support/gated-transport.js";
import { silent, tinyGptKvSplit, type GenSplit } from "./support.js";

export const PROMPT = [5, 17, 42, 99, 3, 250, 7, 64];

/** The split, its tokenizer, and a worker serving it on a memory bus. */
export interface GenFixture {
  split: GenSplit;
  manifestPath: string;
  tokenizerPath: string;
  tokenizer: TextTokenizer;
  bus: MemoryBus;
  worker: Worker;
  close(): Promise<void>;
}

/** Makes the fixture under `root` (the split takes a fraction of a second). */
export async function genFixture(root: string): Promise<GenFixture> {
  const models = path.join(root, "models");
  const split = await tinyGptKvSplit(models, "tiny-gpt-kv");
  const tokenizerPath = path.join(root, "tokenizer.json");
  fs.writeFileSync(tokenizerPath, JSON.stringify(tokenizerJson(256)));
  const bus = createMemoryBus();
  const worker = await startWorker({ transport: bus.connect(), models, logger: silent, intraOpThreads: 1 });
  return {
    split, manifestPath: path.join(split.dir, "manifest.json"), tokenizerPath, tokenizer: await loadTokenizer(tokenizerPath), bus, worker,
    close: () => worker.stop(),
  };
}

/** A step gate: holdAfter(n) lets n more session steps through, then holds the rest until release(). */
export type StepGate = GatedTransport;

/** Wraps a transport so generation steps (publishes to a worker's session topic) can be held. */
export function stepGate(inner: Transport): StepGate {
  const t = topics();
  return gatedTransport(inner, (topic) => t.parseRequestTopic(topic)?.workerId !== undefined);
}

/** The agent core on the fixture's split, its store, and how to stop both. */
export interface GenAgent {
  agent: Agent;
  store: AgentStore;
  gate: StepGate;
  close(): Promise<void>;
}

/** Starts the agent core on the fixture (a gated connection to its bus; the tokenizer unless told not to). */
export async function startGenAgent(fx: GenFixture, over: Partial<AgentOptions> & { withTokenizer?: boolean } = {}): Promise<GenAgent> {
  const { withTokenizer = true, ...opts } = over;
  const store = openStore(":memory:");
  const inner = fx.bus.connect();
  const gate = stepGate(inner);
  const agent = await Agent.start({
    deviceId: "pi-gen-agent", manifestPath: fx.manifestPath, store, sampler: new FakeSampler({ clock: systemClock }), transport: gate.transport,
    sampleIntervalMs: 60_000, telemetry: { flushIntervalMs: 0, publishIntervalMs: 0 }, offload: { timeoutMs: 5000, retries: 1 }, intraOpThreads: 1,
    ...(withTokenizer ? { tokenizer: fx.tokenizerPath } : {}), ...opts,
  });
  return { agent, store, gate, close: async () => { await agent.stop(); await inner.close(); store.close(); } };
}

/** Runs a token stream to its end. */
export async function drain(it: AsyncGenerator<StreamedToken, GenerationStats>): Promise<{ tokens: StreamedToken[]; stats: GenerationStats }> {
  const tokens: StreamedToken[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { tokens, stats: r.value };
    tokens.push(r.value);
  }
}
