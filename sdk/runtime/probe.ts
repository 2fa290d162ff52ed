/**
 * The probe run behind shape inference's fallback: the model is run once on sample inputs at
 * the analysis's concrete shapes, with the tensors inference could not size exposed as outputs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Graph } from "../graph/graph.js";
import { externalRef, mapGraphTensors, serializeModel } from "../graph/model-io.js";
import type { ProbeRunner } from "../graph/shapes.js";
import { dtypeCode } from "../graph/dtypes.js";
import type { ModelProto } from "../graph/onnx/onnx_pb.js";
import { OrtSession } from "./ort.js";
import { sampleInputs } from "./sample-inputs.js";

/**
 * A ProbeRunner backed by onnxruntime. The probe model goes to a temporary folder; weights that
 * are external stay in their files, linked into that folder at the same relative paths, so a
 * model of any size is probed without loading its weights into this process.
 */
export function ortProbeRunner(graph: Graph, shapes: Record<string, number[]>, dims: Record<string, number>): ProbeRunner {
  return async (model, exposed) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-probe-"));
    try {
      linkExternalData(model, graph.dir, dir);
      const file = path.join(dir, "probe.onnx");
      fs.writeFileSync(file, serializeModel(model, { sourceDir: graph.dir, keepExternal: true }));
      const session = await OrtSession.create(file, { allowSpinning: false });
      try {
        const out = await session.run(sampleInputs(graph, { shapes, dims }), exposed);
        const result: Record<string, { elemType: number; dims: number[] }> = {};
        for (const [name, t] of Object.entries(out)) result[name] = { elemType: dtypeCode(t.type) ?? 0, dims: t.dims };
        return result;
      } finally {
        await session.release();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Symlinks every external data file the model names into `dir`, at the same relative location. */
function linkExternalData(model: ModelProto, sourceDir: string, dir: string): void {
  const locations = new Map<string, string>();
  const visit = (t: Parameters<Parameters<typeof mapGraphTensors>[1]>[0]): undefined => {
    const ref = externalRef(t, sourceDir);
    if (ref) locations.set(ref.location, ref.path);
    return undefined;
  };
  if (model.graph) mapGraphTensors(model.graph, visit);
  for (const [location, target] of locations) {
    const link = path.join(dir, location);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(target, link);
  }
}
