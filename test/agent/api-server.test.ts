// The API server itself: listen addresses, unix sockets (mode, stale files, a live socket),
// and close() waiting for requests in flight.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { parseListen, startApi } from "../../agent/api/index.js";
import { createLogger } from "../../cloud-stub/log.js";
import { EdgecutError } from "../../sdk/errors.js";
import { formatTensorFile, parseTensorFile } from "../../sdk/runtime/tensor-file.js";
import { FakeCore, fakeModel } from "../support/fake-core.js";
import { assertSameTensor, contractInputs } from "../support/inference-contract.js";
import { call, postInfer } from "./api-http.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-api-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<EdgecutError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof EdgecutError, `expected an EdgecutError, got ${e === undefined ? "success" : String(e)}`);
  return e;
}

describe("listen addresses", () => {
  test("parseListen: host:port, [v6]:port, unix:path", () => {
    assert.deepEqual(parseListen("127.0.0.1:8787"), { kind: "tcp", host: "127.0.0.1", port: 8787 });
    assert.deepEqual(parseListen("localhost:0"), { kind: "tcp", host: "localhost", port: 0 });
    assert.deepEqual(parseListen("[::1]:9000"), { kind: "tcp", host: "::1", port: 9000 });
    assert.deepEqual(parseListen("unix:/run/edgecut/agent.sock"), { kind: "unix", path: "/run/edgecut/agent.sock" });
    for (const bad of ["8787", "127.0.0.1", "127.0.0.1:99999", ":8787", "::1:8787", "unix:", "http://127.0.0.1:8787", "127.0.0.1:-1"]) {
      assert.throws(() => parseListen(bad), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && e.message.includes(bad), bad);
    }
  });

  test("an IPv6 loopback address works and is bracketed in the URL", async (t) => {
    const probe = net.createServer();
    const v6 = await new Promise<boolean>((resolve) => {
      probe.once("error", () => resolve(false));
      probe.listen(0, "::1", () => probe.close(() => resolve(true)));
    });
    if (!v6) return t.skip("no IPv6 loopback on this machine");
    const api = await startApi(new FakeCore(), { listen: "[::1]:0", version: "test" });
    try {
      assert.match(api.address, /^http:\/\/\[::1\]:[0-9]+$/);
      assert.equal((await call(api.address, { path: "/healthz" })).status, 200);
    } finally {
      await api.close();
    }
  });

  test("a port in use is E_USAGE naming it", async () => {
    const api = await startApi(new FakeCore(), { listen: "127.0.0.1:0", version: "test" });
    try {
      const port = new URL(api.address).port;
      const e = await rejection(startApi(new FakeCore(), { listen: `127.0.0.1:${port}`, version: "test" }));
      assert.equal(e.code, "E_USAGE");
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
    } finally {
      await api.close();
    }
  });

  test("bad options are E_USAGE", async () => {
    for (const opts of [{ maxBodyBytes: 0 }, { maxBodyBytes: 1.5 }, { socketMode: 0o1777 }]) {
      assert.equal((await rejection(startApi(new FakeCore(), { listen: "127.0.0.1:0", version: "t", ...opts }))).code, "E_USAGE");
    }
  });
});

