// The link shaper on fake time over the memory bus: transfer time = bytes * 8 / rate + delay,
// FIFO per direction, order kept, setLink mid-stream, partitions that hold and release, the
// connection events, close(), validation; and one short smoke test on the real clock.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { FakeClock, systemClock } from "../../agent/clock.js";
import { EdgecutError } from "../../sdk/errors.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { shapeTransport, type LinkSettings, type ShapeOptions } from "../../sdk/transport/shaper.js";
import type { MessageHandler } from "../../sdk/transport/transport.js";
import { Inbox } from "../support/inbox.js";

/** A few turns of the event loop: lets the memory bus route what the shaper handed it. */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Moves fake time to `t` one due timer at a time, letting the bus deliver after each, so every
 * arrival is recorded at the fake time it happened.
 */
async function runTo(clock: FakeClock, t: number): Promise<void> {
  await settle();
  for (let due = clock.nextDueMs(); due !== undefined && due <= t; due = clock.nextDueMs()) {
    clock.advance(due - clock.now());
    await settle();
  }
  clock.advance(t - clock.now());
  await settle();
}

/** A payload of n bytes whose first byte is its tag. */
function msg(tag: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b[0] = tag;
  return b;
}

interface Arrival { tag: number; at: number }

/** A handler that records each message's tag and the fake time it arrived. */
function recorder(clock: FakeClock): { got: Arrival[]; handler: MessageHandler } {
  const got: Arrival[] = [];
  return { got, handler: (_topic, p) => got.push({ tag: p[0]!, at: clock.now() }) };
}

/** A device on a shaped link and an unshaped cloud peer, recording what reaches each. */
async function rig(link: Partial<LinkSettings>, opts: ShapeOptions = {}) {
  const clock = new FakeClock();
  const bus = createMemoryBus();
  const device = shapeTransport(bus.connect(), link, { clock, ...opts });
  const cloud = bus.connect();
  const atCloud = recorder(clock);
  const atDevice = recorder(clock);
  await cloud.subscribe("up/#", atCloud.handler);
  await device.subscribe("down/#", atDevice.handler);
  return { clock, bus, device, cloud, up: atCloud.got, down: atDevice.got };
}

/** Tracks whether a promise settled, and keeps its rejection handled. */
function track(p: Promise<void>): { settled: () => boolean; p: Promise<void> } {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  return { settled: () => done, p };
}

function usage(field: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && e.message.includes(field);
}

