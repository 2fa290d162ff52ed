/**
 * The unsplit model as a one-segment split, so the generator runs it as the local reference
 * (`edgecut generate --local`): the source model file the manifest records, with every cache pair
 * owned by its single segment.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fail } from "../errors.js";
import type { Manifest } from "../graph/manifest.js";

/** A manifest whose one segment is the split's source model (which must still exist next to it). */
export function wholeModelManifest(m: Manifest, dir: string): { manifest: Manifest; dir: string } {
  const file = path.resolve(dir, m.model.file);
  if (!fs.existsSync(file)) throw fail("E_MANIFEST", `the split's source model ${file} is missing; the whole-model reference needs it (it is not part of a deployed split)`);
  const manifest: Manifest = {
    ...m,
    segments: [{
      index: 0, file: path.basename(file), sha256: m.model.sha256, inputs: m.model.inputs,
      outputs: m.model.outputs.map((t) => ({ ...t, modelOutput: true })), weightBytes: 0, flops: null,
    }],
    cuts: [],
    state: m.state.map((p) => ({ ...p, segment: 0, shapeReaders: [] })),
  };
  return { manifest, dir: path.dirname(file) };
}
