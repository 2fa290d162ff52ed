/**
 * Public types of the offload client: its options, a request's options and result, and the
 * counters `metrics()` reports. The protocol they implement is docs/wire-format.md plus the topic
 * scheme of sdk/transport/topics.ts.
 */
import type { TensorMap } from "../runtime/tensor.js";
import type { Transport } from "../transport/transport.js";
import type { Encoding, SessionOpen, WireType } from "../wire/types.js";

/** Segments `from .. to-1` of a split, the range the worker runs. */
export interface SegmentRange {
  from: number;
  to: number;
}

/** Options of `new OffloadClient(...)`. */
export interface OffloadClientOptions {
  /** The broker connection. The client never closes it: whoever connected it does. */
  transport: Transport;
  /** This device's id: one topic level (no `/`, `+`, `#`, control characters; at most 128 UTF-8 bytes). */
  deviceId: string;
  /** Topic prefix (default "edgecut"). */
  prefix?: string;
  /**
   * Default per-attempt timeout in ms, also sent as the request's ttlMs (default 10000). It also
   * bounds how long a fragmented reply may take to arrive whole.
   */
  timeoutMs?: number;
  /** Default number of retries after the first attempt, on a timeout or an E_BUSY, E_FRAGMENT or E_EXPIRED reply (default 2). */
  retries?: number;
  /**
   * Largest transport message, in payload bytes; larger frames travel as fragments. Default: the
   * transport's maxPacketSize minus the PUBLISH overhead of the topic when the broker announces
   * one, else 128 MiB.
   */
  maxMessageBytes?: number;
  /** Default encoding of float32 tensors (default "fp32"). */
  encoding?: Encoding;
  /** Monotonic clock in ms (default performance.now). Every duration the client reports uses it. */
  clock?: () => number;
  /**
   * First retry's backoff in ms (default 100); each further retry doubles it, up to 2000 ms, and a
   * random factor in [0.5, 1] spreads devices that were refused at the same moment. 0: retry at once.
   */
  backoffMs?: number;
  /** Most bytes of reply fragments held at once (default 256 MiB, the wire format's frame limit). */
  maxReplyBytes?: number;
}

/** Options of one `client.request(...)`. */
export interface RequestOptions {
  /** Outputs the worker must send back (sent as the request's `wantOutputs`); absent: the last segment's outputs. */
  wantOutputs?: readonly string[];
  /** Encoding of float32 tensors for this request (default: the client's). */
  encoding?: Encoding;
  /** Per-attempt timeout and ttlMs for this request (default: the client's). */
  timeoutMs?: number;
  /** Retries for this request (default: the client's). */
  retries?: number;
  /** Opens or rebuilds a generation session (docs/wire-format.md §9.1). */
  session?: { sessionId: string; step: number; open: SessionOpen };
}

/** One decode step of a generation session (docs/wire-format.md §9.2), for `client.step(...)`. */
export interface StepOptions {
  /** The worker holding the session (from the open reply's workerId). */
  workerId: string;
  /** Slot types of the request's tensors (the session's tensors in slot order). */
  slotTypes: readonly WireType[];
  /** Names and types of the tensors a U-shaped session's reply carries, in slot order (empty when the worker samples). */
  replySlots: readonly { name: string; type: WireType }[];
  timeoutMs?: number;
  retries?: number;
}

/** What a successful request returns. Durations are ms on the client's clock, bytes are transport payload bytes. */
export interface OffloadResult {
  /** The tensors of the worker's reply. fp32/raw tensors are views into the received frame. */
  outputs: TensorMap;
  /** The id every attempt of this request carried. */
  requestId: string;
  /** The worker's time running segments (its clock). */
  computeMs: number;
  /** The worker's queueing time (its clock). */
  queueMs: number;
  /** From the first attempt's first publish to the reply's last message, retries and backoffs included. */
  roundTripMs: number;
  /** encodeFrame plus fragmenting (every attempt). */
  encodeMs: number;
  /** decodeFrame of the reply. */
  decodeMs: number;
  /** Bytes of every message handed to the transport for this request, fragments and retries included. */
  bytesUp: number;
  /** Bytes of every message received for this request up to its reply (later duplicates are not counted here). */
  bytesDown: number;
  /** Attempts made (1 without retries). */
  attempts: number;
  /** The worker that opened a generation session (session requests only). */
  workerId?: string;
  /** The token the worker sampled (session requests and steps whose worker samples). */
  generated?: { token: number; logprob: number };
}

/** Counters since the client was made (a snapshot; `client.metrics()`). */
export interface OffloadMetrics {
  /** request() calls that got as far as publishing. */
  requests: number;
  succeeded: number;
  failed: number;
  /** Failures by error code. */
  failures: Record<string, number>;
  /** Requests waiting for their reply now. */
  inFlight: number;
  /** Attempts published (first attempts and retries). */
  attempts: number;
  /** Attempts repeated after a timeout or an E_BUSY, E_FRAGMENT or E_EXPIRED reply. */
  retries: number;
  /** Attempts that timed out. */
  timeouts: number;
  /** E_BUSY replies received. */
  busyReplies: number;
  /** Other error replies received. */
  errorReplies: number;
  /**
   * Error replies (counted in busyReplies or errorReplies too) taken as the answer to an attempt
   * that had timed out and been superseded by a retry: ignored, the retry's answer decides.
   */
  supersededReplies: number;
  /** Replies for a request that had already finished (a retry's second answer, a redelivery). Dropped. */
  duplicateReplies: number;
  /** Replies for a request id this client is not waiting for and does not remember. Dropped. */
  unknownReplies: number;
  /** Messages on the reply topic that could not be reassembled or decoded, or were not replies to this device. */
  badMessages: number;
  messagesUp: number;
  messagesDown: number;
  bytesUp: number;
  bytesDown: number;
}
