/** `edgecut split <model.onnx> ... -o <dir>`: writes standalone segments and manifest.json. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { Graph } from "../graph/graph.js";
import { analyzeWithProbe, symbolicTypeOf, type Analysis, type ShapeBindings } from "../graph/analyze.js";
import { ortProbeRunner } from "../runtime/probe.js";
import { candidateCuts, assertCuttable, frontForTensors, type CandidateCut } from "../graph/cuts.js";
import { optimalCut } from "../graph/mincut.js";
import { assignmentFromFronts, segmentByBalance } from "../graph/segmentation.js";
import { partition } from "../graph/partition.js";
import { checkOutDir, writeSplit } from "../graph/split.js";
import type { Manifest } from "../graph/manifest.js";
import { fixInputs, type FixInputsResult } from "../graph/fold.js";
import { ExternalDataWriter, externalRef, forEachTensor, saveModel } from "../graph/model-io.js";
import { fail } from "../errors.js";
import { collect, parseBandwidth, parseDimFlags, parseDuration, parseNumber, parseShapeFlags } from "./flags.js";
import { fmtBytes, fmtFlops, printJson } from "./output.js";

interface SplitFlags {
  output: string; cut?: string[]; segments?: string; balance?: string; candidates?: boolean; optimal?: boolean;
  bandwidth: string; rtt: string; cloudSpeedup: string; deviceGflops: string;
  shape?: string[]; dim?: string[]; json?: boolean; force?: boolean; embed?: boolean;
  fixInput?: string[]; dropUnusedInputs?: boolean; state?: string[];
}

export function registerSplit(program: Command): void {
  program.command("split")
    .description("cut a model into standalone segments and write them with manifest.json")
    .argument("<model>", "the .onnx file (external data next to it)")
    .requiredOption("-o, --output <dir>", "folder to write (must not exist or be empty)")
    .option("--cut <tensors|@index>", "one cut: the tensors it carries, comma-separated (a,b), or candidate #index from inspect; repeat for several cuts", collect, [])
    .option("--segments <n>", "N segments, cut at candidates balanced by --balance")
    .option("--balance <by>", "flops or weights (with --segments)", "flops")
    .option("--candidates", "cut at every candidate whose crossing bytes are a local minimum")
    .option("--optimal", "the two-way cut with the lowest predicted latency (min s-t cut)")
    .option("--bandwidth <rate>", "uplink for --optimal, e.g. 10mbit", "10mbit")
    .option("--rtt <time>", "round trip for --optimal, e.g. 40ms", "40ms")
    .option("--cloud-speedup <x>", "cloud compute speed over the device for --optimal", "8")
    .option("--device-gflops <n>", "device compute speed for --optimal, GFLOP/s", "10")
    .option("--shape <name=AxB>", "concrete dims of a model input (repeatable)", collect, [])
    .option("--dim <dim_param=N>", "value of a symbolic dim everywhere (repeatable)", collect, [])
    .option("--fix-input <name=value>", "make a model input a constant and fold the Ifs it decides, before cutting (repeatable; value: true/false, a number, or a comma list)", collect, [])
    .option("--state <past=present>", "a KV cache pair: the model input holding a layer's past and the output it becomes (repeatable; replaces the Hugging Face-name detection of past_key_values.N.* / present.N.*)", collect, [])
    .option("--drop-unused-inputs", "with --fix-input: also remove model inputs no node reads after folding (default: they stay declared)")
    .option("--embed", "embed all weights in the segment files (no shared weights.data)")
    .option("--force", "replace a previous split in the output folder (never other files)")
    .option("--json", "print the manifest as JSON")
    .addHelpText("after", "\nExamples:\n  edgecut split gpt.onnx --cut @2 -o out/\n  edgecut split gpt.onnx --cut /h.0/Add_1_output_0,/Unsqueeze_2_output_0 --cut /h.1/Add_1_output_0 -o out/\n  edgecut split gpt.onnx --segments 3 --balance weights -o out/\n  edgecut split gpt.onnx --optimal --bandwidth 5mbit --rtt 60ms -o out/\n  edgecut split decoder_model_merged.onnx --fix-input use_cache_branch=true --segments 3 -o decode/\n  edgecut split decoder_model_merged.onnx --fix-input use_cache_branch=false --drop-unused-inputs --dim past_sequence=0 --segments 2 -o prefill/\n\nWith --fix-input the folded model is written next to the output folder (decode.folded.onnx): the\nsegments are cut from it, and the manifest names it as the model that `edgecut verify` runs.")
    .action(async (file: string, flags: SplitFlags) => {
      const modes = [flags.cut?.length ? "--cut" : "", flags.segments !== undefined ? "--segments" : "", flags.candidates ? "--candidates" : "", flags.optimal ? "--optimal" : ""].filter(Boolean);
      if (modes.length !== 1) {
        throw fail("E_USAGE", modes.length === 0 ? "say where to cut: --cut, --segments N, --candidates or --optimal" : `choose one of ${modes.join(", ")}`);
      }
      const bindings = { shapes: parseShapeFlags(flags.shape), dims: parseDimFlags(flags.dim) };
      const fixes = parseFixInputFlags(flags.fixInput ?? []);
      if (flags.dropUnusedInputs && !fixes) throw fail("E_USAGE", "--drop-unused-inputs applies to the model --fix-input folds; add --fix-input name=value");
      const out = path.resolve(flags.output);
      checkOutDir(out, flags.force ?? false, [path.resolve(file), path.dirname(path.resolve(file))]);
      const source = Graph.load(file);
      const folded = fixes ? writeFolded(source, file, fixes, out, flags) : undefined;
      let split: { manifest: Manifest; a: Analysis };
      try {
        split = await cutAndWrite(folded ? Graph.load(folded.file) : source, folded?.file ?? path.resolve(file), bindings, flags);
      } catch (e) {
        // No split refers to the folded model: do not leave it behind.
        for (const f of folded?.written ?? []) fs.rmSync(f, { force: true });
        throw e;
      }
      const { manifest, a } = split;
      const g = a.graph;
      // Warnings (random ops, training-mode Dropout) go to stderr so --json output stays one document.
      for (const w of g.warnings) process.stderr.write(`edgecut: warning: ${w}\n`);
      if (flags.json) { printJson(manifest); return; }
      if (folded) {
        const r = folded.result;
        console.log(`fixed ${Object.entries(fixes!).map(([k, v]) => `${k}=${v}`).join(", ")}: folded ${r.foldedIfs} If node${r.foldedIfs === 1 ? "" : "s"}; model for verify: ${path.relative(process.cwd(), folded.file)}`);
        if (r.unusedInputs.length) console.log(`  inputs no node reads now (kept; --drop-unused-inputs removes them): ${r.unusedInputs.join(", ")}`);
        if (r.droppedInputs.length) console.log(`  removed inputs no node reads now: ${r.droppedInputs.join(", ")}`);
      }
      console.log(`wrote ${manifest.segments.length} segments to ${flags.output} (splitId ${manifest.splitId.slice(0, 12)}...)`);
      for (const s of manifest.segments) console.log(`  segment ${s.index}: ${s.file}, ${fmtBytes(s.weightBytes)} weights, ${fmtFlops(s.flops)}`);
      for (const c of manifest.cuts) {
        console.log(`  cut after ${c.after}: ${c.tensors.map((t) => `${t.name} (${fmtBytes(t.bytes)})`).join(", ")}${c.modelInputs.length ? `; model inputs ${c.modelInputs.join(", ")}` : ""}`);
      }
      if (a.assumedDims.length) console.log(`  bytes and FLOPs at ${a.assumedDims.map((d) => `${d}=1`).join(", ")} (bind with --dim or --shape)`);
    });
}

/** Analyzes `g`, cuts it where the flags say, and writes the split to --output. */
async function cutAndWrite(g: Graph, modelPath: string, bindings: ShapeBindings, flags: SplitFlags): Promise<{ manifest: Manifest; a: Analysis }> {
  const a = await analyzeWithProbe(g, bindings, (shapes, dims) => ortProbeRunner(g, shapes, dims));
  assertCuttable(g, a.constants);
  const fronts = chooseFronts(a, flags);
  const assign = assignmentFromFronts(g, fronts, a.constants);
  const p = partition(g, fronts.length + 1, assign, a.constants);
  const manifest = await writeSplit(g, p, path.resolve(flags.output), {
    modelPath,
    typeOf: symbolicTypeOf(a),
    concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims },
    nodeFlops: a.metrics.nodeFlops,
    dataFile: flags.embed ? null : "weights.data",
    overwrite: flags.force ?? false,
    ...(flags.state?.length ? { state: parseStateFlags(flags.state) } : {}),
  });
  return { manifest, a };
}

