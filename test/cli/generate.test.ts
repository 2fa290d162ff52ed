// `edgecut generate`: the whole-model reference, a split over the embedded broker with an
// `edgecut cloud` worker process (same tokens), text in and out with the generated tokenizer,
// the --json contract, and the usage errors.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { spawnWorker, tempDir, type WorkerProcess } from "../e2e/support.js";
import { runCli } from "./helpers.js";

describe("edgecut generate", () => {
  const root = tempDir("cli-generate");
  const models = path.join(root, "models");
  const manifest = path.join(models, "gpt", "manifest.json");
  const tokenizer = path.join(root, "tokenizer.json");
  let broker: EmbeddedBroker;
  let worker: WorkerProcess;

  before(async () => {
    fs.mkdirSync(models, { recursive: true });
    const model = path.join(models, "gpt.onnx");
    let r = await runCli(["model", "tiny-gpt", "--kv-cache", "--layers", "3", "--vocab", "300", "--tokenizer", tokenizer, "-o", model]);
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(["split", model, "--candidates", "--shape", "input_ids=1x8", "--dim", "past_sequence=0", "-o", path.join(models, "gpt")]);
    assert.equal(r.code, 0, r.stderr);
    broker = await startEmbeddedBroker();
    worker = await spawnWorker({ broker: broker.url, models, label: "gen" });
  });
  after(async () => {
    await worker?.stop();
    await broker?.close();
  });

  const json = (stdout: string): { tokens: number[]; text?: string; tokensPerSecond: number; bytesUp: number; bytesDown: number } => JSON.parse(stdout);

  test("a split over the broker gives the local reference's tokens, with bytes on the wire", async () => {
    const local = await runCli(["generate", manifest, "--local", "--ids", "5,17,42", "--max-new-tokens", "24", "--json"]);
    assert.equal(local.code, 0, local.stderr);
    const ref = json(local.stdout);
    assert.equal(ref.tokens.length, 24);
    assert.equal(ref.bytesUp, 0);
    const split = await runCli(["generate", manifest, "--split", "2", "--broker", broker.url, "--ids", "5,17,42", "--max-new-tokens", "24", "--json", "--device-id", "cli-gen"]);
    assert.equal(split.code, 0, split.stderr);
    const got = json(split.stdout);
    assert.deepEqual(got.tokens, ref.tokens);
    assert.ok(got.bytesUp > 0 && got.bytesDown > 0);
    assert.ok(got.tokensPerSecond > 0);
  });

  test("text in and out with the tokenizer the model command wrote", async () => {
    const r = await runCli(["generate", manifest, "--split", "1", "--broker", broker.url, "--prompt", "Hello, wörld", "--tokenizer", tokenizer, "--max-new-tokens", "12", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = json(r.stdout);
    assert.equal(typeof out.text, "string");
    assert.equal(out.tokens.length <= 12, true);
    const streamed = await runCli(["generate", manifest, "--local", "--prompt", "Hello, wörld", "--tokenizer", tokenizer, "--max-new-tokens", "12"]);
    assert.equal(streamed.code, 0, streamed.stderr);
    assert.equal(streamed.stdout.trimEnd(), out.text!.trimEnd(), "the streamed text is the --json text");
    assert.match(streamed.stderr, /tokens\/s/);
  });

  test("usage errors name the flag", async () => {
    const cases: [string[], RegExp][] = [
      [["--local", "--ids", "1,2"], /--max-new-tokens/],
      [["--local", "--ids", "1,2", "--prompt", "x", "--max-new-tokens", "2"], /one of them/],
      [["--local", "--prompt", "x", "--max-new-tokens", "2"], /--tokenizer/],
      [["--local", "--ids", "1,x", "--max-new-tokens", "2"], /--ids/],
      [["--split", "1", "--ids", "1", "--max-new-tokens", "2"], /broker/],
      [["--split", "9x", "--ids", "1", "--max-new-tokens", "2"], /--split/],
      [["--local", "--ids", "1", "--max-new-tokens", "0"], /--max-new-tokens/],
    ];
    for (const [argv, re] of cases) {
      const r = await runCli(["generate", manifest, ...argv]);
      assert.notEqual(r.code, 0, argv.join(" "));
      assert.match(r.stderr, /E_USAGE/, argv.join(" "));
      assert.match(r.stderr, re, argv.join(" "));
    }
  });

  test("a model without a KV cache is refused with E_NOT_GENERATIVE", async () => {
    const plain = path.join(root, "plain.onnx");
    assert.equal((await runCli(["model", "tiny-gpt", "-o", plain])).code, 0);
    assert.equal((await runCli(["split", plain, "--segments", "2", "--shape", "input_ids=1x8", "-o", path.join(root, "plain")])).code, 0);
    const r = await runCli(["generate", path.join(root, "plain", "manifest.json"), "--local", "--ids", "1,2", "--max-new-tokens", "2"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /E_NOT_GENERATIVE/);
  });
});

describe("edgecut split --state", () => {
  const root = tempDir("cli-state");
  test("explicit pairs replace the name detection; a wrong name is E_USAGE", async () => {
    const model = path.join(root, "gpt.onnx");
    assert.equal((await runCli(["model", "tiny-gpt", "--kv-cache", "--layers", "2", "-o", model])).code, 0);
    const r = await runCli(["split", model, "--candidates", "--state", "past_key_values.1.key=present.1.key", "-o", path.join(root, "one"), "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const m = JSON.parse(r.stdout) as { state: { past: string; present: string; segment: number }[] };
    assert.deepEqual(m.state.map((p) => [p.past, p.present]), [["past_key_values.1.key", "present.1.key"]]);
    const bad = await runCli(["split", model, "--candidates", "--state", "past_key_values.9.key=present.9.key", "-o", path.join(root, "bad")]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /E_USAGE.*past_key_values\.9\.key/);
    const malformed = await runCli(["split", model, "--candidates", "--state", "nope", "-o", path.join(root, "bad2")]);
    assert.match(malformed.stderr, /E_USAGE.*--state/);
  });
});
