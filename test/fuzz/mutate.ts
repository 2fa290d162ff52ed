/**
 * Seeded hostile input for the wire fuzz tests: random valid frames (every wire type and
 * encoding) and the ways a broken or malicious peer could bend them: bit flips, truncations,
 * the u32 header length and u16 version rewritten, JSON header fields deleted, retyped or set to
 * absurd numbers, tensor-table entries with huge dims/offsets/lengths, fragment headers with absurd
 * counts. Everything draws from the project's mulberry32, so a failing case replays from its seed.
 */
import { Mulberry32 } from "../../sdk/graph/models/rng.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import { encodeFrame, fragmentFrame, ENCODINGS, PREFIX_BYTES, type Encoding, type FrameHeader } from "../../sdk/wire/index.js";

/** A seeded random source with the helpers the mutators need. */
export class Rng {
  private readonly m: Mulberry32;
  constructor(seed: number) {
    this.m = new Mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.m.nextU32() / 2 ** 32) * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.m.nextU32() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.m.nextU32() & 0xff;
    return out;
  }
  u32(): number {
    return this.m.nextU32();
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The JSON header of a frame or fragment message as text, and where the bytes after it start (undefined when unreadable). */
export function headerText(msg: Uint8Array): { text: string; end: number } | undefined {
  if (msg.length < PREFIX_BYTES) return undefined;
  const len = new DataView(msg.buffer, msg.byteOffset, msg.byteLength).getUint32(6, true);
  if (PREFIX_BYTES + len > msg.length) return undefined;
  return { text: dec.decode(msg.subarray(PREFIX_BYTES, PREFIX_BYTES + len)), end: PREFIX_BYTES + len };
}

/**
 * `msg` with its JSON header replaced by `text`. The bytes after the old header stay at their
 * absolute offsets when the new header fits before them (tensor offsets stay right), else they
 * follow the new header directly (offsets now point elsewhere: another way to break a frame).
 */
export function withHeaderText(msg: Uint8Array, text: string, dataStart?: number): Uint8Array {
  const old = headerText(msg);
  const json = enc.encode(text);
  const tailFrom = old?.end ?? msg.length;
  const keepAt = dataStart !== undefined && PREFIX_BYTES + json.length <= dataStart ? dataStart : undefined;
  const tail = keepAt !== undefined ? msg.subarray(keepAt) : msg.subarray(tailFrom);
  const at = keepAt ?? PREFIX_BYTES + json.length;
  const out = new Uint8Array(at + tail.length);
  out.set(msg.subarray(0, PREFIX_BYTES));
  new DataView(out.buffer).setUint32(6, json.length, true);
  out.set(json, PREFIX_BYTES);
  out.set(tail, at);
  return out;
}

/** Where a frame's first tensor section starts (its data region), or undefined. */
function firstOffset(header: unknown): number | undefined {
  const t = (header as { tensors?: Array<{ offset?: unknown }> }).tensors;
  if (!Array.isArray(t) || t.length === 0) return undefined;
  const offs = t.map((e) => e?.offset).filter((o): o is number => typeof o === "number");
  return offs.length ? Math.min(...offs) : undefined;
}

const NAMES = ["x", "h", "__proto__", "constructor", "a/b", "é-ü", "past_key_values.0.key", "t"];
const FLOAT_ENCODINGS: Encoding[] = ENCODINGS.filter((e) => e !== "raw");
const TYPES = ["float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool"] as const;

function randomTensor(r: Rng): HostTensor {
  const type = r.pick(TYPES);
  const dims = Array.from({ length: r.int(4) }, () => r.int(5));
  const n = dims.reduce((a, b) => a * b, 1);
  switch (type) {
    case "float32": return { type, dims, data: Float32Array.from({ length: n }, () => (r.int(2001) - 1000) / 37) };
    case "float64": return { type, dims, data: Float64Array.from({ length: n }, () => r.u32() / 7) };
    case "float16": case "uint16": return { type, dims, data: Uint16Array.from({ length: n }, () => r.int(65536)) };
    case "int8": return { type, dims, data: Int8Array.from({ length: n }, () => r.int(256) - 128) };
    case "uint8": return { type, dims, data: Uint8Array.from({ length: n }, () => r.int(256)) };
    case "bool": return { type, dims, data: Uint8Array.from({ length: n }, () => r.int(2)) };
    case "int16": return { type, dims, data: Int16Array.from({ length: n }, () => r.int(65536) - 32768) };
    case "int32": return { type, dims, data: Int32Array.from({ length: n }, () => r.u32() | 0) };
    case "uint32": return { type, dims, data: Uint32Array.from({ length: n }, () => r.u32()) };
    case "int64": return { type, dims, data: BigInt64Array.from({ length: n }, () => BigInt(r.u32()) - 2n ** 31n) };
    case "uint64": return { type, dims, data: BigUint64Array.from({ length: n }, () => BigInt(r.u32()) << 20n) };
  }
}

/** A random valid request or reply frame with 0 to 4 tensors of any wire type and encoding. */
export function randomFrame(r: Rng, requestId: string): Uint8Array {
  const kind = r.int(4);
  const header: FrameHeader = kind < 2
    ? {
      kind: "request", requestId, deviceId: "pi-1", splitId: "split-1", segments: { from: r.int(2), to: 2 + r.int(2) }, ttlMs: r.int(5000),
      ...(r.chance(0.3) ? { sessionId: "s-1", step: r.int(10) } : {}), ...(r.chance(0.3) ? { wantOutputs: ["y", "h"] } : {}),
    }
    : kind === 2
      ? { kind: "reply", requestId, deviceId: "pi-1", computeMs: r.int(100) / 3, queueMs: 0, ok: true }
      : { kind: "reply", requestId, deviceId: "pi-1", computeMs: 0, queueMs: 1, ok: false, error: { code: "E_BUSY", message: "busy" } };
  const tensors: TensorMap = {};
  const encodings: Record<string, Encoding> = {};
  for (let i = r.int(5); i > 0; i--) {
    const name = r.pick(NAMES);
    const t = randomTensor(r);
    Object.defineProperty(tensors, name, { value: t, enumerable: true, writable: true, configurable: true });
    if (t.type === "float32") encodings[name] = r.pick(FLOAT_ENCODINGS);
    else delete encodings[name];
  }
  return encodeFrame(header, tensors, { encodings });
}

/** Values of the wrong type or absurd size, for JSON fields. */
const ODD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53 + 2, 2 ** 62, 1e308, -1e308, "", "x", "1", "E_FRAME",
  [], [1, 2], {}, { a: 1 }, "x".repeat(300), "x".repeat(5000), [2 ** 62], [-1], [1.5], [0, 2 ** 53], Array(100).fill(1),
];
/** Number literals to paste into JSON text: JSON.parse turns 1e400 into Infinity. */
const ODD_NUMBER_TEXT = ["1e400", "-1e400", "1e-400", "-0", "0.5", "9007199254740993", "4611686018427387904", "-1", "1E2", "00", "2e9"];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Some object inside the header: the header itself, a tensor entry, segments, fragment, error. */
function pickObject(r: Rng, root: Obj): Obj {
  const inner: Obj[] = [root];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 3) return;
    if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (isObj(v)) {
      if (v !== root) inner.push(v);
      Object.values(v).forEach((x) => walk(x, depth + 1));
    }
  };
  walk(root, 0);
  return r.pick(inner);
}

