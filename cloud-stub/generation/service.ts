/**
 * Generation sessions on the worker (docs/wire-format.md §9). A session request (JSON frame with
 * `session`) opens a session with the prompt's chunk, or rebuilds one by replaying every chunk
 * the device sent, and is answered with the sampled token (or, U-shaped, the tensors at the end
 * of the worker's range) and this worker's id; the device then sends each step as a compact step
 * frame to this worker's own topic. The worker keeps the KV cache of its layers per session
 * (store.ts: ttl, memory cap, eviction); a step for a session it does not hold is answered
 * E_SESSION_LOST, one out of order E_SESSION_STEP, and the device rebuilds the session.
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";
import { runRange } from "../../sdk/generate/range.js";
import { lastRow, sampleToken } from "../../sdk/generate/sampling.js";
import { isStateInput, logitsOutput } from "../../sdk/generate/state.js";
import { concatAlong } from "../../sdk/generate/tensors.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import { encodeFrame, type ReplyHeader, type RequestHeader, type SessionOpen, type WireType } from "../../sdk/wire/index.js";
import { decodeStepRequest, encodeStepReply, peekStep, stepRequestId, type StepTensor } from "../../sdk/wire/step.js";
import { sessionKey as poolKey } from "../execute.js";
import type { IncomingRequest } from "../intake.js";
import type { ReplyAddress, ReplySender } from "../replies.js";
import type { SessionPool } from "../sessions.js";
import type { ServedSplit } from "../splits.js";
import { GenerationStore, sessionKey, type GenerationSession } from "./store.js";

/** What the service needs from the worker. */
export interface GenerationDeps {
  workerId: string;
  served: ReadonlyMap<string, ServedSplit>;
  pool: SessionPool;
  store: GenerationStore;
  sender: ReplySender;
  now: () => number;
  log: Logger;
  /** Queues a task in the worker's scheduler; false when the queue is full. */
  submit(task: () => Promise<void>): boolean;
  /** Sends an error reply (tracked by the worker). */
  replyError(to: ReplyAddress, code: ErrorCode, message: string): void;
  /** Counts a computed request. */
  computed(): void;
}

/** A refusal before anything runs. */
class Refused extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

const typedSlots = (s: GenerationSession) => (slot: number): WireType | undefined => s.slots[slot]?.type;

/** Serves generation sessions (see the module comment). */
export class GenerationService {
  constructor(private readonly d: GenerationDeps) {}

  /** Handles a session request (open or rebuild). */
  open(request: IncomingRequest): void {
    const { header, address } = request;
    const session = header.session!;
    const log = this.d.log.child({ requestId: header.requestId, deviceId: address.deviceId, sessionId: header.sessionId, op: session.op });
    const held = this.d.store.get(sessionKey(address.deviceId, header.sessionId!));
    if (held !== undefined && (held.busy || (held.lastReply?.step === header.step && held.nextStep === header.step! + 1))) {
      // A retry or redelivery of the request that opened it: the reply (or the one coming) answers it.
      if (!held.busy) void this.d.sender.send(address, held.lastReply!.frame);
      return;
    }
    let s: GenerationSession;
    let chunks: Map<string, HostTensor>[];
    try {
      ({ s, chunks } = this.prepare(header, session, request.tensors, address.deviceId));
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      log.warn({ code: e.code, err: e.message }, "session request refused");
      this.d.replyError(address, e.code, e.message);
      return;
    }
    const receivedAt = this.d.now();
    const accepted = this.d.submit(async () => {
      const started = this.d.now();
      try {
        this.d.store.put(s);
        s.busy = true;
        let result: ChunkResult | undefined;
        let computeMs = 0;
        for (const [i, chunk] of chunks.entries()) {
          result = await this.runChunk(s, chunk, i === chunks.length - 1 ? header.step! : undefined);
          computeMs += result.computeMs;
        }
        s.nextStep = header.step! + 1;
        const reply: ReplyHeader = {
          kind: "reply", requestId: header.requestId, deviceId: address.deviceId, computeMs, queueMs: started - receivedAt, ok: true,
          workerId: this.d.workerId, ...(result!.token === undefined ? {} : { generated: result!.token }),
        };
        const frame = encodeFrame(reply, result!.outputs, { encoding: "fp32" });
        s.lastReply = { step: header.step!, frame };
        s.busy = false;
        if (!this.d.store.resize(s)) throw new EdgecutError("E_SESSION_FULL", `the session needs ${s.bytes} bytes, over this worker's session memory cap; use a shorter context or a worker with a larger --session-memory`);
        this.d.computed();
        await this.d.sender.send(address, frame);
        log.info({ chunks: chunks.length, length: s.length, computeMs: Math.round(computeMs * 1000) / 1000 }, session.op === "open" ? "session opened" : "session rebuilt");
      } catch (e) {
        s.busy = false;
        this.d.store.delete(s.key);
        this.failed(address, e, log);
      }
    });
    if (!accepted) this.d.replyError(address, "E_BUSY", "the worker's queue is full; retry later or elsewhere");
  }

