// Bad requests to the agent API: tensors that do not fit the model (checkInputs), malformed
// bodies, content types, Idempotency-Key rules, and bodies over the size limit (413 without
// reading the rest).
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import { checkInputs, startApi, type ApiServer } from "../../agent/api/index.js";
import { EdgecutError } from "../../sdk/errors.js";
import { formatTensorFile } from "../../sdk/runtime/tensor-file.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { FAKE_SIGNATURE, FakeCore } from "../support/fake-core.js";
import { contractInputs } from "../support/inference-contract.js";
import { call, postInfer } from "./api-http.js";

const f32 = (dims: number[]): TensorMap[string] => ({ type: "float32", dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) });
const i64 = (dims: number[]): TensorMap[string] => ({ type: "int64", dims, data: new BigInt64Array(dims.reduce((a, b) => a * b, 1)) });

describe("checkInputs", () => {
  const sig = FAKE_SIGNATURE.inputs;
  const check = (inputs: TensorMap): EdgecutError | undefined => {
    try {
      checkInputs(inputs, sig);
      return undefined;
    } catch (e) {
      assert.ok(e instanceof EdgecutError);
      return e;
    }
  };

  test("accepts the model's inputs, any batch size that agrees across inputs", () => {
    for (const b of [0, 1, 7]) assert.equal(check({ x: f32([b, 4]), ids: i64([b]) }), undefined);
  });

  test("lists every problem, each naming the tensor and what the model wants", () => {
    const e = check({ x: { type: "int32", dims: [2, 5], data: new Int32Array(10) }, extra: f32([1]) })!;
    assert.equal(e.code, "E_USAGE");
    assert.match(e.message, /"extra" is not an input of the model \(its inputs: "x", "ids"\)/);
    assert.match(e.message, /input "ids" \(int64 \[batch\]\) is missing/);
    assert.match(e.message, /input "x" is int32; the model wants float32 \[batch, 4\]/);
    assert.match(e.message, /input "x" has 5 at axis 1 \(dims \[2, 5\]\); the model wants float32 \[batch, 4\]/);
  });

  test("missing inputs alone are E_INPUT_MISSING", () => {
    const e = check({ x: f32([1, 4]) })!;
    assert.equal(e.code, "E_INPUT_MISSING");
    assert.match(e.message, /"ids"/);
    assert.equal(check({})!.code, "E_INPUT_MISSING");
  });

  test("rank, and a symbolic dim bound to two sizes", () => {
    assert.match(check({ x: f32([2, 4, 1]), ids: i64([2]) })!.message, /input "x" has rank 3 \(dims \[2, 4, 1\]\)/);
    assert.match(check({ x: f32([2, 4]), ids: i64([3]) })!.message, /input "ids" has batch = 3 at axis 0, but "x" axis 0 has batch = 2/);
  });

  test("an unknown (null) dim takes any size", () => {
    assert.doesNotThrow(() => checkInputs({ a: f32([9, 4]) }, [{ name: "a", type: "float32", shape: [null, 4] }]));
  });
});

