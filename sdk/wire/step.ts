/**
 * Session step frames (docs/wire-format.md §9): the compact binary messages of one decode step of
 * a generation session. A step sends one token's tensors at the cut and gets back one token id
 * and its log-probability, so the per-token message must cost little more than the hidden state
 * itself: no JSON, no names (tensors are slots in the list the session's open request set up,
 * their types known to both sides), and a tensor that only grew by the new token along one axis
 * (an attention mask, say) travels as that slice ("append").
 *
 * Layout (little-endian):
 *
 *   request                           reply
 *   0  4  magic "ECSS"                0  4  magic "ECSS"
 *   4  2  u16 protocol version        4  2  u16 protocol version
 *   6  1  u8 kind = 1                 6  1  u8 kind = 2
 *   7  1  u8 tensor count N           7  1  u8 tensor count N (0 when the worker sampled)
 *   8  4  u32 step                    8  4  u32 step
 *  12  1  u8 session id bytes L      12  4  f32 computeMs
 *  13  L  session id (UTF-8)         16  4  f32 queueMs
 *                                    20  4  i32 token (-1: not sampled, tensors follow)
 *                                    24  4  f32 logprob
 *                                    28  1  u8 L, 29 L session id
 *   then N entries: u8 slot, u8 mode (0 full, 1 append), u8 axis, u8 rank, rank x u32 dims
 *   (of the bytes sent), then each tensor's raw bytes, every section starting at a multiple of 8.
 *
 * Errors travel as ordinary JSON reply frames (§3.2) whose requestId is stepRequestId(...).
 */
import { fail } from "../errors.js";
import type { HostTensor } from "../runtime/tensor.js";
import { assertLittleEndianHost, DATA_CONSTRUCTORS, viewOrCopy } from "./typed.js";
import { ELEMENT_BYTES, PROTOCOL_VERSION, type WireType } from "./types.js";

/** "ECSS": edgecut session step. */
export const STEP_MAGIC = new Uint8Array([0x45, 0x43, 0x53, 0x53]);
/** Most tensors in a step frame. */
export const MAX_STEP_TENSORS = 32;
/** Longest session id in UTF-8 bytes. */
export const MAX_SESSION_ID_BYTES = 64;
const MAX_RANK = 8;
const KIND_REQUEST = 1;
const KIND_REPLY = 2;
const SECTION_ALIGN = 8;

/** How one tensor of a step travels: whole, or as the slice it grew by along `axis`. */
export interface StepTensor {
  slot: number;
  mode: "full" | "append";
  /** The axis an append grew along (0 for full). */
  axis: number;
  tensor: HostTensor;
}

/** A decoded step request. */
export interface StepRequest {
  sessionId: string;
  step: number;
  tensors: StepTensor[];
}

/** A decoded step reply: a sampled token, or (U-shaped split) the tensors at the back cut. */
export interface StepReply {
  sessionId: string;
  step: number;
  computeMs: number;
  queueMs: number;
  /** The sampled token id, or -1 when the worker returned tensors instead. */
  token: number;
  logprob: number;
  tensors: StepTensor[];
}

/** The request id a step's error replies (JSON frames) carry: session id and step. */
export function stepRequestId(sessionId: string, step: number): string {
  return `${sessionId}#${step}`;
}

/** True when the bytes start with the step magic (a step frame, not an ECUT frame). */
export function isStepFrame(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && bytes[0] === STEP_MAGIC[0] && bytes[1] === STEP_MAGIC[1] && bytes[2] === STEP_MAGIC[2] && bytes[3] === STEP_MAGIC[3];
}

const align = (n: number): number => Math.ceil(n / SECTION_ALIGN) * SECTION_ALIGN;

function sessionBytes(sessionId: string): Uint8Array {
  const b = new TextEncoder().encode(sessionId);
  if (b.byteLength < 1 || b.byteLength > MAX_SESSION_ID_BYTES) throw fail("E_USAGE", `a session id must be 1 to ${MAX_SESSION_ID_BYTES} UTF-8 bytes, got ${b.byteLength}`);
  return b;
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) throw fail("E_USAGE", `step must be an integer 0..2^32-1, got ${step}`);
}

/**
 * Lays out a step frame: `lengthAt` is where the session id's length byte goes (the id follows
 * it), then the tensor entries, then the sections; `fixed` writes the kind-specific fields.
 */
