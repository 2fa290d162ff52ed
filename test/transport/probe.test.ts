// Shared subscriptions (MQTT 5 §4.8.2) and the probe a worker runs before relying on them:
// true where `$share/<group>/...` really shares (mosquitto 2, on MQTT 5 and, as an extension,
// on 3.1.1; the memory bus), false where it is a literal filter (aedes).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fail } from "../../sdk/errors.js";
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { probeSharedSubscription } from "../../sdk/transport/probe.js";
import { topics } from "../../sdk/transport/topics.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { brokerMatrix, type BrokerHandle } from "../support/brokers.js";
import { Inbox, sleep } from "../support/inbox.js";

const PREFIX = "probe-test";
const T = topics(PREFIX);

/**
 * Two workers in group "pool" on `splitId` and a device sending n requests: how many requests
 * each worker got (a request counted twice means both ran it).
 */
async function distribute(workers: [Transport, Transport], device: Transport, n: number, shared: boolean): Promise<[number, number]> {
  const inboxes = [new Inbox(), new Inbox()] as const;
  const filter = T.workerFilter("s1", shared ? "pool" : undefined);
  await workers[0].subscribe(filter, inboxes[0].handler);
  await workers[1].subscribe(filter, inboxes[1].handler);
  for (let i = 0; i < n; i++) await device.publish(T.requestTopic(`dev${i}`, "s1"), new Uint8Array([i]));
  const deadline = Date.now() + 3000;
  while (inboxes[0].messages.length + inboxes[1].messages.length < (shared ? n : 2 * n) && Date.now() < deadline) await sleep(10);
  await sleep(50);
  await workers[0].unsubscribe(filter);
  await workers[1].unsubscribe(filter);
  return [inboxes[0].messages.length, inboxes[1].messages.length];
}

describe("shared subscriptions on the memory bus", () => {
  test("the probe is true with shared subscriptions and false without (aedes-like)", async () => {
    const shared = createMemoryBus().connect();
    assert.equal(await probeSharedSubscription(shared, PREFIX), true);
    const literal = createMemoryBus({ sharedSubscriptions: false }).connect();
    assert.equal(await probeSharedSubscription(literal, PREFIX, { timeoutMs: 100 }), false);
  });

  test("a probe whose publish never completes (an outage at start) answers false within its timeout; a failed publish is E_BROKER", async () => {
    const inner = createMemoryBus().connect();
    const stuck: Transport = Object.assign(Object.create(Object.getPrototypeOf(inner) as object) as Transport, inner, {
      publish: () => new Promise<void>(() => undefined),
    });
    const t0 = Date.now();
    const r = await Promise.race([probeSharedSubscription(stuck, PREFIX, { timeoutMs: 100 }), sleep(2000).then(() => "hung")]);
    assert.equal(r, false);
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
    const failing: Transport = Object.assign(Object.create(Object.getPrototypeOf(inner) as object) as Transport, inner, {
      publish: () => Promise.reject(fail("E_BROKER", "publish failed: offline")),
    });
    await assert.rejects(probeSharedSubscription(failing, PREFIX, { timeoutMs: 100 }), { code: "E_BROKER" });
  });

  test("a group hands each message to one member, in turn; every group gets a copy; plain subscribers get all", async () => {
    const bus = createMemoryBus();
    const [a, b, c, plain, pub] = [bus.connect(), bus.connect(), bus.connect(), bus.connect(), bus.connect()];
    const inboxes = [new Inbox(), new Inbox(), new Inbox(), new Inbox()];
    await a.subscribe("$share/g1/jobs/+", inboxes[0]!.handler);
    await b.subscribe("$share/g1/jobs/+", inboxes[1]!.handler);
    await c.subscribe("$share/g2/jobs/+", inboxes[2]!.handler);
    await plain.subscribe("jobs/#", inboxes[3]!.handler);
    for (let i = 0; i < 10; i++) await pub.publish(`jobs/${i}`, new Uint8Array([i]));
    await inboxes[3]!.waitFor(10);
    await inboxes[2]!.waitFor(10);
    assert.deepEqual(inboxes.map((x) => x.messages.length), [5, 5, 10, 10]);
    // A member that leaves gets nothing more; the other takes everything.
    await b.close();
    for (let i = 0; i < 4; i++) await pub.publish(`jobs/${i}`, new Uint8Array([i]));
    await inboxes[0]!.waitFor(9);
    assert.equal(inboxes[1]!.messages.length, 5);
  });
});

for (const kind of brokerMatrix()) {
  describe(`shared subscriptions on ${kind.name}`, { skip: kind.skip ?? false }, () => {
    let broker: BrokerHandle;
    const clients: Transport[] = [];
    const connect = async (protocolVersion: 4 | 5 | "auto"): Promise<Transport> => {
      const t = await connectMqtt({ url: broker.url, protocolVersion });
      clients.push(t);
      return t;
    };
    before(async () => { broker = await kind.start(); });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await broker.close();
    });

    const versions: Array<4 | 5> = kind.protocolVersion === 5 ? [5, 4] : [4];
    for (const v of versions) {
      test(`MQTT ${v === 5 ? "5" : "3.1.1"}: the probe says ${kind.sharedSubscriptions}`, async () => {
        const t = await connect(v);
        assert.equal(await probeSharedSubscription(t, PREFIX, { timeoutMs: 300 }), kind.sharedSubscriptions);
      });

      test(`MQTT ${v === 5 ? "5" : "3.1.1"}: two workers on ${kind.sharedSubscriptions ? "a shared" : "a plain"} filter ${kind.sharedSubscriptions ? "split the requests" : "both run every request"}`, async () => {
        const workers: [Transport, Transport] = [await connect(v), await connect(v)];
        const device = await connect(v);
        const n = 10;
        const [x, y] = await distribute(workers, device, n, kind.sharedSubscriptions);
        if (kind.sharedSubscriptions) {
          assert.equal(x + y, n, `each request once: ${x} + ${y}`);
          assert.ok(x > 0 && y > 0, `both workers get requests: ${x}, ${y}`);
        } else {
          assert.deepEqual([x, y], [n, n]);
        }
      });
    }

    if (!kind.sharedSubscriptions) {
      test("a $share filter is a literal topic filter here: granted, but nothing published to the inner topic arrives", async () => {
        const t = await connect("auto");
        const inbox = new Inbox();
        await t.subscribe(T.workerFilter("s1", "pool"), inbox.handler);
        await t.publish(T.requestTopic("d", "s1"), new Uint8Array(1));
        await sleep(200);
        assert.equal(inbox.messages.length, 0);
      });
    }
  });
}