describe("agent API: bad requests", () => {
  let core: FakeCore;
  let api: ApiServer;
  before(async () => {
    core = new FakeCore();
    api = await startApi(core, { listen: "127.0.0.1:0", version: "test", maxBodyBytes: 4096 });
  });
  after(() => api.close());

  const inputsText = (m: TensorMap): string => `{"inputs": ${formatTensorFile(m)}}`;

  test("tensors that do not fit the model: 400 naming the tensor, and nothing runs", async () => {
    const runs = core.runs;
    const good = contractInputs(2);
    const cases: [TensorMap, string, RegExp][] = [
      [{ ...good, bogus: good.x! }, "E_USAGE", /"bogus" is not an input/],
      [{ x: good.x! }, "E_INPUT_MISSING", /"ids".*missing/],
      [{ ...good, x: { type: "float64", dims: [2, 4], data: new Float64Array(8) } }, "E_USAGE", /"x" is float64; the model wants float32/],
      [{ ...good, ids: i64([2, 1]) }, "E_USAGE", /"ids" has rank 2/],
      [{ ...good, x: f32([2, 3]) }, "E_USAGE", /"x" has 3 at axis 1/],
    ];
    for (const [inputs, code, msg] of cases) {
      const r = await postInfer(api.address, inputsText(inputs));
      assert.equal(r.status, 400, msg.source);
      assert.equal(r.error().code, code);
      assert.match(r.error().message, msg);
    }
    assert.equal(core.runs, runs);
  });

  test("malformed bodies: 400 with what is wrong", async () => {
    const cases: [string, string, RegExp][] = [
      ["{not json", "E_USAGE", /not valid JSON/],
      ["[1, 2]", "E_USAGE", /must be a JSON object/],
      ["{}", "E_USAGE", /"inputs"/],
      [`{"inputs": [1]}`, "E_USAGE", /"inputs" must be a tensor file object/],
      [`{"inputs": {}, "extra": 1}`, "E_USAGE", /unknown field\(s\) "extra"/],
      [`{"inputs": {}, "mode": "later"}`, "E_USAGE", /"mode"/],
      [`{"inputs": {}, "split": -1}`, "E_USAGE", /"split"/],
      [`{"inputs": {}, "timeoutMs": 1.5}`, "E_USAGE", /"timeoutMs"/],
      [`{"inputs": {"x": {"type": "float32", "dims": [1, 4], "data": [1, 2]}}}`, "E_TENSOR_FILE", /tensor "x": data has 2 values but dims \[1, 4\] need 4/],
      [`{"inputs": {"x": {"type": "float99", "dims": [], "data": [1]}}}`, "E_TENSOR_FILE", /"float99" is not a tensor type/],
      [`{"inputs": {"__proto__": {"type": "float32", "dims": [], "data": [1]}}}`, "E_TENSOR_FILE", /__proto__/],
    ];
    for (const [text, code, msg] of cases) {
      const r = await postInfer(api.address, text);
      assert.equal(r.status, 400, text);
      assert.equal(r.error().code, code, text);
      assert.match(r.error().message, msg, text);
    }
  });

  test("query parameters with a JSON body are refused rather than ignored", async () => {
    const r = await call(api.address, { method: "POST", path: "/v1/infer?split=1", body: inputsText(contractInputs(1)) });
    assert.equal(r.status, 400);
    assert.match(r.error().message, /JSON body/);
  });

  test("wrong or missing Content-Type: 415", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", ""]) {
      const r = await call(api.address, { method: "POST", path: "/v1/infer", body: inputsText(contractInputs(1)), headers: { "Content-Type": type } });
      assert.equal(r.status, 415, type);
      assert.equal(r.error().code, "E_USAGE");
      assert.match(r.error().message, /application\/json/);
    }
    const withCharset = await call(api.address, { method: "POST", path: "/v1/infer", body: inputsText(contractInputs(1)), headers: { "Content-Type": "Application/JSON; charset=utf-8" } });
    assert.equal(withCharset.status, 200);
  });

  test("queue mode needs a valid Idempotency-Key and takes no split or timeout", async () => {
    const runs = core.runs;
    const queued = `{"inputs": ${formatTensorFile(contractInputs(1))}, "mode": "queue"}`;
    const missing = await postInfer(api.address, queued);
    assert.equal(missing.status, 400);
    assert.match(missing.error().message, /Idempotency-Key/);
    for (const key of ["x".repeat(201), "tab\there", "é-key"]) {
      const r = await call(api.address, { method: "POST", path: "/v1/infer", body: queued, headers: { "Content-Type": "application/json", "Idempotency-Key": Buffer.from(key, "utf8").toString("latin1") } });
      assert.equal(r.status, 400, key);
      assert.match(r.error().message, /Idempotency-Key header must be 1 to 200 printable/);
    }
    const withSplit = await postInfer(api.address, queued.replace(/}$/, `, "split": 1}`), { "Idempotency-Key": "k-split" });
    assert.equal(withSplit.status, 400);
    assert.match(withSplit.error().message, /mode "sync" only/);
    assert.equal(core.runs, runs);
    assert.equal(core.getRequest("k-split"), undefined);
    const ok = await postInfer(api.address, queued, { "Idempotency-Key": "x".repeat(200) });
    assert.equal(ok.status, 202);
  });

  test("a body declared over maxBodyBytes is refused with 413 before it is sent", async () => {
    // A raw socket: headers only, then wait; the 413 must come without any body bytes.
    const port = Number(new URL(api.address).port);
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.write("POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n");
      });
      let text = "";
      s.on("data", (b) => { text += b.toString("latin1"); });
      s.on("close", () => resolve(text));
      s.on("error", reject);
    });
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /Connection: close/i);
    assert.match(reply, /"code":"E_BODY_TOO_LARGE"/);
    assert.match(reply, /4096 bytes/);
  });

  test("Expect: 100-continue gets 413 for an oversized body and 100 Continue for one within the limit", async () => {
    const port = Number(new URL(api.address).port);
    const firstLine = (length: number): Promise<string> => new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.write(`POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`);
      });
      s.once("data", (b) => { s.destroy(); resolve(b.toString("latin1").split("\r\n")[0]!); });
      s.on("error", reject);
    });
    assert.equal(await firstLine(5000), "HTTP/1.1 413 Payload Too Large");
    assert.equal(await firstLine(4000), "HTTP/1.1 100 Continue");
  });

  test("a chunked body that grows past maxBodyBytes gets 413 while the client is still sending", async () => {
    const port = Number(new URL(api.address).port);
    const { reply, sentBytes } = await new Promise<{ reply: string; sentBytes: number }>((resolve, reject) => {
      let sent = 0;
      let text = "";
      let timer: NodeJS.Timeout | undefined;
      const s = net.connect(port, "127.0.0.1", () => {
        s.write("POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        // 1 KiB chunks until the server answers; it must answer long before 1 MiB.
        const chunk = `400\r\n${"a".repeat(1024)}\r\n`;
        const pump = (): void => {
          if (text !== "" || sent >= 2 ** 20 || s.destroyed) return;
          s.write(chunk);
          sent += 1024;
          timer = setTimeout(pump, 1);
        };
        pump();
      });
      s.on("data", (b) => { text += b.toString("latin1"); });
      s.on("close", () => { clearTimeout(timer); resolve({ reply: text, sentBytes: sent }); });
      s.on("error", () => { clearTimeout(timer); if (text) resolve({ reply: text, sentBytes: sent }); else reject(new Error("no reply")); });
    });
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /"code":"E_BODY_TOO_LARGE"/);
    assert.ok(sentBytes < 2 ** 20, `the server answered only after ${sentBytes} bytes`);
  });

  test("a body at the limit is read; the server keeps serving after 413s", async () => {
    const padded = (n: number): string => {
      const base = inputsText(contractInputs(1));
      return base.replace(/}$/, `${" ".repeat(n - Buffer.byteLength(base))}}`);
    };
    const atLimit = await postInfer(api.address, padded(4096));
    assert.equal(atLimit.status, 200, atLimit.body.toString());
    for (let i = 0; i < 20; i++) {
      const over = await postInfer(api.address, padded(4097));
      assert.equal(over.status, 413);
      assert.equal(over.error().code, "E_BODY_TOO_LARGE");
    }
    assert.equal((await call(api.address, { path: "/healthz" })).status, 200);
  });
});
