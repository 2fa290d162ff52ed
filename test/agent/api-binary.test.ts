// POST /v1/infer with an ECUT request frame as the body, and binary replies (a reply frame with
// the meta in X-Edgecut-Meta) for Accept: application/octet-stream.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startApi, type ApiServer } from "../../agent/api/index.js";
import type { InferOptions, InferResult } from "../../sdk/infer/types.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { formatTensorFile } from "../../sdk/runtime/tensor-file.js";
import { decodeFrame, encodeFrame, type RequestHeader } from "../../sdk/wire/index.js";
import { FAKE_BREAKDOWN, FakeCore, fakeModel } from "../support/fake-core.js";
import { assertSameTensor, contractInputs } from "../support/inference-contract.js";
import { call } from "./api-http.js";

const header = (ttlMs = 0): RequestHeader => ({
  kind: "request", requestId: "app-1", deviceId: "app", splitId: "ignored", segments: { from: 0, to: 1 }, ttlMs,
});
const OCTET = { "Content-Type": "application/octet-stream" };

describe("agent API: frames", () => {
  let core: FakeCore;
  let api: ApiServer;
  before(async () => {
    core = new FakeCore();
    api = await startApi(core, { listen: "127.0.0.1:0", version: "test", maxBodyBytes: 64 * 1024 });
  });
  after(() => api.close());

  test("a request frame's tensors are the inputs; the reply is JSON by default", async () => {
    const inputs = contractInputs(3);
    const r = await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body: encodeFrame(header(), inputs) });
    assert.equal(r.status, 200, r.body.toString());
    const j = r.json() as { split: number; breakdown: unknown };
    assert.equal(j.split, core.split);
    assert.deepEqual(j.breakdown, FAKE_BREAKDOWN);
    assertSameTensor(core.calls.at(-1)!.inputs.x, inputs.x!, "x");
    assertSameTensor(core.calls.at(-1)!.inputs.ids, inputs.ids!, "ids");
    assert.equal(core.calls.at(-1)!.options?.timeoutMs, undefined, "ttlMs 0 leaves the agent's default timeout");
  });

  test("Accept: application/octet-stream answers a reply frame with the outputs, meta in X-Edgecut-Meta", async () => {
    const inputs = contractInputs(2);
    const jsonBody = `{"inputs": ${formatTensorFile(inputs)}, "split": 1}`;
    for (const [headers, body] of [[OCTET, encodeFrame(header(), inputs)], [{ "Content-Type": "application/json" }, jsonBody]] as const) {
      const r = await call(api.address, {
        method: "POST", path: headers === OCTET ? "/v1/infer?split=1" : "/v1/infer", body,
        headers: { ...headers, Accept: "application/octet-stream, application/json;q=0.5" },
      });
      assert.equal(r.status, 200, r.body.toString());
      assert.equal(r.headers["content-type"], "application/octet-stream");
      const frame = decodeFrame(new Uint8Array(r.body));
      assert.equal(frame.header.kind, "reply");
      assert.ok(frame.header.kind === "reply" && frame.header.ok);
      assert.equal(frame.header.deviceId, "fake-pi");
      assert.equal(frame.header.computeMs, FAKE_BREAKDOWN.cloudComputeMs);
      const want = fakeModel(inputs);
      assertSameTensor(frame.tensors.y, want.y!, "y");
      assertSameTensor(frame.tensors.next, want.next!, "next");
      const meta = JSON.parse(String(r.headers["x-edgecut-meta"])) as { id: string; split: number; breakdown: unknown };
      assert.equal(meta.id, frame.header.requestId);
      assert.equal(meta.split, 1);
      assert.deepEqual(meta.breakdown, FAKE_BREAKDOWN);
    }
  });

  test("JSON stays the answer when Accept prefers it or does not name octet-stream", async () => {
    for (const accept of ["application/json, application/octet-stream", "*/*", "text/html"]) {
      const r = await call(api.address, { method: "POST", path: "/v1/infer", headers: { ...OCTET, Accept: accept }, body: encodeFrame(header(), contractInputs(1)) });
      assert.equal(r.status, 200);
      assert.match(String(r.headers["content-type"]), /^application\/json/, accept);
    }
  });

  test("ttlMs is the timeout unless the query sets one; query options are checked", async () => {
    const body = encodeFrame(header(750.2), contractInputs(1));
    assert.equal((await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body })).status, 200);
    assert.equal(core.calls.at(-1)!.options?.timeoutMs, 751);
    assert.equal((await call(api.address, { method: "POST", path: "/v1/infer?timeoutMs=90&split=0", headers: OCTET, body })).status, 200);
    assert.equal(core.calls.at(-1)!.options?.timeoutMs, 90);
    assert.equal(core.calls.at(-1)!.options?.split, 0);
    for (const q of ["?split=-1", "?split=1.5", "?timeoutMs=0", "?mode=now", "?colour=blue", "?split=1&split=2"]) {
      const r = await call(api.address, { method: "POST", path: `/v1/infer${q}`, headers: OCTET, body });
      assert.equal(r.status, 400, q);
      assert.equal(r.error().code, "E_USAGE", q);
    }
  });

  test("queue mode through the query, with an Idempotency-Key", async () => {
    const body = encodeFrame(header(5000), contractInputs(1));
    const r = await call(api.address, { method: "POST", path: "/v1/infer?mode=queue", headers: { ...OCTET, "Idempotency-Key": "frame-job" }, body });
    assert.equal(r.status, 202, r.body.toString());
    assert.equal((await call(api.address, { method: "POST", path: "/v1/infer?mode=queue", headers: OCTET, body })).status, 400);
  });

  test("bad frames: 400 with the wire code", async () => {
    const good = encodeFrame(header(), contractInputs(1));
    const reply = encodeFrame({ kind: "reply", requestId: "r", deviceId: "d", computeMs: 0, queueMs: 0, ok: true }, contractInputs(1));
    const wrongVersion = good.slice();
    wrongVersion[4] = 9;
    const cases: [Uint8Array, string, RegExp][] = [
      [new TextEncoder().encode("definitely not a frame"), "E_FRAME", /magic/i],
      [good.subarray(0, good.length - 3), "E_FRAME", /./],
      [reply, "E_FRAME", /request frame.*"reply"/],
      [wrongVersion, "E_PROTOCOL_VERSION", /version/],
      [new Uint8Array(0), "E_FRAME", /./],
    ];
    for (const [body, code, msg] of cases) {
      const r = await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body });
      assert.equal(r.status, 400, code);
      assert.equal(r.error().code, code);
      assert.match(r.error().message, msg);
    }
  });

  test("a frame whose tensors do not fit the model is 400 like a JSON body", async () => {
    const inputs: TensorMap = { x: { type: "float32", dims: [1, 3], data: new Float32Array(3) }, ids: contractInputs(1).ids! };
    const r = await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body: encodeFrame(header(), inputs) });
    assert.equal(r.status, 400);
    assert.match(r.error().message, /"x" has 3 at axis 1/);
  });
});

test("outputs a frame cannot carry (strings) with Accept: octet-stream: 406, JSON still works", async () => {
  class StringCore extends FakeCore {
    override async infer(inputs: TensorMap, options?: InferOptions): Promise<InferResult> {
      const r = await super.infer(inputs, options);
      return { ...r, outputs: { ...r.outputs, label: { type: "string", dims: [1], data: ["cat"] } } };
    }
  }
  const api = await startApi(new StringCore(), { listen: "127.0.0.1:0", version: "test" });
  try {
    const body = encodeFrame(header(), contractInputs(1));
    const r = await call(api.address, { method: "POST", path: "/v1/infer", headers: { ...OCTET, Accept: "application/octet-stream" }, body });
    assert.equal(r.status, 406);
    assert.match(r.error().message, /application\/json/);
    const j = await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body });
    assert.equal(j.status, 200);
    assert.match(j.body.toString(), /"label": \{"type": "string", "dims": \[1\], "data": \["cat"\]\}/);
  } finally {
    await api.close();
  }
});
