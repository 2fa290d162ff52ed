/**
 * OffloadClient: the device's side of the offload protocol. It sends a request frame carrying
 * the tensors at a cut to `<prefix>/v1/req/<deviceId>/<splitId>`, listens on its own
 * `<prefix>/v1/reply/<deviceId>`, and gives each request exactly one result:
 *
 * - Every attempt of a request carries the same requestId. An attempt that gets no reply within
 *   the timeout is repeated after a backoff while the retry budget lasts, then the request fails
 *   with E_TIMEOUT. A retry is fragmented afresh, so its fragments form a new frame (new frameId)
 *   that a worker's Reassembler does not drop as a redelivery of the first.
 * - Error replies that a later attempt may not get are retried the same way (same budget), then
 *   surface with their code: E_BUSY (the worker's queue was full), E_FRAGMENT (fragments of the
 *   attempt were lost, or the worker had no room to reassemble it) and E_EXPIRED (its ttl ran out
 *   in the worker's queue). Every other error reply fails the request at once (see ReplyError
 *   for the code the caller sees).
 * - Replies carry only the request id, not the attempt. An error reply is taken as the answer to
 *   the oldest attempt not yet answered: while an attempt that timed out (and was superseded by a
 *   retry) has had no answer, the next error reply is that attempt's, and is ignored (counted).
 *   Only the current attempt's answer retries or fails the request. When the last attempt times
 *   out after such an error came during it (an earlier answer was lost, so it was the last
 *   attempt's after all), the request fails with that error rather than E_TIMEOUT.
 * - The first reply for a pending id settles it; any later reply for that id (a retry's second
 *   answer, a QoS 1 redelivery) and replies for ids this client never sent are dropped and counted.
 * - A reply frame that cannot be decoded fails its request at once with the decoder's code
 *   (E_FRAME, E_FRAME_LIMIT, E_PROTOCOL_VERSION): the worker sent something this device cannot
 *   read, and asking again would get the same. Stray or inconsistent fragments are only counted.
 *
 * The client never imports mqtt: it works on any Transport (the memory bus in tests).
 */
import { performance } from "node:perf_hooks";
import { asEdgecutError, type EdgecutError, fail } from "../errors.js";
import type { TensorMap } from "../runtime/tensor.js";
import { DEFAULT_MAX_MESSAGE_BYTES, messageCap } from "../transport/limits.js";
import { topics, type Topics } from "../transport/topics.js";
import type { Transport } from "../transport/transport.js";
import { checkEncoding, DEFAULT_LIMITS, encodeFrame, fragmentFrame, type Encoding, type RequestHeader } from "../wire/index.js";
import { decodeStepReply, encodeStepRequest, isStepFrame, peekStep, stepRequestId, type StepRequest } from "../wire/step.js";
import { Inbox, type ReceivedReply } from "./inbox.js";
import { MetricsCounters } from "./metrics.js";
import { ReplyError } from "./reply-error.js";
import { RecentSet, RequestIds } from "./request-ids.js";
import type { OffloadClientOptions, OffloadMetrics, OffloadResult, RequestOptions, SegmentRange, StepOptions } from "./types.js";

/** Error replies retried within the retry budget: another attempt may well get an answer (see the module comment). */
const RETRIED_CODES: ReadonlySet<string> = new Set(["E_BUSY", "E_FRAGMENT", "E_EXPIRED"]);

/** Defaults of OffloadClientOptions. */
export const OFFLOAD_DEFAULTS = Object.freeze({
  timeoutMs: 10_000,
  retries: 2,
  backoffMs: 100,
  /** Backoffs double up to this. */
  maxBackoffMs: 2_000,
  encoding: "fp32" as Encoding,
  /** Message cap when neither the options nor the broker name one (DEFAULT_MAX_MESSAGE_BYTES, 128 MiB). */
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  /** Finished request ids remembered to tell duplicate replies from unknown ones. */
  rememberedIds: 4096,
});

interface Pending {
  id: string;
  splitId: string;
  segments: SegmentRange;
  topic: string;
  frame: Uint8Array;
  timeoutMs: number;
  retries: number;
  attempts: number;
  /** Attempts that timed out and were superseded by a retry, with no reply taken as theirs yet. */
  unanswered: number;
  /** The last error reply ignored as a superseded attempt's, and the attempt current when it came. */
  ignored: { code: string; message: string; attempt: number } | undefined;
  /** "waiting" for a reply to the current attempt, "backoff" until the next attempt is sent. */
  phase: "waiting" | "backoff";
  timer: NodeJS.Timeout | undefined;
  startedAt: number | undefined;
  encodeMs: number;
  bytesUp: number;
  bytesDown: number;
  resolve: (r: OffloadResult) => void;
  reject: (e: EdgecutError) => void;
  /** A step's reply slots (step frames only: its reply is a step frame, not an ECUT frame). */
  replySlots?: StepOptions["replySlots"];
}

