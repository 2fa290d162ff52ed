/**
 * classify: an image-classifier app on the in-process API. The app embeds the edgecut agent core
 * (createInference): the front segments run here with onnxruntime, the rest is offloaded to a
 * cloud worker over MQTT when --broker is given, and the planner picks the split point (or
 * --split does). Prints the split each run used, where the time and bytes went, and the top
 * classes of the last run.
 *
 *   npx tsx examples/classify.ts --manifest cnn-split/manifest.json
 *   npx tsx examples/classify.ts --manifest cnn-split/manifest.json --broker mqtt://127.0.0.1:1883 --split 1
 *
 * See examples/README.md for making the split and running a worker.
 */
import { Command, InvalidArgumentError } from "commander";
import { EdgecutError, fail } from "../sdk/errors.js";
import { createInference, type InferResult } from "../sdk/infer/index.js";
import { readTensorFile } from "../sdk/runtime/tensor-file.js";
import { syntheticInputs } from "./synthetic-inputs.js";

interface Flags {
  manifest: string;
  broker?: string;
  split?: number;
  inputs?: string;
  seed: number;
  runs: number;
  top: number;
  deviceId?: string;
  json?: boolean;
}

function integer(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

const out = (line = ""): void => { process.stdout.write(`${line}\n`); };

/** Where a run's segments ran, in words. */
function where(split: number, segments: number): string {
  if (split === segments) return "all local";
  if (split === 0) return "all in the cloud";
  return `${split} here, ${segments - split} in the cloud`;
}

function describeRun(i: number, r: InferResult, segments: number): string {
  const b = r.breakdown;
  return `run ${i + 1}: split ${r.split} (${where(r.split, segments)}): ${b.totalMs.toFixed(1)} ms ` +
    `(load ${b.loadMs.toFixed(1)}, local ${b.localMs.toFixed(1)}, round trip ${b.roundTripMs.toFixed(1)}), ${b.bytesUp} B up, ${b.bytesDown} B down`;
}

async function classify(flags: Flags): Promise<void> {
  const inference = await createInference({
    manifest: flags.manifest,
    ...(flags.broker !== undefined ? { broker: flags.broker } : {}),
    ...(flags.deviceId !== undefined ? { deviceId: flags.deviceId } : {}),
  });
  try {
    const sig = await inference.signature();
    const logitsSig = sig.outputs[0];
    if (sig.inputs.length !== 1 || logitsSig === undefined || logitsSig.type !== "float32" || logitsSig.shape.length !== 2) {
      throw fail("E_USAGE", `classify wants a model with one input and a float32 [batch, classes] first output (e.g. \`edgecut model tiny-cnn\`); this one has inputs ${sig.inputs.map((t) => t.name).join(", ")} and outputs ${sig.outputs.map((t) => `${t.name} ${t.type} [${t.shape.join(", ")}]`).join(", ")}`);
    }
    const inputs = flags.inputs !== undefined ? readTensorFile(flags.inputs) : syntheticInputs(sig.inputs, flags.seed);
    const segments = (await inference.status()).model.segments;
    const runs: InferResult[] = [];
    for (let i = 0; i < flags.runs; i++) runs.push(await inference.infer(inputs, flags.split !== undefined ? { split: flags.split } : {}));
    const logits = runs.at(-1)!.outputs[logitsSig.name];
    if (logits?.type !== "float32") throw fail("E_RUNTIME", `the model returned no float32 "${logitsSig.name}"`);
    const classes = logits.dims[1] ?? 0;
    // Softmax of the first image's logits (shifted by the max, so exp cannot overflow).
    const row = Array.from(logits.data.subarray(0, classes));
    const max = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    const top = exps.map((e, c) => ({ class: c, probability: e / sum })).sort((a, b) => b.probability - a.probability).slice(0, flags.top);

    if (flags.json) {
      out(JSON.stringify({
        segments, input: sig.inputs[0], classes,
        runs: runs.map((r) => ({ requestId: r.requestId, split: r.split, breakdown: r.breakdown })),
        logits: row, top,
      }, null, 2));
      return;
    }
    const input = sig.inputs[0]!;
    out(`model: ${segments} segments; input ${input.name} ${input.type} [${inputs[input.name]?.dims.join(", ")}]${flags.inputs !== undefined ? ` from ${flags.inputs}` : ` (synthetic, seed ${flags.seed})`}`);
    runs.forEach((r, i) => out(describeRun(i, r, segments)));
    out(`top ${top.length} of ${classes} classes:`);
    for (const t of top) out(`  class ${String(t.class).padStart(3)}  ${(t.probability * 100).toFixed(2)} %`);
  } finally {
    await inference.close();
  }
}

const program = new Command("classify")
  .description("classify an image with a split model, in this process: the front segments here, the rest on a cloud worker when --broker is given")
  .requiredOption("--manifest <file>", "the split's manifest.json (written by `edgecut split`)")
  .option("--broker <url>", "MQTT broker of a cloud worker serving the split, e.g. mqtt://127.0.0.1:1883 (default: none; everything runs here)")
  .option("--split <k>", "run at split point k instead of the planner's choice (0 = all in the cloud, n = all here)", integer(0))
  .option("--inputs <file>", "a tensor file (JSON) with the image, as `edgecut infer --inputs` takes (default: a synthetic image)")
  .option("--seed <n>", "seed of the synthetic image", integer(0), 1)
  .option("--runs <n>", "inferences to run (the first also loads the sessions)", integer(1), 3)
  .option("--top <k>", "classes to print", integer(1), 5)
  .option("--device-id <id>", "this device's id on the MQTT topics (default: the hostname)")
  .option("--json", "print one JSON document: runs, logits, top classes")
  .addHelpText("after", [
    "",
    "Examples:",
    "  npx tsx examples/classify.ts --manifest cnn-split/manifest.json",
    "  npx tsx examples/classify.ts --manifest cnn-split/manifest.json --broker mqtt://127.0.0.1:1883 --split 1 --json",
  ].join("\n"))
  .action((flags: Flags) => classify(flags));

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof EdgecutError) {
    process.stderr.write(`classify: ${e.code}: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`classify: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 3;
  }
});
