/**
 * The worker's generation sessions: per (device, session id), the KV cache of the layers the
 * worker runs and the last value of every tensor the device sends (so a step may send only what a
 * tensor grew by). Bounded three ways: a session unused for `ttlMs` is dropped (the device rebuilds
 * it by replay if it comes back), the sessions' bytes stay under `maxBytes` by evicting the least
 * recently used idle ones, and at most `maxSessions` exist. A session running a step is never
 * evicted; one that alone exceeds the cap is refused (E_SESSION_FULL).
 */
import { tensorBytes } from "../../sdk/generate/tensors.js";
import type { HostTensor } from "../../sdk/runtime/tensor.js";
import type { ServedSplit } from "../splits.js";
import type { WireSampling, WireType } from "../../sdk/wire/types.js";

/** One generation session held by the worker. */
export interface GenerationSession {
  readonly key: string;
  readonly deviceId: string;
  readonly sessionId: string;
  readonly split: ServedSplit;
  readonly from: number;
  readonly to: number;
  /** Whether the worker samples (its range ends with the model) or returns the tensors at `to`. */
  readonly sample: boolean;
  readonly sampling: WireSampling;
  /** The tensors a step may carry, by slot: the open request's tensors in order. */
  readonly slots: readonly { name: string; type: WireType }[];
  /** Last full value of each slot's tensor. */
  readonly last: Map<string, HostTensor>;
  /** The cache: past input name -> the present output of the last step. */
  readonly cache: Map<string, HostTensor>;
  /** Tokens in the cache. */
  length: number;
  /** The step the session expects next. */
  nextStep: number;
  /** The reply to the last step, resent when that step arrives again (a retry). */
  lastReply: { step: number; frame: Uint8Array } | undefined;
  /** True while a step runs (not evictable; a duplicate of it waits for its reply). */
  busy: boolean;
  lastUsed: number;
  bytes: number;
}

/** Bounds of the store. */
export interface GenerationStoreOptions {
  ttlMs: number;
  maxBytes: number;
  maxSessions: number;
  now: () => number;
}

/** Counters of the store. */
export interface GenerationStoreStats {
  sessions: number;
  bytes: number;
  opened: number;
  expired: number;
  evicted: number;
  refused: number;
}

/** The key of a session: sessions are per device (another device cannot name them). */
export function sessionKey(deviceId: string, sessionId: string): string {
  return JSON.stringify([deviceId, sessionId]);
}

/** Recomputes a session's bytes: its cache, the tensors it remembers and its cached reply. */
export function measure(s: GenerationSession): number {
  let n = s.lastReply?.frame.byteLength ?? 0;
  for (const t of s.cache.values()) n += tensorBytes(t);
  for (const t of s.last.values()) n += tensorBytes(t);
  return n;
}

/** Holds sessions within their bounds (see the module comment). */
export class GenerationStore {
  /** Insertion order is use order: a used session is moved to the end. */
  private readonly sessions = new Map<string, GenerationSession>();
  private total = 0;
  private readonly counts = { opened: 0, expired: 0, evicted: 0, refused: 0 };

  constructor(private readonly o: GenerationStoreOptions) {}

  /** The session, marked used; undefined when unknown (never opened, expired or evicted). */
  get(key: string): GenerationSession | undefined {
    const s = this.sessions.get(key);
    if (s === undefined) return undefined;
    if (!s.busy && this.o.now() - s.lastUsed > this.o.ttlMs) {
      this.drop(s, "expired");
      return undefined;
    }
    this.sessions.delete(key);
    this.sessions.set(key, s);
    s.lastUsed = this.o.now();
    return s;
  }

  /** Adds (or replaces) a session; its bytes are counted after its first run by `resize`. */
  put(s: GenerationSession): void {
    const old = this.sessions.get(s.key);
    if (old !== undefined) this.drop(old);
    this.counts.opened++;
    s.lastUsed = this.o.now();
    this.sessions.set(s.key, s);
    this.total += s.bytes;
    this.evictFor(s);
  }

  /**
   * Re-measures a session after a step and evicts idle others (least recently used first) until
   * the store is within bounds. Returns false, dropping the session itself, when it alone does
   * not fit (E_SESSION_FULL for the caller).
   */
  resize(s: GenerationSession): boolean {
    if (this.sessions.get(s.key) !== s) return true;
    const bytes = measure(s);
    this.total += bytes - s.bytes;
    s.bytes = bytes;
    if (s.bytes > this.o.maxBytes) {
      this.drop(s, "refused");
      return false;
    }
    this.evictFor(s);
    return this.sessions.get(s.key) === s;
  }

  /** Removes a session (the device closed it, or it failed). */
  delete(key: string): void {
    const s = this.sessions.get(key);
    if (s !== undefined) this.drop(s);
  }

  /** Drops sessions idle past the ttl. Call periodically. */
  sweep(): number {
    const t = this.o.now();
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (!s.busy && t - s.lastUsed > this.o.ttlMs) {
        this.drop(s, "expired");
        n++;
      }
    }
    return n;
  }

  stats(): GenerationStoreStats {
    return { sessions: this.sessions.size, bytes: this.total, ...this.counts };
  }

  /** Evicts the least recently used idle sessions other than `keep` while over a bound. */
  private evictFor(keep: GenerationSession): void {
    for (const s of [...this.sessions.values()]) {
      if (this.total <= this.o.maxBytes && this.sessions.size <= this.o.maxSessions) return;
      if (s === keep || s.busy) continue;
      this.drop(s, "evicted");
    }
    if (this.sessions.size > this.o.maxSessions || this.total > this.o.maxBytes) {
      // Every other session is busy: the newcomer does not fit now.
      if (this.sessions.get(keep.key) === keep && !keep.busy) this.drop(keep, "refused");
    }
  }

  private drop(s: GenerationSession, why?: "expired" | "evicted" | "refused"): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    this.total -= s.bytes;
    if (why !== undefined) this.counts[why]++;
  }
}