/** Sends requests for back segments to a worker and collects their replies (see the module comment). */
export class OffloadClient {
  /** This device's id, as on its topics and in every request. */
  readonly deviceId: string;
  /** The topic this client listens on. */
  readonly replyTopic: string;
  private readonly transport: Transport;
  private readonly topics: Topics;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly encoding: Encoding;
  private readonly maxMessageBytes: number | undefined;
  private readonly clock: () => number;
  private readonly inbox: Inbox;
  private readonly ids: RequestIds;
  private readonly pending = new Map<string, Pending>();
  /** Why the link is down (setUnavailable), or undefined. */
  private unavailable: string | undefined;
  private readonly finished = new RecentSet(OFFLOAD_DEFAULTS.rememberedIds);
  private readonly counters = new MetricsCounters();
  private starting: Promise<void> | undefined;
  private started = false;
  private closed = false;

  /** Checks the options (E_USAGE naming the bad one); does no I/O. Call start() next. */
  constructor(opts: OffloadClientOptions) {
    if (typeof opts?.transport?.publish !== "function") throw fail("E_USAGE", "OffloadClient needs a transport (connectMqtt(...) or a memory bus client)");
    this.transport = opts.transport;
    this.topics = topics(opts.prefix);
    this.replyTopic = this.topics.replyTopic(opts.deviceId);
    this.deviceId = opts.deviceId;
    this.timeoutMs = positive("timeoutMs", opts.timeoutMs ?? OFFLOAD_DEFAULTS.timeoutMs);
    this.retries = count("retries", opts.retries ?? OFFLOAD_DEFAULTS.retries);
    this.backoffMs = opts.backoffMs === 0 ? 0 : positive("backoffMs", opts.backoffMs ?? OFFLOAD_DEFAULTS.backoffMs);
    this.encoding = checkEncoding(opts.encoding ?? OFFLOAD_DEFAULTS.encoding);
    this.maxMessageBytes = opts.maxMessageBytes === undefined ? undefined : positive("maxMessageBytes", count("maxMessageBytes", opts.maxMessageBytes));
    this.clock = opts.clock ?? (() => performance.now());
    this.ids = new RequestIds(this.deviceId);
    this.inbox = new Inbox({
      deviceId: this.deviceId,
      maxBytes: positive("maxReplyBytes", opts.maxReplyBytes ?? DEFAULT_LIMITS.maxFrameBytes),
      timeoutMs: this.timeoutMs,
      clock: this.clock,
    }, {
      message: (id, bytes) => this.onMessage(id, bytes),
      reply: (r) => this.onReply(r),
      bad: (err, id, frameError) => this.onBad(err, id, frameError),
    });
  }

