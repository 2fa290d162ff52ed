// The CLI on bad model files: truncated, not ONNX, missing, a directory, broken external data,
// and a cyclic graph. Each must exit 2 with a stable code, and `split -o` must leave nothing behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ErrorCode } from "../../sdk/errors.js";
import {
  GPT2_TINY, assertCliError, assertNoOutput, cyclicModel, runCli, snapshotDir, tempDir, writeExternalModel,
  writeModelWithLocation, writeRawModel,
} from "./helpers.js";

interface BadFile { what: string; make: (dir: string) => string; code: ErrorCode; message: RegExp }

const BAD_FILES: BadFile[] = [
  {
    what: "a truncated model (first half of gpt2-tiny.onnx)", code: "E_MODEL_PARSE", message: /not a valid ONNX model|truncated/,
    make: (dir) => {
      const bytes = fs.readFileSync(GPT2_TINY);
      const f = path.join(dir, "truncated.onnx");
      fs.writeFileSync(f, bytes.subarray(0, bytes.length >> 1));
      return f;
    },
  },
  {
    what: "random bytes", code: "E_MODEL_PARSE", message: /not a valid ONNX model|no graph/,
    make: (dir) => {
      const f = path.join(dir, "random.onnx");
      let s = 12345;
      fs.writeFileSync(f, Uint8Array.from({ length: 4096 }, () => { s = (s * 1103515245 + 12345) >>> 0; return s >>> 24; }));
      return f;
    },
  },
  {
    what: "a JSON file", code: "E_MODEL_PARSE", message: /not a valid ONNX model|no graph/,
    make: (dir) => {
      const f = path.join(dir, "model.json.onnx");
      fs.writeFileSync(f, JSON.stringify({ graph: { node: [] }, note: "not protobuf" }, null, 2));
      return f;
    },
  },
  {
    what: "an empty file", code: "E_MODEL_PARSE", message: /no graph/,
    make: (dir) => {
      const f = path.join(dir, "empty.onnx");
      fs.writeFileSync(f, "");
      return f;
    },
  },
  {
    what: "a missing file", code: "E_MODEL_READ", message: /ENOENT/,
    make: (dir) => path.join(dir, "does-not-exist.onnx"),
  },
  {
    what: "a directory", code: "E_MODEL_READ", message: /not a file/,
    make: (dir) => {
      const f = path.join(dir, "folder.onnx");
      fs.mkdirSync(f);
      return f;
    },
  },
];

for (const bad of BAD_FILES) {
  test(`inspect on ${bad.what}: ${bad.code}, exit 2, the path in the message`, async (t) => {
    const dir = tempDir(t);
    const file = bad.make(dir);
    const r = await runCli(["inspect", file]);
    const msg = assertCliError(r, bad.code, { message: bad.message });
    assert.ok(msg.includes(file), `the message names the file: ${msg}`);
  });

  test(`split on ${bad.what}: ${bad.code}, exit 2, no output folder`, async (t) => {
    const dir = tempDir(t);
    const file = bad.make(dir);
    const out = path.join(dir, "new-parent", "split");
    const before = snapshotDir(dir);
    const r = await runCli(["split", file, "--cut", "@0", "-o", out]);
    assertCliError(r, bad.code, { message: bad.message });
    assertNoOutput(out);
    assert.deepEqual(snapshotDir(dir), before, "nothing written or changed in the folder");
  });
}

