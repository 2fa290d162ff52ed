/**
 * Running one chunk of tokens through a range of segments with the range's own KV cache: the
 * segments chain by name as in `verify`, each fed from the chunk's tensors, the outputs of the
 * segments before it, and the cache (sdk/generate/state.ts). Device and worker both use it, with
 * their own way of running a segment.
 */
import { fail } from "../errors.js";
import type { Manifest } from "../graph/manifest.js";
import type { HostTensor, TensorMap } from "../runtime/tensor.js";
import { absorbPresents, cacheFeeds, ownedState } from "./state.js";

/** Runs segment `index` on its feeds and returns its outputs. */
export type SegmentRunner = (index: number, feeds: TensorMap) => Promise<TensorMap>;

/** The result of a chunk: every tensor seen (inputs and outputs) and the cache length after it. */
export interface RangeRun {
  env: Map<string, HostTensor>;
  length: number;
}

/**
 * Runs segments from..to-1 on `inputs` (the chunk's tensors) with `cache` holding `length`
 * tokens; updates `cache` with the presents and returns the outputs and the new length (length +
 * `tokens` when the caller knows the chunk's tokens, else the presents' sequence dim). Throws
 * E_FRAME when a segment needs a tensor nothing provides.
 */
export async function runRange(m: Manifest, from: number, to: number, inputs: ReadonlyMap<string, HostTensor>, cache: Map<string, HostTensor>, length: number, run: SegmentRunner, tokens?: number): Promise<RangeRun> {
  const env = new Map(inputs);
  for (let i = from; i < to; i++) {
    const seg = m.segments[i]!;
    const fromCache = cacheFeeds(m, i, cache, length);
    const feeds: TensorMap = {};
    for (const t of seg.inputs) {
      const value = env.get(t.name) ?? fromCache[t.name];
      if (value === undefined) throw fail("E_FRAME", `segment ${i} needs ${JSON.stringify(t.name)}, which the session's tensors do not carry`);
      Object.defineProperty(feeds, t.name, { value, enumerable: true, writable: true, configurable: true });
    }
    const out = await run(i, feeds);
    for (const [name, t] of Object.entries(out)) env.set(name, t);
  }
  const next = absorbPresents(m, ownedState(m, from, to), env, cache, length);
  return { env, length: tokens === undefined ? next : length + tokens };
}
