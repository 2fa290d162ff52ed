/**
 * Child of bench/graph.ts: median latency of the whole model vs the chain of segments at
 * sequence 64, both with intra-op spinning off, runs interleaved so drift hits both alike.
 */
import * as path from "node:path";
import { OrtSession } from "../sdk/runtime/ort.js";
import { loadManifest } from "../sdk/graph/manifest.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import { median } from "./harness.js";

const [model, manifestPath] = [process.argv[2]!, process.argv[3]!];
const RUNS = 30;
const { manifest, dir } = loadManifest(manifestPath);
const whole = await OrtSession.create(model);
const segs = await Promise.all(manifest.segments.map((s) => OrtSession.create(path.join(dir, s.file))));
const ids = new BigInt64Array(64);
for (let i = 0; i < ids.length; i++) ids[i] = BigInt((i * 7919) % 50257);
const feeds: TensorMap = { input_ids: { type: "int64", dims: [1, 64], data: ids } };

async function chain(): Promise<void> {
  const have: TensorMap = { ...feeds };
  for (const [i, s] of segs.entries()) {
    const inputs: TensorMap = {};
    for (const t of manifest.segments[i]!.inputs) inputs[t.name] = have[t.name]!;
    Object.assign(have, await s.run(inputs));
  }
}
const time = async (f: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};
for (let i = 0; i < 3; i++) { await whole.run(feeds); await chain(); }
// Pairs run back to back (alternating which goes first); the ratio is the median of the pairs'
// ratios, so slow phases of a shared machine hit both sides of a pair alike.
const w: number[] = [];
const c: number[] = [];
const ratios: number[] = [];
for (let i = 0; i < RUNS; i++) {
  let tw: number;
  let tc: number;
  if (i % 2 === 0) { tw = await time(() => whole.run(feeds)); tc = await time(chain); }
  else { tc = await time(chain); tw = await time(() => whole.run(feeds)); }
  w.push(tw);
  c.push(tc);
  ratios.push(tc / tw);
}
console.log(JSON.stringify({ wholeMs: median(w), chainedMs: median(c), ratio: median(ratios), runs: RUNS }));
