/**
 * Segment sessions, created lazily and kept within a memory budget: when loading one more would
 * pass the budget, the least recently used idle sessions are released first.
 *
 * Memory estimate of a session: the bytes of its segment file plus the bytes of external data
 * its tensors reference (the ranges of weights.data it uses). onnxruntime holds every weight
 * once, whether it came embedded in the file or from external data, and the graph's own
 * description is small next to it; a weight shared by two segments is counted in each, because
 * each session holds its own copy. Not counted: activation buffers and onnxruntime's arenas,
 * which grow with the batch and sequence a request brings, so leave headroom under the
 * machine's memory when choosing the budget.
 *
 * A session in use is never released. When the idle ones cannot make room (one segment larger
 * than the budget, or every session busy) the pool loads anyway and logs `overBudget`: refusing
 * would make such a split unservable, and the next release trims the pool back under budget.
 */
import type { Logger } from "pino";
import { forEachNodeTensor, forEachTensor, externalRef, loadModel } from "../sdk/graph/model-io.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";

/** A loaded segment the worker can run: what it needs of OrtSession, so tests can wrap it. */
export interface SegmentSession {
  /** Runs the segment on its inputs and returns every output. */
  run(feeds: TensorMap): Promise<TensorMap>;
  /** Frees the native session. */
  release(): Promise<void>;
}

/** Loads one segment file into a session (default: OrtSession.create). */
export type SessionFactory = (file: string) => Promise<SegmentSession>;

/**
 * Estimated resident bytes of a session of `file`: the file's size plus the external data its
 * tensors reference (see the module comment). Reads and parses the file; throws E_MODEL_READ,
 * E_MODEL_PARSE or E_EXTERNAL_DATA for a file that cannot be a session.
 */
export function estimateSessionBytes(file: string): number {
  const m = loadModel(file);
  let external = 0;
  const add = (t: Parameters<typeof externalRef>[0]): void => { external += externalRef(t, m.dir)?.length ?? 0; };
  if (m.proto.graph) forEachTensor(m.proto.graph, add);
  for (const f of m.proto.functions) for (const n of f.node) forEachNodeTensor(n, add);
  return m.fileBytes + external;
}

/** A session the caller may run until it calls `release()` (once). */
export interface SessionLease {
  readonly session: SegmentSession;
  release(): void;
}

/** Counters and gauges of a pool. */
export interface SessionStats {
  /** Sessions loaded now (or loading). */
  loaded: number;
  /** Estimated bytes of those sessions. */
  bytes: number;
  /** Sessions created since start (a session released and loaded again counts twice). */
  created: number;
  /** Sessions released to make room or to get back under budget. */
  released: number;
}

interface Entry {
  readonly key: string;
  readonly file: string;
  readonly bytes: number;
  readonly ready: Promise<SegmentSession>;
  users: number;
}

/** Options of a SessionPool. */
export interface SessionPoolOptions {
  budgetBytes: number;
  factory: SessionFactory;
  log: Logger;
  /** The estimate of a file's session (default estimateSessionBytes). */
  estimate?: (file: string) => number;
}

/** Lazily created sessions within a memory budget, least recently used released first. */
export class SessionPool {
  /** Insertion order is recency order: an entry is re-inserted on every use. */
  private readonly entries = new Map<string, Entry>();
  private readonly estimates = new Map<string, number>();
  private readonly estimate: (file: string) => number;
  private bytesHeld = 0;
  private created = 0;
  private releasedCount = 0;
  /** Releases under way, awaited by close(). */
  private readonly releasing = new Set<Promise<void>>();

  constructor(private readonly opts: SessionPoolOptions) {
    this.estimate = opts.estimate ?? estimateSessionBytes;
  }

  /**
   * A session of `file` under `key` (splitId and segment index), loading it when it is not
   * loaded. Errors of the estimate or the factory propagate (E_RUNTIME from onnxruntime).
   */
  async acquire(key: string, file: string): Promise<SessionLease> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      entry = this.load(key, file);
    }
    entry.users++;
    const e = entry;
    let session: SegmentSession;
    try {
      session = await e.ready;
    } catch (err) {
      e.users--;
      throw err;
    }
    let done = false;
    return {
      session,
      release: () => {
        if (done) return;
        done = true;
        e.users--;
        if (this.bytesHeld > this.opts.budgetBytes) this.evict(0, "over budget");
      },
    };
  }

  /** Counters and gauges. */
  stats(): SessionStats {
    return { loaded: this.entries.size, bytes: this.bytesHeld, created: this.created, released: this.releasedCount };
  }

  /** Releases every session (call when nothing runs any more). */
  async close(): Promise<void> {
    for (const e of [...this.entries.values()]) this.drop(e, "shutdown");
    await Promise.all([...this.releasing]);
  }

  /** Makes room, reserves the estimate and starts loading; bookkeeping is synchronous, so concurrent acquires cannot both take the same room. */
  private load(key: string, file: string): Entry {
    let bytes = this.estimates.get(file);
    if (bytes === undefined) {
      bytes = this.estimate(file);
      this.estimates.set(file, bytes);
    }
    this.evict(bytes, "lru");
    if (this.bytesHeld + bytes > this.opts.budgetBytes) {
      this.opts.log.warn({ session: key, bytes, heldBytes: this.bytesHeld, budgetBytes: this.opts.budgetBytes, overBudget: true },
        "loading a session over the memory budget: nothing idle left to release");
    }
    const started = performance.now();
    // Sessions just evicted free their memory before this one takes it.
    const ready = Promise.all([...this.releasing]).then(() => this.opts.factory(file));
    const entry: Entry = { key, file, bytes, ready, users: 0 };
    this.entries.set(key, entry);
    this.bytesHeld += bytes;
    this.created++;
    ready.then(
      () => this.opts.log.info({ session: key, bytes, loadMs: Math.round(performance.now() - started), heldBytes: this.bytesHeld }, "session created"),
      (err: unknown) => {
        // A failed load holds nothing: forget it so the next request tries again.
        if (this.entries.get(key) === entry) {
          this.entries.delete(key);
          this.bytesHeld -= bytes;
        }
        this.opts.log.error({ session: key, err: (err as Error).message }, "session could not be created");
      },
    );
    return entry;
  }

  /** Releases idle sessions, least recently used first, until `room` more bytes fit in the budget. */
  private evict(room: number, reason: string): void {
    for (const e of [...this.entries.values()]) {
      if (this.bytesHeld + room <= this.opts.budgetBytes) return;
      if (e.users === 0) this.drop(e, reason);
    }
  }

  private drop(e: Entry, reason: string): void {
    if (this.entries.get(e.key) !== e) return;
    this.entries.delete(e.key);
    this.bytesHeld -= e.bytes;
    this.releasedCount++;
    this.opts.log.info({ session: e.key, bytes: e.bytes, reason, heldBytes: this.bytesHeld }, "session released");
    const p = e.ready
      .then((s) => s.release())
      .catch((err: unknown) => this.opts.log.warn({ session: e.key, err: (err as Error).message }, "releasing a session failed"))
      .finally(() => { this.releasing.delete(p); });
    this.releasing.add(p);
  }
}
