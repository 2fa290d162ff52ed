// Bad input to the agent's local API and to `edgecut infer`, `split`, `plan` and `inspect`, for
// what test/agent/api-validation.test.ts, api-binary.test.ts and the CLI tests do not already
// cover: tensor objects with wrong JSON types, JSON nested 100,000 deep, the 16 MiB JSON cap under
// a larger maxBodyBytes, frames over the limit or with absurd tables, inputs files that do not fit
// the split, corrupt manifests, and shapes so large that the probe run must not start. Every one
// ends in a status (or exit) code and a message naming what is wrong.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startApi, type ApiServer } from "../../agent/api/index.js";
import { MAX_JSON_BODY_BYTES } from "../../agent/api/routes.js";
import type { ErrorCode } from "../../sdk/errors.js";
import { startEmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { encodeFrame, fragmentFrame, PREFIX_BYTES, type RequestHeader } from "../../sdk/wire/index.js";
import { call, postInfer } from "../agent/api-http.js";
import { assertCliError, GPT2_TINY, jsonOf, runCli, tempDir } from "../cli/helpers.js";
import { mlpSplit } from "../offload/support.js";
import { FakeCore } from "../support/fake-core.js";
import { contractInputs } from "../support/inference-contract.js";
import { headerText, withHeaderText } from "./mutate.js";

const OCTET = { "Content-Type": "application/octet-stream" };
const frameHeader: RequestHeader = { kind: "request", requestId: "app-1", deviceId: "app", splitId: "any", segments: { from: 0, to: 1 }, ttlMs: 0 };
const IDS = `"ids": {"type": "int64", "dims": [1], "data": [1]}`;
/** A body whose "x" tensor object is `x` (text) next to a valid "ids". */
const withX = (x: string): string => `{"inputs": {"x": ${x}, ${IDS}}}`;

describe("agent API: bad tensors, deep JSON, oversized bodies", () => {
  let core: FakeCore;
  let api: ApiServer;
  before(async () => {
    core = new FakeCore();
    api = await startApi(core, { listen: "127.0.0.1:0", version: "test", maxBodyBytes: 64 * 2 ** 20 });
  });
  after(() => api.close());

  test("tensor objects with wrong JSON types or impossible dims: 400 E_TENSOR_FILE naming the tensor and the field; nothing runs", async () => {
    const runs = core.runs;
    const cases: [string, RegExp][] = [
      [withX(`{"type": "float32", "dims": ["1", "4"], "data": [1, 2, 3, 4]}`), /tensor "x": dims\[0\] = "1" is not a non-negative integer/],
      [withX(`{"type": "float32", "dims": [-1, 4], "data": [1, 2, 3, 4]}`), /tensor "x": dims\[0\] = -1/],
      [withX(`{"type": "float32", "dims": [0.5, 8], "data": [1, 2, 3, 4]}`), /tensor "x": dims\[0\] = 0\.5/],
      [withX(`{"type": "float32", "dims": [1e15, 1e15], "data": [1]}`), /tensor "x": dims \[1000000000000000, 1000000000000000\] give an absurd element count/],
      [withX(`{"type": "float32", "dims": [1000000000, 4], "data": [1]}`), /tensor "x": data has 1 values but dims \[1000000000, 4\] need 4000000000/],
      [withX(`{"type": "float32", "dims": 4, "data": [1, 2, 3, 4]}`), /tensor "x": "dims" is wrong.*expected array/],
      [withX(`{"type": 1, "dims": [1, 4], "data": [1, 2, 3, 4]}`), /tensor "x": "type" is wrong.*expected string/],
      [withX(`{"dims": [1, 4], "data": [1, 2, 3, 4]}`), /tensor "x": "type" is wrong/],
      [withX(`{"type": "float32", "dims": [1, 4]}`), /tensor "x": "data" is wrong.*expected array/],
      [withX(`{"type": "float32", "dims": [1, 4], "data": {"0": 1}}`), /tensor "x": "data" is wrong/],
      [withX(`{"type": "float32", "dims": [1, 4], "data": ["a", 2, 3, 4]}`), /tensor "x": data\[0\] = "a" is not a float32 value/],
      [withX(`{"type": "float32", "dims": [1, 4], "data": [null, 2, 3, 4]}`), /tensor "x": data\[0\] = null/],
      [withX(`{"type": "float32", "dims": [1, 4], "data": [[1, 2], [3, 4]]}`), /tensor "x": data has 2 values but dims \[1, 4\] need 4/],
      [withX(`{"type": "float32", "dims": [1, 4], "data": [1, 2, 3, 4], "layout": "nchw"}`), /tensor "x": unknown key\(s\) "layout"/],
      [withX("[1, 2, 3, 4]"), /tensor "x": the entry is wrong.*expected object, received array/],
      [withX("null"), /tensor "x": the entry is wrong.*received null/],
      [withX(`{"type": "bool", "dims": [1, 4], "data": [2, 0, 1, 0]}`), /tensor "x": data\[0\] = 2 is not a bool/],
      [`{"inputs": {"x": {"type": "float32", "dims": [1, 4], "data": [1, 2, 3, 4]}, "ids": {"type": "int64", "dims": [1], "data": [1.5]}}}`, /tensor "ids": data\[0\] = 1\.5 is not an integer \(int64\)/],
      [`{"inputs": {"x": {"type": "float32", "dims": [1, 4], "data": [1, 2, 3, 4]}, "ids": {"type": "int64", "dims": [1], "data": ["9223372036854775808"]}}}`, /tensor "ids": .* out of range for int64/],
      [`{"inputs": {"x": {"type": "float32", "dims": [1, 4], "data": [1, 2, 3, 4]}, "ids": {"type": "int64", "dims": [1], "data": [1152921504606846976]}}}`, /tensor "ids": .*beyond 2\^53.*decimal strings/],
    ];
    for (const [body, message] of cases) {
      const r = await postInfer(api.address, body);
      assert.equal(r.status, 400, body);
      assert.equal(r.error().code, "E_TENSOR_FILE", body);
      assert.match(r.error().message, message, body);
    }
    assert.equal(core.runs, runs);
  });

  test("a string tensor where the model wants float32, and 5,000 names the model does not have: 400 E_USAGE", async () => {
    const str = await postInfer(api.address, withX(`{"type": "string", "dims": [1, 4], "data": ["a", "b", "c", "d"]}`));
    assert.equal(str.status, 400);
    assert.match(str.error().message, /input "x" is string; the model wants float32 \[batch, 4\]/);
    const many = `{"inputs": {${Array.from({ length: 5000 }, (_, i) => `"t${i}": {"type": "float32", "dims": [1], "data": [1]}`).join(", ")}}}`;
    const r = await postInfer(api.address, many);
    assert.equal(r.status, 400);
    assert.equal(r.error().code, "E_USAGE");
    assert.match(r.error().message, /input "x" \(float32 \[batch, 4\]\) is missing; .*"t4999" is not an input of the model/);
  });

  test("JSON nested 100,000 deep (in data, at the top, in an option): 400, not a stack overflow", async () => {
    const deep = (n: number, inner: string): string => `${"[".repeat(n)}${inner}${"]".repeat(n)}`;
    const cases: [string, string, RegExp][] = [
      [withX(`{"type": "float32", "dims": [1, 4], "data": ${deep(100_000, "1")}}`), "E_TENSOR_FILE", /tensor "x": data has 1 values but dims \[1, 4\] need 4/],
      [deep(200_000, ""), "E_USAGE", /must be a JSON object/],
      [`{"inputs": {}, "mode": ${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}}`, "E_USAGE", /"mode"/],
    ];
    for (const [body, code, message] of cases) {
      const r = await postInfer(api.address, body);
      assert.equal(r.status, 400, message.source);
      assert.equal(r.error().code, code);
      assert.match(r.error().message, message);
    }
    assert.equal((await call(api.address, { path: "/healthz" })).status, 200);
  });

  test("a JSON body over the 16 MiB JSON cap is refused from its Content-Length even when maxBodyBytes is larger", async () => {
    const port = Number(new URL(api.address).port);
    const reply = await new Promise<string>((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.write(`POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MAX_JSON_BODY_BYTES + 1}\r\n\r\n`);
      });
      let text = "";
      s.on("data", (b) => { text += b.toString("latin1"); });
      s.on("close", () => resolve(text));
      s.on("error", reject);
    });
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /"code":"E_BODY_TOO_LARGE"/);
    assert.match(reply, new RegExp(`limit of ${MAX_JSON_BODY_BYTES} bytes`));
  });

  test("frames whose tensors do not fit the model, or whose table is absurd: 400 with the code and the tensor", async () => {
    const good = contractInputs(1);
    const frame = encodeFrame(frameHeader, good);
    /** The frame with its first table entry's dims replaced (data left in place). */
    const withDims = (dims: number[]): Uint8Array => {
      const h = JSON.parse(headerText(frame)!.text) as { tensors: { dims: number[]; offset: number }[] };
      h.tensors[0]!.dims = dims;
      return withHeaderText(frame, JSON.stringify(h), Math.min(...h.tensors.map((t) => t.offset)));
    };
    const manyTensors = encodeFrame(frameHeader, Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`t${i}`, { type: "uint8" as const, dims: [0], data: new Uint8Array(0) }])));
    const cases: [Uint8Array, ErrorCode, RegExp][] = [
      [encodeFrame(frameHeader, { z: good.x! }), "E_USAGE", /input "x" \(float32 \[batch, 4\]\) is missing.*"z" is not an input/],
      [encodeFrame(frameHeader, { x: { type: "int32", dims: [1, 4], data: new Int32Array(4) }, ids: good.ids! }), "E_USAGE", /input "x" is int32; the model wants float32/],
      [withDims([2 ** 40, 2 ** 40]), "E_FRAME_LIMIT", /tensor "x" .*over the limit of 268435456 elements/],
      [withDims([2 ** 62]), "E_FRAME", /header\.tensors\.0\.dims\.0: Too big/],
      [withDims([2 ** 29]), "E_FRAME_LIMIT", /tensor "x" has a dim of 536870912, over the limit of 268435456 elements/],
      [withDims([-1, 4]), "E_FRAME", /header\.tensors\.0\.dims\.0/],
      [withDims([1, 5]), "E_FRAME", /tensor "x" float32 \[1, 5\] as fp32 takes 20 bytes, but its table entry says 16/],
      [manyTensors, "E_FRAME_LIMIT", /1025 tensors, over the limit of 1024/],
      [fragmentFrame(frame, PREFIX_BYTES + 300, { requestId: "app-1", deviceId: "app" })[0]!, "E_FRAGMENT", /fragment of a larger frame/],
    ];
    for (const [body, code, message] of cases) {
      const r = await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body });
      assert.equal(r.status, 400, message.source);
      assert.equal(r.error().code, code, r.error().message);
      assert.match(r.error().message, message);
    }
  });
});