  /** Handles a step frame that arrived on this worker's session topic for `deviceId`. */
  step(deviceId: string, replyTopic: string, payload: Uint8Array): void {
    const peek = peekStep(payload);
    if (peek === undefined || peek.kind !== "request") {
      this.d.log.warn({ deviceId, bytes: payload.byteLength }, "unreadable step frame without a session id to answer; dropped");
      return;
    }
    const address: ReplyAddress = { requestId: stepRequestId(peek.sessionId, peek.step), deviceId, replyTopic };
    const s = this.d.store.get(sessionKey(deviceId, peek.sessionId));
    if (s === undefined) {
      this.d.replyError(address, "E_SESSION_LOST", `this worker holds no session ${peek.sessionId} (expired, evicted or never opened here); rebuild it by replay`);
      return;
    }
    if (s.busy) return; // a redelivery of the step now running: its reply answers both
    if (peek.step !== s.nextStep) {
      if (s.lastReply !== undefined && peek.step === s.lastReply.step) {
        void this.d.sender.send(address, s.lastReply.frame);
        return;
      }
      this.d.replyError(address, "E_SESSION_STEP", `session ${peek.sessionId} expects step ${s.nextStep}, got ${peek.step}; rebuild it by replay`);
      return;
    }
    let inputs: Map<string, HostTensor>;
    try {
      const req = decodeStepRequest(payload, typedSlots(s));
      inputs = this.expand(s, req.tensors);
    } catch (e) {
      const code: ErrorCode = e instanceof EdgecutError ? e.code : "E_FRAME";
      this.d.replyError(address, code, (e as Error).message);
      return;
    }
    const receivedAt = this.d.now();
    s.busy = true;
    const accepted = this.d.submit(async () => {
      const started = this.d.now();
      try {
        const r = await this.runChunk(s, inputs, peek.step);
        s.nextStep = peek.step + 1;
        const tensors = s.sample ? [] : this.replySlots(s, r.outputs);
        const replyTypes = s.sample ? [] : this.replyTypes(s);
        const frame = encodeStepReply({
          sessionId: s.sessionId, step: peek.step, computeMs: r.computeMs, queueMs: started - receivedAt,
          token: r.token?.token ?? -1, logprob: r.token?.logprob ?? 0, tensors,
        }, (slot) => replyTypes[slot]!);
        s.lastReply = { step: peek.step, frame };
        s.busy = false;
        if (!this.d.store.resize(s)) throw new EdgecutError("E_SESSION_FULL", `session ${s.sessionId} grew to ${s.bytes} bytes, over this worker's session memory cap`);
        this.d.computed();
        await this.d.sender.send(address, frame);
      } catch (e) {
        s.busy = false;
        this.d.store.delete(s.key);
        this.failed(address, e, this.d.log.child({ deviceId, sessionId: s.sessionId, step: peek.step }));
      }
    });
    if (!accepted) {
      s.busy = false;
      this.d.replyError(address, "E_BUSY", "the worker's queue is full; retry");
    }
  }

  /** Checks a session request against its split and makes the session and its chunks. */
  private prepare(header: RequestHeader, session: SessionOpen, tensors: TensorMap, deviceId: string): { s: GenerationSession; chunks: Map<string, HostTensor>[] } {
    const split = this.d.served.get(header.splitId);
    if (split === undefined) throw new Refused("E_UNKNOWN_SPLIT", `this worker serves no split ${header.splitId}`);
    const m = split.manifest;
    const n = m.segments.length;
    const { from, to } = header.segments;
    if (!(from < to && to <= n)) throw new Refused("E_SEGMENT_RANGE", `a session needs a non-empty range of segments 0..${n - 1}; got ${from}..${to - 1}`);
    if (session.sample && to !== n) throw new Refused("E_USAGE", `the worker samples only when its range ends with the model (to = ${n}); got to = ${to}: set sample false for a U-shaped split`);
    if (!session.sample && to === n) throw new Refused("E_USAGE", "a range that ends with the model must sample (there is no cut after it to return)");
    if (session.sample) {
      try {
        logitsOutput(m);
      } catch (e) {
        throw new Refused("E_NOT_GENERATIVE", (e as Error).message);
      }
    }
    // Every chunk carries at least one tensor: a count beyond the frame's tensors is a lie, refused
    // before anything is allocated for it.
    if (session.chunks > Math.max(1, Object.keys(tensors).length)) throw new Refused("E_FRAME", `the request claims ${session.chunks} chunks but carries ${Object.keys(tensors).length} tensors`);
    const chunks: Map<string, HostTensor>[] = Array.from({ length: session.chunks }, () => new Map());
    for (const [name, t] of Object.entries(tensors)) {
      let chunk = 0;
      let bare = name;
      if (session.op === "rebuild") {
        const slash = name.indexOf("/");
        chunk = Number(name.slice(0, slash));
        bare = name.slice(slash + 1);
        if (slash < 1 || !Number.isInteger(chunk) || chunk < 0 || chunk >= session.chunks) throw new Refused("E_FRAME", `rebuild tensor ${JSON.stringify(name)} is not named <chunk>/<name> with chunk < ${session.chunks}`);
      }
      if (isStateInput(m, bare)) throw new Refused("E_FRAME", `${JSON.stringify(bare)} is a cache input: the worker keeps its own`);
      if (t.type === "string") throw new Refused("E_FRAME", `${JSON.stringify(bare)} is a string tensor`);
      chunks[chunk]!.set(bare, t);
    }
    const empty = chunks.findIndex((c) => c.size === 0);
    if (empty >= 0) throw new Refused("E_FRAME", `chunk ${empty} of the ${session.op} request carries no tensor`);
    const first = chunks[0]!;
    const slots = [...first.keys()].sort().map((name) => ({ name, type: first.get(name)!.type as WireType }));
    if (slots.length > 32) throw new Refused("E_FRAME_LIMIT", `a session carries at most 32 tensors per step, got ${slots.length}`);
    const s: GenerationSession = {
      key: sessionKey(deviceId, header.sessionId!), deviceId, sessionId: header.sessionId!, split, from, to, sample: session.sample, sampling: session.sampling,
      slots, last: new Map(), cache: new Map(), length: 0, nextStep: 0, lastReply: undefined, busy: false, lastUsed: this.d.now(), bytes: 0,
    };
    return { s, chunks };
  }

