// The broker ACLs `edgecut provision` writes, enforced by a real mosquitto (password_file +
// acl_file, no anonymous access), through the project's transport: who may connect, what a
// device may publish and read, what a worker may, and a real worker serving a device with
// provisioned credentials. Every "cannot" is checked against a positive control sent after it
// on the same path: when the control arrives, the broker has already dropped what came first.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { startWorker } from "../../cloud-stub/index.js";
import { DEFAULT_GROUP } from "../../cloud-stub/config.js";
import { OffloadClient } from "../../sdk/offload/client.js";
import { SplitRunner } from "../../sdk/offload/split-runner.js";
import type { ProvisionResult } from "../../sdk/provision/index.js";
import { compareOutputs } from "../../sdk/runtime/compare.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { topics } from "../../sdk/transport/topics.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { mosquittoSkipReason, type MosquittoHandle } from "../support/brokers.js";
import { Inbox } from "../support/inbox.js";
import { mlpSplit } from "../offload/support.js";
import { connectAs, fleet, passwordOf, startSecureMosquitto, trySubscribe, type Fleet } from "./support.js";

const SKIP = mosquittoSkipReason() ?? false;
const T = topics("edgecut");
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const NOT_AUTHORIZED = { code: "E_BROKER", message: /Not authorized/ };

