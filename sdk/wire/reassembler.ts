/**
 * Reassembler: collects fragment messages into whole frames (docs/wire-format.md §7.2), bounded
 * in memory (bytes in flight, partial frames pending) and time (a monotonic deadline per frame).
 * Messages that are not fragments pass straight through, so a receiver can push everything.
 */
import { performance } from "node:perf_hooks";
import { fail } from "../errors.js";
import { fragmentPayloadBytes } from "./fragment.js";
import { parseHeaderJson, rawPrefix } from "./prefix.js";
import { parseFragmentHeader } from "./schema.js";
import { MAX_FRAGMENT_HEADER_BYTES, PROTOCOL_VERSION, type FragmentHeader } from "./types.js";

/** Options of a Reassembler. */
export interface ReassemblerOptions {
  /** Most bytes of partial frames held at once (each frame reserves its totalBytes on its first fragment). */
  maxBytes: number;
  /** A frame's fragments must all arrive within this many ms of its first one. */
  timeoutMs: number;
  /** Most partial frames at once (default 64). */
  maxPending?: number;
  /** Monotonic clock in ms (default performance.now): devices have no real-time clock. */
  now?: () => number;
}

/** A partial frame dropped because its fragments did not all arrive in time. */
export interface ExpiredFrame {
  requestId: string;
  deviceId: string;
  received: number;
  count: number;
}

interface PartialFrame {
  header: FragmentHeader;
  buffer: Uint8Array;
  got: Uint8Array;
  received: number;
  started: number;
  reserved: number;
}

/** Finished (completed or expired) frames remembered so late duplicates are dropped, not restarted; and expiries kept until swept. */
const MAX_REMEMBERED = 4096;

/**
 * Collects fragments; `push` returns the whole frame when its last fragment arrives. Duplicates
 * (QoS 1 redelivery) are ignored, order does not matter. Errors are E_FRAGMENT: an inconsistent
 * or oversized fragment, more than `maxBytes` in flight, more than `maxPending` frames.
 */
export class Reassembler {
  private readonly maxBytes: number;
  private timeoutMs: number;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly pending = new Map<string, PartialFrame>();
  /** Keys of frames completed or expired, with when to forget them. */
  private readonly finished = new Map<string, number>();
  private expired: ExpiredFrame[] = [];
  private inFlight = 0;

  constructor(opts: ReassemblerOptions) {
    const positive = (v: unknown, what: string): number => {
      if (typeof v !== "number" || !(v > 0)) throw fail("E_USAGE", `Reassembler ${what} is ${String(v)}; it must be a positive number`);
      return v;
    };
    this.maxBytes = positive(opts.maxBytes, "maxBytes");
    this.timeoutMs = positive(opts.timeoutMs, "timeoutMs");
    this.maxPending = positive(opts.maxPending ?? 64, "maxPending");
    this.now = opts.now ?? (() => performance.now());
  }

  /** Bytes currently reserved by partial frames. */
  get bytesInFlight(): number {
    return this.inFlight;
  }

  /** The current time bound of a frame, in ms. */
  get frameTimeoutMs(): number {
    return this.timeoutMs;
  }

  /**
   * Raises the time bound to `ms` when it is larger (never lowers it, so deadlines stay in the
   * order they were set); frames pending already get the new bound too. E_USAGE unless positive.
   */
  extendTimeout(ms: number): void {
    if (typeof ms !== "number" || !(ms > 0)) throw fail("E_USAGE", `Reassembler timeoutMs is ${String(ms)}; it must be a positive number`);
    if (ms > this.timeoutMs) this.timeoutMs = ms;
  }

  /** Partial frames currently held. */
  get pendingFrames(): number {
    return this.pending.size;
  }

