/**
 * `edgecut model <kind> -o file.onnx`: writes a deterministic generated test model (and, for
 * tiny-gpt with --tokenizer, the byte-level BPE tokenizer.json matching its --vocab).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { buildModel, defaultOptions, MODEL_KINDS, resolveOptions, type ModelKind, type ModelOptions } from "../graph/models/index.js";
import { tokenizerJson, type TokenizerJson } from "../graph/models/tokenizer-json.js";
import { ExternalDataWriter, saveModel } from "../graph/model-io.js";
import { fail } from "../errors.js";
import { parseNumber } from "./flags.js";
import { fmtBytes, printJson } from "./output.js";

/** Models with more weight bytes than this get an external data file unless told otherwise. */
const AUTO_EXTERNAL_BYTES = 256 * 1024 * 1024;

interface ModelFlags {
  output: string; layers?: string; dModel?: string; heads?: string; vocab?: string; maxPositions?: string; seed?: string;
  kvCache?: boolean; int8Weights?: boolean; externalData?: boolean; json?: boolean; tokenizer?: string;
}

export function registerModel(program: Command): void {
  program.command("model")
    .description("write a deterministic generated test model (tiny-gpt, tiny-cnn or mlp)")
    .argument("<kind>", `one of ${MODEL_KINDS.join(", ")}`)
    .requiredOption("-o, --output <file>", "the .onnx file to write")
    .option("--layers <n>", "transformer blocks / residual blocks / hidden layers")
    .option("--d-model <n>", "hidden width (tiny-gpt, mlp) or base channels (tiny-cnn)")
    .option("--heads <n>", "attention heads (tiny-gpt)")
    .option("--vocab <n>", "vocabulary size (tiny-gpt)")
    .option("--max-positions <n>", "longest sequence (tiny-gpt)")
    .option("--seed <n>", "weight seed")
    .option("--kv-cache", "tiny-gpt with Hugging Face-named KV cache inputs and outputs")
    .option("--int8-weights", "store large weights as int8 + DequantizeLinear (QDQ)")
    .option("--external-data", "store weights in <file>.data (default: only above 256 MiB of weights)")
    .option("--no-external-data", "embed all weights in the .onnx file")
    .option("--tokenizer <file>", "also write a byte-level BPE tokenizer.json with --vocab ids (tiny-gpt, vocab >= 256)")
    .option("--json", "print a JSON summary")
    .addHelpText("after", `\nDefaults:\n${MODEL_KINDS.map((k) => `  ${k}: ${JSON.stringify(defaultOptions(k))}`).join("\n")}\n\nExample:\n  edgecut model tiny-gpt --layers 4 --d-model 128 -o tiny-gpt.onnx`)
    .action((kind: string, flags: ModelFlags) => {
      if (!(MODEL_KINDS as readonly string[]).includes(kind)) {
        throw fail("E_USAGE", `unknown model kind "${kind}"; choose one of ${MODEL_KINDS.join(", ")}`);
      }
      const int = (flag: string, v: string | undefined, min: number): number | undefined => (v === undefined ? undefined : parseNumber(flag, v, { integer: true, min }));
      const opts: ModelOptions = {
        layers: int("--layers", flags.layers, 1), dModel: int("--d-model", flags.dModel, 1), heads: int("--heads", flags.heads, 1),
        vocab: int("--vocab", flags.vocab, 2), maxPositions: int("--max-positions", flags.maxPositions, 1), seed: int("--seed", flags.seed, 0),
        kvCache: flags.kvCache ?? false, int8Weights: flags.int8Weights ?? false,
      };
      for (const k of Object.keys(opts) as (keyof ModelOptions)[]) if (opts[k] === undefined) delete opts[k];
      // The tokenizer is checked before the model is built, so a bad --vocab fails fast and writes nothing.
      const tokenizer = flags.tokenizer === undefined ? undefined : tokenizerFor(kind as ModelKind, opts);
      const model = buildModel(kind as ModelKind, opts);
      const file = path.resolve(flags.output);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const weightBytes = model.graph!.initializer.reduce((a, t) => a + t.rawData.length, 0);
      const external = flags.externalData ?? weightBytes > AUTO_EXTERNAL_BYTES;
      let dataFile: string | undefined;
      if (external) {
        dataFile = `${file}.data`;
        const writer = new ExternalDataWriter(dataFile);
        try {
          saveModel(model, file, { sourceDir: path.dirname(file), externalData: writer });
        } finally {
          writer.close();
        }
      } else {
        saveModel(model, file, { sourceDir: path.dirname(file) });
      }
      const tokenizerFile = tokenizer && flags.tokenizer !== undefined ? writeTokenizer(path.resolve(flags.tokenizer), tokenizer) : undefined;
      const summary = { file, kind, nodes: model.graph!.node.length, weightBytes, dataFile: dataFile ?? null, tokenizer: tokenizerFile ?? null };
      if (flags.json) printJson(summary);
      else {
        console.log(`wrote ${file}: ${kind}, ${summary.nodes} nodes, ${fmtBytes(weightBytes)} of weights${dataFile ? ` in ${path.basename(dataFile)}` : ""}`);
        if (tokenizer && tokenizerFile) console.log(`wrote ${tokenizerFile}: byte-level BPE tokenizer, ${Object.keys(tokenizer.model.vocab).length} ids`);
      }
    });
}

/** The tokenizer.json for a tiny-gpt with these options; E_USAGE for other kinds or vocab < 256. */
function tokenizerFor(kind: ModelKind, opts: ModelOptions): TokenizerJson {
  if (kind !== "tiny-gpt") throw fail("E_USAGE", `--tokenizer only applies to tiny-gpt (a language model), not ${kind}; leave it out`);
  const { vocab } = resolveOptions(kind, opts);
  return tokenizerJson(vocab);
}

/** Writes the tokenizer and returns its path. */
function writeTokenizer(file: string, json: TokenizerJson): string {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(json)}\n`);
    return file;
  } catch (e) {
    throw fail("E_IO", `cannot write the tokenizer ${file}: ${(e as Error).message}; check the folder is writable and the disk has room`, e);
  }
}