  /** Subscribes to this device's reply topic. Idempotent; a failed start may be tried again. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(fail("E_USAGE", "the offload client is closed; make a new one"));
    this.starting ??= this.transport.subscribe(this.replyTopic, (_topic, payload) => {
      if (isStepFrame(payload)) this.onStepReply(payload);
      else this.inbox.handle(payload);
    }).then(
      () => { this.started = true; },
      (e: unknown) => { this.starting = undefined; throw e; },
    );
    return this.starting;
  }

  /**
   * Asks a worker to run `segments` of split `splitId` on `tensors` and resolves with its outputs
   * and the measurements. Rejects with E_TIMEOUT, E_BUSY, the code of an error reply, E_BROKER
   * when publishing fails or the client closes, E_USAGE for bad arguments, E_FRAME when the
   * tensors cannot be encoded.
   */
  async request(splitId: string, segments: SegmentRange, tensors: TensorMap, opts: RequestOptions = {}): Promise<OffloadResult> {
    if (this.closed) throw fail("E_USAGE", "the offload client is closed; make a new one");
    if (!this.started) throw fail("E_USAGE", "call `await client.start()` before request(): replies only arrive once the client listens");
    if (this.unavailable !== undefined) throw fail("E_BROKER", `not sent: ${this.unavailable}`);
    const topic = this.topics.requestTopic(this.deviceId, splitId);
    checkSegments(segments);
    if (typeof tensors !== "object" || tensors === null || Array.isArray(tensors)) throw fail("E_USAGE", "tensors must be an object mapping names to tensors");
    const timeoutMs = positive("timeoutMs", opts.timeoutMs ?? this.timeoutMs);
    const retries = count("retries", opts.retries ?? this.retries);
    const encoding = checkEncoding(opts.encoding ?? this.encoding);
    if (opts.wantOutputs !== undefined && !(Array.isArray(opts.wantOutputs) && opts.wantOutputs.every((n) => typeof n === "string" && n !== ""))) {
      throw fail("E_USAGE", "wantOutputs must be an array of output names");
    }
    const requestId = this.ids.next();
    const header: RequestHeader = {
      kind: "request", requestId, deviceId: this.deviceId, splitId, segments: { from: segments.from, to: segments.to }, ttlMs: timeoutMs,
      ...(opts.wantOutputs ? { wantOutputs: [...opts.wantOutputs] } : {}),
      ...(opts.session ? { sessionId: opts.session.sessionId, step: opts.session.step, session: opts.session.open } : {}),
    };
    const t0 = this.clock();
    const frame = encodeFrame(header, tensors, { encoding });
    return this.send(requestId, splitId, header.segments, topic, frame, this.clock() - t0, timeoutMs, retries);
  }

  /**
   * Sends one decode step of a generation session to the worker holding it, as a compact step
   * frame (docs/wire-format.md §9.2), with the same timeouts and retries as request(). Resolves
   * with the sampled token (`generated`) or, U-shaped, the reply's tensors; rejects like request()
   * (E_SESSION_LOST / E_SESSION_STEP: the worker lost the session; rebuild it).
   */
  async step(splitId: string, step: StepRequest, opts: StepOptions): Promise<OffloadResult> {
    if (this.closed) throw fail("E_USAGE", "the offload client is closed; make a new one");
    if (!this.started) throw fail("E_USAGE", "call `await client.start()` before step()");
    if (this.unavailable !== undefined) throw fail("E_BROKER", `not sent: ${this.unavailable}`);
    const topic = this.topics.sessionTopic(this.deviceId, splitId, opts.workerId);
    const timeoutMs = positive("timeoutMs", opts.timeoutMs ?? this.timeoutMs);
    const retries = count("retries", opts.retries ?? this.retries);
    const t0 = this.clock();
    const frame = encodeStepRequest(step, (slot) => {
      const type = opts.slotTypes[slot];
      if (type === undefined) throw fail("E_USAGE", `step slot ${slot} is not a slot of the session (it has ${opts.slotTypes.length})`);
      return type;
    });
    return this.send(stepRequestId(step.sessionId, step.step), splitId, { from: 0, to: 0 }, topic, frame, this.clock() - t0, timeoutMs, retries, opts.replySlots);
  }

  /** Registers a request and sends its first attempt. */
  private send(id: string, splitId: string, segments: SegmentRange, topic: string, frame: Uint8Array, encodeMs: number, timeoutMs: number, retries: number, replySlots?: StepOptions["replySlots"]): Promise<OffloadResult> {
    if (this.pending.has(id)) return Promise.reject(fail("E_USAGE", `request ${id} is already waiting for its reply`));
    this.inbox.coverTimeout(timeoutMs);
    this.counters.add("requests");
    return new Promise<OffloadResult>((resolve, reject) => {
      const p: Pending = {
        id, splitId, segments, topic, frame, timeoutMs, retries, attempts: 0, unanswered: 0, ignored: undefined, phase: "waiting",
        timer: undefined, startedAt: undefined, encodeMs, bytesUp: 0, bytesDown: 0, resolve, reject, ...(replySlots ? { replySlots } : {}),
      };
      this.pending.set(id, p);
      this.attempt(p);
    });
  }

