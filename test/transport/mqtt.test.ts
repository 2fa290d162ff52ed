// The mqtt.js Transport beyond the shared contract: protocol negotiation on aedes and
// mosquitto, connect failures (fast, clear, no hang), broker limits, outages.
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import { Aedes } from "aedes";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";
import { connectMqtt, redactUrl, type MqttOptions } from "../../sdk/transport/mqtt.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { freePort, mosquittoSkipReason, startAedes, startMosquitto, type BrokerHandle, type MosquittoHandle } from "../support/brokers.js";
import { Inbox, nextEvent } from "../support/inbox.js";

const MOSQUITTO_SKIP = mosquittoSkipReason() ?? false;

function isCode(code: ErrorCode, ...patterns: RegExp[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof EdgecutError, `expected an EdgecutError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

/** Rejects with E_BROKER matching the patterns within maxMs. */
async function failsFast(opts: MqttOptions, maxMs: number, ...patterns: RegExp[]): Promise<void> {
  const t0 = Date.now();
  await assert.rejects(connectMqtt(opts), isCode("E_BROKER", ...patterns));
  assert.ok(Date.now() - t0 < maxMs, `took ${Date.now() - t0} ms, over ${maxMs} ms`);
}

describe("connectMqtt: connect failures are E_BROKER, quick, and say why", () => {
  let silent: net.Server;
  let hangUp: net.Server;
  const sockets = new Set<net.Socket>();
  before(async () => {
    // A TCP server that accepts and never answers, and one that hangs up on every CONNECT.
    silent = net.createServer((s) => { sockets.add(s); });
    hangUp = net.createServer((s) => { s.once("data", () => s.destroy()); });
    await Promise.all([silent, hangUp].map((srv) => new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()))));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all([silent, hangUp].map((srv) => new Promise<void>((r) => srv.close(() => r()))));
  });

  test("nothing listening: ECONNREFUSED with the url and a hint, well under a second", async () => {
    const port = await freePort();
    await failsFast({ url: `mqtt://127.0.0.1:${port}` }, 1000, new RegExp(`mqtt://127\\.0\\.0\\.1:${port}`), /ECONNREFUSED/, /edgecut broker/);
  });

  test("a server that never answers CONNECT: fails after connectTimeoutMs, no hang", async () => {
    const { port } = silent.address() as net.AddressInfo;
    await failsFast({ url: `mqtt://127.0.0.1:${port}`, connectTimeoutMs: 300 }, 1500, /no CONNACK within/);
  });

  test("a server that hangs up on CONNECT: both protocol versions tried, both reasons given", async () => {
    const { port } = hangUp.address() as net.AddressInfo;
    await failsFast({ url: `mqtt://127.0.0.1:${port}`, connectTimeoutMs: 2000 }, 1500, /MQTT 5: .*closed.*; MQTT 3\.1\.1: .*closed/);
  });

  test("unknown host", async () => {
    await failsFast({ url: "mqtt://no-such-host.invalid:1883" }, 5000, /ENOTFOUND|EAI_AGAIN/);
  });

  test("the password in the url never appears in the error", async () => {
    const port = await freePort();
    await assert.rejects(connectMqtt({ url: `mqtt://user:s3cret@127.0.0.1:${port}` }), (e: unknown) => {
      assert.ok(e instanceof EdgecutError);
      assert.doesNotMatch(e.message, /s3cret/);
      // The whole userinfo goes, the user name too (it may be a token).
      assert.doesNotMatch(e.message, /user/);
      assert.match(e.message, /mqtt:\/\/\*\*\*@127\.0\.0\.1/);
      return true;
    });
  });

  test("credentials never appear in the error: a token as user name, a URL that does not parse", async () => {
    const port = await freePort();
    for (const url of [`mqtt://s3cret-token@127.0.0.1:${port}`, "mqtt://user:s3cret@bad host:1883", "mqtt://user:s3cret@[::1:1883", "user:s3cret@127.0.0.1:1883"]) {
      await assert.rejects(connectMqtt({ url, connectTimeoutMs: 1000, reconnectPeriodMs: 0 }), (e: unknown) => {
        assert.ok(e instanceof EdgecutError);
        assert.doesNotMatch(e.message, /s3cret|user/, url);
        assert.match(e.message, /\*\*\*@/, url);
        return true;
      });
    }
    assert.equal(redactUrl("mqtt://a:p/w#d@host:1883/x"), "mqtt://***@host:1883/x");
    assert.equal(redactUrl("mqtts://host:8883"), "mqtts://host:8883");
  });

  test("malformed options are E_USAGE", async () => {
    await assert.rejects(connectMqtt({ url: "" }), isCode("E_USAGE", /url/));
    await assert.rejects(connectMqtt({ url: "not a url" }), isCode("E_USAGE", /not a URL/));
    await assert.rejects(connectMqtt({ url: "http://127.0.0.1:1883" }), isCode("E_USAGE", /scheme http:/));
    await assert.rejects(connectMqtt({ url: "mqtt://127.0.0.1:1", protocolVersion: 3 as unknown as 4 }), isCode("E_USAGE", /protocolVersion/));
    await assert.rejects(connectMqtt({ url: "mqtt://127.0.0.1:1", keepaliveSec: -1 }), isCode("E_USAGE", /keepaliveSec/));
  });
});

