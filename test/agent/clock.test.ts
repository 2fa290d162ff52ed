import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock, systemClock } from "../../agent/clock.js";
import { EdgecutError } from "../../sdk/errors.js";

test("FakeClock fires timers in due order, ties in the order they were set, each at its due time", () => {
  const c = new FakeClock(1000);
  const fired: string[] = [];
  c.setTimeout(() => fired.push(`c@${c.now()}`), 30);
  c.setTimeout(() => fired.push(`a@${c.now()}`), 10);
  c.setTimeout(() => fired.push(`b1@${c.now()}`), 20);
  c.setTimeout(() => fired.push(`b2@${c.now()}`), 20);
  c.advance(19);
  assert.deepEqual(fired, ["a@1010"]);
  assert.equal(c.now(), 1019);
  c.advance(11);
  assert.deepEqual(fired, ["a@1010", "b1@1020", "b2@1020", "c@1030"]);
  assert.equal(c.now(), 1030);
  assert.equal(c.pending, 0);
});

test("FakeClock: a timer set by a callback fires within the same advance when due inside it", () => {
  const c = new FakeClock();
  const at: number[] = [];
  const tick = (): void => {
    at.push(c.now());
    c.setTimeout(tick, 100);
  };
  c.setTimeout(tick, 100);
  c.advance(350);
  assert.deepEqual(at, [100, 200, 300]);
  assert.equal(c.nextDueMs(), 400);
});

test("FakeClock: cleared timers never fire; negative delays count as 0; bad advance is refused", () => {
  const c = new FakeClock();
  let n = 0;
  const h = c.setTimeout(() => n++, 5);
  c.clearTimeout(h);
  c.clearTimeout(h); // twice is harmless
  c.setTimeout(() => (n += 10), -50);
  c.advance(0);
  assert.equal(n, 10);
  c.advance(10);
  assert.equal(n, 10);
  assert.throws(() => c.advance(-1), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE");
  assert.throws(() => c.advance(Number.NaN), EdgecutError);
});

test("FakeClock: an exception from a callback propagates and leaves the clock at that timer", () => {
  const c = new FakeClock();
  let later = false;
  c.setTimeout(() => {
    throw new Error("boom");
  }, 10);
  c.setTimeout(() => (later = true), 20);
  assert.throws(() => c.advance(100), /boom/);
  assert.equal(c.now(), 10);
  assert.equal(later, false);
  c.advance(90);
  assert.equal(later, true);
});

test("FakeClock.advanceAsync lets a loop that awaits between timers keep going", async () => {
  const c = new FakeClock();
  const at: number[] = [];
  const loop = async (): Promise<void> => {
    await Promise.resolve(); // like awaiting a sampler
    at.push(c.now());
    c.setTimeout(() => void loop(), 1000);
  };
  c.setTimeout(() => void loop(), 1000);
  await c.advanceAsync(3500);
  assert.deepEqual(at, [1000, 2000, 3000]);
  // The synchronous advance cannot: the next timer is set only after the microtask runs.
  const d = new FakeClock();
  const seen: number[] = [];
  const loop2 = async (): Promise<void> => {
    await Promise.resolve();
    seen.push(d.now());
    d.setTimeout(() => void loop2(), 1000);
  };
  d.setTimeout(() => void loop2(), 1000);
  d.advance(3500);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [3500]);
});

test("systemClock is monotonic and its timers fire and clear", async () => {
  const t0 = systemClock.now();
  let cleared = false;
  const h = systemClock.setTimeout(() => (cleared = true), 5);
  systemClock.clearTimeout(h);
  await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 20));
  assert.ok(systemClock.now() - t0 >= 15, "20 ms timer fired early");
  assert.equal(cleared, false);
});
