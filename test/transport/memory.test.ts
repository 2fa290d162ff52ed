// The in-process memory bus beyond the shared contract: outages, limits, isolation of bytes,
// and handlers that throw.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EdgecutError } from "../../sdk/errors.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { Inbox, sleep } from "../support/inbox.js";

test("while the bus is stopped, publishes wait and arrive in order after start()", async () => {
  const bus = createMemoryBus();
  const [sub, pub] = [bus.connect(), bus.connect()];
  const inbox = new Inbox();
  await sub.subscribe("o/x", inbox.handler);
  const events: string[] = [];
  sub.on("disconnected", () => events.push("down"));
  sub.on("connected", () => events.push("up"));
  bus.stop();
  let acked = false;
  const sent = Promise.all([1, 2, 3].map((i) => pub.publish("o/x", new Uint8Array([i])))).then(() => { acked = true; });
  await sleep(20);
  assert.equal(acked, false);
  assert.equal(inbox.messages.length, 0);
  bus.start();
  await sent;
  const got = await inbox.waitFor(3);
  assert.deepEqual(got.map((m) => m.payload[0]), [1, 2, 3]);
  assert.deepEqual(events, ["down", "up"]);
});

test("receivers get their own copy of the bytes; the publisher may reuse its buffer at once", async () => {
  const bus = createMemoryBus();
  const [a, b, pub] = [bus.connect(), bus.connect(), bus.connect()];
  const ia = new Inbox();
  const ib = new Inbox();
  await a.subscribe("c/x", ia.handler);
  await b.subscribe("c/x", ib.handler);
  const buf = new Uint8Array([1, 2, 3]);
  await pub.publish("c/x", buf);
  buf.fill(9);
  const [ma] = await ia.waitFor(1);
  const [mb] = await ib.waitFor(1);
  ma!.payload[0] = 7;
  assert.deepEqual([...mb!.payload], [1, 2, 3]);
});

test("maxPacketSize and protocolVersion are what the bus announces; too-large publishes are E_BROKER", async () => {
  const bus = createMemoryBus({ protocolVersion: 4, maxPacketSize: 1000 });
  const t = bus.connect();
  assert.equal(t.protocolVersion, 4);
  assert.equal(t.maxPacketSize, 1000);
  await t.publish("m/x", new Uint8Array(900));
  await assert.rejects(t.publish("m/x", new Uint8Array(1000)), (e: unknown) => e instanceof EdgecutError && e.code === "E_BROKER" && /Maximum Packet Size of 1000/.test(e.message));
});

test("a handler that throws does not stop the other handlers; its error surfaces as uncaughtException", async () => {
  const bus = createMemoryBus();
  const t = bus.connect();
  const inbox = new Inbox();
  const boom = new Error("handler bug");
  const caught: unknown[] = [];
  const onUncaught = (e: unknown): void => { caught.push(e); };
  // node:test installs its own listener; ours must be the only one that sees this error.
  const saved = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  process.on("uncaughtException", onUncaught);
  try {
    await t.subscribe("h/+", () => { throw boom; });
    await t.subscribe("h/x", inbox.handler);
    await t.publish("h/x", new Uint8Array(1));
    await inbox.waitFor(1);
    await sleep(20);
  } finally {
    process.off("uncaughtException", onUncaught);
    for (const l of saved) process.on("uncaughtException", l);
  }
  assert.deepEqual(caught, [boom]);
});

test("a closed client gets nothing more and leaves its share groups", async () => {
  const bus = createMemoryBus();
  const [a, b, pub] = [bus.connect(), bus.connect(), bus.connect()];
  const ia = new Inbox();
  const ib = new Inbox();
  await a.subscribe("$share/g/j", ia.handler);
  await b.subscribe("$share/g/j", ib.handler);
  await a.close();
  for (let i = 0; i < 4; i++) await pub.publish("j", new Uint8Array([i]));
  await ib.waitFor(4);
  assert.equal(ia.messages.length, 0);
});