describe("broker ACLs from edgecut provision (mosquitto)", { skip: SKIP }, () => {
  let f: Fleet;
  let broker: MosquittoHandle;
  const acct: Record<string, ProvisionResult> = {};
  const conns: Record<string, Transport> = {};

  before(async () => {
    f = fleet("acl");
    for (const id of ["devA", "devB"]) acct[id] = await f.add({ deviceId: id });
    // Workers confined to their own sticky sessions (edgecut cloud --worker-id), and one that takes any id.
    for (const id of ["w1", "w2"]) acct[id] = await f.add({ deviceId: id, role: "worker", workerId: id });
    acct.wAny = await f.add({ deviceId: "w-any", role: "worker" });
    // A worker that serves split s1 only (edgecut provision --split s1).
    acct.wS1 = await f.add({ deviceId: "w-s1", role: "worker", splits: ["s1"] });
    acct.mon = await f.add({ deviceId: "mon", role: "monitor" });
    broker = await startSecureMosquitto(f);
    for (const id of Object.keys(acct)) conns[id] = await connectAs(broker.url, acct[id]!);
  });
  after(async () => {
    for (const c of Object.values(conns)) await c.close();
    await broker?.close();
  });

  test("no credentials, a wrong password, or one account's password under another's name: refused", async () => {
    await assert.rejects(connectMqtt({ url: broker.url, reconnectPeriodMs: 0 }), { code: "E_BROKER", message: /Not authorized/ });
    await assert.rejects(connectMqtt({ url: broker.url, reconnectPeriodMs: 0, protocolVersion: 4 }), { code: "E_BROKER", message: /Not authorized|CONNACK code 5/ });
    await assert.rejects(connectMqtt({ url: broker.url, reconnectPeriodMs: 0, username: "devA", password: "not-the-password" }), NOT_AUTHORIZED);
    await assert.rejects(connectMqtt({ url: broker.url, reconnectPeriodMs: 0, username: "devB", password: passwordOf(acct.devA!) }), NOT_AUTHORIZED);
  });

  test("a device's request reaches a worker's shared subscription; the worker's reply reaches the device", async () => {
    const toWorker = new Inbox();
    const toDevice = new Inbox();
    await conns.w1!.subscribe(T.workerFilter("+", DEFAULT_GROUP), toWorker.handler);
    await conns.devA!.subscribe(T.replyTopic("devA"), toDevice.handler);
    await conns.devA!.publish(T.requestTopic("devA", "s1"), bytes("req"));
    const [req] = await toWorker.waitFor(1);
    assert.equal(req!.topic, "edgecut/v1/req/devA/s1");
    await conns.w1!.publish(T.replyTopicForRequest(req!.topic)!, bytes("reply"));
    const [rep] = await toDevice.waitFor(1);
    assert.equal(rep!.topic, "edgecut/v1/reply/devA");
    assert.equal(new TextDecoder().decode(rep!.payload), "reply");
    await conns.w1!.unsubscribe(T.workerFilter("+", DEFAULT_GROUP));
    await conns.devA!.unsubscribe(T.replyTopic("devA"));
  });

  test("a device cannot publish as another: a request on B's topic is refused and never reaches a worker", async () => {
    const toWorker = new Inbox();
    await conns.w1!.subscribe(T.workerFilter("+"), toWorker.handler);
    // MQTT 5: the broker answers the PUBLISH with reason code 0x87 (not authorized).
    await assert.rejects(conns.devA!.publish(T.requestTopic("devB", "s1"), bytes("forged")), NOT_AUTHORIZED);
    await assert.rejects(conns.devA!.publish("edgecut/v1/req/devB/s1/w1", bytes("forged sticky")), NOT_AUTHORIZED);
    // Nor may a worker inject requests in a device's name.
    await assert.rejects(conns.w2!.publish(T.requestTopic("devB", "s1"), bytes("forged by a worker")), NOT_AUTHORIZED);
    await conns.devB!.publish(T.requestTopic("devB", "s1"), bytes("control"));
    await toWorker.waitFor(1);
    assert.deepEqual(toWorker.messages.map((m) => new TextDecoder().decode(m.payload)), ["control"]);
    await conns.w1!.unsubscribe(T.workerFilter("+"));
  });

  test("a device cannot read another's replies, by name, by wildcard or with '#'", async () => {
    const seenByA = new Inbox();
    const toB = new Inbox();
    for (const filter of [T.replyTopic("devB"), "edgecut/v1/reply/+", "#"]) await trySubscribe(conns.devA!, filter, seenByA.handler);
    await conns.devA!.subscribe(T.replyTopic("devA"), seenByA.handler);
    await conns.devB!.subscribe(T.replyTopic("devB"), toB.handler);
    await conns.w1!.publish(T.replyTopic("devB"), bytes("for B"));
    await conns.w1!.publish(T.replyTopic("devA"), bytes("control for A"));
    await toB.waitFor(1);
    await seenByA.waitFor(1);
    assert.deepEqual([...new Set(seenByA.topics())], ["edgecut/v1/reply/devA"]);
    for (const filter of [T.replyTopic("devB"), "edgecut/v1/reply/+", "#", T.replyTopic("devA")]) await conns.devA!.unsubscribe(filter);
    await conns.devB!.unsubscribe(T.replyTopic("devB"));
  });

  test("a device can neither read nor write the workers' relay and probe topics, nor read requests", async () => {
    const relay = T.relayTopics(DEFAULT_GROUP, "w1");
    const seenByA = new Inbox();
    const toW2 = new Inbox();
    for (const filter of [`edgecut/v1/relay/${DEFAULT_GROUP}/#`, "edgecut/v1/probe/#", "edgecut/v1/req/+/+"]) await trySubscribe(conns.devA!, filter, seenByA.handler);
    await conns.w2!.subscribe(relay.claim, toW2.handler);
    await assert.rejects(conns.devA!.publish(relay.claim, bytes("forged claim")), NOT_AUTHORIZED);
    await assert.rejects(conns.devA!.publish(relay.inbox, bytes("forged fragment")), NOT_AUTHORIZED);
    await conns.devB!.publish(T.requestTopic("devB", "s1"), bytes("B's request"));
    await conns.w1!.publish(T.probeTopic("tok"), bytes("probe"));
    await conns.w1!.publish(relay.claim, bytes("claim"));
    const [claim] = await toW2.waitFor(1);
    assert.equal(new TextDecoder().decode(claim!.payload), "claim");
    assert.deepEqual(seenByA.topics(), []);
    await conns.w2!.unsubscribe(relay.claim);
  });

  test("telemetry: a device publishes its own, not another's; a monitor reads it, a device does not", async () => {
    const toMon = new Inbox();
    const seenByB = new Inbox();
    await conns.mon!.subscribe("edgecut/v1/telemetry/+", toMon.handler);
    await trySubscribe(conns.devB!, "edgecut/v1/telemetry/+", seenByB.handler);
    await assert.rejects(conns.devA!.publish(T.telemetryTopic("devB"), bytes("forged")), NOT_AUTHORIZED);
    await conns.devA!.publish(T.telemetryTopic("devA"), bytes("summary"));
    const [m] = await toMon.waitFor(1);
    assert.equal(m!.topic, "edgecut/v1/telemetry/devA");
    assert.equal(toMon.messages.length, 1);
    assert.deepEqual(seenByB.topics(), []);
    // The monitor only reads.
    await assert.rejects(conns.mon!.publish(T.requestTopic("devA", "s1"), bytes("x")), NOT_AUTHORIZED);
    await conns.mon!.unsubscribe("edgecut/v1/telemetry/+");
  });

  test("sticky sessions: req/A/<split>/<worker> reaches that worker's req/+/+/<worker> only", async () => {
    const toW1 = new Inbox();
    const w2Snooping = new Inbox();
    await conns.w1!.subscribe("edgecut/v1/req/+/+/w1", toW1.handler);
    await trySubscribe(conns.w2!, "edgecut/v1/req/+/+/w1", w2Snooping.handler);
    await trySubscribe(conns.w2!, "edgecut/v1/req/+/+/+", w2Snooping.handler);
    await conns.devA!.publish("edgecut/v1/req/devA/s1/w1", bytes("session"));
    const [m] = await toW1.waitFor(1);
    assert.equal(m!.topic, "edgecut/v1/req/devA/s1/w1");
    // w2's own sticky topic still works for it (the control): it did get w2's, never w1's.
    await conns.w2!.subscribe("edgecut/v1/req/+/+/w2", w2Snooping.handler);
    await conns.devA!.publish("edgecut/v1/req/devA/s1/w2", bytes("control"));
    await w2Snooping.waitFor(1);
    assert.deepEqual([...new Set(w2Snooping.topics())], ["edgecut/v1/req/devA/s1/w2"]);
    assert.equal(toW1.messages.length, 1);
    // A worker provisioned without --worker-id reads the sessions of whatever id it starts with.
    const toAny = new Inbox();
    await conns.wAny!.subscribe("edgecut/v1/req/+/+/3f9a0c", toAny.handler);
    await conns.devA!.publish("edgecut/v1/req/devA/s1/3f9a0c", bytes("random id"));
    await toAny.waitFor(1);
    await conns.wAny!.unsubscribe("edgecut/v1/req/+/+/3f9a0c");
    for (const filter of ["edgecut/v1/req/+/+/w1", "edgecut/v1/req/+/+/+", "edgecut/v1/req/+/+/w2"]) await conns.w2!.unsubscribe(filter);
    await conns.w1!.unsubscribe("edgecut/v1/req/+/+/w1");
  });

  test("a worker provisioned for split s1 reads s1's requests and sessions, never s2's", async () => {
    const got = new Inbox();
    await conns.wS1!.subscribe("edgecut/v1/req/+/+", got.handler);
    await conns.wS1!.subscribe("edgecut/v1/req/+/+/+", got.handler);
    await conns.devA!.publish(T.requestTopic("devA", "s2"), bytes("other split"));
    await conns.devA!.publish("edgecut/v1/req/devA/s2/w9", bytes("other split, session"));
    await conns.devA!.publish(T.requestTopic("devA", "s1"), bytes("its split"));
    await conns.devA!.publish("edgecut/v1/req/devA/s1/w9", bytes("its split, session"));
    await got.waitFor(2);
    assert.deepEqual([...new Set(got.topics())].sort(), ["edgecut/v1/req/devA/s1", "edgecut/v1/req/devA/s1/w9"]);
    await conns.wS1!.unsubscribe("edgecut/v1/req/+/+");
    await conns.wS1!.unsubscribe("edgecut/v1/req/+/+/+");
  });

  test("re-provisioning renews the password: after a broker reload the old one is refused, the new one works", async () => {
    const old = passwordOf(acct.devB!);
    const renewed = await f.add({ deviceId: "devB" });
    assert.equal(renewed.passwordFile?.replaced, true);
    assert.equal(renewed.aclFile?.replaced, true);
    await broker.restart();
    for (const c of Object.values(conns)) await c.close();
    for (const k of Object.keys(conns)) delete conns[k];
    await assert.rejects(connectMqtt({ url: broker.url, reconnectPeriodMs: 0, username: "devB", password: old }), NOT_AUTHORIZED);
    const b = await connectAs(broker.url, renewed);
    await b.close();
  });

  test("end to end: a real worker and a device with provisioned credentials run a split through the broker", async (t) => {
    const split = await mlpSplit();
    const workerConn = await connectAs(broker.url, acct.w1!, { reconnectPeriodMs: 1000 });
    const worker = await startWorker({ transport: workerConn, models: path.dirname(split.manifestPath), logger: pino({ level: "silent" }) });
    const deviceConn = await connectAs(broker.url, acct.devA!, { reconnectPeriodMs: 1000 });
    const client = new OffloadClient({ transport: deviceConn, deviceId: "devA", timeoutMs: 5000 });
    await client.start();
    const runner = await SplitRunner.open(split.manifestPath, { client });
    t.after(async () => {
      await runner.close();
      await client.close();
      await worker.stop();
      await deviceConn.close();
      await workerConn.close();
    });
    // The probe passed through the ACL: the worker shares its group's load.
    assert.equal(worker.shared, true);
    for (let k = 0; k < runner.segmentCount; k++) {
      const r = await runner.run(split.inputs, k);
      const cmp = compareOutputs(split.expected, r.outputs, { atol: 1e-5, rtol: 0 });
      assert.ok(cmp.ok, `k=${k}: ${JSON.stringify(cmp.outputs)}`);
    }
    assert.equal(worker.metrics().computed, runner.segmentCount);
    // A device claiming another's id gets nothing: its requests cannot even be sent.
    const impostor = new OffloadClient({ transport: deviceConn, deviceId: "devB", timeoutMs: 2000, retries: 0 });
    await impostor.start();
    const forged = await SplitRunner.open(split.manifestPath, { client: impostor });
    t.after(async () => { await forged.close(); await impostor.close(); });
    await assert.rejects(forged.run(split.inputs, 0), NOT_AUTHORIZED);
    assert.equal(worker.metrics().computed, runner.segmentCount);
  });
});