function encodeStep(kind: number, lengthAt: number, sessionId: string, step: number, tensors: readonly StepTensor[], typeOf: (slot: number) => WireType, fixed: (view: DataView) => void): Uint8Array {
  assertLittleEndianHost();
  checkStep(step);
  const sid = sessionBytes(sessionId);
  if (tensors.length > MAX_STEP_TENSORS) throw fail("E_FRAME_LIMIT", `a step frame carries at most ${MAX_STEP_TENSORS} tensors, got ${tensors.length}`);
  let size = lengthAt + 1 + sid.byteLength;
  const datas: ArrayBufferView[] = [];
  for (const t of tensors) {
    if (t.tensor.dims.length > MAX_RANK) throw fail("E_FRAME_LIMIT", `a step tensor has rank ${t.tensor.dims.length}, over ${MAX_RANK}`);
    if (!Number.isInteger(t.slot) || t.slot < 0 || t.slot > 255) throw fail("E_USAGE", `slot must be 0..255, got ${t.slot}`);
    if (!Number.isInteger(t.axis) || t.axis < 0 || t.axis >= Math.max(1, t.tensor.dims.length)) throw fail("E_USAGE", `axis ${t.axis} is not an axis of a rank-${t.tensor.dims.length} tensor`);
    const type = typeOf(t.slot);
    if (t.tensor.type !== type) throw fail("E_USAGE", `slot ${t.slot} holds ${type} tensors, got ${t.tensor.type}`);
    size += 4 + 4 * t.tensor.dims.length;
    datas.push(t.tensor.data as ArrayBufferView);
  }
  const sections: number[] = [];
  let end = size;
  for (const d of datas) {
    const at = align(end);
    sections.push(at);
    end = at + d.byteLength;
  }
  const bytes = new Uint8Array(end);
  const view = new DataView(bytes.buffer);
  bytes.set(STEP_MAGIC, 0);
  view.setUint16(4, PROTOCOL_VERSION, true);
  view.setUint8(6, kind);
  view.setUint8(7, tensors.length);
  view.setUint32(8, step, true);
  fixed(view);
  view.setUint8(lengthAt, sid.byteLength);
  bytes.set(sid, lengthAt + 1);
  let at = lengthAt + 1 + sid.byteLength;
  tensors.forEach((t, i) => {
    view.setUint8(at, t.slot);
    view.setUint8(at + 1, t.mode === "append" ? 1 : 0);
    view.setUint8(at + 2, t.axis);
    view.setUint8(at + 3, t.tensor.dims.length);
    at += 4;
    for (const dim of t.tensor.dims) { view.setUint32(at, dim, true); at += 4; }
    const d = datas[i]!;
    bytes.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), sections[i]!);
  });
  return bytes;
}

/** Encodes a step request; `typeOf` gives each slot's type (from the session's open request). */
export function encodeStepRequest(r: StepRequest, typeOf: (slot: number) => WireType): Uint8Array {
  return encodeStep(KIND_REQUEST, 12, r.sessionId, r.step, r.tensors, typeOf, () => undefined);
}

/** Encodes a step reply (tensors only for a U-shaped split). */
export function encodeStepReply(r: StepReply, typeOf: (slot: number) => WireType): Uint8Array {
  return encodeStep(KIND_REPLY, 28, r.sessionId, r.step, r.tensors, typeOf, (view) => {
    view.setFloat32(12, finite(r.computeMs), true);
    view.setFloat32(16, finite(r.queueMs), true);
    view.setInt32(20, r.token, true);
    view.setFloat32(24, r.logprob, true);
  });
}

const finite = (v: number): number => (Number.isFinite(v) && v >= 0 ? v : 0);

/** Reads the common prefix; E_FRAME / E_PROTOCOL_VERSION for anything else. */
function readPrefix(bytes: Uint8Array, kind: number, what: string): DataView {
  if (!isStepFrame(bytes) || bytes.byteLength < 13) throw fail("E_FRAME", `not a step ${what}: too short or no ECSS magic`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== PROTOCOL_VERSION) throw fail("E_PROTOCOL_VERSION", `a step ${what} of protocol version ${version}; this peer speaks ${PROTOCOL_VERSION}`);
  if (view.getUint8(6) !== kind) throw fail("E_FRAME", `expected a step ${what} (kind ${kind}), got kind ${view.getUint8(6)}`);
  return view;
}

/**
 * Reads the session id, entries and sections after `lengthAt`. Every length is checked against
 * the frame before anything is allocated; `typeOf` returns undefined for a slot the session lacks.
 */
