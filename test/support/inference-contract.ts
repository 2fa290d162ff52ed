/**
 * The one test suite every Inference implementation must pass on the fake model
 * (test/support/fake-core.ts: y = x * 2, next = ids + 1): the agent client against the HTTP API,
 * and the in-process implementation on an ONNX model computing the same (contract-model.ts).
 * Values must come back bit for bit (float32 -0, NaN, Infinity, subnormals; int64 beyond 2^53),
 * bad inputs must be refused naming the tensor, and a signal must abort.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { EdgecutError } from "../../sdk/errors.js";
import type { Inference } from "../../sdk/infer/types.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import { FAKE_SIGNATURE, fakeModel } from "./fake-core.js";

/** One implementation under test. */
export interface ContractSubject {
  inference: Inference;
  /** The model's segment count: split points 0..segments exist. */
  segments: number;
  /**
   * Whether split points below `segments` (segments in the cloud) can run; default true. false
   * (no broker): only split `segments` runs, and asking for a cloud split is refused (E_USAGE).
   */
  cloud?: boolean;
  /** Holds the next runs until release() (for the mid-flight abort test; skipped without it). */
  hold?(): { started: Promise<void>; release(): void };
  /** Stops what start() started (after inference.close()). */
  stop(): Promise<void>;
}

/** Fake-model inputs with `rows` rows, covering the awkward values. */
export function contractInputs(rows = 2): TensorMap {
  const special = [-0, NaN, Infinity, -Infinity, 1.401298464324817e-45, 3.4028234663852886e38, -1.5, 0.1];
  const x = new Float32Array(rows * 4);
  for (let i = 0; i < x.length; i++) x[i] = i < special.length ? special[i]! : special[i % special.length]! + i;
  const ids = new BigInt64Array(rows);
  const big = [2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 2n, 42n];
  for (let i = 0; i < rows; i++) ids[i] = big[i % big.length]!;
  return { x: { type: "float32", dims: [rows, 4], data: x }, ids: { type: "int64", dims: [rows], data: ids } };
}

/** Asserts two tensors are identical: type, dims and every value (Object.is, so -0 and NaN count). */
export function assertSameTensor(actual: HostTensor | undefined, expected: HostTensor, name: string): void {
  assert.ok(actual, `output "${name}" is missing`);
  assert.equal(actual.type, expected.type, `output "${name}" type`);
  assert.deepEqual(actual.dims, expected.dims, `output "${name}" dims`);
  assert.equal(actual.data.length, expected.data.length, `output "${name}" length`);
  const show = (v: unknown): string => (Object.is(v, -0) ? "-0" : String(v));
  for (let i = 0; i < expected.data.length; i++) {
    assert.ok(Object.is(actual.data[i], expected.data[i]), `output "${name}"[${i}] is ${show(actual.data[i])}, expected ${show(expected.data[i])}`);
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, mentions: RegExp[]): Promise<EdgecutError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof EdgecutError, `expected an EdgecutError ${code}, got ${e === undefined ? "success" : String(e)}`);
  assert.equal(e.code, code, e.message);
  for (const m of mentions) assert.match(e.message, m);
  return e;
}

