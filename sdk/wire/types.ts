/**
 * The wire format's public types and constants: protocol version, byte-layout constants, limits
 * and the frame headers. The layout itself is specified in docs/wire-format.md; section numbers
 * (§n) in comments across sdk/wire refer to that document.
 */
import type { HostType, TensorMap } from "../runtime/tensor.js";

/** The protocol version this code speaks (docs/wire-format.md §2). Bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** The four magic bytes every frame starts with: ASCII "ECUT" (§2). */
export const MAGIC = new Uint8Array([0x45, 0x43, 0x55, 0x54]);

/** Bytes before the JSON header: magic (4), u16 version, u32 header length (§2). */
export const PREFIX_BYTES = 10;

/** Every tensor section starts at a multiple of this many bytes from the frame start (§2): 64 covers every element size and a cache line. */
export const ALIGN = 64;

/**
 * How a tensor's values travel (§5). fp32/fp16/int8-* apply to float32 tensors, which the
 * receiver restores to float32; "raw" sends any other type's bytes as they are.
 */
export type Encoding = "fp32" | "fp16" | "int8-tensor" | "int8-row" | "raw";

/** Every encoding name, for schemas and option checks. */
export const ENCODINGS: readonly Encoding[] = ["fp32", "fp16", "int8-tensor", "int8-row", "raw"];

/** Tensor types the wire carries: every host type but "string" (§4). */
export type WireType = Exclude<HostType, "string">;

/** Bytes per element of each wire type (bool travels as one 0/1 byte). */
export const ELEMENT_BYTES: Readonly<Record<WireType, number>> = {
  float32: 4, float64: 8, float16: 2, int8: 1, uint8: 1, int16: 2, uint16: 2,
  int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1,
};

/** What a decoder accepts (§6). Every check runs before anything sized by the frame is allocated. */
export interface WireLimits {
  /** Most bytes in one (reassembled) frame. */
  maxFrameBytes: number;
  /** Most entries in a frame's tensor table. */
  maxTensors: number;
  /** Highest rank of a tensor. */
  maxRank: number;
  /** Most elements in all of a frame's tensors together (bounds what restoring fp16/int8 allocates). */
  maxElements: number;
  /** Most bytes of the JSON header. */
  maxHeaderBytes: number;
}

/** Defaults (§6): a whole frame up to 256 MiB, 1024 tensors, rank 8, 2^28 elements, a 1 MiB header. */
export const DEFAULT_LIMITS: Readonly<WireLimits> = Object.freeze({
  maxFrameBytes: 256 * 2 ** 20,
  maxTensors: 1024,
  maxRank: 8,
  maxElements: 2 ** 28,
  maxHeaderBytes: 2 ** 20,
});

/** A request from a device to a worker: run segments `from..to-1` of split `splitId` on the frame's tensors (§3.1). */
export interface RequestHeader {
  kind: "request";
  /** Unique per request on the device; the reply carries it back. */
  requestId: string;
  deviceId: string;
  /** The manifest's splitId: device and worker must hold the same split. */
  splitId: string;
  /** Run segments from..to-1 (from < to). */
  segments: { from: number; to: number };
  /** Milliseconds the request stays worth running, counted from its receipt on the worker's monotonic clock. */
  ttlMs: number;
  /** A generation session whose state (KV cache) stays on the worker (§9); with `session`. */
  sessionId?: string;
  /** Tokens generated in `sessionId` before this request (0 for the prompt's prefill) (§9). */
  step?: number;
  /** Opens (prefill) or rebuilds (replay) the generation session `sessionId` (§9). */
  session?: SessionOpen;
  /** Outputs to send back; outputs not named stay on the worker. Absent: every output of the last segment. */
  wantOutputs?: string[];
}

/** Sampling on the worker (§9.3): temperature 0 is greedy; the draw is seeded by (seed, step). */
export interface WireSampling {
  temperature: number;
  /** Keep the k most likely tokens (0: all). */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches topP (1: all). */
  topP: number;
  seed: number;
}

/** The session part of a request that opens or rebuilds a generation session (§9.1). */
export interface SessionOpen {
  /** "open": the prompt's prefill; "rebuild": a replay of every chunk the device sent, after the session was lost. */
  op: "open" | "rebuild";
  /** True: the worker samples and replies with a token (its range ends with the model); false: it returns the tensors at its range's end (U-shaped split). */
  sample: boolean;
  sampling: WireSampling;
  /**
   * Chunks in the request: 1 for "open"; for "rebuild", one per step sent so far, tensor names
   * prefixed `<chunk>/` and run in order (exactly as the steps ran, so the cache comes out the same).
   */
  chunks: number;
}

/** A worker's reply: outputs (ok) or an error with a stable code; always the worker's compute and queue time (§3.2). */
export type ReplyHeader = {
  kind: "reply";
  requestId: string;
  deviceId: string;
  /** Milliseconds spent running segments. */
  computeMs: number;
  /** Milliseconds the request spent on the worker besides computing: queueing and loading sessions. */
  queueMs: number;
  /** The worker that holds the session a session request opened; later steps go to its own topic (§9.2). */
  workerId?: string;
  /** The token the worker sampled for a session request (§9.3). */
  generated?: { token: number; logprob: number };
} & ({ ok: true } | { ok: false; error: { code: string; message: string } });

/** The header of a request or reply frame. */
export type FrameHeader = RequestHeader | ReplyHeader;

/** A decoded request or reply. */
export interface Frame {
  header: FrameHeader;
  tensors: TensorMap;
}

/** The header of one fragment message of a frame too large for one transport message (§7). */
export interface FragmentHeader {
  kind: "fragment";
  requestId: string;
  deviceId: string;
  /** Random per fragmented frame, so a retry that reuses the requestId is a different frame. */
  frameId: string;
  fragment: { index: number; count: number };
  /** Bytes of every fragment's payload but the last. */
  chunkBytes: number;
  /** Bytes of the whole frame. */
  totalBytes: number;
}

/** One entry of a frame's tensor table (§4): where a tensor's bytes sit and how to read them. */
export interface TensorEntry {
  name: string;
  /** The type the receiver gets (float32 for fp16/int8 encodings). */
  type: WireType;
  dims: number[];
  encoding: Encoding;
  /** Byte offset from the frame start, a multiple of ALIGN. */
  offset: number;
  /** Byte length of the section. */
  length: number;
}

/** Longest id (requestId, deviceId, splitId, sessionId, frameId) in characters. */
export const MAX_ID_CHARS = 256;

/** Largest JSON header a fragment message may have; a larger header is not a fragment (§7). */
export const MAX_FRAGMENT_HEADER_BYTES = 4096;