  /**
   * Takes one transport message. Returns it unchanged when it is not a fragment of this
   * protocol version (decodeFrame then reports what it is), the whole frame when this fragment
   * completes one, else undefined.
   */
  push(message: Uint8Array): Uint8Array | undefined {
    const h = fragmentHeaderOf(message);
    if (!h) return message;
    const { header, payload } = h;
    this.expire();
    const want = fragmentPayloadBytes(header);
    if (want === undefined) {
      throw fail("E_FRAGMENT", `fragment header of request "${header.requestId}" is inconsistent: ${header.fragment.count} fragments cannot carry ${header.totalBytes} bytes in chunks of ${header.chunkBytes}`);
    }
    if (payload.length !== want) {
      throw fail("E_FRAGMENT", `fragment ${header.fragment.index} of request "${header.requestId}" carries ${payload.length} bytes; its header says ${want}`);
    }
    const key = JSON.stringify([header.deviceId, header.requestId, header.frameId]);
    if (this.finished.has(key)) return undefined; // a late duplicate of a frame already delivered or given up
    let p = this.pending.get(key);
    if (!p) p = this.start(key, header);
    else if (p.header.totalBytes !== header.totalBytes || p.header.chunkBytes !== header.chunkBytes || p.header.fragment.count !== header.fragment.count) {
      throw fail("E_FRAGMENT", `fragment ${header.fragment.index} of request "${header.requestId}" disagrees with the earlier ones on the frame's size or fragment count`);
    }
    const i = header.fragment.index;
    if (p.got[i]) return undefined; // duplicate
    p.buffer.set(payload, i * header.chunkBytes);
    p.got[i] = 1;
    p.received++;
    if (p.received < header.fragment.count) return undefined;
    this.drop(key, p);
    return p.buffer;
  }

  /** Drops partial frames whose time ran out and returns their request ids (including any dropped during push since the last sweep). */
  sweep(): string[] {
    return this.sweepFrames().map((f) => f.requestId);
  }

  /** Like sweep, with each dropped frame's device id and how many of its fragments arrived. */
  sweepFrames(): ExpiredFrame[] {
    this.expire();
    const out = this.expired;
    this.expired = [];
    return out;
  }

  private start(key: string, h: FragmentHeader): PartialFrame {
    // The reassembled frame and the arrival bitmap are reserved up front, so what a sender's
    // headers claim is bounded before anything is allocated.
    const reserved = h.totalBytes + h.fragment.count;
    if (reserved > this.maxBytes) {
      throw fail("E_FRAGMENT", `request "${h.requestId}" announces a ${h.totalBytes}-byte frame in ${h.fragment.count} fragments, over this receiver's limit of ${this.maxBytes} bytes`);
    }
    if (this.inFlight + reserved > this.maxBytes) {
      throw fail("E_FRAGMENT", `request "${h.requestId}": ${this.inFlight} bytes of other frames are in flight; its ${h.totalBytes} more would pass the limit of ${this.maxBytes}. Retry later`);
    }
    if (this.pending.size >= this.maxPending) {
      throw fail("E_FRAGMENT", `request "${h.requestId}": ${this.pending.size} partial frames are pending already (the limit). Retry later`);
    }
    const p: PartialFrame = { header: h, buffer: new Uint8Array(h.totalBytes), got: new Uint8Array(h.fragment.count), received: 0, started: this.now(), reserved };
    this.pending.set(key, p);
    this.inFlight += reserved;
    return p;
  }

  private drop(key: string, p: PartialFrame): void {
    this.pending.delete(key);
    this.inFlight -= p.reserved;
    this.finished.set(key, this.now() + this.timeoutMs);
    if (this.finished.size > MAX_REMEMBERED) this.finished.delete(this.finished.keys().next().value!);
  }

  /** Drops partial frames older than timeoutMs (strictly) and forgets finished frames whose grace period is over. */
  private expire(): void {
    const t = this.now();
    for (const [key, p] of this.pending) {
      if (t - p.started <= this.timeoutMs) continue;
      this.drop(key, p);
      this.expired.push({ requestId: p.header.requestId, deviceId: p.header.deviceId, received: p.received, count: p.header.fragment.count });
      if (this.expired.length > MAX_REMEMBERED) this.expired.shift();
    }
    for (const [key, until] of this.finished) {
      if (until > t) break; // insertion order is deadline order: timeoutMs never shrinks, monotonic clock
      this.finished.delete(key);
    }
  }
}

/** The fragment header and payload when `message` is a fragment of our version, else undefined. E_FRAGMENT for a bad fragment header. */
function fragmentHeaderOf(message: Uint8Array): { header: FragmentHeader; payload: Uint8Array } | undefined {
  if (!(message instanceof Uint8Array)) return undefined;
  const p = rawPrefix(message);
  // Fragment headers are small (§7.1): a larger header marks a frame, which is not parsed twice.
  if (!p || p.version !== PROTOCOL_VERSION || p.headerLength > MAX_FRAGMENT_HEADER_BYTES || p.headerStart + p.headerLength > message.length) return undefined;
  let value: unknown;
  try {
    value = parseHeaderJson(message, p);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || (value as { kind?: unknown }).kind !== "fragment") return undefined;
  return { header: parseFragmentHeader(value), payload: message.subarray(p.headerStart + p.headerLength) };
}
