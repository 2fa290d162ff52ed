/** `edgecut verify <manifest.json>`: whole model vs chained segments, on the same inputs. */
import type { Command } from "commander";
import { verifySplit, type VerifyOptions } from "../runtime/verify.js";
import { readTensorFile } from "../runtime/tensor-file.js";
import { collect, parseDimFlags, parseNumber, parseShapeFlags } from "./flags.js";
import { printJson, table } from "./output.js";

interface VerifyFlags { inputs?: string; atol: string; rtol: string; shape?: string[]; dim?: string[]; seed: string; json?: boolean; checkHashes?: boolean }

export function registerVerify(program: Command): void {
  program.command("verify")
    .description("run the whole model and the chain of segments on the same inputs and compare the outputs")
    .argument("<manifest>", "manifest.json of a split")
    .option("--inputs <file>", "model inputs as a tensor file (JSON); default: generated")
    .option("--atol <x>", "absolute tolerance for float outputs", "1e-5")
    .option("--rtol <x>", "relative tolerance for float outputs", "1e-4")
    .option("--shape <name=AxB>", "input shape for generated inputs (repeatable; default: the split's shapes)", collect, [])
    .option("--dim <dim_param=N>", "symbolic dim for generated inputs (repeatable)", collect, [])
    .option("--seed <n>", "seed for generated inputs", "0")
    .option("--check-hashes", "also check every file's sha256 against the manifest")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExit code 0 when every output matches, 1 when one differs.\n\nExample:\n  edgecut verify out/manifest.json --shape input_ids=2x17")
    .action(async (manifest: string, flags: VerifyFlags) => {
      const opts: VerifyOptions = {
        atol: parseNumber("--atol", flags.atol, { min: 0 }),
        rtol: parseNumber("--rtol", flags.rtol, { min: 0 }),
        seed: parseNumber("--seed", flags.seed, { integer: true, min: 0 }),
        checkHashes: flags.checkHashes ?? false,
      };
      const shapes = parseShapeFlags(flags.shape);
      const dims = parseDimFlags(flags.dim);
      if (Object.keys(shapes).length) opts.shapes = shapes;
      if (Object.keys(dims).length) opts.dims = dims;
      if (flags.inputs) opts.inputs = readTensorFile(flags.inputs);
      const r = await verifySplit(manifest, opts);
      if (!r.ok) process.exitCode = 1;
      if (flags.json) {
        printJson({ ok: r.ok, atol: r.atol, rtol: r.rtol, outputs: r.outputs, inputs: r.inputs, wholeMs: r.wholeMs, chainedMs: r.chainedMs });
        return;
      }
      console.log(`${r.ok ? "OK" : "MISMATCH"}: ${r.outputs.length} outputs, inputs ${r.inputs.map((i) => `${i.name}[${i.dims.join("x")}]`).join(" ")} (${r.inputSource}), atol ${r.atol}, rtol ${r.rtol}`);
      console.log(table([["output", "max |diff|", "max rel diff", "ok"], ...r.outputs.map((o) => [o.name, String(o.maxAbsDiff), String(o.maxRelDiff), o.ok ? "yes" : "NO"])]));
      console.log(`whole model ${r.wholeMs.toFixed(1)} ms, chained segments ${r.chainedMs.toFixed(1)} ms`);
    });
}
