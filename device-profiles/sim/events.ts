/**
 * The discrete-event queue of the virtual-time simulator: events run in time order, and events at
 * the same time in the order they were scheduled (so a run is deterministic).
 */

interface Entry {
  t: number;
  seq: number;
  fn: () => void;
}

/** A min-heap of timed callbacks. */
export class EventQueue {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private nowMs = 0;

  /** The virtual time of the event running now (ms). */
  get now(): number {
    return this.nowMs;
  }

  /** Schedules `fn` at virtual time `t` (not before now). */
  at(t: number, fn: () => void): void {
    this.push({ t: Math.max(t, this.nowMs), seq: this.seq++, fn });
  }

  /** Runs events in order until none is left. */
  run(): void {
    for (;;) {
      const e = this.pop();
      if (e === undefined) return;
      this.nowMs = e.t;
      e.fn();
    }
  }

  private less(a: Entry, b: Entry): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