function decodeBody(bytes: Uint8Array, view: DataView, lengthAt: number, typeOf: (slot: number) => WireType | undefined): { sessionId: string; tensors: StepTensor[] } {
  const n = view.getUint8(7);
  if (n > MAX_STEP_TENSORS) throw fail("E_FRAME_LIMIT", `the step frame declares ${n} tensors, over ${MAX_STEP_TENSORS}`);
  if (bytes.byteLength < lengthAt + 1) throw fail("E_FRAME", "the step frame ends inside its header");
  const len = view.getUint8(lengthAt);
  if (len < 1 || len > MAX_SESSION_ID_BYTES || lengthAt + 1 + len > bytes.byteLength) throw fail("E_FRAME", `bad session id length ${len}`);
  let sessionId: string;
  try {
    sessionId = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(lengthAt + 1, lengthAt + 1 + len));
  } catch {
    throw fail("E_FRAME", "the session id is not UTF-8");
  }
  let at = lengthAt + 1 + len;
  const entries: { slot: number; mode: "full" | "append"; axis: number; type: WireType; dims: number[]; bytes: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (at + 4 > bytes.byteLength) throw fail("E_FRAME", `the step frame ends inside tensor entry ${i}`);
    const slot = view.getUint8(at);
    const modeByte = view.getUint8(at + 1);
    const axis = view.getUint8(at + 2);
    const rank = view.getUint8(at + 3);
    at += 4;
    if (modeByte > 1) throw fail("E_FRAME", `tensor entry ${i}: unknown mode ${modeByte}`);
    if (rank > MAX_RANK) throw fail("E_FRAME_LIMIT", `tensor entry ${i}: rank ${rank} over ${MAX_RANK}`);
    if (at + 4 * rank > bytes.byteLength) throw fail("E_FRAME", `the step frame ends inside tensor entry ${i}'s dims`);
    if (modeByte === 1 && axis >= rank) throw fail("E_FRAME", `tensor entry ${i}: append axis ${axis} of a rank-${rank} tensor`);
    const type = typeOf(slot);
    if (type === undefined) throw fail("E_FRAME", `tensor entry ${i}: slot ${slot} is not a tensor of this session`);
    if (entries.some((e) => e.slot === slot)) throw fail("E_FRAME", `tensor entry ${i}: slot ${slot} appears twice`);
    const dims: number[] = [];
    let count = 1;
    for (let r = 0; r < rank; r++) {
      const d = view.getUint32(at, true);
      at += 4;
      dims.push(d);
      count *= d;
    }
    const size = count * ELEMENT_BYTES[type];
    if (!Number.isSafeInteger(size) || size > bytes.byteLength) throw fail("E_FRAME", `tensor entry ${i}: [${dims.join(", ")}] does not fit in a ${bytes.byteLength}-byte frame`);
    entries.push({ slot, mode: modeByte === 1 ? "append" : "full", axis, type, dims, bytes: size });
  }
  const tensors: StepTensor[] = [];
  let end = at;
  for (const e of entries) {
    const start = align(end);
    if (start + e.bytes > bytes.byteLength) throw fail("E_FRAME", `slot ${e.slot}'s section runs past the end of the frame`);
    const count = e.bytes / ELEMENT_BYTES[e.type];
    const data = e.bytes === 0 ? new DATA_CONSTRUCTORS[e.type](0) : viewOrCopy(e.type, bytes, start, count);
    tensors.push({ slot: e.slot, mode: e.mode, axis: e.axis, tensor: { type: e.type, dims: e.dims, data } as HostTensor });
    end = start + e.bytes;
  }
  if (end !== bytes.byteLength) throw fail("E_FRAME", `the step frame has ${bytes.byteLength - end} trailing bytes`);
  return { sessionId, tensors };
}

/** Decodes a step request (E_FRAME, E_FRAME_LIMIT, E_PROTOCOL_VERSION). */
export function decodeStepRequest(bytes: Uint8Array, typeOf: (slot: number) => WireType | undefined): StepRequest {
  const view = readPrefix(bytes, KIND_REQUEST, "request");
  const { sessionId, tensors } = decodeBody(bytes, view, 12, typeOf);
  return { sessionId, step: view.getUint32(8, true), tensors };
}

/** Decodes a step reply. */
export function decodeStepReply(bytes: Uint8Array, typeOf: (slot: number) => WireType | undefined): StepReply {
  const view = readPrefix(bytes, KIND_REPLY, "reply");
  if (bytes.byteLength < 29) throw fail("E_FRAME", "the step reply ends inside its header");
  const { sessionId, tensors } = decodeBody(bytes, view, 28, typeOf);
  return {
    sessionId, step: view.getUint32(8, true), computeMs: view.getFloat32(12, true), queueMs: view.getFloat32(16, true),
    token: view.getInt32(20, true), logprob: view.getFloat32(24, true), tensors,
  };
}

/**
 * Peeks the session id and step of a step frame without the session's slot types (routing an
 * error reply); undefined when unreadable.
 */
export function peekStep(bytes: Uint8Array): { kind: "request" | "reply"; sessionId: string; step: number } | undefined {
  if (!isStepFrame(bytes) || bytes.byteLength < 13) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = view.getUint8(6);
  const lengthAt = kind === KIND_REQUEST ? 12 : kind === KIND_REPLY ? 28 : -1;
  if (lengthAt < 0 || bytes.byteLength < lengthAt + 1) return undefined;
  const len = view.getUint8(lengthAt);
  if (len < 1 || len > MAX_SESSION_ID_BYTES || lengthAt + 1 + len > bytes.byteLength) return undefined;
  try {
    const sessionId = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(lengthAt + 1, lengthAt + 1 + len));
    return { kind: kind === KIND_REQUEST ? "request" : "reply", sessionId, step: view.getUint32(8, true) };
  } catch {
    return undefined;
  }
}
