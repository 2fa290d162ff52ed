// The agent's local HTTP API (agent/api) on the fake core: every route, the status codes the
// error codes map to, queued requests and their states, health and readiness.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startApi, statusForCode, type ApiServer } from "../../agent/api/index.js";
import { ERRORS, type ErrorCode } from "../../sdk/errors.js";
import { formatTensorFile, parseTensorFile } from "../../sdk/runtime/tensor-file.js";
import { FAKE_BREAKDOWN, FAKE_SIGNATURE, FakeCore, fakeModel } from "../support/fake-core.js";
import { assertSameTensor, contractInputs } from "../support/inference-contract.js";
import { call, postInfer } from "./api-http.js";

const body = (rows = 2, extra = ""): string => `{"inputs": ${formatTensorFile(contractInputs(rows))}${extra}}`;

describe("agent API routes", () => {
  let core: FakeCore;
  let api: ApiServer;
  before(async () => {
    core = new FakeCore();
    api = await startApi(core, { listen: "127.0.0.1:0", version: "9.9.9" });
  });
  after(() => api.close());

  test("the address is an http URL on the port the OS picked", () => {
    assert.match(api.address, /^http:\/\/127\.0\.0\.1:[1-9][0-9]*$/);
  });

  test("POST /v1/infer (JSON, sync) returns the outputs as a tensor file object, the split and the breakdown", async () => {
    const r = await postInfer(api.address, body(3));
    assert.equal(r.status, 200, r.body.toString());
    assert.match(String(r.headers["content-type"]), /^application\/json/);
    assert.equal(r.headers["x-edgecut-version"], "9.9.9");
    const j = r.json() as { id: string; split: number; outputs: unknown; breakdown: unknown };
    assert.deepEqual(Object.keys(j).sort(), ["breakdown", "id", "outputs", "split"]);
    assert.equal(j.split, core.split);
    assert.match(j.id, /^r-/);
    assert.deepEqual(j.breakdown, FAKE_BREAKDOWN);
    // The outputs text is a tensor file: parse the body's outputs exactly as written (-0, int64 as strings).
    const outputsText = /"outputs":(\{[\s\S]*?\n\})/.exec(r.body.toString("utf8"))![1]!;
    const outputs = parseTensorFile(outputsText, "reply");
    const want = fakeModel(contractInputs(3));
    assertSameTensor(outputs.y, want.y!, "y");
    assertSameTensor(outputs.next, want.next!, "next");
  });

  test("split and timeoutMs reach the core; the result reports the split used", async () => {
    const r = await postInfer(api.address, body(1, `, "split": 0, "timeoutMs": 1500, "mode": "sync"`));
    assert.equal(r.status, 200, r.body.toString());
    assert.equal((r.json() as { split: number }).split, 0);
    const opts = core.calls.at(-1)!.options!;
    assert.equal(opts.split, 0);
    assert.equal(opts.timeoutMs, 1500);
    assert.ok(opts.signal instanceof AbortSignal);
  });

  test("GET /v1/signature, /v1/status", async () => {
    const sig = await call(api.address, { path: "/v1/signature" });
    assert.equal(sig.status, 200);
    assert.deepEqual(sig.json(), FAKE_SIGNATURE);
    const st = await call(api.address, { path: "/v1/status" });
    assert.equal(st.status, 200);
    assert.deepEqual(st.json(), JSON.parse(JSON.stringify(core.status())));
  });

  test("/healthz and /readyz: 200 when live / ready, 503 with the reasons when not", async () => {
    try {
      assert.equal((await call(api.address, { path: "/healthz" })).status, 200);
      assert.equal((await call(api.address, { path: "/readyz" })).status, 200);
      core.healthState = { live: true, ready: false, reasons: ["cloud unreachable and all-local does not fit"] };
      assert.equal((await call(api.address, { path: "/healthz" })).status, 200);
      const ready = await call(api.address, { path: "/readyz" });
      assert.equal(ready.status, 503);
      assert.deepEqual((ready.json() as { reasons: string[] }).reasons, ["cloud unreachable and all-local does not fit"]);
      core.healthState = { live: false, ready: false, reasons: ["store unreadable"] };
      const live = await call(api.address, { path: "/healthz" });
      assert.equal(live.status, 503);
      assert.deepEqual(live.json(), { live: false, ready: false, reasons: ["store unreadable"] });
    } finally {
      core.healthState = { live: true, ready: true, reasons: [] };
    }
  });

  test("queue mode: 202 with Location, then GET /v1/requests/<id> goes queued -> done with exact outputs", async () => {
    const release = core.holdQueue();
    const r = await postInfer(api.address, body(2, `, "mode": "queue"`), { "Idempotency-Key": "order-17" });
    assert.equal(r.status, 202, r.body.toString());
    const { id, status } = r.json() as { id: string; status: string };
    assert.equal(status, "queued");
    assert.equal(r.headers.location, `/v1/requests/${id}`);
    const queued = await call(api.address, { path: r.headers.location! });
    assert.equal(queued.status, 200);
    assert.deepEqual(queued.json(), { id, key: "order-17", status: "queued", createdAt: (queued.json() as { createdAt: number }).createdAt, attempts: 0 });
    release();
    for (let i = 0; i < 100 && core.getRequest(id)?.status !== "done"; i++) await new Promise((res) => setTimeout(res, 5));
    const done = await call(api.address, { path: `/v1/requests/${encodeURIComponent(id)}` });
    const j = done.json() as { status: string; result: { requestId: string; split: number; breakdown: unknown } };
    assert.equal(j.status, "done");
    assert.equal(j.result.requestId, id);
    assert.deepEqual(j.result.breakdown, FAKE_BREAKDOWN);
    const outputsText = /"outputs":(\{[\s\S]*?\n\})/.exec(done.body.toString("utf8"))![1]!;
    assertSameTensor(parseTensorFile(outputsText, "state").next, fakeModel(contractInputs(2)).next!, "next");
  });

  test("a failed queued request shows its error", async () => {
    core.failNext("E_JOB_ABANDONED", "runner died twice");
    const r = await postInfer(api.address, body(1, `, "mode": "queue"`), { "Idempotency-Key": "order-fails" });
    const { id } = r.json() as { id: string };
    for (let i = 0; i < 100 && core.getRequest(id)?.status !== "failed"; i++) await new Promise((res) => setTimeout(res, 5));
    const s = (await call(api.address, { path: `/v1/requests/${id}` })).json() as { status: string; error: unknown };
    assert.equal(s.status, "failed");
    assert.deepEqual(s.error, { code: "E_JOB_ABANDONED", message: "runner died twice" });
  });

  test("a repeated Idempotency-Key answers 200 with the existing id and does not run again", async () => {
    const first = await postInfer(api.address, body(1, `, "mode": "queue"`), { "Idempotency-Key": "same-key" });
    assert.equal(first.status, 202);
    const { id } = first.json() as { id: string };
    for (let i = 0; i < 100 && core.getRequest(id)?.status !== "done"; i++) await new Promise((res) => setTimeout(res, 5));
    const runs = core.runs;
    const again = await postInfer(api.address, body(1, `, "mode": "queue"`), { "Idempotency-Key": "same-key" });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json(), { id, status: "done" });
    assert.equal(again.headers.location, `/v1/requests/${id}`);
    await new Promise((res) => setTimeout(res, 20));
    assert.equal(core.runs, runs, "nothing ran for the repeated key");
  });

  test("unknown request id: 404 E_NOT_FOUND naming it", async () => {
    const r = await call(api.address, { path: "/v1/requests/nope%20nope" });
    assert.equal(r.status, 404);
    assert.equal(r.error().code, "E_NOT_FOUND");
    assert.match(r.error().message, /"nope nope"/);
  });

  test("unknown route: 404; wrong method: 405 with Allow; HEAD works where GET does", async () => {
    for (const p of ["/", "/v2/infer", "/v1/requests/", "/v1/requests/a/b", "/metricsx"]) {
      const r = await call(api.address, { path: p });
      assert.equal(r.status, 404, p);
      assert.equal(r.error().code, "E_NOT_FOUND");
    }
    const get = await call(api.address, { path: "/v1/infer" });
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, "POST");
    assert.equal(get.error().code, "E_USAGE");
    const del = await call(api.address, { method: "DELETE", path: "/v1/status" });
    assert.equal(del.status, 405);
    assert.equal(del.headers.allow, "GET, HEAD");
    const post = await call(api.address, { method: "POST", path: "/v1/requests/x", body: "{}" });
    assert.equal(post.status, 405);
    const head = await call(api.address, { method: "HEAD", path: "/v1/status" });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  test("core errors keep their code; the status follows it (503 + Retry-After, 504, 500)", async () => {
    const cases: [ErrorCode, number, boolean][] = [
      ["E_NOT_READY", 503, true], ["E_BUSY", 503, true], ["E_NO_SPLIT", 503, false], ["E_TIMEOUT", 504, false],
      ["E_RUNTIME", 500, false], ["E_USAGE", 400, false], ["E_NOT_FOUND", 404, false],
    ];
    for (const [code, status, retryAfter] of cases) {
      core.failNext(code, `injected ${code}`);
      const r = await postInfer(api.address, body(1));
      assert.equal(r.status, status, code);
      assert.deepEqual(r.json(), { error: { code, message: `injected ${code}` } });
      assert.equal(r.headers["retry-after"], retryAfter ? "1" : undefined, code);
    }
    core.split = null;
    try {
      const r = await postInfer(api.address, body(1));
      assert.equal(r.status, 503);
      assert.equal(r.error().code, "E_NO_SPLIT");
    } finally {
      core.split = 2;
    }
  });

  test("a non-edgecut exception from the core is 500 E_INTERNAL, and the server keeps serving", async () => {
    const original = core.status.bind(core);
    core.status = () => { throw new TypeError("boom"); };
    try {
      const r = await call(api.address, { path: "/v1/status" });
      assert.equal(r.status, 500);
      assert.equal(r.error().code, "E_INTERNAL");
      assert.match(r.error().message, /boom/);
    } finally {
      core.status = original;
    }
    assert.equal((await call(api.address, { path: "/v1/status" })).status, 200);
  });
});

test("statusForCode: the brief's table, 507 for a full store, 503 for retryable cloud errors, 499 for an aborted caller, 500 for every other catalogue code", () => {
  const table: Record<string, number> = {
    E_USAGE: 400, E_INPUT_MISSING: 400, E_TENSOR_FILE: 400, E_FRAME: 400, E_FRAME_LIMIT: 400, E_PROTOCOL_VERSION: 400,
    E_NOT_FOUND: 404, E_BODY_TOO_LARGE: 413, E_NOT_READY: 503, E_NO_SPLIT: 503, E_BUSY: 503, E_TIMEOUT: 504,
    E_RUNTIME: 500, E_INTERNAL: 500, E_STORE: 500, E_BROKER: 503, E_EXPIRED: 503, E_ABORTED: 499, E_STORE_FULL: 507,
  };
  for (const [code, status] of Object.entries(table)) assert.equal(statusForCode(code), status, code);
  for (const code of Object.keys(ERRORS)) assert.ok([400, 404, 413, 499, 500, 503, 504, 507].includes(statusForCode(code)), code);
  assert.equal(statusForCode("E_FROM_A_NEWER_CORE"), 500);
});