/** `--state past=present` flags (split at the LAST "=", as --shape: tensor names may hold one). */
function parseStateFlags(values: readonly string[]): { past: string; present: string }[] {
  return values.map((v) => {
    const at = v.lastIndexOf("=");
    if (at < 1 || at === v.length - 1) throw fail("E_USAGE", `--state ${v}: expected <past input>=<present output>, e.g. past_key_values.0.key=present.0.key`);
    return { past: v.slice(0, at), present: v.slice(at + 1) };
  });
}

/** `--fix-input name=value` flags by name (split at the FIRST "=": values may not hold one), or undefined when none. */
function parseFixInputFlags(values: readonly string[]): Record<string, string> | undefined {
  if (values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0 || eq === v.length - 1) {
      throw fail("E_USAGE", `--fix-input ${v}: expected name=value, e.g. --fix-input use_cache_branch=true (value: true/false, a number, or a comma list like 1,2,3)`);
    }
    const name = v.slice(0, eq);
    if (name in out) throw fail("E_USAGE", `--fix-input ${name} given twice; give each input one value`);
    out[name] = v.slice(eq + 1);
  }
  return out;
}

/**
 * Folds the fixed inputs into the model and writes it to `<out>.folded.onnx` (weights that were
 * external in the source go to `<out>.folded.onnx.data`): the manifest must name a model file that
 * `verify` can run, and the source model still wants the inputs that were fixed.
 */