test("a frame body over maxBodyBytes: 413 E_BODY_TOO_LARGE, and the API keeps serving", async () => {
  const api = await startApi(new FakeCore(), { listen: "127.0.0.1:0", version: "test", maxBodyBytes: 4096 });
  try {
    const big = encodeFrame(frameHeader, { x: { type: "float32", dims: [300, 4], data: new Float32Array(1200) }, ids: { type: "int64", dims: [300], data: new BigInt64Array(300) } });
    assert.ok(big.byteLength > 4096);
    const r = await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body: big });
    assert.equal(r.status, 413);
    assert.equal(r.error().code, "E_BODY_TOO_LARGE");
    assert.match(r.error().message, /limit of 4096 bytes/);
    const ok = await call(api.address, { method: "POST", path: "/v1/infer", headers: OCTET, body: encodeFrame(frameHeader, contractInputs(1)) });
    assert.equal(ok.status, 200);
  } finally {
    await api.close();
  }
});

describe("edgecut infer: inputs files that do not fit the split", () => {
  let manifest: string;
  let files: string;
  const write = (name: string, text: string): string => {
    const f = path.join(files, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const zeros = (n: number): string => JSON.stringify(Array(n).fill(0));
  before(async () => {
    const f = await mlpSplit(); // x: float32 [batch, 32]
    manifest = f.manifestPath;
    files = fs.mkdtempSync(path.join(path.dirname(path.dirname(manifest)), "inputs-"));
  });

  const cases: [string, () => string, ErrorCode, RegExp][] = [
    ["a tensor name the model does not have", () => `{"z": {"type": "float32", "dims": [2, 32], "data": ${zeros(64)}}}`, "E_USAGE", /"z", which is not a model input \(inputs: x\)/],
    ["the wrong type", () => `{"x": {"type": "int32", "dims": [2, 32], "data": ${zeros(64)}}}`, "E_USAGE", /input "x" is int32 but the model wants float32/],
    ["the wrong rank", () => `{"x": {"type": "float32", "dims": [64], "data": ${zeros(64)}}}`, "E_USAGE", /input "x" has dims \[64\] but the model wants rank 2/],
    ["a fixed dim changed", () => `{"x": {"type": "float32", "dims": [2, 16], "data": ${zeros(32)}}}`, "E_USAGE", /dim 1 is fixed at 32/],
    ["dims claiming 32e9 values with one given", () => `{"x": {"type": "float32", "dims": [1000000000, 32], "data": [1]}}`, "E_TENSOR_FILE", /tensor "x": data has 1 values but dims \[1000000000, 32\] need 32000000000/],
    ["dims as strings", () => `{"x": {"type": "float32", "dims": ["2", "32"], "data": ${zeros(64)}}}`, "E_TENSOR_FILE", /dims\[0\] = "2"/],
    ["not a tensor file", () => "[1, 2]", "E_TENSOR_FILE", /top level must be an object/],
  ];
  for (const [what, text, code, message] of cases) {
    test(`${what}: ${code}, exit 2 (all local)`, async () => {
      const file = write(`${what.replace(/\W+/g, "-")}.json`, text());
      const n = (JSON.parse(fs.readFileSync(manifest, "utf8")) as { segments: unknown[] }).segments.length;
      assertCliError(await runCli(["infer", manifest, "--split", String(n), "--inputs", file]), code, { message });
    });
  }

  test("with a broker: checked before anything is sent (no worker needed to answer)", async (t) => {
    const broker = await startEmbeddedBroker({ port: 0 });
    t.after(() => broker.close());
    const file = write("typed.json", cases[1]![1]());
    assertCliError(await runCli(["infer", manifest, "--split", "0", "--inputs", file, "--broker", broker.url, "--timeout", "30s"]), "E_USAGE", { message: /input "x" is int32/ });
  });

  test("with an unreachable broker the inputs are still named first", async () => {
    const file = write("typed2.json", cases[1]![1]());
    assertCliError(await runCli(["infer", manifest, "--split", "0", "--inputs", file, "--broker", "mqtt://127.0.0.1:9"]), "E_USAGE", { message: /input "x" is int32/ });
  });

  test("edgecut plan on manifests with wrong types, absurd numbers or paths out of the folder: E_MANIFEST naming the field", async () => {
    const original = JSON.parse(fs.readFileSync(manifest, "utf8")) as Record<string, unknown> & { segments: Record<string, unknown>[] };
    const edits: [string, (m: typeof original) => void, RegExp][] = [
      ["segments-string", (m) => { (m as Record<string, unknown>).segments = "x"; }, /segments: .*expected array, received string/],
      ["flops-string", (m) => { m.segments[0]!.flops = "many"; }, /segments\[0\]\.flops: .*expected number, received string/],
      ["shape-huge", (m) => { (m.segments[0]!.inputs as { shape: unknown[] }[])[0]!.shape = [1e300, 32]; }, /segments\[0\]\.inputs\[0\]\.shape\[0\]: Too big/],
      ["escape", (m) => { m.segments[0]!.file = "../../etc/passwd"; }, /segments\[0\]\.file: must be a relative path inside the manifest's folder/],
      ["unknown-key", (m) => { m.extra = 1; }, /unknown key\(s\) "extra"/],
    ];
    for (const [name, edit, message] of edits) {
      const d = path.join(files, name);
      fs.cpSync(path.dirname(manifest), d, { recursive: true });
      const m = structuredClone(original);
      edit(m);
      fs.writeFileSync(path.join(d, "manifest.json"), JSON.stringify(m));
      assertCliError(await runCli(["plan", path.join(d, "manifest.json")]), "E_MANIFEST", { message });
    }
    fs.writeFileSync(path.join(files, "not-json.json"), "{ nope");
    assertCliError(await runCli(["plan", path.join(files, "not-json.json")]), "E_MANIFEST");
  });
});

describe("shapes too large to run", () => {
  test("--shape and --dim values past 2^53 or not integers: E_BAD_SHAPE_FLAG", async () => {
    for (const flag of [["--shape", "input_ids=1x99999999999999999999"], ["--dim", "batch=1e400"], ["--dim", "sequence=99999999999999999999"]]) {
      assertCliError(await runCli(["inspect", GPT2_TINY, ...flag]), "E_BAD_SHAPE_FLAG", { message: new RegExp(flag[1]!.split("=")[0]!) });
    }
  });

  // Before the probe's size limit, inspect spent minutes filling sample inputs here: the timeout turns a regression into a failure.
  test("inspect and split at a sequence of 10^9: no probe run (it would fill 16 GB of sample inputs), a warning naming the limit", { timeout: 60_000 }, async (t) => {
    const r = await runCli(["inspect", GPT2_TINY, "--shape", "input_ids=1x1000000000", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const probeError = String(jsonOf(r).probeError);
    assert.match(probeError, /not started: at these shapes ".*" alone takes \d+ bytes, over the probe's limit of 1073741824/);
    const out = path.join(tempDir(t), "split");
    const s = await runCli(["split", GPT2_TINY, "--segments", "2", "--shape", "input_ids=1x1000000000", "-o", out, "--json"]);
    assert.equal(s.code, 0, s.stderr);
    assert.ok(fs.existsSync(path.join(out, "manifest.json")));
  });
});