test("the model with its external data is fine before it is broken (control case)", async (t) => {
  const dir = tempDir(t);
  const { model } = writeExternalModel(dir);
  const r = await runCli(["inspect", model, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = path.join(dir, "split");
  const s = await runCli(["split", model, "--cut", "h", "-o", out]);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(fs.existsSync(path.join(out, "manifest.json")));
});

interface BadData { what: string; breakIt: (dir: string) => string; message: RegExp }

const BAD_DATA: BadData[] = [
  {
    what: "a missing external data file", message: /ext\.onnx\.data.*missing|missing.*ext\.onnx\.data/,
    breakIt: (dir) => {
      const { model, data } = writeExternalModel(dir);
      fs.rmSync(data);
      return model;
    },
  },
  {
    what: "a .data file shorter than the declared range", message: /w2.*(past the end|truncated)/,
    breakIt: (dir) => {
      const { model, data } = writeExternalModel(dir);
      // w1 sits at offset 0 (1024 bytes), w2 at 4096: 1500 bytes keep w1 whole and cut w2 off.
      fs.truncateSync(data, 1500);
      return model;
    },
  },
  {
    what: "an external location with '..'", message: /\.\.\/w1\.data.*relative path inside/,
    breakIt: (dir) => {
      fs.writeFileSync(path.join(dir, "w1.data"), Buffer.alloc(4096));
      fs.mkdirSync(path.join(dir, "models"));
      const model = path.join(dir, "models", "dotdot.onnx");
      writeModelWithLocation(model, "../w1.data");
      return model;
    },
  },
  {
    what: "an absolute external location", message: /relative path inside/,
    breakIt: (dir) => {
      const data = path.join(dir, "w1.data");
      fs.writeFileSync(data, Buffer.alloc(4096));
      const model = path.join(dir, "absolute.onnx");
      writeModelWithLocation(model, data);
      return model;
    },
  },
];

for (const bad of BAD_DATA) {
  test(`inspect with ${bad.what}: E_EXTERNAL_DATA, exit 2`, async (t) => {
    const dir = tempDir(t);
    const model = bad.breakIt(dir);
    const r = await runCli(["inspect", model]);
    assertCliError(r, "E_EXTERNAL_DATA", { message: bad.message });
  });

  test(`split with ${bad.what}: E_EXTERNAL_DATA, exit 2, no output folder or temp files`, async (t) => {
    const dir = tempDir(t);
    const model = bad.breakIt(dir);
    const out = path.join(dir, "new-parent", "split");
    const before = snapshotDir(dir);
    const r = await runCli(["split", model, "--cut", "h", "-o", out]);
    assertCliError(r, "E_EXTERNAL_DATA", { message: bad.message });
    assertNoOutput(out);
    assert.equal(fs.existsSync(path.dirname(out)), false, "the parent folder split created is removed again");
    assert.deepEqual(snapshotDir(dir), before, "nothing written or changed in the folder");
  });
}

test("split --json with a missing external data file: the error as JSON on stdout", async (t) => {
  const dir = tempDir(t);
  const { model, data } = writeExternalModel(dir);
  fs.rmSync(data);
  const out = path.join(dir, "split");
  const r = await runCli(["split", model, "--cut", "h", "--json", "-o", out]);
  assert.equal(r.code, 2);
  assert.deepEqual(Object.keys(JSON.parse(r.stdout) as object), ["error"]);
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, "E_EXTERNAL_DATA");
  assertNoOutput(out);
});

test("a cyclic graph: E_GRAPH_CYCLE naming a tensor on the cycle, for inspect and split", async (t) => {
  const dir = tempDir(t);
  const model = path.join(dir, "cyclic.onnx");
  writeRawModel(cyclicModel(), model);
  // The cycle is Relu(c) -> a -> Add(a, x) -> c; s hangs off it.
  const onCycle = /tensor "(a|c)"/;
  assertCliError(await runCli(["inspect", model]), "E_GRAPH_CYCLE", { message: onCycle });
  const out = path.join(dir, "split");
  assertCliError(await runCli(["split", model, "--cut", "a", "-o", out]), "E_GRAPH_CYCLE", { message: onCycle });
  assertNoOutput(out);
  assertCliError(await runCli(["split", model, "--candidates", "-o", out]), "E_GRAPH_CYCLE", { message: onCycle });
  assertNoOutput(out);
});
