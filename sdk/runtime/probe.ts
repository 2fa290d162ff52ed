/**
 * The probe run behind shape inference's fallback: the model is run once on sample inputs at
 * the analysis's concrete shapes, with the tensors inference could not size exposed as outputs.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Graph } from "../graph/graph.js";
import { serializeModel } from "../graph/model-io.js";
import type { ProbeRunner } from "../graph/shapes.js";
import { dtypeCode } from "../graph/dtypes.js";
import { OrtSession } from "./ort.js";
import { sampleInputs } from "./sample-inputs.js";

/**
 * A ProbeRunner backed by onnxruntime. The probe model is written to a temporary folder with
 * every weight embedded (it exists for one run), then removed.
 */
export function ortProbeRunner(graph: Graph, shapes: Record<string, number[]>, dims: Record<string, number>): ProbeRunner {
  return async (model, exposed) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-probe-"));
    try {
      const file = path.join(dir, "probe.onnx");
      fs.writeFileSync(file, serializeModel(model, { sourceDir: graph.dir }));
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
