/**
 * `npm run demo`: the local half of edgecut end to end. Builds the tiny GPT model, inspects it,
 * splits it at its candidate cuts and verifies the chained segments against the whole model at
 * the split's shape and at another one.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main } from "../sdk/cli/main.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-demo-"));
const model = path.join(dir, "tiny-gpt.onnx");
const out = path.join(dir, "split");

async function step(title: string, argv: string[]): Promise<void> {
  console.log(`\n$ edgecut ${argv.join(" ")}\n  (${title})`);
  const code = await main(argv);
  if (code !== 0) {
    console.error(`demo: step failed with exit code ${code}`);
    process.exit(code);
  }
}

await step("build a 4-block GPT-like model with a KV cache-free decoder", ["model", "tiny-gpt", "--layers", "4", "--d-model", "64", "-o", model]);
await step("list its candidate cut points at 1x64 tokens", ["inspect", model, "--shape", "input_ids=1x64"]);
await step("cut it into 3 segments balanced by FLOPs", ["split", model, "--segments", "3", "--shape", "input_ids=1x64", "-o", out]);
await step("verify the chain against the whole model at the split's shape", ["verify", path.join(out, "manifest.json")]);
await step("verify again at another shape (symbolic dims kept)", ["verify", path.join(out, "manifest.json"), "--shape", "input_ids=2x17"]);
console.log(`\ndemo: all steps passed; files in ${dir}`);