describe("unix sockets", () => {
  test("the socket gets mode 0660 by default (or socketMode) and serves requests", async () => {
    for (const [mode, want] of [[undefined, 0o660], [0o600, 0o600]] as const) {
      const sock = path.join(tmp, `mode-${want.toString(8)}.sock`);
      const api = await startApi(new FakeCore(), { listen: `unix:${sock}`, version: "test", socketMode: mode });
      try {
        assert.equal(api.address, sock);
        const st = fs.statSync(sock);
        assert.ok(st.isSocket());
        assert.equal(st.mode & 0o777, want);
        const r = await postInfer(sock, `{"inputs": ${formatTensorFile(contractInputs(2))}}`);
        assert.equal(r.status, 200);
        const outputsText = /"outputs":(\{[\s\S]*?\n\})/.exec(r.body.toString("utf8"))![1]!;
        assertSameTensor(parseTensorFile(outputsText, "reply").y, fakeModel(contractInputs(2)).y!, "y");
      } finally {
        await api.close();
      }
      assert.equal(fs.existsSync(sock), false, "close() leaves no socket file behind");
    }
  });

  test("a stale socket file (nothing listening) is replaced", async () => {
    const sock = path.join(tmp, "stale.sock");
    // A socket file whose listener is gone: bind with net, then drop the handle without unlinking.
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(sock)}, () => process.exit(0))`]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.ok(fs.statSync(sock).isSocket(), "the child left its socket file");
    const api = await startApi(new FakeCore(), { listen: `unix:${sock}`, version: "test" });
    try {
      assert.equal((await call(sock, { path: "/healthz" })).status, 200);
    } finally {
      await api.close();
    }
  });

  test("a socket another process listens on is left alone (E_USAGE)", async () => {
    const sock = path.join(tmp, "live.sock");
    const first = await startApi(new FakeCore(), { listen: `unix:${sock}`, version: "first" });
    try {
      const e = await rejection(startApi(new FakeCore(), { listen: `unix:${sock}`, version: "second" }));
      assert.equal(e.code, "E_USAGE");
      assert.match(e.message, /another process listens on/);
      assert.equal((await call(sock, { path: "/healthz" })).headers["x-edgecut-version"], "first");
    } finally {
      await first.close();
    }
  });

  test("a path that is not a socket is not deleted", async () => {
    const file = path.join(tmp, "precious.txt");
    fs.writeFileSync(file, "keep me");
    const e = await rejection(startApi(new FakeCore(), { listen: `unix:${file}`, version: "test" }));
    assert.equal(e.code, "E_USAGE");
    assert.match(e.message, /not a socket/);
    assert.equal(fs.readFileSync(file, "utf8"), "keep me");
  });
});

describe("close()", () => {
  test("waits for a request in flight, which completes; new connections are refused", async () => {
    const core = new FakeCore();
    const api = await startApi(core, { listen: "127.0.0.1:0", version: "test" });
    const held = core.hold();
    const inflight = postInfer(api.address, `{"inputs": ${formatTensorFile(contractInputs(1))}}`);
    await held.started;
    let closed = false;
    const closing = api.close().then(() => { closed = true; });
    // Let close() run as far as it can while the request is held.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(closed, false, "close() resolved while a request was in flight");
    const port = Number(new URL(api.address).port);
    const refused = await new Promise<string>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/healthz", agent: false }, () => resolve("answered"));
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    assert.equal(refused, "ECONNREFUSED");
    held.release();
    const r = await inflight;
    assert.equal(r.status, 200, "the in-flight request finished normally");
    await closing;
    assert.equal(closed, true);
    assert.equal(api.server.listening, false);
    await api.close(); // idempotent
  });

  test("idle keep-alive connections do not keep close() waiting", async () => {
    const api = await startApi(new FakeCore(), { listen: "127.0.0.1:0", version: "test" });
    const agent = new http.Agent({ keepAlive: true });
    const port = Number(new URL(api.address).port);
    await new Promise<void>((resolve, reject) => {
      http.get({ host: "127.0.0.1", port, path: "/healthz", agent }, (res) => { res.resume(); res.on("end", resolve); }).on("error", reject);
    });
    await api.close();
    agent.destroy();
    assert.equal(api.server.listening, false);
  });
});

test("logs through a pino logger: where it listens, and requests that fail with a 500", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ json: true, destination: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>); } } });
  const core = new FakeCore();
  const api = await startApi(core, { listen: "127.0.0.1:0", version: "test", log });
  try {
    assert.ok(lines.some((l) => l.msg === "agent API listening" && l.address === api.address));
    core.failNext("E_RUNTIME", "onnxruntime refused");
    assert.equal((await postInfer(api.address, `{"inputs": ${formatTensorFile(contractInputs(1))}}`)).status, 500);
    core.failNext("E_USAGE", "caller's fault");
    assert.equal((await postInfer(api.address, `{"inputs": ${formatTensorFile(contractInputs(1))}}`)).status, 400);
    const errors = lines.filter((l) => l.level === 50);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.equal(errors[0]!.code, "E_RUNTIME");
    assert.equal(errors[0]!.url, "/v1/infer");
  } finally {
    await api.close();
  }
});

test("hardening: a body still trickling in does not hold up close(); JSON over 16 MiB is 413; timeoutMs over 10 min is 400", async () => {
  const api = await startApi(new FakeCore(), { listen: "127.0.0.1:0", version: "t" });
  const port = Number(new URL(api.address).port);
  // A client that sends headers and a few bytes of a large body, then stalls.
  const sock = net.connect(port, "127.0.0.1");
  await new Promise<void>((r) => sock.once("connect", () => r()));
  sock.write("POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"inputs\":");
  await new Promise((r) => setTimeout(r, 100));
  const big = await fetch(`${api.address}/v1/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: "x".repeat(17 * 2 ** 20) });
  assert.equal(big.status, 413);
  const slow = await fetch(`${api.address}/v1/infer`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: {}, timeoutMs: 3_000_000_000 }) });
  assert.equal(slow.status, 400);
  const t0 = Date.now();
  await api.close();
  assert.ok(Date.now() - t0 < 5000, "close() did not wait for the stalled body");
  sock.destroy();
});