describe("connectMqtt on aedes (MQTT 3.1.1 only)", () => {
  let broker: BrokerHandle;
  const clients: Transport[] = [];
  before(async () => { broker = await startAedes(); });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await broker.close();
  });

  test("auto falls back from 5 to 3.1.1; no Maximum Packet Size is known", async () => {
    const t = await connectMqtt({ url: broker.url });
    clients.push(t);
    assert.equal(t.protocolVersion, 4);
    assert.equal(t.maxPacketSize, undefined);
  });

  test("protocolVersion 5 forced: E_BROKER with the broker's refusal", async () => {
    await assert.rejects(connectMqtt({ url: broker.url, protocolVersion: 5 }), isCode("E_BROKER", /Unacceptable protocol version/i, /CONNACK code 1\b/));
  });

  test("close() during an outage resolves at once and fails the publish in flight", async () => {
    const local = await startAedes();
    const t = await connectMqtt({ url: local.url, reconnectPeriodMs: 50 });
    const down = nextEvent(t, "disconnected");
    await local.close();
    await down;
    const pending = t.publish("x/y", new Uint8Array(3));
    const t0 = Date.now();
    await t.close();
    assert.ok(Date.now() - t0 < 500, `close took ${Date.now() - t0} ms`);
    await assert.rejects(pending, isCode("E_BROKER", /closed/));
  });
});

describe("connectMqtt on mosquitto", { skip: MOSQUITTO_SKIP }, () => {
  let broker: MosquittoHandle;
  const clients: Transport[] = [];
  const connect = async (opts: Partial<MqttOptions> = {}): Promise<Transport> => {
    const t = await connectMqtt({ url: broker.url, reconnectPeriodMs: 50, ...opts });
    clients.push(t);
    return t;
  };
  before(async () => { broker = await startMosquitto(); });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await broker.close();
  });

  test("auto takes MQTT 5; 4 can be forced; both talk to each other", async () => {
    const v5 = await connect();
    const v4 = await connect({ protocolVersion: 4 });
    assert.equal(v5.protocolVersion, 5);
    assert.equal(v4.protocolVersion, 4);
    const inbox = new Inbox();
    await v4.subscribe("mixed/+", inbox.handler);
    await v5.publish("mixed/1", new Uint8Array([1, 2, 3]));
    const [m] = await inbox.waitFor(1);
    assert.deepEqual([...m!.payload], [1, 2, 3]);
  });

  test("a publish issued during an outage is delivered after the reconnect (QoS 1 resend)", async () => {
    // The broker keeps no sessions: the subscriber must be back (and subscribed) before the
    // publisher resends, so the publisher waits longer between reconnect attempts.
    const sub = await connect();
    const pub = await connect({ reconnectPeriodMs: 400 });
    const inbox = new Inbox();
    await sub.subscribe("outage/x", inbox.handler);
    const pubDown = nextEvent(pub, "disconnected");
    const subBack = nextEvent(sub, "connected", 10_000);
    const restarted = broker.restart();
    await pubDown;
    const sent = pub.publish("outage/x", new TextEncoder().encode("queued"));
    await restarted;
    await subBack;
    await sent;
    const got = await inbox.waitFor(1);
    assert.equal(new TextDecoder().decode(got[0]!.payload), "queued");
  });
});