  /** A step reply: decoded with the pending step's slot types, then settled like any reply. */
  private onStepReply(payload: Uint8Array): void {
    const receivedAt = this.clock();
    const peek = peekStep(payload);
    const id = peek?.kind === "reply" ? stepRequestId(peek.sessionId, peek.step) : undefined;
    this.onMessage(id, payload.byteLength);
    const p = id === undefined ? undefined : this.pending.get(id);
    if (p === undefined || p.replySlots === undefined) {
      this.counters.add(id !== undefined && this.finished.has(id) ? "duplicateReplies" : "unknownReplies");
      return;
    }
    try {
      const slots = p.replySlots;
      const r = decodeStepReply(payload, (slot) => slots[slot]?.type);
      const outputs: TensorMap = {};
      for (const t of r.tensors) Object.defineProperty(outputs, slots[t.slot]!.name, { value: t.tensor, enumerable: true, writable: true, configurable: true });
      this.settle(p);
      this.counters.add("succeeded");
      p.resolve({
        outputs, requestId: p.id, computeMs: r.computeMs, queueMs: r.queueMs, roundTripMs: receivedAt - (p.startedAt ?? receivedAt),
        encodeMs: p.encodeMs, decodeMs: this.clock() - receivedAt, bytesUp: p.bytesUp, bytesDown: p.bytesDown, attempts: p.attempts,
        ...(r.token >= 0 ? { generated: { token: r.token, logprob: r.logprob } } : {}),
      });
    } catch (e) {
      this.counters.add("badMessages");
      this.fail(p, asEdgecutError(e, "E_FRAME", "the step reply cannot be read"));
    }
  }

  /** A snapshot of the counters. */
  metrics(): OffloadMetrics {
    return this.counters.snapshot(this.pending.size);
  }

  /**
   * Marks the link down (`reason`) or up again (undefined). While down, pending requests fail at
   * once with E_BROKER and new ones are refused with E_BROKER before anything is published:
   * waiting out the timeouts would only delay the caller's fallback, and mqtt.js would resend the
   * stale attempts on reconnect. Returns how many pending requests were failed.
   */
  setUnavailable(reason: string | undefined): number {
    this.unavailable = reason;
    if (reason === undefined) return 0;
    const all = [...this.pending.values()];
    for (const p of all) this.fail(p, fail("E_BROKER", `request ${p.id} abandoned: ${reason}`));
    return all.length;
  }

  /**
   * Fails every pending request with E_BROKER and stops listening. Does not close the transport
   * (whoever connected it does). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.pending.values()]) this.fail(p, fail("E_BROKER", `the offload client closed before request ${p.id} got its reply`));
    if (this.starting === undefined) return;
    try {
      await this.starting;
      await this.transport.unsubscribe(this.replyTopic);
    } catch {
      // The transport may be closed already, or never subscribed: nothing is left to undo.
    }
  }

  /** Sends one attempt of a request and arms its timeout. */
  private attempt(p: Pending): void {
    if (this.pending.get(p.id) !== p) return; // settled during the backoff
    p.attempts++;
    this.counters.add("attempts");
    p.phase = "waiting";
    p.timer = setTimeout(() => this.onTimeout(p), p.timeoutMs);
    let messages: Uint8Array[];
    try {
      const t0 = this.clock();
      messages = fragmentFrame(p.frame, this.messageCap(p.topic), { requestId: p.id, deviceId: this.deviceId });
      p.encodeMs += this.clock() - t0;
    } catch (e) {
      this.fail(p, asEdgecutError(e, "E_INTERNAL", "fragmenting the request failed"));
      return;
    }
    p.startedAt ??= this.clock();
    for (const m of messages) {
      p.bytesUp += m.byteLength;
      this.counters.add("bytesUp", m.byteLength);
      this.counters.add("messagesUp");
    }
    // Published together rather than one PUBACK at a time: the transport keeps one publisher's
    // messages in order (MQTT 3.1.1 §4.6) and paces them with its own in-flight window.
    void Promise.all(messages.map((m) => this.transport.publish(p.topic, m))).catch((e: unknown) => {
      this.fail(p, asEdgecutError(e, "E_BROKER", "publishing failed"));
    });
  }

  private onTimeout(p: Pending): void {
    if (this.pending.get(p.id) !== p || p.phase !== "waiting") return;
    p.timer = undefined;
    this.counters.add("timeouts");
    this.inbox.sweep();
    if (p.attempts <= p.retries) {
      p.unanswered++;
      this.retryLater(p);
      return;
    }
    if (p.ignored !== undefined && p.ignored.attempt === p.attempts) {
      // An error reply came while this last attempt waited and was taken for an earlier attempt's
      // answer; with no other answer, it was this attempt's (an earlier answer was lost).
      this.fail(p, new ReplyError(p.ignored.code, `${p.ignored.message} (after ${p.attempts} attempt(s))`, p.id));
      return;
    }
    this.fail(p, fail("E_TIMEOUT", `no reply to request ${p.id} (split ${p.splitId}, segments ${p.segments.from}..${p.segments.to - 1}) within ${p.timeoutMs} ms, after ${p.attempts} attempt(s); check that a worker serving this split listens on the same broker and topic prefix`));
  }

