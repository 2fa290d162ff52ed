/**
 * The receiving half of the offload client: every message on the device's reply topic goes
 * through a Reassembler (bounded in bytes and time, docs/wire-format.md §7.2) and decodeFrame.
 * The Inbox only turns messages into events; which request they belong to, and what to do with
 * them, is the client's business.
 */
import { asEdgecutError, type EdgecutError, fail } from "../errors.js";
import { decodeFrame, peekHeader, Reassembler, type Frame, type ReplyHeader } from "../wire/index.js";

/** A whole reply frame addressed to this device. */
export interface ReceivedReply {
  header: ReplyHeader;
  tensors: Frame["tensors"];
  /** Clock reading when its last message arrived (before decoding). */
  receivedAt: number;
  decodeMs: number;
}

/** What the Inbox reports. Handlers must not throw. */
export interface InboxHandlers {
  /** Every message, before anything else is done with it; `requestId` when its header names one. */
  message(requestId: string | undefined, bytes: number): void;
  /** A decoded reply to this device. */
  reply(reply: ReceivedReply): void;
  /**
   * A message that is not a usable reply. `frameError` is true when a whole frame failed to
   * decode (the worker sent something this device cannot read: retrying will not help); false
   * for a stray or inconsistent fragment or someone else's message, which a retry may outlive.
   */
  bad(error: EdgecutError, requestId: string | undefined, frameError: boolean): void;
}

/** Options of an Inbox. */
export interface InboxOptions {
  deviceId: string;
  /** Most bytes of partial frames held at once. */
  maxBytes: number;
  /** A fragmented reply must complete within this many ms of its first fragment (raised by coverTimeout). */
  timeoutMs: number;
  clock: () => number;
}

/** Turns reply-topic messages into reply events (see the module comment). */
export class Inbox {
  private readonly reassembler: Reassembler;

  constructor(private readonly opts: InboxOptions, private readonly on: InboxHandlers) {
    this.reassembler = new Reassembler({ maxBytes: opts.maxBytes, timeoutMs: opts.timeoutMs, now: opts.clock });
  }

  /** Handles one message from the transport. Never throws: the transport's callback is no place for errors. */
  handle(payload: Uint8Array): void {
    const requestId = peekHeader(payload)?.header?.requestId;
    this.on.message(requestId, payload.byteLength);
    let frameBytes: Uint8Array | undefined;
    try {
      frameBytes = this.reassembler.push(payload);
    } catch (e) {
      this.on.bad(unexpected(e), requestId, false);
      return;
    }
    if (frameBytes === undefined) return;
    const receivedAt = this.opts.clock();
    let frame: Frame;
    try {
      frame = decodeFrame(frameBytes);
    } catch (e) {
      const err = unexpected(e);
      // A frame that carries a fragment's header did not come from reassembly (a fragment with a
      // bad version passes through the Reassembler): a stray message, not an unreadable reply.
      this.on.bad(err, peekHeader(frameBytes)?.header?.requestId ?? requestId, err.code !== "E_FRAGMENT");
      return;
    }
    const decodeMs = this.opts.clock() - receivedAt;
    const h = frame.header;
    if (h.kind !== "reply") {
      this.on.bad(fail("E_FRAME", `a ${h.kind} frame (request ${h.requestId}) arrived on the reply topic of ${this.opts.deviceId}`), undefined, false);
      return;
    }
    if (h.deviceId !== this.opts.deviceId) {
      // Not ours to act on, whatever its request id says.
      this.on.bad(fail("E_DEVICE_MISMATCH", `a reply for device ${h.deviceId} arrived on the reply topic of ${this.opts.deviceId}`), undefined, false);
      return;
    }
    this.on.reply({ header: h, tensors: frame.tensors, receivedAt, decodeMs });
  }

  /**
   * Lets a fragmented reply take at least `ms` to arrive whole: the client calls it with each
   * request's timeout, so the bound covers the largest timeout of any request it sends.
   */
  coverTimeout(ms: number): void {
    this.reassembler.extendTimeout(ms);
  }

  /** Drops partial replies past their time (frees their memory). */
  sweep(): void {
    this.reassembler.sweep();
  }
}

const unexpected = (e: unknown): EdgecutError => asEdgecutError(e, "E_INTERNAL", "unexpected error receiving a reply");