describe("link shaper on fake time", () => {
  test("a message takes bytes * 8 / rate + delay, to the millisecond, each direction at its own rate", async () => {
    const r = await rig({ upBitsPerSec: 8000, downBitsPerSec: 16_000, delayMs: 40 });
    const sent = track(r.device.publish("up/a", msg(1, 1000)));
    await r.cloud.publish("down/a", msg(2, 1000));
    await runTo(r.clock, 539);
    assert.deepEqual(r.down, []);
    await runTo(r.clock, 540);
    assert.deepEqual(r.down, [{ tag: 2, at: 540 }]); // 1000 B * 8 / 16 kbit/s = 500 ms, + 40
    await runTo(r.clock, 1039);
    assert.deepEqual(r.up, []);
    assert.equal(sent.settled(), false, "publish resolves only once the message crossed the link");
    await runTo(r.clock, 1040);
    assert.deepEqual(r.up, [{ tag: 1, at: 1040 }]); // 1000 B * 8 / 8 kbit/s = 1000 ms, + 40
    await sent.p;
    const s = r.device.stats();
    assert.deepEqual(s.up, { messages: 1, bytes: 1000, queued: 0 });
    assert.deepEqual(s.down, { messages: 1, bytes: 1000, queued: 0 });
    assert.equal(r.clock.pending, 0, "no timer left behind");
  });

  test("messages in one direction are serialised FIFO; the other direction does not wait for them", async () => {
    const r = await rig({ upBitsPerSec: 8000, downBitsPerSec: 8000, delayMs: 10 });
    const sent = [[1, 1000], [2, 500], [3, 2000]].map(([tag, n]) => r.device.publish("up/f", msg(tag!, n!)));
    await r.cloud.publish("down/f", msg(9, 1000));
    await runTo(r.clock, 5000);
    await Promise.all(sent);
    assert.deepEqual(r.up, [{ tag: 1, at: 1010 }, { tag: 2, at: 1510 }, { tag: 3, at: 3510 }]);
    assert.deepEqual(r.down, [{ tag: 9, at: 1010 }]);
    // On an idle link a transfer starts when its message is published.
    const late = r.device.publish("up/f", msg(4, 100));
    await runTo(r.clock, 6000);
    await late;
    assert.deepEqual(r.up.at(-1), { tag: 4, at: 5110 });
    assert.deepEqual(r.device.stats().up, { messages: 4, bytes: 3600, queued: 0 });
  });

  test("any sequence of publishes arrives in order at max(publish, previous end) + transfer + delay", async () => {
    const step = fc.record({ gap: fc.integer({ min: 0, max: 1500 }), bytes: fc.integer({ min: 1, max: 1500 }) });
    await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 60 }), async (steps, delayMs) => {
      const r = await rig({ upBitsPerSec: 8000, delayMs }); // 8 kbit/s: a byte takes 1 ms
      const expected: Arrival[] = [];
      const sent: Array<Promise<void>> = [];
      let t = 0;
      let end = 0;
      for (const [i, s] of steps.entries()) {
        t += s.gap;
        await runTo(r.clock, t);
        sent.push(r.device.publish("up/p", msg(i, s.bytes)));
        end = Math.max(t, end) + s.bytes;
        expected.push({ tag: i, at: end + delayMs });
      }
      await runTo(r.clock, end + delayMs);
      await Promise.all(sent);
      assert.deepEqual(r.up, expected);
    }), { numRuns: 25 });
  });

  test("a shrinking delay never lets a later message overtake an earlier one", async () => {
    const r = await rig({ delayMs: 100 });
    const a = r.device.publish("up/o", msg(1, 10));
    await runTo(r.clock, 50);
    r.device.setLink({ delayMs: 0 });
    const b = r.device.publish("up/o", msg(2, 10));
    await runTo(r.clock, 150);
    const c = r.device.publish("up/o", msg(3, 10));
    await runTo(r.clock, 150);
    await Promise.all([a, b, c]);
    assert.deepEqual(r.up, [{ tag: 1, at: 100 }, { tag: 2, at: 100 }, { tag: 3, at: 150 }]);
  });

  test("setLink mid-stream applies to messages that start transferring after it", async () => {
    const r = await rig({ upBitsPerSec: 8000, delayMs: 0 });
    const sent = [1, 2].map((tag) => r.device.publish("up/s", msg(tag, 1000)));
    await runTo(r.clock, 500); // message 1 is half-way through its transfer
    r.device.setLink({ upBitsPerSec: 16_000, delayMs: 20 });
    assert.deepEqual(r.device.link, { upBitsPerSec: 16_000, downBitsPerSec: Infinity, delayMs: 20, partitioned: false });
    await runTo(r.clock, 3000);
    await Promise.all(sent);
    // 1 keeps the old rate and delay; 2 starts at 1000 at the new rate: 500 ms, then 20 ms.
    assert.deepEqual(r.up, [{ tag: 1, at: 1000 }, { tag: 2, at: 1520 }]);
  });

  test("a partition holds both directions and releases them in order, nothing lost or duplicated", async () => {
    const r = await rig({ upBitsPerSec: 8000, downBitsPerSec: 16_000, delayMs: 10 });
    const a = track(r.device.publish("up/p", msg(1, 1000)));
    const b = track(r.device.publish("up/p", msg(2, 1000)));
    await runTo(r.clock, 1005); // 1 is on its way (due 1010), 2 is transferring
    r.device.setLink({ partitioned: true });
    await runTo(r.clock, 1100);
    const c = track(r.device.publish("up/p", msg(3, 500)));
    await r.cloud.publish("down/p", msg(4, 1000));
    await r.cloud.publish("down/p", msg(5, 1000));
    await runTo(r.clock, 5000);
    assert.deepEqual([r.up, r.down], [[], []]);
    assert.deepEqual([a.settled(), b.settled(), c.settled()], [false, false, false]);
    assert.equal(r.device.stats().held, 5);
    assert.equal(r.clock.pending, 0, "nothing ticks during a partition");
    r.device.setLink({ partitioned: false });
    await runTo(r.clock, 10_000);
    await Promise.all([a.p, b.p, c.p]);
    // What had not arrived is sent again in full from the end of the partition.
    assert.deepEqual(r.up, [{ tag: 1, at: 6010 }, { tag: 2, at: 7010 }, { tag: 3, at: 7510 }]);
    assert.deepEqual(r.down, [{ tag: 4, at: 5510 }, { tag: 5, at: 6010 }]);
    const s = r.device.stats();
    assert.deepEqual([s.up.messages, s.down.messages, s.held, s.dropped], [3, 2, 0, 0]);
  });

  test("subscribe and unsubscribe wait out a partition", async () => {
    const r = await rig({});
    r.device.setLink({ partitioned: true });
    const inbox = new Inbox();
    const sub = track(r.device.subscribe("down/late", inbox.handler));
    const unsub = track(r.device.unsubscribe("down/#"));
    await runTo(r.clock, 1000);
    assert.deepEqual([sub.settled(), unsub.settled()], [false, false]);
    r.device.setLink({ partitioned: false });
    await Promise.all([sub.p, unsub.p]);
    await r.cloud.publish("down/late", msg(1, 1));
    await r.cloud.publish("down/x", msg(2, 1));
    await inbox.waitFor(1);
    await runTo(r.clock, 1000);
    assert.deepEqual(r.down, [], "down/# was unsubscribed");
  });

  test("a message arriving after its filter was unsubscribed is dropped, not delivered", async () => {
    const r = await rig({ delayMs: 100 });
    await r.cloud.publish("down/u", msg(1, 1));
    await runTo(r.clock, 50);
    await r.device.unsubscribe("down/#");
    await runTo(r.clock, 200);
    assert.deepEqual(r.down, []);
    assert.equal(r.device.stats().dropped, 1);
  });

  test("emitConnectionEvents: disconnected when a partition starts, connected when it ends, once each", async () => {
    const r = await rig({}, { emitConnectionEvents: true });
    const events: string[] = [];
    r.device.on("disconnected", () => events.push("disconnected"));
    r.device.on("connected", () => events.push("connected"));
    r.device.setLink({ partitioned: true });
    r.device.setLink({ partitioned: true, delayMs: 5 });
    await r.bus.restart(); // the inner connection bounces during the partition: still one outage
    await settle();
    assert.deepEqual(events, ["disconnected"]);
    r.device.setLink({ partitioned: false });
    assert.deepEqual(events, ["disconnected", "connected"]);
  });

  test("by default a partition is silent, but the inner transport's own events still come through", async () => {
    const r = await rig({});
    const events: string[] = [];
    r.device.on("disconnected", () => events.push("disconnected"));
    r.device.on("connected", () => events.push("connected"));
    r.device.setLink({ partitioned: true });
    r.device.setLink({ partitioned: false });
    assert.deepEqual(events, []);
    await r.bus.restart();
    await settle();
    assert.deepEqual(events, ["disconnected", "connected"]);
  });

  test("close() rejects held and queued publishes with E_BROKER and closes the inner transport", async () => {
    const r = await rig({ upBitsPerSec: 8000 });
    const queued = r.device.publish("up/c", msg(1, 1000)); // transferring when close() comes
    r.device.setLink({ partitioned: true });
    const held = [2, 3].map((tag) => r.device.publish("up/c", msg(tag, 10)));
    const sub = r.device.subscribe("down/other", () => undefined);
    await r.cloud.publish("down/c", msg(4, 10));
    await runTo(r.clock, 100);
    await r.device.close();
    const broker = (e: unknown) => e instanceof EdgecutError && e.code === "E_BROKER";
    for (const p of [queued, ...held, sub]) await assert.rejects(p, broker);
    assert.equal(r.device.stats().dropped, 4); // three publishes and the incoming message
    assert.equal(r.clock.pending, 0);
    await assert.rejects(r.device.publish("up/c", msg(5, 1)), broker);
    // The inner transport is closed: nothing reaches the device any more.
    r.device.setLink({ partitioned: false });
    await r.cloud.publish("down/c", msg(6, 1));
    await runTo(r.clock, 1000);
    assert.deepEqual([r.up, r.down], [[], []]);
  });

  test("bad settings fail with E_USAGE naming the field, and change nothing", () => {
    const bus = createMemoryBus();
    const bad: Array<[Partial<LinkSettings>, string]> = [
      [{ upBitsPerSec: 0 }, "upBitsPerSec"],
      [{ upBitsPerSec: -1 }, "upBitsPerSec"],
      [{ downBitsPerSec: NaN }, "downBitsPerSec"],
      [{ delayMs: -1 }, "delayMs"],
      [{ delayMs: NaN }, "delayMs"],
      [{ delayMs: Infinity }, "delayMs"],
      [{ partitioned: "yes" as unknown as boolean }, "partitioned"],
      [{ delay: 5 } as unknown as Partial<LinkSettings>, "\"delay\""],
    ];
    for (const [settings, field] of bad) {
      const inner = bus.connect();
      assert.throws(() => shapeTransport(inner, settings), usage(field), JSON.stringify(settings));
    }
    const t = shapeTransport(bus.connect(), { upBitsPerSec: Infinity, downBitsPerSec: 1e6, delayMs: 0 });
    for (const [settings, field] of bad) assert.throws(() => t.setLink(settings), usage(field), JSON.stringify(settings));
    assert.deepEqual(t.link, { upBitsPerSec: Infinity, downBitsPerSec: 1e6, delayMs: 0, partitioned: false });
  });

  test("invalid topics and oversized messages are refused at once, not after the link delay", async () => {
    const bus = createMemoryBus({ maxPacketSize: 100 });
    const clock = new FakeClock();
    const t = shapeTransport(bus.connect(), { delayMs: 1000, partitioned: true }, { clock });
    await assert.rejects(t.publish("a/+", msg(1, 1)), usage("not a valid MQTT topic"));
    await assert.rejects(t.publish("a/b", msg(1, 200)), (e: unknown) => e instanceof EdgecutError && e.code === "E_BROKER");
    await assert.rejects(t.subscribe("a/#/b", () => undefined), usage("not a valid MQTT topic filter"));
    assert.equal(t.stats().held, 0);
  });
});

test("real clock smoke: a round trip through the shaped link takes at least two one-way delays", async () => {
  const bus = createMemoryBus();
  // The agent's systemClock fits the shaper's clock type as it is.
  const t = shapeTransport(bus.connect(), { delayMs: 2, upBitsPerSec: 1e9 }, { clock: systemClock });
  try {
    const inbox = new Inbox();
    await t.subscribe("smoke/x", inbox.handler);
    const start = performance.now();
    await t.publish("smoke/x", msg(1, 1000));
    const acked = performance.now() - start;
    await inbox.waitFor(1);
    const rtt = performance.now() - start;
    assert.ok(acked >= 2, `publish resolved after ${acked} ms, before the 2 ms one-way delay`);
    assert.ok(rtt >= 4, `round trip took ${rtt} ms, less than 2 * 2 ms`);
  } finally {
    await t.close();
  }
});
