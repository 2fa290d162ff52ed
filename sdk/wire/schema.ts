/**
 * zod schemas of the JSON headers (docs/wire-format.md §3, §4, §7). Unknown keys are rejected:
 * a field added later comes with a new protocol version, so a peer never half-understands a frame.
 * Limits that have their own error code (tensor count, rank, elements) are checked by the
 * decoder after the schema, not here, so they surface as E_FRAME_LIMIT rather than E_FRAME.
 */
import { z } from "zod";
import { fail, type ErrorCode } from "../errors.js";
import { ELEMENT_BYTES, ENCODINGS, MAX_ID_CHARS, type Encoding, type FragmentHeader, type FrameHeader, type TensorEntry, type WireType } from "./types.js";

const Id = z.string().min(1).max(MAX_ID_CHARS);
const Count = z.int().nonnegative();
const Millis = z.number().nonnegative();
const WIRE_TYPES = Object.keys(ELEMENT_BYTES) as [WireType, ...WireType[]];

/** One tensor table entry (§4). */
export const TensorEntrySchema = z.strictObject({
  name: z.string().min(1).max(1024),
  type: z.enum(WIRE_TYPES),
  dims: z.array(Count),
  encoding: z.enum(ENCODINGS as [Encoding, ...Encoding[]]),
  offset: Count,
  length: Count,
});

const RequestSchema = z.strictObject({
  kind: z.literal("request"),
  requestId: Id,
  deviceId: Id,
  splitId: Id,
  segments: z.strictObject({ from: Count, to: Count }).refine((s) => s.from <= s.to, { message: "must have from <= to (segments from..to-1 run; from = to is a probe)" }),
  ttlMs: Millis,
  sessionId: Id.optional(),
  step: Count.optional(),
  wantOutputs: z.array(z.string().min(1).max(1024)).optional(),
  session: z.strictObject({
    op: z.enum(["open", "rebuild"]),
    sample: z.boolean(),
    sampling: z.strictObject({
      temperature: z.number().nonnegative().max(1e6),
      topK: z.int().nonnegative().max(2 ** 31),
      topP: z.number().gt(0).max(1),
      seed: z.int().nonnegative().max(0xffffffff),
    }),
    chunks: z.int().min(1).max(1 << 20),
  }).optional(),
}).refine((h) => h.session === undefined || (h.sessionId !== undefined && h.step !== undefined), {
  message: "a session request needs sessionId and step",
});

const ReplyBase = {
  kind: z.literal("reply"),
  requestId: Id,
  deviceId: Id,
  computeMs: Millis,
  queueMs: Millis,
  workerId: Id.optional(),
  generated: z.strictObject({ token: Count, logprob: z.number() }).optional(),
};
/** Error codes travel as stable names (§3.2); a newer peer may send a code this one does not know. */
const ReplyErrorSchema = z.strictObject({ code: z.string().regex(/^E_[A-Z0-9_]{1,64}$/), message: z.string().max(65536) });
const ReplyOkSchema = z.strictObject({ ...ReplyBase, ok: z.literal(true) });
const ReplyFailSchema = z.strictObject({ ...ReplyBase, ok: z.literal(false), error: ReplyErrorSchema });

const Tensors = { tensors: z.array(z.unknown()) };
const RequestWire = RequestSchema.safeExtend(Tensors);
const ReplyOkWire = ReplyOkSchema.extend(Tensors);
const ReplyFailWire = ReplyFailSchema.extend(Tensors);

/** A fragment message's header (§7). */
export const FragmentSchema = z.strictObject({
  kind: z.literal("fragment"),
  requestId: Id,
  deviceId: Id,
  frameId: Id,
  fragment: z.strictObject({ index: Count, count: z.int().min(2) }).refine((f) => f.index < f.count, { message: "index must be below count" }),
  chunkBytes: z.int().positive(),
  totalBytes: z.int().positive(),
});

function describe(error: z.ZodError, where: string): string {
  const issue = error.issues[0];
  if (!issue) return `${where} is invalid`;
  const at = issue.path.length ? `${where}.${issue.path.map(String).join(".")}` : where;
  return `${at}: ${issue.message}`;
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, code: ErrorCode, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw fail(code, describe(r.error, where));
  return r.data;
}

/**
 * Validates a request or reply header object as parsed from JSON; returns the header (without
 * the table) and the raw table entries, which the decoder checks one by one against the limits.
 * A "fragment" header is E_FRAGMENT (it belongs in a Reassembler), any other kind E_FRAME.
 */
export function parseFrameHeader(value: unknown): { header: FrameHeader; tensors: unknown[] } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail("E_FRAME", "the frame header is not a JSON object");
  const kind = (value as { kind?: unknown }).kind;
  if (kind === "fragment") throw fail("E_FRAGMENT", "this message is one fragment of a larger frame: pass it through a Reassembler before decoding");
  let parsed: (FrameHeader & { tensors: unknown[] });
  if (kind === "request") parsed = parseWith(RequestWire, value, "E_FRAME", "header");
  else if (kind === "reply") {
    const ok = (value as { ok?: unknown }).ok;
    parsed = ok === true ? parseWith(ReplyOkWire, value, "E_FRAME", "header") : parseWith(ReplyFailWire, value, "E_FRAME", "header");
  } else throw fail("E_FRAME", `header.kind is ${JSON.stringify(kind) ?? "missing"}; expected "request" or "reply"`);
  const { tensors, ...header } = parsed;
  return { header: header as FrameHeader, tensors };
}

/** Validates a header an application hands to encodeFrame (E_FRAME: it would make an invalid frame). */
export function checkOutgoingHeader(value: FrameHeader): FrameHeader {
  if (typeof value !== "object" || value === null) throw fail("E_FRAME", "cannot encode: the header is not an object");
  const kind = (value as { kind?: unknown }).kind;
  if (kind === "request") return parseWith(RequestSchema, value, "E_FRAME", "cannot encode: header");
  if (kind === "reply") return (value as { ok?: unknown }).ok === true
    ? parseWith(ReplyOkSchema, value, "E_FRAME", "cannot encode: header")
    : parseWith(ReplyFailSchema, value, "E_FRAME", "cannot encode: header");
  throw fail("E_FRAME", `cannot encode: header.kind is ${JSON.stringify(kind) ?? "missing"}; expected "request" or "reply"`);
}

/** Validates one table entry (E_FRAME). */
export function parseTensorEntry(value: unknown, i: number): TensorEntry {
  return parseWith(TensorEntrySchema, value, "E_FRAME", `header.tensors.${i}`);
}

/** Validates a fragment header (E_FRAGMENT). */
export function parseFragmentHeader(value: unknown): FragmentHeader {
  return parseWith(FragmentSchema, value, "E_FRAGMENT", "fragment header");
}