  /** Full tensors of a step: appends grow the session's last value of their slot. */
  private expand(s: GenerationSession, sent: readonly StepTensor[]): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const t of sent) {
      const { name } = s.slots[t.slot]!;
      if (t.mode === "full") out.set(name, t.tensor);
      else {
        const prev = s.last.get(name);
        if (prev === undefined) throw new EdgecutError("E_FRAME", `slot ${t.slot} (${name}) appends to a tensor the session never received whole`);
        out.set(name, concatAlong(prev, t.tensor, t.axis));
      }
    }
    for (const { name } of s.slots) if (!out.has(name)) throw new EdgecutError("E_FRAME", `the step does not carry ${JSON.stringify(name)}`);
    return out;
  }

  /** Runs one chunk of the session's range; samples when `step` is given and the session samples. */
  private async runChunk(s: GenerationSession, inputs: Map<string, HostTensor>, step: number | undefined): Promise<ChunkResult> {
    let computeMs = 0;
    const m = s.split.manifest;
    const run = async (i: number, feeds: TensorMap): Promise<TensorMap> => {
      const lease = await this.d.pool.acquire(poolKey(s.split.splitId, i), path.join(s.split.dir, m.segments[i]!.file));
      try {
        const t0 = performance.now();
        const out = await lease.session.run(feeds);
        computeMs += performance.now() - t0;
        return out;
      } finally {
        lease.release();
      }
    };
    const r = await runRange(m, s.from, s.to, inputs, s.cache, s.length, run);
    s.length = r.length;
    for (const [name, t] of inputs) s.last.set(name, t);
    const outputs: TensorMap = {};
    let token: { token: number; logprob: number } | undefined;
    if (step !== undefined && s.sample) {
      const logits = r.env.get(logitsOutput(m));
      if (logits === undefined || logits.type !== "float32") throw new EdgecutError("E_RUNTIME", "the model did not return float32 logits");
      const picked = sampleToken(lastRow(logits.data, logits.dims), s.sampling, step);
      token = { token: picked.token, logprob: Math.max(picked.logprob, -1e30) };
    } else if (!s.sample) {
      for (const t of m.cuts[s.to - 1]!.tensors) outputs[t.name] = r.env.get(t.name)!;
    }
    return { computeMs, outputs, token };
  }

  /** The tensors at the end of a U-shaped range, in cut order, as step reply slots. */
  private replySlots(s: GenerationSession, outputs: TensorMap): StepTensor[] {
    return s.split.manifest.cuts[s.to - 1]!.tensors.map((t, slot) => ({ slot, mode: "full" as const, axis: 0, tensor: outputs[t.name]! }));
  }

  private replyTypes(s: GenerationSession): WireType[] {
    return s.split.manifest.cuts[s.to - 1]!.tensors.map((t) => t.type as WireType);
  }

  private failed(address: ReplyAddress, e: unknown, log: Logger): void {
    const code: ErrorCode = e instanceof EdgecutError ? e.code : "E_INTERNAL";
    log.error({ code, err: e instanceof EdgecutError ? e.message : (e as Error).stack ?? String(e) }, "session request failed");
    this.d.replyError(address, code, e instanceof EdgecutError ? e.message : `unexpected error: ${String(e)}`);
  }
}

interface ChunkResult {
  computeMs: number;
  outputs: TensorMap;
  token: { token: number; logprob: number } | undefined;
}
