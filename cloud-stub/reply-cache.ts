/**
 * Recent replies by (deviceId, requestId), so a device's retry that reaches the worker after the
 * work was done is answered with the same reply instead of running the segments again. MQTT QoS 1
 * and device retries both deliver a request more than once; recomputing would cost the cloud time
 * and could answer a retry with different bytes than the original (non-deterministic kernels).
 *
 * Bounded three ways: entry count, age (on the worker's monotonic clock) and total bytes; the
 * oldest entries go first. Whole reply frames are stored, not fragments: a replay is fragmented
 * again with a fresh frameId, because the device's Reassembler ignores a frameId it has already
 * completed or given up on (docs/wire-format.md §7.2).
 */

/** Bounds of a ReplyCache. */
export interface ReplyCacheOptions {
  maxEntries: number;
  maxAgeMs: number;
  maxBytes: number;
  now: () => number;
}

interface Cached {
  frame: Uint8Array;
  at: number;
}

/** The key of a request: its device and id (a requestId is unique per device only). */
export function requestKey(deviceId: string, requestId: string): string {
  return JSON.stringify([deviceId, requestId]);
}

/** Recent reply frames by request key, oldest first. */
export class ReplyCache {
  /** Insertion order is age order: set() re-inserts. */
  private readonly entries = new Map<string, Cached>();
  private heldBytes = 0;

  constructor(private readonly opts: ReplyCacheOptions) {}

  /** The reply frame stored for `key` and still fresh, else undefined. */
  get(key: string): Uint8Array | undefined {
    this.sweep();
    return this.entries.get(key)?.frame;
  }

  /** Stores a reply frame; one larger than the byte bound is not kept. */
  set(key: string, frame: Uint8Array): void {
    this.delete(key);
    if (this.opts.maxEntries === 0 || frame.byteLength > this.opts.maxBytes) return;
    this.entries.set(key, { frame, at: this.opts.now() });
    this.heldBytes += frame.byteLength;
    this.sweep();
  }

  /** Drops entries past the age bound, then the oldest until the count and byte bounds hold. */
  sweep(): void {
    const cutoff = this.opts.now() - this.opts.maxAgeMs;
    for (const [key, c] of this.entries) {
      const over = this.entries.size > this.opts.maxEntries || this.heldBytes > this.opts.maxBytes;
      if (!over && c.at >= cutoff) break;
      this.delete(key);
    }
  }

  /** Entries held. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes of the frames held. */
  get bytes(): number {
    return this.heldBytes;
  }

  private delete(key: string): void {
    const c = this.entries.get(key);
    if (!c) return;
    this.entries.delete(key);
    this.heldBytes -= c.frame.byteLength;
  }
}
