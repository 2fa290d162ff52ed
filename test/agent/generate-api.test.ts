// POST /v1/generate on a real agent API: the agent core on tiny-gpt with a KV cache split at its
// blocks, a real worker on the memory bus, the JSON lines read off the socket as they come. Also
// the config's model.tokenizer.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { systemClock } from "../../agent/clock.js";
import { startApi, type ApiServer } from "../../agent/api/index.js";
import { parseAgentConfig } from "../../agent/config/index.js";
import { Agent } from "../../agent/core/agent.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import { openStore } from "../../agent/store/index.js";
import { EdgecutError } from "../../sdk/errors.js";
import { tokenizerJson } from "../../sdk/graph/models/tokenizer-json.js";
import { drain, genFixture, PROMPT, startGenAgent, type GenAgent, type GenFixture } from "../generate/agent-support.js";
import { reference, tempDir } from "../generate/support.js";
import { gptSplit } from "../offload/support.js";
import { call } from "./api-http.js";

/** A streamed reply: its status and headers, then its JSON lines one at a time. */
interface LineStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The next line parsed, or undefined at the end. */
  next(): Promise<Record<string, unknown> | undefined>;
  /** Lines received but not read yet. */
  buffered(): number;
  /** Drops the connection (the client going away). */
  destroy(): void;
}

function openStream(address: string, body: unknown): Promise<LineStream> {
  const u = new URL(address);
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname, port: Number(u.port), agent: false, method: "POST", path: "/v1/generate",
      headers: { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(text)) },
    }, (res) => {
      const lines: string[] = [];
      let partial = "";
      let ended = false;
      let wake: (() => void) | undefined;
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        const parts = (partial + c).split("\n");
        partial = parts.pop()!;
        lines.push(...parts.filter((p) => p !== ""));
        wake?.();
      });
      res.on("end", () => { if (partial !== "") lines.push(partial); ended = true; wake?.(); });
      res.on("error", () => { ended = true; wake?.(); });
      resolve({
        status: res.statusCode ?? 0, headers: res.headers,
        buffered: () => lines.length,
        destroy: () => req.destroy(),
        next: async () => {
          while (lines.length === 0 && !ended) await new Promise<void>((r) => { wake = r; });
          const l = lines.shift();
          return l === undefined ? undefined : (JSON.parse(l) as Record<string, unknown>);
        },
      });
    });
    req.on("error", reject);
    req.end(text);
  });
}

async function readAll(s: LineStream): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let l = await s.next(); l !== undefined; l = await s.next()) out.push(l);
  return out;
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const root = tempDir("gen-api");
let fx: GenFixture;
let a: GenAgent;
let api: ApiServer;
let expected: number[];

before(async () => {
  fx = await genFixture(root);
  a = await startGenAgent(fx);
  api = await startApi(a.agent, { listen: "127.0.0.1:0", version: "test" });
  expected = await reference(fx.split, PROMPT, { maxNewTokens: 32 });
});
after(async () => {
  await api?.close();
  await a?.close();
  await fx?.close();
});

