/**
 * The one test suite every Transport implementation must pass (as MQTT.js runs one suite
 * against each of its stores): the memory bus, mqtt.js on aedes, mqtt.js on mosquitto.
 * A harness gives fresh clients on one broker and can restart that broker.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { EdgecutError } from "../../sdk/errors.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { Inbox, nextEvent, sleep } from "./inbox.js";

/** One broker (or bus) under test. */
export interface ContractHarness {
  /** A new, connected client. */
  connect(): Promise<Transport>;
  /** Drops every connection and brings the broker back on the same address. */
  restart(): Promise<void>;
  /** Stops the broker. */
  close(): Promise<void>;
}

/** What the suite expects of this implementation. */
export interface ContractExpectations {
  /** Protocol version a default ("auto") client ends up with. */
  protocolVersion: 4 | 5;
}

function topicBase(): string {
  return `contract/${randomBytes(4).toString("hex")}`;
}

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

/** Registers the contract suite for one implementation. */
export function transportContract(name: string, start: () => Promise<ContractHarness>, expect: ContractExpectations, skip?: string): void {
  describe(`Transport contract: ${name}`, { skip: skip ?? false }, () => {
    let h: ContractHarness;
    const clients: Transport[] = [];
    const client = async (): Promise<Transport> => {
      const t = await h.connect();
      clients.push(t);
      return t;
    };

    before(async () => { h = await start(); });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await h?.close();
    });

    test("publish reaches a subscriber on another client, topic and payload intact", async () => {
      const [sub, pub] = [await client(), await client()];
      const base = topicBase();
      const inbox = new Inbox();
      await sub.subscribe(`${base}/a`, inbox.handler);
      await pub.publish(`${base}/a`, bytes("hello"));
      const [m] = await inbox.waitFor(1);
      assert.equal(m!.topic, `${base}/a`);
      assert.equal(text(m!.payload), "hello");
    });

    test("a client receives its own publishes (no No Local)", async () => {
      const c = await client();
      const base = topicBase();
      const inbox = new Inbox();
      await c.subscribe(`${base}/self`, inbox.handler);
      await c.publish(`${base}/self`, bytes("me"));
      await inbox.waitFor(1);
    });

    test("'+' matches exactly one level (MQTT 3.1.1 §4.7.1.3)", async () => {
      const [sub, pub] = [await client(), await client()];
      const base = topicBase();
      const inbox = new Inbox();
      await sub.subscribe(`${base}/+/x`, inbox.handler);
      for (const t of [`${base}/1/x`, `${base}/1/2/x`, `${base}/1`, `${base}//x`, `${base}/2/x`]) await pub.publish(t, bytes(t));
      await inbox.waitFor(3);
      await sleep(50);
      assert.deepEqual(inbox.topics(), [`${base}/1/x`, `${base}//x`, `${base}/2/x`]);
    });

    test("'#' matches the parent level and everything below (MQTT 3.1.1 §4.7.1.2)", async () => {
      const [sub, pub] = [await client(), await client()];
      const base = topicBase();
      const inbox = new Inbox();
      await sub.subscribe(`${base}/h/#`, inbox.handler);
      for (const t of [`${base}/h`, `${base}/h/1`, `${base}/hh/1`, `${base}/h/1/2/3`]) await pub.publish(t, bytes(t));
      await inbox.waitFor(3);
      await sleep(50);
      assert.deepEqual(inbox.topics(), [`${base}/h`, `${base}/h/1`, `${base}/h/1/2/3`]);
    });

    test("unsubscribe stops delivery; other subscriptions keep working", async () => {
      const [sub, pub] = [await client(), await client()];
      const base = topicBase();
      const gone = new Inbox();
      const kept = new Inbox();
      await sub.subscribe(`${base}/gone`, gone.handler);
      await sub.subscribe(`${base}/kept`, kept.handler);
      await pub.publish(`${base}/gone`, bytes("1"));
      await gone.waitFor(1);
      await sub.unsubscribe(`${base}/gone`);
      await pub.publish(`${base}/gone`, bytes("2"));
      await pub.publish(`${base}/kept`, bytes("sentinel"));
      await kept.waitFor(1);
      await sleep(50);
      assert.equal(gone.messages.length, 1);
    });

    test("subscribing the same filter again replaces the handler", async () => {
      const c = await client();
      const base = topicBase();
      const first = new Inbox();
      const second = new Inbox();
      await c.subscribe(`${base}/r`, first.handler);
      await c.subscribe(`${base}/r`, second.handler);
      await c.publish(`${base}/r`, bytes("x"));
      await second.waitFor(1);
      await sleep(50);
      assert.equal(first.messages.length, 0);
      assert.equal(second.messages.length, 1);
    });

    test("payload bytes arrive intact: every byte value, 0 bytes, 1 MB, 10 MB", async () => {
      const [sub, pub] = [await client(), await client()];
      const base = topicBase();
      const inbox = new Inbox();
      await sub.subscribe(`${base}/bin`, inbox.handler);
      const every = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
      // A view into a larger buffer: only the view's bytes may travel.
      const backing = randomBytes(4096);
      const view = new Uint8Array(backing.buffer, backing.byteOffset + 100, 1000);
      const payloads = [every, new Uint8Array(0), view, new Uint8Array(randomBytes(1 << 20)), new Uint8Array(randomBytes(10 << 20))];
      for (const p of payloads) await pub.publish(`${base}/bin`, p);
      const got = await inbox.waitFor(payloads.length, 15_000);
      got.forEach((m, i) => {
        assert.equal(m.payload.byteLength, payloads[i]!.byteLength, `payload ${i} length`);
        assert.ok(Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).equals(payloads[i]!), `payload ${i} bytes`);
      });
    });

    test("QoS 1 messages from one publisher to one topic arrive in order (MQTT 3.1.1 §4.6)", async () => {
      const [sub, pub] = [await client(), await client()];
      const base = topicBase();
      const inbox = new Inbox();
      await sub.subscribe(`${base}/seq`, inbox.handler);
      const n = 300;
      await Promise.all(Array.from({ length: n }, (_, i) => pub.publish(`${base}/seq`, bytes(String(i)))));
      const got = await inbox.waitFor(n, 10_000);
      assert.deepEqual(got.map((m) => Number(text(m.payload))), Array.from({ length: n }, (_, i) => i));
    });

    test(`protocol version in use is ${expect.protocolVersion}`, async () => {
      const c = await client();
      assert.equal(c.protocolVersion, expect.protocolVersion);
    });

    test("invalid topics and filters are refused with E_USAGE", async () => {
      const c = await client();
      for (const t of ["", "a/+", "a/#", "a\u0000b"]) {
        await assert.rejects(c.publish(t, new Uint8Array(1)), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE", `publish ${JSON.stringify(t)}`);
      }
      for (const f of ["", "a/#/b", "a/b#", "a+/b", "$share//a", "$share/g"]) {
        await assert.rejects(c.subscribe(f, () => undefined), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE", `subscribe ${JSON.stringify(f)}`);
      }
    });

    test("after a broker restart: disconnected, connected, subscriptions and publishing work again", async () => {
      const [sub, pub] = [await client(), await client()];
      const base = topicBase();
      const inbox = new Inbox();
      await sub.subscribe(`${base}/re`, inbox.handler);
      const events: string[] = [];
      sub.on("disconnected", () => events.push("disconnected"));
      sub.on("connected", () => events.push("connected"));
      const down = nextEvent(sub, "disconnected");
      const subBack = nextEvent(sub, "connected", 10_000);
      const pubBack = nextEvent(pub, "connected", 10_000);
      await h.restart();
      await down;
      await Promise.all([subBack, pubBack]);
      assert.deepEqual(events, ["disconnected", "connected"]);
      await pub.publish(`${base}/re`, bytes("after"));
      const [m] = await inbox.waitFor(1);
      assert.equal(text(m!.payload), "after");
      // A client that connects after the restart reaches the restored subscription too.
      const fresh = await client();
      await fresh.publish(`${base}/re`, bytes("fresh"));
      await inbox.waitFor(2);
    });

    test("close() resolves; the transport then refuses work with E_BROKER; close() again is fine", async () => {
      const c = await h.connect();
      await c.subscribe(`${topicBase()}/c`, () => undefined);
      await c.close();
      await c.close();
      await assert.rejects(c.publish("x/y", new Uint8Array(1)), (e: unknown) => e instanceof EdgecutError && e.code === "E_BROKER");
      await assert.rejects(c.subscribe("x/y", () => undefined), (e: unknown) => e instanceof EdgecutError && e.code === "E_BROKER");
    });
  });
}