function writeFolded(g: Graph, sourceFile: string, fixes: Record<string, string>, out: string, flags: SplitFlags): { file: string; result: FixInputsResult; written: string[] } {
  const result = fixInputs(g, fixes, { dropUnusedInputs: flags.dropUnusedInputs ?? false });
  const file = `${out}.folded.onnx`;
  const dataFile = `${file}.data`;
  const sources = new Set([path.resolve(sourceFile)]);
  forEachTensor(result.model.graph!, (t) => {
    const ref = externalRef(t, g.dir);
    if (ref) sources.add(ref.path);
  });
  const external = sources.size > 1;
  const written = external ? [file, dataFile] : [file];
  for (const f of written) {
    if (sources.has(f)) throw fail("E_USAGE", `--fix-input would write the folded model over ${f}, a file of the model being split; choose another output folder`);
    if (fs.existsSync(f) && !flags.force) {
      throw fail("E_OUTPUT_EXISTS", `${f} exists; --fix-input writes the folded model there: remove it, or pass --force to replace it`);
    }
  }
  const writer = external ? new ExternalDataWriter(dataFile) : undefined;
  try {
    saveModel(result.model, file, { sourceDir: g.dir, externalData: writer });
  } finally {
    writer?.close();
  }
  return { file, result, written };
}

function chooseFronts(a: Analysis, flags: SplitFlags): ReadonlySet<number>[] {
  const g = a.graph;
  const cands = (): CandidateCut[] => candidateCuts(g, a.metrics, { constants: a.constants });
  if (flags.cut?.length) {
    const at = flags.cut.filter((c) => c.startsWith("@"));
    if (at.length === 0) {
      // Each --cut is one cut; its tensors are comma-separated. Fronts are ordered by size here,
      // and assignmentFromFronts rejects cuts that cross or coincide (E_CUT_ORDER).
      const cuts = flags.cut.map((c) => c.split(",").map((t) => t.trim()).filter(Boolean));
      // Names that are no top-level tensor first: a typo is the error to report, whatever the cut order.
      for (const name of cuts.flat()) if (!g.tensors.has(name)) frontForTensors(g, [name], a.constants);
      return cuts.map((names) => frontForTensors(g, names, a.constants)).sort((x, y) => x.size - y.size);
    }
    if (at.length !== flags.cut.length) throw fail("E_USAGE", "--cut takes either tensor names or @candidate indices, not both");
    const list = cands();
    const idx = at.map((c) => parseNumber("--cut", c.slice(1), { integer: true, min: 0 }));
    for (const i of idx) {
      if (i >= list.length) throw fail("E_USAGE", `--cut @${i}: the model has ${list.length} candidate cuts (0..${list.length - 1}); see \`edgecut inspect\``);
    }
    const sorted = [...new Set(idx)].sort((x, y) => x - y);
    if (sorted.length !== idx.length) throw fail("E_CUT_ORDER", "--cut names the same candidate twice");
    return sorted.map((i) => list[i]!.front);
  }
  if (flags.segments !== undefined) {
    const k = parseNumber("--segments", flags.segments, { integer: true, min: 2 });
    if (flags.balance !== "flops" && flags.balance !== "weights") throw fail("E_USAGE", `--balance ${flags.balance}: expected flops or weights`);
    const list = cands();
    return segmentByBalance(g, a.metrics, k, flags.balance, list).map((i) => list[i]!.front);
  }
  if (flags.candidates) {
    const list = cands();
    if (list.length === 0) throw fail("E_NO_CANDIDATES", "the model offers no candidate cut points");
    return list.filter((c) => c.localMin).map((c) => c.front);
  }
  const deviceFlops = parseNumber("--device-gflops", flags.deviceGflops, { min: 1e-6 }) * 1e9;
  const r = optimalCut(g, a.metrics, {
    bandwidthBytesPerSec: parseBandwidth("--bandwidth", flags.bandwidth),
    rttSec: parseDuration("--rtt", flags.rtt),
    deviceFlopsPerSec: deviceFlops,
    cloudFlopsPerSec: deviceFlops * parseNumber("--cloud-speedup", flags.cloudSpeedup, { min: 1e-6 }),
  });
  const computeNodes = g.nodes.length - a.constants.nodes.size;
  if (r.front.size === 0 || r.front.size >= computeNodes) {
    throw fail("E_NO_CANDIDATES", `the lowest predicted latency is ${r.front.size === 0 ? "all in the cloud" : "all on the device"} (${(r.predictedSec * 1e3).toFixed(1)} ms; all-local ${(r.allLocalSec * 1e3).toFixed(1)} ms, all-cloud ${(r.allCloudSec * 1e3).toFixed(1)} ms): no split beats it at these settings`);
  }
  return [r.front];
}
