/**
 * One direction of a shaped link: a FIFO whose messages are transferred one after another
 * (each for bytes * 8 / rate), then travel for the one-way delay, and are delivered in the order
 * they entered. The link shaper (shaper.ts) runs one pipe up and one down.
 */

/**
 * The clock the shaper waits on. Structurally the agent's Clock (agent/clock.ts), which sdk/
 * must not import, so `systemClock` and `FakeClock` from there can be passed as they are.
 */
export interface LinkClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls `fn` once, `ms` from now; returns a handle for clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  // Method syntax on purpose: its parameter is compared bivariantly, so a clock whose handle is a
  // branded type (the agent's TimerHandle) still fits.
  /** Cancels a timer set by this clock. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: performance.now() (monotonic) and Node's timers. */
export const systemLinkClock: LinkClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, Math.max(0, ms || 0)),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as NodeJS.Timeout),
};

/** A message in a pipe. */
export interface PipeItem {
  /** Bytes it occupies on the link. */
  readonly bytes: number;
  /** Called once, when it arrives at the far end. Must not throw. */
  deliver(): void;
}

/** What one pipe reads from the link settings when a message starts its transfer. */
export interface PipeParams {
  bitsPerSec: number;
  delayMs: number;
}

interface Slot<T extends PipeItem> {
  readonly item: T;
  /** When it entered the pipe. */
  readonly readyAt: number;
  /** When it arrives at the far end; set once its transfer is done. */
  deliverAt?: number;
}

/** Delivered totals and the current backlog of one direction. */
export interface LinkDirectionStats {
  /** Messages delivered at the far end. */
  messages: number;
  /** Bytes of those messages. */
  bytes: number;
  /** Messages not yet delivered (waiting, transferring, travelling or held). */
  queued: number;
}

/**
 * A FIFO per direction. The settings are read when a message starts transferring, so a change
 * applies to the messages that start after it. Deliveries never overtake each other, even when
 * the delay shrinks. While held (a partition) nothing moves, and a message that had not arrived
 * yet is sent again in full afterwards, as TCP resends what the far end never acknowledged.
 * One timer at a time, set for the next thing due; a timer that fires early is set again.
 */
export class LinkPipe<T extends PipeItem = PipeItem> {
  private slots: Array<Slot<T>> = [];
  /** slots[0 .. sent) have been transferred and are travelling (deliverAt set). */
  private sent = 0;
  /** The transfer of slots[sent] under way: when it ends, and the delay it travels with then. */
  private transfer: { end: number; delayMs: number } | undefined;
  /** When the link finished its last transfer: the next one cannot start earlier. */
  private busyUntil = -Infinity;
  private holding = false;
  private closed = false;
  private timer: unknown;
  private timerDue: number | undefined;
  private pumping = false;
  private again = false;
  private delivered = 0;
  private deliveredBytes = 0;

  constructor(private readonly clock: LinkClock, private readonly params: () => PipeParams) {}

  /** Adds a message at the back; it is delivered at once when the link is free and unshaped. */
  push(item: T): void {
    if (this.closed) return;
    this.slots.push({ item, readyAt: this.clock.now() });
    this.pump();
  }

  /** Starts a partition: everything not yet delivered waits, and will be sent again in full. */
  hold(): void {
    if (this.holding || this.closed) return;
    this.holding = true;
    this.transfer = undefined;
    this.sent = 0;
    for (const s of this.slots) s.deliverAt = undefined;
    this.arm();
  }

  /** Ends a partition: the held messages flow again, in order. */
  release(): void {
    if (!this.holding || this.closed) return;
    this.holding = false;
    // The resent transfers start now (readyAt of every held message is earlier).
    this.busyUntil = this.clock.now();
    this.pump();
  }

  /** Stops the pipe for good and hands back the messages it had not delivered, in order. */
  drain(): T[] {
    this.closed = true;
    const items = this.slots.map((s) => s.item);
    this.slots = [];
    this.sent = 0;
    this.transfer = undefined;
    this.arm();
    return items;
  }

  /** Messages held by a partition right now. */
  get held(): number {
    return this.holding ? this.slots.length : 0;
  }

  stats(): LinkDirectionStats {
    return { messages: this.delivered, bytes: this.deliveredBytes, queued: this.slots.length };
  }

  /** Moves every message as far as the clock allows, then sets the timer for what is due next. */
  private pump(): void {
    // A delivery may call back into this pipe (a handler that publishes, a listener that
    // partitions): such a call only asks the running loop for another round.
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        this.step();
      } while (this.again);
    } finally {
      this.pumping = false;
    }
    this.arm();
  }

  private step(): void {
    while (!this.holding && !this.closed) {
      const now = this.clock.now();
      const head = this.slots[0];
      // Only the head is ever delivered, so a message whose delay was shorter waits behind it.
      if (this.sent > 0 && head !== undefined && head.deliverAt! <= now) {
        this.slots.shift();
        this.sent--;
        this.delivered++;
        this.deliveredBytes += head.item.bytes;
        head.item.deliver();
        continue;
      }
      if (this.transfer !== undefined) {
        if (this.transfer.end > now) return;
        const slot = this.slots[this.sent]!;
        slot.deliverAt = this.transfer.end + this.transfer.delayMs;
        this.busyUntil = this.transfer.end;
        this.transfer = undefined;
        this.sent++;
        continue;
      }
      const next = this.slots[this.sent];
      if (next === undefined) return;
      const { bitsPerSec, delayMs } = this.params();
      // Start where the previous transfer ended (not when its timer happened to fire), so a
      // late timer on a real clock does not stretch the schedule.
      const start = Math.max(next.readyAt, this.busyUntil);
      this.transfer = { end: start + (next.item.bytes * 8 * 1000) / bitsPerSec, delayMs };
    }
  }

  private nextDue(): number | undefined {
    if (this.holding || this.closed) return undefined;
    const head = this.sent > 0 ? this.slots[0]?.deliverAt : undefined;
    const end = this.transfer?.end;
    if (head === undefined) return end;
    return end === undefined ? head : Math.min(head, end);
  }

  private arm(): void {
    const due = this.nextDue();
    if (due !== undefined && due === this.timerDue) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = undefined;
    if (due === undefined) return;
    this.timerDue = due;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.timerDue = undefined;
      this.pump();
    }, due - this.clock.now());
  }
}