/** One structural change to a parsed JSON header (in place). */
function mutateJson(r: Rng, root: Obj): void {
  const o = pickObject(r, root);
  const keys = Object.keys(o);
  const key = keys.length ? r.pick(keys) : "kind";
  switch (r.int(10)) {
    case 0: delete o[key]; break;
    case 1: o[key] = r.pick(ODD_VALUES); break;
    case 2: o[r.pick(["extra", "__proto__", "tensors", "ok", "error", "fragment"])] = r.pick(ODD_VALUES); break;
    case 3: root.kind = r.pick(["request", "reply", "fragment", "REQUEST", "", 1]); break;
    case 4: { // the tensor table: duplicated, emptied, dropped, or over the 1024-entry limit
      const t = root.tensors;
      if (!Array.isArray(t)) { root.tensors = r.pick([null, {}, "t", [1]]); break; }
      const c = r.int(4);
      if (c === 0 && t.length) t.push(structuredClone(t[0]));
      else if (c === 1) t.length = 0;
      else if (c === 2) t.pop();
      else root.tensors = Array.from({ length: 1025 + r.int(3) }, (_, i) => ({ name: `t${i}`, type: "uint8", dims: [0], encoding: "raw", offset: 64, length: 0 }));
      break;
    }
    case 5: { // a table entry's numbers: huge, negative, unaligned, or just off by a little
      const t = root.tensors;
      if (!Array.isArray(t) || t.length === 0 || !isObj(t[0])) break;
      const e = r.pick(t) as Obj;
      const field = r.pick(["dims", "offset", "length"]);
      if (field === "dims") {
        e.dims = r.pick([[2 ** 62], [2 ** 53 - 1], [2 ** 28, 2 ** 28], [2 ** 31], [-1], [1, -1], Array(9).fill(1), Array(64).fill(2), [0, 2 ** 40], [2 ** 40, 0], [1.5]]);
      } else {
        const v = typeof e[field] === "number" ? (e[field] as number) : 0;
        e[field] = r.pick([v + 1, v - 1, v + 64, v - 64, v * 2, 2 ** 32, 2 ** 53 - 1, 2 ** 62, -64, 0, 1e308]);
      }
      break;
    }
    case 6: { // a table entry's names and kinds
      const t = root.tensors;
      if (!Array.isArray(t) || t.length === 0 || !isObj(t[0])) break;
      const e = r.pick(t) as Obj;
      const c = r.int(3);
      if (c === 0) e.encoding = r.pick([...ENCODINGS, "int4", ""]);
      else if (c === 1) e.type = r.pick([...TYPES, "string", "bfloat16", "float"]);
      else e.name = r.pick(["", "x".repeat(1025), "__proto__", (t[0] as Obj).name, "toString"]);
      break;
    }
    case 7: { // fragment numbers (absurd counts and sizes)
      const f = root.fragment;
      const c = r.int(4);
      if (c === 0 && isObj(f)) f.count = r.pick([0, 1, 2 ** 53 - 1, 2 ** 31, 1e9, -2, f.index]);
      else if (c === 1 && isObj(f)) f.index = r.pick([-1, f.count, 2 ** 53 - 1, 1.5]);
      else if (c === 2) root.totalBytes = r.pick([0, 1, 2 ** 40, 2 ** 53 - 1, 2 ** 31 - 1, -1]);
      else root.chunkBytes = r.pick([0, 1, 2 ** 40, 2 ** 53 - 1, -1, 0.5]);
      break;
    }
    case 8: root.segments = r.pick([{ from: 2, to: 1 }, { from: 0, to: 2 ** 53 - 1 }, { from: -1, to: 1 }, { from: 0 }, [0, 1], { from: 1, to: 1 }]); break;
    default: root.ttlMs = r.pick([-1, 0, 2 ** 53, "10", null, 1e308]);
  }
}

