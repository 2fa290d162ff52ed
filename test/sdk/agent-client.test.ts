// The agent client (sdk/infer/agent-client.ts) against the real API server on the fake core:
// the Inference contract over TCP and over a unix socket, then the client's own calls
// (queue, status, error mapping, unreachable agents).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startApi, type ApiServer } from "../../agent/api/index.js";
import { EdgecutError } from "../../sdk/errors.js";
import { connectAgent, type AgentClient } from "../../sdk/infer/agent-client.js";
import { FakeCore, fakeModel } from "../support/fake-core.js";
import { assertSameTensor, contractInputs, inferenceContract } from "../support/inference-contract.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-client-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

inferenceContract("agent client over TCP", async () => {
  const core = new FakeCore();
  const api = await startApi(core, { listen: "127.0.0.1:0", version: "test" });
  const inference = await connectAgent({ url: api.address, timeoutMs: 10_000 });
  return { inference, segments: core.segments, hold: () => core.hold(), stop: () => api.close() };
});

let socketN = 0;
inferenceContract("agent client over a unix socket", async () => {
  const core = new FakeCore();
  const sock = path.join(tmp, `agent-${socketN++}.sock`);
  const api = await startApi(core, { listen: `unix:${sock}`, version: "test" });
  const inference = await connectAgent({ socketPath: sock, timeoutMs: 10_000 });
  return { inference, segments: core.segments, hold: () => core.hold(), stop: () => api.close() };
});

async function rejection(p: Promise<unknown>): Promise<EdgecutError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof EdgecutError, `expected an EdgecutError, got ${e === undefined ? "success" : String(e)}`);
  return e;
}

