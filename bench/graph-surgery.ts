/**
 * Child of bench/graph.ts: parse, analyze, find candidate cuts and write a 3-segment split, in a
 * process that never loads onnxruntime; also times an in-process stream copy of the model files
 * for comparison. Prints JSON with the timings and the peak RSS.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { Graph } from "../sdk/graph/graph.js";
import { analyze, symbolicTypeOf } from "../sdk/graph/analyze.js";
import { candidateCuts } from "../sdk/graph/cuts.js";
import { segmentByBalance, assignmentFromFronts } from "../sdk/graph/segmentation.js";
import { partition } from "../sdk/graph/partition.js";
import { writeSplit } from "../sdk/graph/split.js";
import { peakRss } from "./harness.js";

const [model, out] = [process.argv[2]!, process.argv[3]!];
const sec = (t0: number): number => (performance.now() - t0) / 1e3;

// The reference: copy the model's files with streams, in this process.
let t = performance.now();
const copyDir = `${out}-copy`;
fs.mkdirSync(copyDir, { recursive: true });
for (const f of [model, `${model}.data`]) {
  await pipeline(fs.createReadStream(f), fs.createWriteStream(path.join(copyDir, path.basename(f))));
}
const copySec = sec(t);
fs.rmSync(copyDir, { recursive: true, force: true });

t = performance.now();
const g = Graph.load(model);
const parseSec = sec(t);
t = performance.now();
const a = analyze(g, { shapes: { input_ids: [1, 64] } });
const analyzeSec = sec(t);
t = performance.now();
const cands = candidateCuts(g, a.metrics, { constants: a.constants });
const candidatesSec = sec(t);

// The split itself: choose 3 balanced segments, partition, write segments + shared data file + manifest.
t = performance.now();
const picks = segmentByBalance(g, a.metrics, 3, "flops", cands);
const fronts = picks.map((i) => cands[i]!.front);
const p = partition(g, 3, assignmentFromFronts(g, fronts, a.constants), a.constants);
await writeSplit(g, p, out, {
  modelPath: model, typeOf: symbolicTypeOf(a),
  concrete: { types: a.concrete.types, shapes: a.inputShapes, dims: a.dims }, nodeFlops: a.metrics.nodeFlops,
});
const splitSec = sec(t);
console.log(JSON.stringify({ copySec, parseSec, analyzeSec, candidatesSec, candidateCount: cands.length, splitSec, peakRssBytes: peakRss() }));