/** Registers the contract suite for one implementation. */
export function inferenceContract(name: string, start: () => Promise<ContractSubject>): void {
  describe(`Inference contract: ${name}`, () => {
    let s: ContractSubject;
    before(async () => { s = await start(); });
    after(async () => {
      await s?.inference.close();
      await s?.stop();
    });

    test("signature() lists the model's inputs and outputs", async () => {
      assert.deepEqual(await s.inference.signature(), FAKE_SIGNATURE);
    });

    test("infer() returns the model's outputs bit for bit, every output and nothing else", async () => {
      for (const rows of [1, 3, 0]) {
        const inputs = contractInputs(rows);
        const r = await s.inference.infer(inputs);
        const want = fakeModel(inputs);
        assert.deepEqual(Object.keys(r.outputs).sort(), Object.keys(want).sort());
        for (const [k, t] of Object.entries(want)) assertSameTensor(r.outputs[k], t, k);
        assert.equal(typeof r.requestId, "string");
        assert.ok(r.requestId.length > 0);
        assert.ok(Number.isInteger(r.split) && r.split >= 0 && r.split <= s.segments, `split ${r.split}`);
        for (const v of Object.values(r.breakdown)) assert.ok(Number.isFinite(v) && v >= 0, `breakdown ${JSON.stringify(r.breakdown)}`);
      }
    });

    test("infer() runs at the split asked for, and refuses one that does not exist", async () => {
      const cloud = s.cloud ?? true;
      for (let k = cloud ? 0 : s.segments; k <= s.segments; k++) assert.equal((await s.inference.infer(contractInputs(1), { split: k })).split, k);
      if (!cloud) await rejectsWith(s.inference.infer(contractInputs(1), { split: 0 }), "E_USAGE", [/split 0/]);
      await rejectsWith(s.inference.infer(contractInputs(1), { split: s.segments + 1 }), "E_USAGE", [/split/]);
    });

    test("concurrent calls each get their own result", async () => {
      const inputs = [1, 2, 3, 4].map((rows) => contractInputs(rows));
      const results = await Promise.all(inputs.map((i) => s.inference.infer(i)));
      assert.equal(new Set(results.map((r) => r.requestId)).size, 4);
      results.forEach((r, i) => assertSameTensor(r.outputs.next, fakeModel(inputs[i]!).next!, "next"));
    });

    test("inputs that do not fit the model are refused naming the tensor and what the model wants", async () => {
      const good = contractInputs(2);
      const x = good.x!;
      const cases: [string, TensorMap, string, RegExp[]][] = [
        ["unknown input", { ...good, extra: x }, "E_USAGE", [/"extra"/, /not an input/]],
        ["missing input", { x }, "E_INPUT_MISSING", [/"ids"/, /missing/]],
        ["wrong type", { ...good, x: { type: "float64", dims: [2, 4], data: new Float64Array(8) } }, "E_USAGE", [/"x"/, /float64/, /float32/]],
        ["wrong rank", { ...good, x: { type: "float32", dims: [8], data: new Float32Array(8) } }, "E_USAGE", [/"x"/, /rank 1/]],
        ["fixed dim", { ...good, x: { type: "float32", dims: [2, 3], data: new Float32Array(6) } }, "E_USAGE", [/"x"/, /axis 1/, /\[batch, 4\]/]],
        ["symbolic dims disagree", { ...good, ids: { type: "int64", dims: [3], data: new BigInt64Array(3) } }, "E_USAGE", [/"ids"/, /batch = 3/]],
      ];
      for (const [what, inputs, code, mentions] of cases) {
        await rejectsWith(s.inference.infer(inputs), code, mentions).catch((e: Error) => assert.fail(`${what}: ${e.message}`));
      }
    });

    test("an aborted signal rejects with E_ABORTED, before the call and while it runs", async () => {
      const pre = new AbortController();
      pre.abort();
      await rejectsWith(s.inference.infer(contractInputs(1), { signal: pre.signal }), "E_ABORTED", []);
      if (!s.hold) return;
      const held = s.hold();
      const ac = new AbortController();
      const p = s.inference.infer(contractInputs(1), { signal: ac.signal });
      await held.started;
      ac.abort();
      await rejectsWith(p, "E_ABORTED", []);
      held.release();
      // Still usable afterwards.
      assertSameTensor((await s.inference.infer(contractInputs(1))).outputs.y, fakeModel(contractInputs(1)).y!, "y");
    });
  });

  describe(`Inference contract: ${name}, close()`, () => {
    test("close() is idempotent and later calls fail with an EdgecutError", async () => {
      const s = await start();
      try {
        await s.inference.close();
        await s.inference.close();
        const e = await s.inference.infer(contractInputs(1)).then(() => undefined, (err: unknown) => err);
        assert.ok(e instanceof EdgecutError, `infer after close gave ${String(e)}`);
        assert.ok(["E_USAGE", "E_NOT_READY"].includes(e.code), e.code);
      } finally {
        await s.stop();
      }
    });
  });
}