describe("after a reconnect, \"connected\" waits until every subscription is back", () => {
  test("a SUBSCRIBE refused on reconnect is retried with a backoff; \"connected\" only once all are restored", async () => {
    // An aedes that refuses (SUBACK 0x80) the next `refuse` SUBSCRIBEs of guarded/x, and whose
    // server side can drop every connection without stopping.
    let refuse = 0;
    let refused = 0;
    const broker = await Aedes.createBroker({
      authorizeSubscribe: (_client, sub, done) => {
        if (sub.topic === "guarded/x" && refuse > 0) { refuse--; refused++; done(null, null as never); return; }
        done(null, sub);
      },
    });
    const sockets = new Set<net.Socket>();
    const server = net.createServer((sock) => { sockets.add(sock); sock.on("close", () => sockets.delete(sock)); broker.handle(sock); });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as net.AddressInfo;
    const t = await connectMqtt({ url: `mqtt://127.0.0.1:${port}`, reconnectPeriodMs: 20 });
    try {
      const inbox = new Inbox();
      await t.subscribe("plain/x", inbox.handler);
      await t.subscribe("guarded/x", inbox.handler);
      const events: string[] = [];
      t.on("connected", () => events.push("connected"));
      t.on("disconnected", () => events.push("disconnected"));
      refuse = 3;
      const back = nextEvent(t, "connected", 10_000);
      for (const sock of sockets) sock.destroy();
      await back;
      assert.equal(refused, 3, "the refused SUBSCRIBE was sent again until the broker took it");
      assert.deepEqual(events, ["disconnected", "connected"], "one \"connected\", after the subscriptions were back");
      await t.publish("guarded/x", new Uint8Array([7]));
      const [m] = await inbox.waitFor(1);
      assert.equal(m!.topic, "guarded/x");
    } finally {
      await t.close();
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => broker.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("broker limits on mosquitto", { skip: MOSQUITTO_SKIP }, () => {
  test("max_packet_size: MQTT 5 reports it and refuses larger messages before sending; 3.1.1 cannot know it", async () => {
    const broker = await startMosquitto({ config: ["max_packet_size 10000"] });
    const v5 = await connectMqtt({ url: broker.url });
    const v4 = await connectMqtt({ url: broker.url, protocolVersion: 4 });
    try {
      assert.equal(v5.maxPacketSize, 10000);
      assert.equal(v4.maxPacketSize, undefined);
      await assert.rejects(v5.publish("big/x", new Uint8Array(20_000)), isCode("E_BROKER", /Maximum Packet Size of 10000/));
      await v5.publish("big/x", new Uint8Array(5000));
    } finally {
      await v5.close();
      await v4.close();
      await broker.close();
    }
  });

  test("max_qos 0: MQTT 5 connect fails with E_BROKER, a 3.1.1 subscription granted QoS 0 is refused", async () => {
    const broker = await startMosquitto({ config: ["max_qos 0"] });
    try {
      await assert.rejects(connectMqtt({ url: broker.url, protocolVersion: 5 }), isCode("E_BROKER", /QoS 0/));
      const v4 = await connectMqtt({ url: broker.url, protocolVersion: 4 });
      await assert.rejects(v4.subscribe("q/x", () => undefined), isCode("E_BROKER", /granted QoS 0/));
      await v4.close();
    } finally {
      await broker.close();
    }
  });
});
