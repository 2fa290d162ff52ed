/**
 * Shared pieces of the fault tests (test/faults/*.test.ts): the device-side ledger that counts
 * what was delivered for each request id (exactly one result or one error each), the reply frames
 * that reached the device per request id, and the workers' computations read from their JSON log
 * lines (so recomputations can be counted and reported).
 */
import assert from "node:assert/strict";
import { peekHeader } from "../../sdk/wire/index.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { requestsDone, type WorkerProcess } from "../e2e/support.js";
import { tapTransport } from "../offload/support.js";

/** What was delivered to the caller for one request. */
interface Delivery {
  ok: number;
  errors: string[];
}

/**
 * Counts, per request id, the results and errors delivered to the caller. A request is "lost" when
 * nothing was delivered for it, "duplicated" when more than one thing was.
 */
export class Ledger {
  private readonly byId = new Map<string, Delivery>();

  /** Registers a request before it is sent (so one that never settles shows up as lost). */
  expect(id: string): void {
    assert.ok(!this.byId.has(id), `request id ${id} used twice by the test`);
    this.byId.set(id, { ok: 0, errors: [] });
  }

  /** Follows `p`, counting its settlement for `id`; never rejects. */
  track<T>(id: string, p: Promise<T>, check: (value: T) => void = () => undefined): Promise<void> {
    this.expect(id);
    return p.then((v) => { check(v); this.ok(id); }, (e: unknown) => { this.error(id, e); });
  }

  /** Counts a result delivered for `id`. */
  ok(id: string): void {
    this.entry(id).ok++;
  }

  /** Counts an error delivered for `id`; its code (or "no code") is kept. */
  error(id: string, e: unknown): void {
    const code = (e as { code?: unknown }).code;
    this.entry(id).errors.push(typeof code === "string" ? `${code}: ${(e as Error).message}` : `no code: ${String(e)}`);
  }

  /** Ids whose deliveries are not exactly one, described. */
  problems(): string[] {
    const out: string[] = [];
    for (const [id, d] of this.byId) {
      const n = d.ok + d.errors.length;
      if (n === 0) out.push(`${id}: lost (nothing delivered)`);
      else if (n > 1) out.push(`${id}: delivered ${n} times (${d.ok} results, errors ${JSON.stringify(d.errors)})`);
    }
    return out;
  }

  /** Requests that got a result, and the errors delivered by code. */
  summary(): { requests: number; ok: number; errors: Record<string, number> } {
    const errors: Record<string, number> = {};
    let ok = 0;
    for (const d of this.byId.values()) {
      ok += d.ok;
      for (const e of d.errors) {
        const code = e.slice(0, e.indexOf(":"));
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
    return { requests: this.byId.size, ok, errors };
  }

  /** Every error delivered, "id -> code: message". */
  errorList(): string[] {
    return [...this.byId].flatMap(([id, d]) => d.errors.map((e) => `${id} -> ${e}`));
  }

  /** Asserts exactly one delivery per request id. */
  assertExactlyOnce(): void {
    assert.deepEqual(this.problems(), [], "each request id gets exactly one result or one error");
  }

  private entry(id: string): Delivery {
    const d = this.byId.get(id);
    assert.ok(d !== undefined, `a delivery for ${id}, which was never sent`);
    return d;
  }
}

/** Wraps a device transport to count the reply messages that reach it, per request id. */
export function countReplies(inner: Transport): { transport: Transport; replies: Map<string, number> } {
  const replies = new Map<string, number>();
  const { transport } = tapTransport(inner, {
    keep: (_topic, payload) => {
      const id = peekHeader(payload)?.header?.requestId;
      if (typeof id === "string") replies.set(id, (replies.get(id) ?? 0) + 1);
      return true;
    },
  });
  return { transport, replies };
}

/** Reply messages beyond the first, summed over request ids (the client drops them as duplicates). */
export function extraReplies(replies: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const c of replies.values()) n += Math.max(0, c - 1);
  return n;
}

/** What the workers computed for one device (probes, which run no segment, left out). */
export interface Computations {
  /** "request done" lines in all. */
  total: number;
  /** Distinct request ids among them. */
  unique: number;
  /** total - unique: work done again for a request id already computed (by the same or another worker). */
  recomputed: number;
  /** "request done" lines per worker label. */
  byWorker: Record<string, number>;
  /** Each request id computed, with how many times. */
  perId: Map<string, number>;
}

/** Reads the workers' "request done" log lines for `deviceId` (segments from < to only). */
export function computations(workers: readonly WorkerProcess[], deviceId: string): Computations {
  const perId = new Map<string, number>();
  const byWorker: Record<string, number> = {};
  let total = 0;
  for (const w of workers) {
    const done = requestsDone(w, deviceId).filter((r) => {
      const seg = r.segments as { from: number; to: number } | undefined;
      return seg !== undefined && seg.from < seg.to;
    });
    byWorker[w.label] = done.length;
    total += done.length;
    for (const r of done) {
      const id = String(r.requestId);
      perId.set(id, (perId.get(id) ?? 0) + 1);
    }
  }
  return { total, unique: perId.size, recomputed: total - perId.size, byWorker, perId };
}

/** Sends `count` requests one every `intervalMs` (started on a timer, not awaited one by one); resolves when all are sent. */
export async function steadily(count: number, intervalMs: number, send: (i: number) => void): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = t0 + i * intervalMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    send(i);
  }
}
