// The CLI progress bar: drawn on a terminal only, throttled, cleared at the end.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createProgress, type ProgressStream } from "../../sdk/cli/progress.js";

function stream(isTTY: boolean): ProgressStream & { out: string[] } {
  const out: string[] = [];
  return { isTTY, columns: 80, out, write: (s: string) => { out.push(s); return true; } };
}

describe("progress bar", () => {
  test("nothing at all when the stream is not a terminal", () => {
    const s = stream(false);
    const bar = createProgress(10, "work", { stream: s });
    for (let i = 0; i < 10; i++) bar.tick();
    bar.done();
    assert.deepEqual(s.out, []);
  });

  test("on a terminal: redraws in place at most every interval, always the last step, then clears", () => {
    const s = stream(true);
    let now = 0;
    const bar = createProgress(4, "work", { stream: s, now: () => now, minIntervalMs: 100 });
    bar.tick();
    now = 50;
    bar.tick();
    now = 60;
    bar.tick();
    now = 70;
    bar.tick();
    assert.equal(s.out.length, 2, "the first step, then the last (throttled between)");
    assert.match(s.out[0]!, /^\rwork \[#+-+\] 1\/4$/);
    assert.match(s.out[1]!, /^\rwork \[#+\] 4\/4$/);
    bar.done();
    assert.equal(s.out[2], "\r\x1b[2K");
  });

  test("no bar for an empty run", () => {
    const s = stream(true);
    const bar = createProgress(0, "work", { stream: s });
    bar.tick();
    bar.done();
    assert.deepEqual(s.out, []);
  });
});
