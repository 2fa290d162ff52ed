/**
 * Recurrent state of decoder models: the KV cache. A model with a cache takes each layer's past
 * keys and values as inputs and returns them grown by the new tokens as outputs; a generator
 * feeds every step's outputs back as the next step's inputs. In a split, each segment owns the
 * pairs of its layers (the segment that makes the `present` tensor), so the device keeps the cache
 * of its segments and the worker the cache of its own, and no cache tensor crosses a cut.
 *
 * Pairs are found by name, Hugging Face optimum style (`past_key_values.N.key` with
 * `present.N.key`; also `past.N.*` with `present.N.*`), or given explicitly. Another segment may
 * read a past input for its shape only (tiny-gpt reads layer 0's past length for the position
 * ids); the generator feeds such a segment a zero tensor of the right shape, so the split records
 * those readers and refuses a segment that reads the values of a cache it does not own.
 */
import { fail } from "../errors.js";
import type { Graph } from "./graph.js";
import type { SegmentIO } from "./partition.js";

/** One past/present pair as the manifest records it. */
export interface StatePair {
  /** The model input holding the cache before a step. */
  past: string;
  /** The model output holding it after the step (the past grown by the step's tokens). */
  present: string;
  /** The segment that reads `past` and makes `present`: the side running it keeps this cache. */
  segment: number;
  /** Other segments that read `past` only through Shape: fed zeros of the cache's shape. */
  shapeReaders: number[];
}

/** An explicit pairing (config override), past input name to present output name. */
export interface StateNaming {
  past: string;
  present: string;
}

/** Default naming rules: a past input prefix and the present output prefix that pairs with it. */
const DEFAULT_RULES: readonly { past: string; present: string }[] = [
  { past: "past_key_values.", present: "present." },
  { past: "past.", present: "present." },
];

/** The pairs of a model by the default naming rules (inputs without a matching output are not state). */
export function defaultStateNaming(inputs: readonly string[], outputs: readonly string[]): StateNaming[] {
  const outs = new Set(outputs);
  const pairs: StateNaming[] = [];
  for (const name of inputs) {
    const rule = DEFAULT_RULES.find((r) => name.startsWith(r.past) && outs.has(r.present + name.slice(r.past.length)));
    if (rule !== undefined) pairs.push({ past: name, present: rule.present + name.slice(rule.past.length) });
  }
  return pairs;
}

/**
 * The state pairs of a partition: who owns each and who reads it for its shape only. Throws
 * E_USAGE for a naming that names no such input or output, and E_SEGMENTS when a cut puts a
 * past and its present in different segments or another segment reads a cache's values.
 */
export function findStatePairs(g: Graph, segments: readonly SegmentIO[], naming?: readonly StateNaming[]): StatePair[] {
  const names = naming ?? defaultStateNaming(g.inputs, g.outputs);
  const inputs = new Set(g.inputs);
  const outputs = new Set(g.outputs);
  const pairs: StatePair[] = [];
  for (const { past, present } of names) {
    // A past nothing reads (a merged decoder folded to its no-cache branch) is no state.
    if (naming === undefined && inputs.has(past) && g.tensor(past).consumers.length === 0) continue;
    if (!inputs.has(past)) throw fail("E_USAGE", `state pair ${past} -> ${present}: the model has no input ${JSON.stringify(past)}; check the state naming`);
    if (!outputs.has(present)) throw fail("E_USAGE", `state pair ${past} -> ${present}: the model has no output ${JSON.stringify(present)}; check the state naming`);
    const owner = segments.find((s) => s.outputs.includes(present) || s.modelOutputs.includes(present));
    if (owner === undefined) throw fail("E_SEGMENTS", `no segment makes ${JSON.stringify(present)}`);
    if (!owner.inputs.includes(past)) {
      throw fail("E_SEGMENTS", `the cut separates ${JSON.stringify(past)} from ${JSON.stringify(present)} (segment ${owner.index} makes the present but does not read the past); cut between layers, not inside one`);
    }
    const shapeReaders: number[] = [];
    for (const s of segments) {
      if (s === owner || !s.inputs.includes(past)) continue;
      const members = new Set(s.nodes);
      const readers = g.tensor(past).consumers.filter((n) => members.has(n));
      const byValue = readers.filter((n) => g.nodes[n]!.opType !== "Shape");
      if (byValue.length > 0) {
        throw fail("E_SEGMENTS", `segment ${s.index} reads the values of ${JSON.stringify(past)}, whose cache segment ${owner.index} keeps; choose cuts that keep every reader of a layer's cache with that layer`);
      }
      shapeReaders.push(s.index);
    }
    pairs.push({ past, present, segment: owner.index, shapeReaders });
  }
  return pairs;
}
