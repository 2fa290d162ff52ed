/**
 * The KV cache a range of segments keeps, as both the device and the worker need it: which state
 * pairs a range owns, the feeds its segments need from the cache (an empty past before the first
 * chunk, zeros of the cache's shape for a segment that reads another range's past only for its
 * shape), and the cache after a run (the presents become the next pasts).
 */
import { fail } from "../errors.js";
import type { Manifest, ManifestState } from "../graph/manifest.js";
import type { HostTensor, TensorMap } from "../runtime/tensor.js";
import type { WireType } from "../wire/types.js";
import { zeros } from "./tensors.js";

/** The declared shape of a past input and its sequence axis: the one symbolic dim besides the batch (axis 0). */
function pastLayout(m: Manifest, past: string): { shape: readonly (number | string | null)[]; axis: number } {
  const info = m.model.inputs.find((t) => t.name === past);
  if (info === undefined) throw fail("E_MANIFEST", `the manifest lists state ${past} but the model has no such input`);
  const symbolic = info.shape.flatMap((d, axis) => (axis > 0 && typeof d !== "number" ? [axis] : []));
  if (symbolic.length !== 1) {
    throw fail("E_NOT_GENERATIVE", `cannot tell the sequence axis of ${past} [${info.shape.map(String).join(", ")}]: a cache input needs exactly one symbolic dim besides the batch`);
  }
  return { shape: info.shape, axis: symbolic[0]! };
}

/** The shape of a past input with `length` cached tokens: batch 1, fixed dims kept, the sequence dim = length. */
export function pastDims(m: Manifest, past: string, length: number): number[] {
  const { shape, axis } = pastLayout(m, past);
  return shape.map((d, i) => (typeof d === "number" ? d : i === axis ? length : 1));
}

/** The type of a past input. */
function pastType(m: Manifest, past: string): WireType {
  const t = m.model.inputs.find((x) => x.name === past)?.type;
  if (t === undefined || t === "string") throw fail("E_NOT_GENERATIVE", `the cache input ${past} is not a numeric tensor`);
  return t as WireType;
}

/** The state pairs segments from..to-1 keep. */
export function ownedState(m: Manifest, from: number, to: number): ManifestState[] {
  return m.state.filter((p) => p.segment >= from && p.segment < to);
}

/**
 * Feeds of segment `index` that come from the cache: its own pasts (the cache, or empty before
 * the first chunk) and pasts it reads for their shape only (zeros with `length` tokens).
 */
export function cacheFeeds(m: Manifest, index: number, cache: ReadonlyMap<string, HostTensor>, length: number): TensorMap {
  const feeds: TensorMap = {};
  for (const p of m.state) {
    if (p.segment === index) {
      feeds[p.past] = cache.get(p.past) ?? zeros(pastType(m, p.past), pastDims(m, p.past, 0));
    } else if (p.shapeReaders.includes(index)) {
      feeds[p.past] = zeros(pastType(m, p.past), pastDims(m, p.past, length));
    }
  }
  return feeds;
}

/** Past inputs (cache or shape-only) of the whole model: never sent over the wire. */
export function isStateInput(m: Manifest, name: string): boolean {
  return m.state.some((p) => p.past === name);
}

/**
 * Takes the presents of the pairs `owned` from a run's outputs into `cache`, and returns the new
 * cache length (the present's sequence dim). Throws E_RUNTIME when a present is missing.
 */
export function absorbPresents(m: Manifest, owned: readonly ManifestState[], outputs: ReadonlyMap<string, HostTensor>, cache: Map<string, HostTensor>, length: number): number {
  let next = length;
  for (const p of owned) {
    const present = outputs.get(p.present);
    if (present === undefined) throw fail("E_RUNTIME", `segment ${p.segment} did not return ${p.present}`);
    cache.set(p.past, present);
    next = present.dims[pastLayout(m, p.past).axis]!;
  }
  return next;
}

/** The model output holding the logits: `logits` when present, else the first output that is not a present. */
export function logitsOutput(m: Manifest): string {
  const presents = new Set(m.state.map((p) => p.present));
  const named = m.model.outputs.find((t) => t.name === "logits");
  const pick = named ?? m.model.outputs.find((t) => !presents.has(t.name) && t.type === "float32");
  if (pick === undefined) throw fail("E_NOT_GENERATIVE", "the model has no float32 output besides its cache to sample tokens from (expected `logits`)");
  return pick.name;
}
