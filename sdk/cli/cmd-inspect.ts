/** `edgecut inspect <model.onnx>`: structure, costs and candidate cut points of a model. */
import * as fs from "node:fs";
import type { Command } from "commander";
import { Graph } from "../graph/graph.js";
import { analyzeWithProbe } from "../graph/analyze.js";
import { ortProbeRunner } from "../runtime/probe.js";
import { candidateCuts, assertCuttable } from "../graph/cuts.js";
import { toDot } from "../graph/dot.js";
import { externalRef, forEachNodeTensor, forEachTensor } from "../graph/model-io.js";
import { fail } from "../errors.js";
import { collect, parseDimFlags, parseShapeFlags } from "./flags.js";
import { fmtBytes, fmtFlops, printJson, table } from "./output.js";

interface InspectFlags { shape?: string[]; dim?: string[]; json?: boolean; dot?: string }

export function registerInspect(program: Command): void {
  program.command("inspect")
    .description("show a model's structure, cost and candidate cut points")
    .argument("<model>", "the .onnx file (external data next to it)")
    .option("--shape <name=AxB>", "concrete dims of a model input (repeatable; splits at the last '=')", collect, [])
    .option("--dim <dim_param=N>", "value of a symbolic dim everywhere (repeatable)", collect, [])
    .option("--json", "print JSON")
    .option("--dot <file>", "write a Graphviz drawing with the cuts marked")
    .addHelpText("after", "\nExample:\n  edgecut inspect gpt.onnx --shape input_ids=1x64 --json")
    .action(async (file: string, flags: InspectFlags) => {
      const bindings = { shapes: parseShapeFlags(flags.shape), dims: parseDimFlags(flags.dim) };
      const g = Graph.load(file);
      checkExternalData(g);
      const a = await analyzeWithProbe(g, bindings, (shapes, dims) => ortProbeRunner(g, shapes, dims));
      assertCuttable(g, a.constants);
      const cuts = candidateCuts(g, a.metrics, { constants: a.constants });
      if (flags.dot) {
        try {
          fs.writeFileSync(flags.dot, toDot(g, a.constants, cuts));
        } catch (e) {
          throw fail("E_USAGE", `--dot ${flags.dot}: cannot write the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check that its folder exists and is writable`, e);
        }
      }
      const ops: Record<string, number> = {};
      for (const n of g.nodes) {
        const key = n.domain ? `${n.domain}.${n.opType}` : n.opType;
        ops[key] = (ops[key] ?? 0) + 1;
      }
      if (flags.json) {
        printJson({
          model: file, nodeCount: g.nodes.length, ops, weightBytes: a.cost.weightBytes, flops: a.cost.flops,
          unknownFlopNodes: a.cost.unknownNodes, probedTensors: a.probed, probeError: a.probeError ?? null, inputShapes: a.inputShapes, assumedDims: a.assumedDims, warnings: g.warnings,
          candidateCuts: cuts.map((c) => ({
            index: c.index, after: c.after, tensors: c.tensors.map((t) => ({ name: t.name, bytes: t.bytes })), modelInputs: c.modelInputs,
            bytes: c.bytes, frontWeightBytes: c.frontWeightBytes, frontFlops: c.frontFlops, localMin: c.localMin,
          })),
        });
        return;
      }
      console.log(`${file}: ${g.nodes.length} nodes, opset ${g.opset}, ${fmtBytes(a.cost.weightBytes)} of weights, ${fmtFlops(a.cost.flops)}${a.cost.unknownNodes ? ` (+${a.cost.unknownNodes} nodes of unknown cost)` : ""}`);
      console.log(`inputs:  ${g.inputs.map((n) => `${n} [${a.inputShapes[n]?.join("x") ?? "?"}]`).join(", ")}`);
      console.log(`outputs: ${g.outputs.join(", ")}`);
      if (a.probeError) console.log(`warning: the probe run that sizes what inference cannot failed (${a.probeError}); cuts carrying those tensors have unknown bytes`);
      if (a.probed) console.log(`probed:  ${a.probed} tensors whose shapes inference could not tell were sized by one onnxruntime run`);
      if (a.assumedDims.length) console.log(`assumed: ${a.assumedDims.map((d) => `${d}=1`).join(", ")} (bind with --dim or --shape)`);
      for (const w of g.warnings) console.log(`warning: ${w}`);
      console.log(`ops:     ${Object.entries(ops).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(", ")}`);
      console.log(`\n${cuts.length} candidate cuts (* = local minimum of crossing bytes):`);
      console.log(table([
        ["#", "after", "crossing", "bytes", "front weights", "front FLOPs"],
        ...cuts.map((c) => [
          `${c.index}${c.localMin ? "*" : ""}`, c.after,
          c.tensors.map((t) => t.name).join(", ") + (c.modelInputs.length ? ` (+inputs ${c.modelInputs.join(", ")})` : ""),
          fmtBytes(c.bytes), fmtBytes(c.frontWeightBytes), fmtFlops(c.frontFlops),
        ]),
      ]));
      if (flags.dot) console.log(`\nwrote ${flags.dot}`);
    });
}

/**
 * inspect never reads weight bytes, but a model whose external data is missing, truncated or
 * outside its folder cannot be split or run: say so now (E_EXTERNAL_DATA), as split would.
 */
function checkExternalData(g: Graph): void {
  const check = (t: Parameters<typeof externalRef>[0]): void => {
    externalRef(t, g.dir);
  };
  forEachTensor(g.graph, check);
  for (const f of g.model.functions) for (const n of f.node) forEachNodeTensor(n, check);
}
