/**
 * From transport messages to requests: every message on a request topic goes through the
 * Reassembler (fragments become whole frames), then decodeFrame with the configured limits, then
 * the checks that tie a frame to the topic it arrived on. Whatever fails is answered, when it can
 * be, with an error reply to the device the TOPIC names (never to a device named inside the
 * message, so a device cannot make the worker write to another device's reply topic); when no
 * request id can be read, the message is dropped and logged.
 */
import type { Logger } from "pino";
import { EdgecutError, type ErrorCode } from "../sdk/errors.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import type { Topics } from "../sdk/transport/topics.js";
import { decodeFrame, peekHeader, PROTOCOL_VERSION, type FragmentHeader, type Reassembler, type RequestHeader, type WireLimits } from "../sdk/wire/index.js";
import type { Counters } from "./metrics.js";
import { fragmentHeaderOf } from "./relay.js";
import type { ReplyAddress } from "./replies.js";

/** A decoded request whose header agrees with its topic. */
export interface IncomingRequest {
  header: RequestHeader;
  tensors: TensorMap;
  /** Where its reply goes (the topic's device, the reply topic derived from the request topic). */
  address: ReplyAddress;
}

/** What the intake needs from the worker. */
export interface IntakeDeps {
  topics: Topics;
  limits: Readonly<WireLimits>;
  reassembler: Reassembler;
  /** How long an error about a fragmented frame is not repeated (the reassembly timeout). */
  quietMs: number;
  now: () => number;
  counters: Counters;
  log: Logger;
  /** Sends an error reply (fire and forget; the worker tracks it). */
  replyError(to: ReplyAddress, code: ErrorCode, message: string): void;
  /** The fragment relay of a shared subscription: true when it took the fragment (see relay.ts). */
  route?: (topic: string, payload: Uint8Array, header: FragmentHeader) => boolean;
}

/** Bound on remembered fragment errors (they only suppress repeats). */
const MAX_QUIET = 4096;

/** Turns messages into requests, answering or dropping what cannot become one. */
export class Intake {
  /** Fragment errors answered recently, so a frame of 500 bad fragments gets one reply, not 500. */
  private readonly quiet = new Map<string, number>();

  constructor(private readonly d: IntakeDeps) {}

  /**
   * The request a message completes, or undefined (a fragment that is not the last, or a message
   * answered, dropped or relayed here). `relayed`: the message came from another worker of the
   * group (it arrived on `topic` there), so it is not routed again.
   */
  accept(topic: string, payload: Uint8Array, relayed = false): IncomingRequest | undefined {
    const address = this.addressOf(topic);
    if (address === undefined) {
      this.d.counters.dropped++;
      this.d.log.warn({ topic, bytes: payload.byteLength }, "message on a topic that is no request topic of this prefix; dropped");
      return undefined;
    }
    const peek = peekHeader(payload);
    if (peek?.version === PROTOCOL_VERSION && peek.header?.kind === "fragment" && peek.header.deviceId !== address.deviceId) {
      // Checked per fragment, before reassembly: fragments claiming another device never mix into its frames.
      this.fragmentError(payload, address, "E_DEVICE_MISMATCH", `the fragment says device ${JSON.stringify(peek.header.deviceId)} but arrived on the request topic of device ${JSON.stringify(address.deviceId)}`);
      return undefined;
    }
    if (!relayed && this.d.route !== undefined && peek?.header?.kind === "fragment") {
      const fh = fragmentHeaderOf(payload);
      if (fh !== undefined && this.d.route(topic, payload, fh)) return undefined;
    }
    let frame: Uint8Array | undefined;
    try {
      frame = this.d.reassembler.push(payload);
    } catch (e) {
      this.fragmentError(payload, address, codeOf(e), (e as Error).message);
      return undefined;
    }
    if (frame === undefined) return undefined;
    this.d.counters.received++;
    let decoded;
    try {
      decoded = decodeFrame(frame, this.d.limits);
    } catch (e) {
      // A fragment the Reassembler passed through (another protocol version, a header over the
      // fragment size): its siblings fail the same way, so it is answered once per request.
      if (peekHeader(frame)?.header?.kind === "fragment") this.fragmentError(frame, address, codeOf(e), (e as Error).message);
      else this.refuse(frame, address, codeOf(e), (e as Error).message);
      return undefined;
    }
    const h = decoded.header;
    const to: ReplyAddress = { requestId: h.requestId, deviceId: address.deviceId, replyTopic: address.replyTopic };
    if (h.kind !== "request") {
      this.d.counters.dropped++;
      this.d.log.warn({ topic, requestId: h.requestId, kind: h.kind }, "a reply frame on a request topic; dropped");
      return undefined;
    }
    if (h.deviceId !== address.deviceId) {
      this.d.replyError(to, "E_DEVICE_MISMATCH", `the request says device ${JSON.stringify(h.deviceId)} but arrived on the request topic of device ${JSON.stringify(address.deviceId)}; a device publishes on its own request topic`);
      return undefined;
    }
    if (h.splitId !== address.splitId) {
      this.d.replyError(to, "E_FRAME", `the request names split ${h.splitId} but arrived on the topic of split ${address.splitId}; publish it to the topic of its split`);
      return undefined;
    }
    return { header: h, tensors: decoded.tensors, address: to };
  }