  /** Schedules the next attempt after a backoff that doubles with each attempt, jittered. */
  private retryLater(p: Pending): void {
    if (p.timer !== undefined) clearTimeout(p.timer);
    this.counters.add("retries");
    p.phase = "backoff";
    const base = Math.min(this.backoffMs * 2 ** (p.attempts - 1), OFFLOAD_DEFAULTS.maxBackoffMs);
    p.timer = setTimeout(() => this.attempt(p), base * (0.5 + Math.random() / 2));
  }

  private onMessage(requestId: string | undefined, bytes: number): void {
    this.counters.add("messagesDown");
    this.counters.add("bytesDown", bytes);
    const p = requestId === undefined ? undefined : this.pending.get(requestId);
    if (p) p.bytesDown += bytes;
  }

  private onReply(r: ReceivedReply): void {
    const h = r.header;
    const p = this.pending.get(h.requestId);
    if (p === undefined) {
      this.counters.add(this.finished.has(h.requestId) ? "duplicateReplies" : "unknownReplies");
      return;
    }
    if (h.ok) {
      this.settle(p);
      this.counters.add("succeeded");
      p.resolve({
        outputs: r.tensors, requestId: p.id, computeMs: h.computeMs, queueMs: h.queueMs,
        roundTripMs: r.receivedAt - (p.startedAt ?? r.receivedAt), encodeMs: p.encodeMs, decodeMs: r.decodeMs,
        bytesUp: p.bytesUp, bytesDown: p.bytesDown, attempts: p.attempts,
        ...(h.workerId === undefined ? {} : { workerId: h.workerId }), ...(h.generated === undefined ? {} : { generated: h.generated }),
      });
      return;
    }
    const code = h.error.code;
    this.counters.add(code === "E_BUSY" ? "busyReplies" : "errorReplies");
    if (p.unanswered > 0) {
      // The answer to an attempt a retry has superseded: the retry's own answer decides.
      p.unanswered--;
      p.ignored = { code, message: h.error.message, attempt: p.attempts };
      this.counters.add("supersededReplies");
      return;
    }
    // Every attempt so far is answered and the next one is scheduled: a redelivered answer.
    if (p.phase === "backoff") return;
    if (!RETRIED_CODES.has(code)) {
      this.fail(p, new ReplyError(code, h.error.message, p.id));
      return;
    }
    if (p.attempts <= p.retries) this.retryLater(p);
    else this.fail(p, new ReplyError(code, `${h.error.message} (after ${p.attempts} attempt(s))`, p.id));
  }

  private onBad(err: EdgecutError, requestId: string | undefined, frameError: boolean): void {
    this.counters.add("badMessages");
    const p = requestId === undefined ? undefined : this.pending.get(requestId);
    if (p && frameError) this.fail(p, fail(err.code, `the reply to request ${p.id} cannot be read: ${err.message}`, err));
  }

  /** Removes a request from the pending ones and remembers its id. */
  private settle(p: Pending): void {
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = undefined;
    this.pending.delete(p.id);
    this.finished.add(p.id);
  }

  private fail(p: Pending, err: EdgecutError): void {
    if (this.pending.get(p.id) !== p) return;
    this.settle(p);
    this.counters.failure(err.code);
    p.reject(err);
  }

  /** Largest message payload for a topic (see OffloadClientOptions.maxMessageBytes). */
  private messageCap(topic: string): number {
    return messageCap(topic, this.maxMessageBytes, this.transport);
  }
}

function positive(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw fail("E_USAGE", `${name} must be a positive number of ms or bytes, got ${String(v)}`);
  return v;
}

function count(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw fail("E_USAGE", `${name} must be an integer >= 0, got ${String(v)}`);
  return v;
}

function checkSegments(s: SegmentRange): void {
  const ok = typeof s === "object" && s !== null && Number.isSafeInteger(s.from) && Number.isSafeInteger(s.to) && s.from >= 0 && s.from <= s.to;
  if (!ok) throw fail("E_USAGE", `segments must be { from, to } with integers 0 <= from <= to (the worker runs from..to-1; from = to is a probe), got ${JSON.stringify(s)}`);
}

