/**
 * Time for the device agent, injected everywhere the agent waits or measures: the monitor's sampling
 * loop, request timeouts, re-planning intervals. Production code gets {@link systemClock}; tests get a
 * {@link FakeClock} and move time by hand, so a test of "re-plan after 30 s of high load" runs in
 * microseconds and never flakes on a slow CI machine.
 */
import { fail } from "../sdk/errors.js";

declare const timerBrand: unique symbol;
/** An opaque timer handle; only the clock that returned it can clear it. */
export type TimerHandle = { readonly [timerBrand]: true };

/** A source of monotonic time and one-shot timers. */
export interface Clock {
  /** Monotonic milliseconds (never jumps with NTP or the wall clock); only differences are meaningful. */
  now(): number;
  /** Calls `fn` once, `ms` milliseconds from now (negative or NaN counts as 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a pending timer; a timer that already fired or was cleared is ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` (monotonic, unlike `Date.now()`) and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, Math.max(0, ms || 0)) as unknown as TimerHandle,
  clearTimeout: (handle) => globalThis.clearTimeout(handle as unknown as NodeJS.Timeout),
};

/** One pending timer of a FakeClock. */
interface FakeTimer {
  readonly id: number;
  readonly dueMs: number;
  readonly fn: () => void;
}

/**
 * A clock that stands still until a test calls {@link FakeClock.advance}. Timers fire in order of due
 * time, and timers due at the same time fire in the order they were set (as Node's do). A timer set
 * by a firing callback fires within the same `advance` when it falls inside the advanced span.
 */
export class FakeClock implements Clock {
  private nowMs: number;
  private nextId = 1;
  /** Pending timers; a small array is enough for the handful a test schedules. */
  private timers: FakeTimer[] = [];

  /** @param startMs the initial reading of `now()` (default 0). */
  constructor(startMs = 0) {
    if (!Number.isFinite(startMs)) throw fail("E_USAGE", `FakeClock: startMs must be a finite number, got ${startMs}`);
    this.nowMs = startMs;
  }

  /** The fake time in milliseconds. */
  now(): number {
    return this.nowMs;
  }

  /** Schedules `fn` at `now() + ms` (negative or NaN counts as 0, like Node's timers). */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.push({ id, dueMs: this.nowMs + Math.max(0, ms || 0), fn });
    return id as unknown as TimerHandle;
  }

  /** Cancels a pending timer; unknown or already fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void {
    const id = handle as unknown as number;
    this.timers = this.timers.filter((t) => t.id !== id);
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.timers.length;
  }

  /** Due time of the earliest pending timer, or undefined when none is pending. */
  nextDueMs(): number | undefined {
    return this.earliest()?.dueMs;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, each with `now()` set
   * to its due time. An exception from a callback propagates; the timer is removed first and the
   * clock stays at that timer's due time, so the test sees where it stopped.
   */
  advance(ms: number): void {
    const target = this.targetOf(ms);
    for (let t = this.earliest(); t !== undefined && t.dueMs <= target; t = this.earliest()) this.fire(t);
    this.nowMs = target;
  }

  /**
   * Like {@link advance}, but lets pending promise callbacks and I/O run (one `setImmediate` turn)
   * after each timer fires and before the next one is looked for. Use it for code that awaits between
   * timers: a sampling loop that awaits `sample()` and only then sets its next timer.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.targetOf(ms);
    await flush();
    for (let t = this.earliest(); t !== undefined && t.dueMs <= target; t = this.earliest()) {
      this.fire(t);
      await flush();
    }
    this.nowMs = target;
  }

  private targetOf(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw fail("E_USAGE", `FakeClock.advance: ms must be a finite number >= 0, got ${ms}`);
    return this.nowMs + ms;
  }

  /** The timer to fire next: earliest due, then earliest set (ids grow with every setTimeout). */
  private earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) if (best === undefined || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.id < best.id)) best = t;
    return best;
  }

  private fire(t: FakeTimer): void {
    this.timers = this.timers.filter((x) => x !== t);
    this.nowMs = t.dueMs;
    t.fn();
  }
}

/** One turn of the real event loop: promise jobs queued so far run before it resolves. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