describe("POST /v1/generate", () => {
  test("streams one JSON line per token, equal to the whole model's greedy tokens, then the stats", async () => {
    const chosen = a.agent.status().split;
    const s = await openStream(api.address, { ids: PROMPT, maxNewTokens: 32 });
    assert.equal(s.status, 200);
    assert.match(String(s.headers["content-type"]), /^application\/x-ndjson/);
    const lines = await readAll(s);
    assert.equal(lines.length, 33);
    const tokens = lines.slice(0, 32);
    assert.deepEqual(tokens.map((l) => l.id), expected);
    tokens.forEach((l, i) => {
      assert.equal(l.index, i);
      assert.equal(typeof l.logprob, "number");
      assert.equal(typeof l.text, "string", "the agent has a tokenizer: every token carries its text");
    });
    const done = lines[32]! as { done: boolean; stats: { tokens: number; split: { from: number; to: number } } };
    assert.equal(done.done, true);
    assert.equal(done.stats.tokens, 32);
    assert.equal(done.stats.split.from, chosen, "runs at the split the agent's policy chose");
  });

  test("a forced split runs on the worker; text prompts go through the tokenizer", async () => {
    const s = await openStream(api.address, { ids: PROMPT, maxNewTokens: 32, split: 1 });
    const lines = await readAll(s);
    assert.deepEqual(lines.slice(0, 32).map((l) => l.id), expected);
    const stats = (lines[32] as { stats: { split: { from: number }; bytesUp: number; workerId?: string } }).stats;
    assert.equal(stats.split.from, 1);
    assert.ok(stats.bytesUp > 0 && typeof stats.workerId === "string");

    const prompt = "The edge and the cloud";
    const want = await reference(fx.split, fx.tokenizer.encode(prompt), { maxNewTokens: 8 });
    const t = await readAll(await openStream(api.address, { prompt, maxNewTokens: 8, split: 2 }));
    assert.deepEqual(t.slice(0, 8).map((l) => l.id), want);
  });

  test("tokens arrive as they are made: the first line comes while the next step is still held", { timeout: 20_000 }, async () => {
    const before = fx.worker.metrics().computed;
    const hold = a.gate.holdAfter(0);
    const s = await openStream(api.address, { ids: PROMPT, maxNewTokens: 32, split: 1 });
    assert.equal(s.status, 200);
    const first = await s.next();
    await hold.held;
    assert.deepEqual(first, { index: 0, id: expected[0], logprob: first!.logprob, text: first!.text });
    assert.equal(s.buffered(), 0, "nothing else can have been written: step 1 has not reached the worker");
    assert.equal(fx.worker.metrics().computed - before, 1, "the worker ran the prompt only");
    hold.release();
    const rest = await readAll(s);
    assert.deepEqual(rest.slice(0, 31).map((l) => l.id), expected.slice(1));
    assert.equal(rest[31]!.done, true);
  });

  test("the client going away stops the generation: the worker gets no more steps", { timeout: 20_000 }, async () => {
    const before = fx.worker.metrics().computed;
    // The prompt and 2 steps pass; step 3 is held until the client has gone.
    const hold = a.gate.holdAfter(2);
    const s = await openStream(api.address, { ids: PROMPT, maxNewTokens: 64, split: 1 });
    for (let i = 0; i < 3; i++) assert.equal((await s.next())?.index, i);
    await hold.held;
    s.destroy();
    // The held step still goes out (it was under way); nothing after it does.
    hold.release();
    await until(() => a.agent.status().inFlight === 0, "the generation to end");
    const after = fx.worker.metrics().computed;
    assert.ok(after - before <= 4, `the worker computed ${after - before} messages for 3 tokens and an abort`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(fx.worker.metrics().computed, after, "no step after the abort");
    // The agent is fine afterwards.
    const again = await readAll(await openStream(api.address, { ids: PROMPT, maxNewTokens: 32, split: 1 }));
    assert.deepEqual(again.slice(0, 32).map((l) => l.id), expected);
  });

  test("bad bodies: 400 with E_USAGE naming the field", async () => {
    const cases: [unknown, RegExp][] = [
      [{ ids: [1, 2] }, /"maxNewTokens" is required/],
      [{}, /maxNewTokens/],
      [{ prompt: "hi", ids: [1], maxNewTokens: 2 }, /either "prompt".*or "ids".*not both/],
      [{ maxNewTokens: 2 }, /"prompt".*or "ids".*is required/],
      [{ ids: [1], maxNewTokens: "5" }, /"maxNewTokens"/],
      [{ ids: [1], maxNewTokens: 2.5 }, /"maxNewTokens"/],
      [{ ids: [1], maxNewTokens: 0 }, /"maxNewTokens"/],
      [{ ids: ["a"], maxNewTokens: 2 }, /"ids\[0\]"/],
      [{ ids: [], maxNewTokens: 2 }, /"ids"/],
      [{ prompt: 5, maxNewTokens: 2 }, /"prompt"/],
      [{ ids: [1], maxNewTokens: 2, temperature: -1 }, /"temperature"/],
      [{ ids: [1], maxNewTokens: 2, topP: 0 }, /"topP"/],
      [{ ids: [1], maxNewTokens: 2, stop: [{}] }, /"stop\[0\]"/],
      [{ ids: [1], maxNewTokens: 2, bogus: 1 }, /unknown field.*"bogus"/],
      [[1, 2], /JSON object/],
      [{ ids: [1], maxNewTokens: 2, split: 99 }, /split 99/],
      [{ ids: [1, 256], maxNewTokens: 2 }, /256.*vocabulary/],
    ];
    for (const [body, re] of cases) {
      const r = await call(api.address, { method: "POST", path: "/v1/generate", body: JSON.stringify(body) });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.error().code, "E_USAGE", JSON.stringify(body));
      assert.match(r.error().message, re, JSON.stringify(body));
    }
    const notJson = await call(api.address, { method: "POST", path: "/v1/generate", body: "{ids: [1]" });
    assert.equal(notJson.status, 400);
    assert.match(notJson.error().message, /not valid JSON/);
    const type = await call(api.address, { method: "POST", path: "/v1/generate", body: "{}", headers: { "Content-Type": "text/plain" } });
    assert.equal(type.status, 415);
    const query = await call(api.address, { method: "POST", path: "/v1/generate?maxNewTokens=2", body: JSON.stringify({ ids: [1], maxNewTokens: 2 }) });
    assert.equal(query.status, 400);
    const get = await call(api.address, { path: "/v1/generate" });
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, "POST");
  });

  test("prompt text or stop texts without a tokenizer: 400 E_USAGE saying to configure one", async () => {
    const bare = await startGenAgent(fx, { withTokenizer: false, deviceId: "pi-gen-bare" });
    const bareApi = await startApi(bare.agent, { listen: "127.0.0.1:0", version: "test" });
    try {
      for (const body of [{ prompt: "hello", maxNewTokens: 2 }, { ids: [1, 2], maxNewTokens: 2, stop: ["x"] }]) {
        const r = await call(bareApi.address, { method: "POST", path: "/v1/generate", body: JSON.stringify(body) });
        assert.equal(r.status, 400);
        assert.equal(r.error().code, "E_USAGE");
        assert.match(r.error().message, /tokenizer/);
      }
      const lines = await readAll(await openStream(bareApi.address, { ids: PROMPT, maxNewTokens: 4 }));
      assert.deepEqual(lines.slice(0, 4).map((l) => l.id), expected.slice(0, 4));
      assert.ok(lines.slice(0, 4).every((l) => !("text" in l)), "no text without a tokenizer");
    } finally {
      await bareApi.close();
      await bare.close();
    }
  });

  test("a tokenizer with more ids than the model's logits is refused when the agent starts", async () => {
    const file = path.join(root, "big", "tokenizer.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(tokenizerJson(300)));
    await assert.rejects(startGenAgent(fx, { tokenizer: file, deviceId: "pi-gen-big" }),
      (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && /300 ids/.test(e.message) && /256/.test(e.message));
  });

  test("a model without a KV cache: 400 E_NOT_GENERATIVE", async () => {
    const split = await gptSplit();
    const store = openStore(":memory:");
    const agent = await Agent.start({
      deviceId: "pi-no-kv", manifestPath: split.manifestPath, store, sampler: new FakeSampler({ clock: systemClock }),
      sampleIntervalMs: 60_000, telemetry: { flushIntervalMs: 0, publishIntervalMs: 0 },
    });
    const noKv = await startApi(agent, { listen: "127.0.0.1:0", version: "test" });
    try {
      const r = await call(noKv.address, { method: "POST", path: "/v1/generate", body: JSON.stringify({ ids: [1, 2], maxNewTokens: 2 }) });
      assert.equal(r.status, 400);
      assert.equal(r.error().code, "E_NOT_GENERATIVE");
      assert.match(r.error().message, /KV cache/);
    } finally {
      await noKv.close();
      await agent.stop();
      store.close();
    }
  });

  test("closing the API ends a running stream with an E_NOT_READY line instead of waiting", { timeout: 20_000 }, async () => {
    const other = await startApi(a.agent, { listen: "127.0.0.1:0", version: "test" });
    const hold = a.gate.holdAfter(1);
    const s = await openStream(other.address, { ids: PROMPT, maxNewTokens: 64, split: 1 });
    assert.equal((await s.next())?.index, 0);
    await hold.held;
    const closed = other.close();
    hold.release();
    const rest = await readAll(s);
    const last = rest[rest.length - 1] as { error?: { code: string } };
    assert.equal(last.error?.code, "E_NOT_READY");
    assert.ok(rest.length < 64);
    await closed;
  });
});

describe("agent config: model.tokenizer", () => {
  test("resolved against the config's folder and checked readable", () => {
    const dir = path.join(root, "cfg");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "tokenizer.json"), "{}");
    const base = { deviceId: "pi", manifest: "m.json" };
    const cfg = parseAgentConfig({ ...base, model: { tokenizer: "tokenizer.json" } }, "agent.yaml", dir, {});
    assert.equal(cfg.model.tokenizer, path.join(dir, "tokenizer.json"));
    assert.equal(parseAgentConfig(base, "agent.yaml", dir, {}).model.tokenizer, undefined);
    assert.throws(() => parseAgentConfig({ ...base, model: { tokenizer: "nope.json" } }, "agent.yaml", dir, {}),
      (e: unknown) => e instanceof EdgecutError && e.code === "E_CONFIG" && /model\.tokenizer/.test(e.message) && /nope\.json/.test(e.message));
    assert.throws(() => parseAgentConfig({ ...base, model: { tokenizr: "x" } }, "agent.yaml", dir, {}),
      (e: unknown) => e instanceof EdgecutError && e.code === "E_CONFIG" && /tokenizr/.test(e.message));
  });
});

test("the SDK's generate() reads the stream incrementally (connectAgent)", { timeout: 20_000 }, async () => {
  const { connectAgent } = await import("../../sdk/infer/agent-client.js");
  const client = await connectAgent({ url: api.address });
  try {
    const hold = a.gate.holdAfter(0);
    const it = client.generate(PROMPT, { maxNewTokens: 32, split: 1 });
    const first = await it.next();
    assert.equal(first.done, false);
    await hold.held;
    assert.equal(first.value && "id" in first.value ? first.value.id : undefined, expected[0], "the first token, while step 1 is held");
    hold.release();
    const { tokens, stats } = await drain(it);
    assert.deepEqual(tokens.map((t) => t.id), expected.slice(1));
    assert.equal(stats.tokens, 32);
  } finally {
    await client.close();
  }
});