describe("agent client", () => {
  let core: FakeCore;
  let api: ApiServer;
  let client: AgentClient;
  before(async () => {
    core = new FakeCore();
    api = await startApi(core, { listen: "127.0.0.1:0", version: "test" });
    client = await connectAgent({ url: api.address, timeoutMs: 10_000 });
  });
  after(async () => {
    await client.close();
    await api.close();
  });

  test("submit() queues once per key, waitFor() returns the finished state with exact outputs", async () => {
    const inputs = contractInputs(2);
    const release = core.holdQueue();
    const runsBefore = core.runs;
    const first = await client.submit("job-1", inputs);
    assert.equal(first.created, true);
    assert.equal(first.status, "queued");
    assert.equal((await client.request(first.id)).status, "queued");
    const again = await client.submit("job-1", inputs);
    assert.deepEqual(again, { id: first.id, created: false, status: "queued" });
    release();
    const done = await client.waitFor(first.id, { pollMs: 5 });
    assert.equal(done.status, "done");
    assert.ok(done.status === "done");
    assertSameTensor(done.result.outputs.y, fakeModel(inputs).y!, "y");
    assertSameTensor(done.result.outputs.next, fakeModel(inputs).next!, "next");
    assert.equal(core.runs - runsBefore, 1, "the repeated key did not run the request again");
    assert.equal((await client.submit("job-1", inputs)).created, false);
    assert.equal(core.runs - runsBefore, 1);
  });

  test("a failed queued request comes back as a failed state with the core's code", async () => {
    core.failNext("E_TIMEOUT", "worker never answered");
    const { id } = await client.submit("job-fails", contractInputs(1));
    const s = await client.waitFor(id, { pollMs: 5 });
    assert.equal(s.status, "failed");
    assert.ok(s.status === "failed");
    assert.deepEqual(s.error, { code: "E_TIMEOUT", message: "worker never answered" });
  });

  test("waitFor() gives up with E_TIMEOUT naming the request, and honours its signal", async () => {
    const release = core.holdQueue();
    try {
      const { id } = await client.submit("job-held", contractInputs(1));
      const e = await rejection(client.waitFor(id, { pollMs: 5, timeoutMs: 30 }));
      assert.equal(e.code, "E_TIMEOUT");
      assert.match(e.message, new RegExp(id));
      const ac = new AbortController();
      const p = client.waitFor(id, { pollMs: 5, timeoutMs: 60_000, signal: ac.signal });
      ac.abort();
      assert.equal((await rejection(p)).code, "E_ABORTED");
    } finally {
      release();
    }
  });

  test("request() of an unknown id is E_NOT_FOUND; status() returns the core's status", async () => {
    const e = await rejection(client.request("no-such-id"));
    assert.equal(e.code, "E_NOT_FOUND");
    assert.match(e.message, /no-such-id/);
    const s = await client.status();
    assert.equal(s.deviceId, "fake-pi");
    assert.equal(s.split, core.split);
    assert.equal(s.model.segments, core.segments);
  });

  test("error replies become EdgecutErrors with the agent's code and message", async () => {
    for (const code of ["E_NOT_READY", "E_NO_SPLIT", "E_BUSY", "E_TIMEOUT", "E_RUNTIME"] as const) {
      core.failNext(code, `injected ${code} for the client`);
      const e = await rejection(client.infer(contractInputs(1)));
      assert.equal(e.code, code);
      assert.equal(e.message, `injected ${code} for the client`);
    }
  });

  test("the client's own deadline is E_TIMEOUT, and the dropped connection aborts the core's run", async () => {
    const held = core.hold();
    try {
      const p = client.infer(contractInputs(1), { timeoutMs: 50 });
      await held.started;
      const e = await rejection(p);
      assert.equal(e.code, "E_TIMEOUT");
      assert.equal(core.calls.at(-1)!.options?.timeoutMs, 50, "the timeout is passed on to the agent");
      const signal = core.calls.at(-1)!.options?.signal;
      for (let i = 0; i < 100 && !signal?.aborted; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(signal?.aborted, true, "the server aborted the core's run when the client went away");
    } finally {
      held.release();
    }
  });
});

describe("agent client: connecting", () => {
  test("nothing listening on a port is E_AGENT_UNREACHABLE naming the address", async () => {
    const core = new FakeCore();
    const api = await startApi(core, { listen: "127.0.0.1:0", version: "test" });
    const url = api.address;
    await api.close();
    const e = await rejection(connectAgent({ url }));
    assert.equal(e.code, "E_AGENT_UNREACHABLE");
    assert.ok(e.message.includes(url), e.message);
    assert.match(e.message, /ECONNREFUSED/);
  });

  test("a missing socket is E_AGENT_UNREACHABLE naming the socket, also for calls of a client made without probing", async () => {
    const sock = path.join(tmp, "nobody-home.sock");
    const e = await rejection(connectAgent({ socketPath: sock }));
    assert.equal(e.code, "E_AGENT_UNREACHABLE");
    assert.ok(e.message.includes(sock), e.message);
    const lazy = await connectAgent({ socketPath: sock, probe: false });
    const e2 = await rejection(lazy.infer(contractInputs(1)));
    assert.equal(e2.code, "E_AGENT_UNREACHABLE");
    await lazy.close();
  });

  test("an agent that is live but not ready still connects; its calls fail with E_NOT_READY", async () => {
    const core = new FakeCore();
    core.healthState = { live: true, ready: false, reasons: ["loading segments"] };
    const api = await startApi(core, { listen: "127.0.0.1:0", version: "test" });
    const client = await connectAgent({ url: api.address });
    try {
      const e = await rejection(client.infer(contractInputs(1)));
      assert.equal(e.code, "E_NOT_READY");
      assert.match(e.message, /loading segments/);
    } finally {
      await client.close();
      await api.close();
    }
  });

  test("an HTTP server that is not an agent is E_AGENT_UNREACHABLE; an agent that is not live still connects", async () => {
    const other = http.createServer((_req, res) => { res.writeHead(404, { "Content-Type": "text/html" }); res.end("<h1>nginx</h1>"); });
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    try {
      const port = (other.address() as { port: number }).port;
      const e = await rejection(connectAgent({ url: `http://127.0.0.1:${port}` }));
      assert.equal(e.code, "E_AGENT_UNREACHABLE");
      assert.match(e.message, /not an edgecut agent/);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
    const core = new FakeCore();
    core.healthState = { live: false, ready: false, reasons: ["store unreadable"] };
    const api = await startApi(core, { listen: "127.0.0.1:0", version: "test" });
    try {
      const client = await connectAgent({ url: api.address });
      assert.equal((await client.status()).deviceId, "fake-pi");
      await client.close();
    } finally {
      await api.close();
    }
  });

  test("bad options are E_USAGE", async () => {
    for (const opts of [{ url: "https://127.0.0.1:8787" }, { url: "http://127.0.0.1:8787/api" }, { url: "not a url" }, { socketPath: "" }, { timeoutMs: 0 }]) {
      const e = await rejection(connectAgent({ ...opts, probe: false }));
      assert.equal(e.code, "E_USAGE", JSON.stringify(opts));
    }
  });
});