/** How a message was bent (for counts and failure messages). */
export type MutationKind =
  | "flip" | "bytes" | "truncate" | "extend" | "header-length" | "version" | "magic" | "json" | "json-text" | "splice" | "garbage" | "none";

export const SINGLE_MUTATIONS: readonly MutationKind[] = ["flip", "bytes", "truncate", "extend", "header-length", "version", "magic", "json", "json", "json", "json-text", "splice", "garbage"];

/** `base` bent by `kind` (a fresh array; `base` is not modified). `other` is a second frame for splices. */
export function mutate(r: Rng, base: Uint8Array, kind: MutationKind, other: Uint8Array): Uint8Array {
  const m = base.slice();
  switch (kind) {
    case "none": return m;
    case "flip": {
      const hdr = headerText(base);
      for (let k = 1 + r.int(8); k > 0; k--) {
        // Half the flips land in the prefix and header, where they matter most.
        const at = hdr && r.chance(0.5) ? r.int(hdr.end) : r.int(m.length);
        m[at]! ^= 1 << r.int(8);
      }
      return m;
    }
    case "bytes":
      for (let k = 1 + r.int(4); k > 0; k--) m[r.int(m.length)] = r.int(256);
      return m;
    case "truncate": {
      const hdr = headerText(base);
      const cut = hdr && r.chance(0.5) ? r.int(hdr.end + 1) : r.int(m.length);
      return m.subarray(0, cut);
    }
    case "extend": {
      const out = new Uint8Array(m.length + 1 + r.int(256));
      out.set(m);
      if (r.chance(0.5)) out.set(r.bytes(out.length - m.length), m.length);
      return out;
    }
    case "header-length": {
      if (m.length < PREFIX_BYTES) return m;
      const view = new DataView(m.buffer);
      const len = view.getUint32(6, true);
      view.setUint32(6, r.pick([0, 1, len - 1, len + 1, len + 64, 0xffffffff, 2 ** 20, 2 ** 20 + 1, m.length, r.u32()]) >>> 0, true);
      return m;
    }
    case "version":
      if (m.length >= 6) new DataView(m.buffer).setUint16(4, r.pick([0, 2, 0xffff, 256, r.int(65536)]), true);
      return m;
    case "magic":
      m[r.int(4)] = r.int(256);
      return m;
    case "json": {
      const hdr = headerText(base);
      if (!hdr) return m;
      const obj = JSON.parse(hdr.text) as Obj;
      for (let k = 1 + (r.chance(0.2) ? r.int(3) : 0); k > 0; k--) mutateJson(r, obj);
      return withHeaderText(base, JSON.stringify(obj), r.chance(0.8) ? firstOffset(JSON.parse(hdr.text)) : undefined);
    }
    case "json-text": {
      const hdr = headerText(base);
      if (!hdr) return m;
      let text = hdr.text;
      const c = r.int(4);
      if (c === 0) {
        // Replace one number literal with an odd one.
        const nums = [...text.matchAll(/(?<=[:[,])-?\d+(\.\d+)?(e[+-]?\d+)?/gi)];
        if (nums.length) {
          const n = r.pick(nums);
          text = text.slice(0, n.index) + r.pick(ODD_NUMBER_TEXT) + text.slice(n.index! + n[0].length);
        }
      } else if (c === 1) text = `${text.slice(0, -1)},"kind":"${r.pick(["reply", "fragment", "request"])}"}`; // duplicate key: the last one wins
      else if (c === 2) text = `${text.slice(0, -1)},"__proto__":{"kind":"reply","ok":true}}`;
      else text = text.slice(0, 1 + r.int(text.length)) + r.pick(["\\ud800", "\u0000", "\"", "}", "]]]]", "\\u12", "\uffff"]) + text.slice(1 + r.int(text.length));
      return withHeaderText(base, text, r.chance(0.8) ? firstOffset(safeParse(hdr.text)) : undefined);
    }
    case "splice": {
      const a = r.int(m.length + 1);
      const b = r.int(other.length + 1);
      const out = new Uint8Array(a + other.length - b);
      out.set(m.subarray(0, a));
      out.set(other.subarray(b), a);
      return out;
    }
    case "garbage": {
      const g = r.bytes(r.int(200));
      if (r.chance(0.5) && g.length >= 10) {
        g.set([0x45, 0x43, 0x55, 0x54, 1, 0]); // magic and version 1, then a random header length
      }
      return g;
    }
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

/** How a fragmented frame was bent. */
export type FragmentMutation = "drop" | "duplicate" | "reorder" | "header" | "truncate" | "extend" | "data-flip" | "version" | "device";

export const FRAGMENT_MUTATIONS: readonly FragmentMutation[] = ["drop", "duplicate", "reorder", "header", "header", "header", "truncate", "extend", "data-flip", "version", "device"];

/**
 * A frame cut into fragments of at most `maxMessageBytes`, then bent by `kind`. Header mutations
 * keep the requestId unless the mutation picks it; "data-flip" flips bits only in the inner
 * frame's tensor bytes (past its header), so the reassembled frame keeps its request id.
 */
export function mutateFragments(r: Rng, frame: Uint8Array, maxMessageBytes: number, ids: { requestId: string; deviceId: string }, kind: FragmentMutation): Uint8Array[] {
  const parts: Uint8Array[] = fragmentFrame(frame, maxMessageBytes, ids).map((p) => p.slice());
  if (parts.length < 2) return parts;
  const i = r.int(parts.length);
  switch (kind) {
    case "drop": parts.splice(i, 1); break;
    case "duplicate": parts.splice(r.int(parts.length), 0, parts[i]!.slice()); break;
    case "reorder":
      for (let k = parts.length - 1; k > 0; k--) {
        const j = r.int(k + 1);
        [parts[k], parts[j]] = [parts[j]!, parts[k]!];
      }
      break;
    case "header": {
      const hdr = headerText(parts[i]!)!;
      const obj = JSON.parse(hdr.text) as Obj;
      mutateJson(r, obj);
      if (r.chance(0.3)) mutateJson(r, obj);
      parts[i] = withHeaderText(parts[i]!, JSON.stringify(obj));
      break;
    }
    case "truncate": {
      const hdr = headerText(parts[i]!)!;
      parts[i] = parts[i]!.subarray(0, hdr.end + r.int(parts[i]!.length - hdr.end));
      break;
    }
    case "extend": {
      const out = new Uint8Array(parts[i]!.length + 1 + r.int(32));
      out.set(parts[i]!);
      parts[i] = out;
      break;
    }
    case "data-flip": {
      const inner = headerText(frame)!;
      const at = inner.end + r.int(Math.max(1, frame.length - inner.end));
      const flipped = frame.slice();
      flipped[Math.min(at, flipped.length - 1)]! ^= 1 << r.int(8);
      return fragmentFrame(flipped, maxMessageBytes, ids);
    }
    case "version": new DataView(parts[i]!.buffer, parts[i]!.byteOffset).setUint16(4, 2, true); break;
    case "device": {
      const hdr = headerText(parts[i]!)!;
      const obj = JSON.parse(hdr.text) as Obj;
      obj.deviceId = "pi-2";
      parts[i] = withHeaderText(parts[i]!, JSON.stringify(obj));
      break;
    }
  }
  return parts;
}