  /** Answers partial frames whose fragments did not all arrive in time (E_FRAGMENT). Call periodically. */
  sweep(): void {
    const t = this.d.now();
    for (const [key, until] of this.quiet) if (until <= t) this.quiet.delete(key);
    for (const f of this.d.reassembler.sweepFrames()) {
      // Every fragment pushed was checked to name its topic's device, so f.deviceId is that device.
      const to = { requestId: f.requestId, deviceId: f.deviceId, replyTopic: this.d.topics.replyTopic(f.deviceId) };
      this.fragmentError(undefined, to, "E_FRAGMENT", lostMessage(f.received, f.count, this.d.quietMs));
    }
  }

  /** Answers a frame of which only `received` of `count` fragments arrived on `topic` in time (E_FRAGMENT, once). */
  fragmentsLost(topic: string, requestId: string, received: number, count: number): void {
    const address = this.addressOf(topic);
    if (address === undefined) return;
    this.fragmentError(undefined, { ...address, requestId }, "E_FRAGMENT", lostMessage(received, count, this.d.quietMs));
  }

  /** The reply address of a request topic (without a request id yet), or undefined. */
  private addressOf(topic: string): (Omit<ReplyAddress, "requestId"> & { splitId: string }) | undefined {
    const parsed = this.d.topics.parseRequestTopic(topic);
    const replyTopic = this.d.topics.replyTopicForRequest(topic);
    if (parsed === undefined || replyTopic === undefined) return undefined;
    return { deviceId: parsed.deviceId, splitId: parsed.splitId, replyTopic };
  }

  /** An error about a fragment: answered once per request and code within the reassembly timeout. */
  private fragmentError(payload: Uint8Array | undefined, to: Omit<ReplyAddress, "requestId"> & { requestId?: string }, code: ErrorCode, message: string): void {
    const requestId = to.requestId ?? (payload === undefined ? undefined : peekHeader(payload)?.header?.requestId);
    const key = JSON.stringify([to.deviceId, requestId ?? "", code]);
    if (requestId !== undefined && this.quiet.has(key)) {
      this.d.log.debug({ deviceId: to.deviceId, requestId, code }, "repeated fragment error; not answered again");
      return;
    }
    if (requestId !== undefined) {
      this.quiet.set(key, this.d.now() + this.d.quietMs);
      if (this.quiet.size > MAX_QUIET) this.quiet.delete(this.quiet.keys().next().value!);
    }
    if (payload === undefined) this.d.replyError({ ...to, requestId: requestId! }, code, message);
    else this.refuse(payload, to, code, message);
  }

  /**
   * Answers a message that could not become a request: to its request id (peeked) and the
   * topic's device, unless no id can be read or it is a reply (answering replies could ping-pong).
   */
  private refuse(bytes: Uint8Array, to: Omit<ReplyAddress, "requestId"> & { requestId?: string }, code: ErrorCode, message: string): void {
    const peek = peekHeader(bytes);
    const requestId = to.requestId ?? peek?.header?.requestId;
    if (requestId === undefined || peek?.header?.kind === "reply") {
      this.d.counters.dropped++;
      this.d.log.warn({ deviceId: to.deviceId, bytes: bytes.byteLength, code, err: message }, "undecodable message without a request id to answer; dropped");
      return;
    }
    this.d.log.warn({ deviceId: to.deviceId, requestId, code, err: message }, "bad request frame; answered with an error");
    this.d.replyError({ requestId, deviceId: to.deviceId, replyTopic: to.replyTopic }, code, message);
  }
}

function lostMessage(received: number, count: number, ms: number): string {
  return `only ${received} of the ${count} fragments of the request arrived within ${ms} ms; send it again`;
}

/** The catalogue code of an error from the wire layer (anything else is a malformed frame). */
function codeOf(e: unknown): ErrorCode {
  return e instanceof EdgecutError ? e.code : "E_FRAME";
}
