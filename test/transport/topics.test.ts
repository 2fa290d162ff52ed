// The offload protocol's topic scheme: building, parsing and validating topics.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { EdgecutError } from "../../sdk/errors.js";
import { topicMatches } from "../../sdk/transport/topic-match.js";
import {
  MAX_ID_BYTES, parseRequestTopic, replyTopic, replyTopicForRequest, requestTopic, topics, workerFilter,
} from "../../sdk/transport/topics.js";

function usage(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && pattern.test(e.message);
}

test("default prefix: request, reply and worker topics", () => {
  assert.equal(requestTopic("pi-7", "gpt2@3"), "edgecut/v1/req/pi-7/gpt2@3");
  assert.equal(replyTopic("pi-7"), "edgecut/v1/reply/pi-7");
  assert.equal(workerFilter("gpt2@3"), "edgecut/v1/req/+/gpt2@3");
  assert.equal(workerFilter("+"), "edgecut/v1/req/+/+");
  assert.equal(workerFilter("gpt2@3", "workers"), "$share/workers/edgecut/v1/req/+/gpt2@3");
  assert.equal(workerFilter("+", "workers"), "$share/workers/edgecut/v1/req/+/+");
});

test("a configured prefix, also with several levels", () => {
  const t = topics("site-3/edgecut");
  assert.equal(t.prefix, "site-3/edgecut");
  assert.equal(t.requestTopic("d", "s"), "site-3/edgecut/v1/req/d/s");
  assert.equal(t.replyTopic("d"), "site-3/edgecut/v1/reply/d");
  assert.equal(t.workerFilter("s", "g"), "$share/g/site-3/edgecut/v1/req/+/s");
  assert.equal(t.probeTopic("abc"), "site-3/edgecut/v1/probe/abc");
    assert.equal(t.telemetryTopic("dev-1"), "site-3/edgecut/v1/telemetry/dev-1");
    assert.throws(() => t.telemetryTopic("a/b"), /deviceId/);
  assert.deepEqual(t.parseRequestTopic("site-3/edgecut/v1/req/d/s"), { deviceId: "d", splitId: "s" });
  // Another prefix's topics are not ours.
  assert.equal(t.parseRequestTopic("edgecut/v1/req/d/s"), undefined);
  assert.equal(parseRequestTopic("site-3/edgecut/v1/req/d/s"), undefined);
});

test("parseRequestTopic: the worker derives the reply topic from the request topic", () => {
  assert.deepEqual(parseRequestTopic("edgecut/v1/req/dev-1/split-a"), { deviceId: "dev-1", splitId: "split-a" });
  assert.equal(replyTopicForRequest("edgecut/v1/req/dev-1/split-a"), "edgecut/v1/reply/dev-1");
  // A session topic: the third level names the worker holding the session (docs/wire-format.md §9.2).
  assert.deepEqual(parseRequestTopic("edgecut/v1/req/dev-1/split-a/w7"), { deviceId: "dev-1", splitId: "split-a", workerId: "w7" });
  assert.equal(replyTopicForRequest("edgecut/v1/req/dev-1/split-a/w7"), "edgecut/v1/reply/dev-1");
  const t = topics();
  assert.equal(t.sessionTopic("dev-1", "split-a", "w7"), "edgecut/v1/req/dev-1/split-a/w7");
  assert.equal(t.sessionFilter("w7"), "edgecut/v1/req/+/+/w7");
  assert.throws(() => t.sessionFilter("w/7"), /workerId/);
  for (const bad of [
    "edgecut/v1/req/dev-1", "edgecut/v1/req/dev-1/s/w/extra", "edgecut/v1/req/dev-1/s/", "edgecut/v1/req//s", "edgecut/v1/req/d/",
    "edgecut/v2/req/d/s", "edgecut/v1/reply/d", "other/v1/req/d/s", "edgecut/v1/req/d/s\u0001", "",
  ]) {
    assert.equal(parseRequestTopic(bad), undefined, bad);
    assert.equal(replyTopicForRequest(bad), undefined, bad);
  }
});

test("ids are validated with errors that name the id and the reason", () => {
  assert.throws(() => requestTopic("", "s"), usage(/deviceId "" must not be empty/));
  assert.throws(() => requestTopic("a/b", "s"), usage(/deviceId "a\/b" must not contain '\/'/));
  assert.throws(() => requestTopic("d", "s+"), usage(/splitId "s\+" must not contain '\+'/));
  assert.throws(() => replyTopic("#"), usage(/deviceId "#" must not contain '#'/));
  assert.throws(() => replyTopic("a\u0000b"), usage(/must not contain U\+0000/));
  assert.throws(() => replyTopic("a\nb"), usage(/must not contain U\+000A/));
  assert.throws(() => replyTopic("\ud800x"), usage(/well-formed Unicode/));
  assert.throws(() => replyTopic("x".repeat(MAX_ID_BYTES + 1)), usage(/over the limit of 128/));
  assert.throws(() => replyTopic("é".repeat(65)), usage(/130 UTF-8 bytes/));
  assert.equal(replyTopic("x".repeat(MAX_ID_BYTES)).length, "edgecut/v1/reply/".length + MAX_ID_BYTES);
  assert.throws(() => requestTopic(42 as unknown as string, "s"), usage(/must be a string/));
  assert.throws(() => workerFilter("s", "a/b"), usage(/share group "a\/b"/));
  assert.throws(() => workerFilter("s", ""), usage(/share group "" must not be empty/));
  assert.throws(() => workerFilter("#"), usage(/splitId "#"/));
  // Unicode that is not a control character is fine.
  assert.equal(replyTopic("gerät-ü-日本"), "edgecut/v1/reply/gerät-ü-日本");
});

test("prefixes are validated", () => {
  assert.throws(() => topics(""), usage(/must not be empty/));
  assert.throws(() => topics("/edgecut"), usage(/empty topic levels/));
  assert.throws(() => topics("edgecut/"), usage(/empty topic levels/));
  assert.throws(() => topics("a//b"), usage(/empty topic levels/));
  assert.throws(() => topics("a/+"), usage(/must not contain '\+'/));
  assert.throws(() => topics("a/#"), usage(/must not contain '#'/));
  assert.throws(() => topics("$SYS"), usage(/must not start with '\$'/));
  assert.throws(() => topics("x".repeat(257)), usage(/over the limit of 256/));
});

const id = fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" })
  .filter((s) => !/[/+#\p{Cc}]/u.test(s) && Buffer.byteLength(s) <= MAX_ID_BYTES);

test("property: parseRequestTopic inverts requestTopic, and the worker filters match the request", () => {
  fc.assert(fc.property(id, id, id, (deviceId, splitId, group) => {
    const topic = requestTopic(deviceId, splitId);
    assert.deepEqual(parseRequestTopic(topic), { deviceId, splitId });
    assert.equal(replyTopicForRequest(topic), replyTopic(deviceId));
    assert.ok(topicMatches(workerFilter(splitId), topic));
    assert.ok(topicMatches(workerFilter("+"), topic));
    assert.ok(topicMatches(workerFilter(splitId, group), topic));
    assert.equal(topicMatches(workerFilter(`${splitId}x`), topic), false);
  }), { numRuns: 300 });
});

test("relay topics of a worker group sit under <prefix>/v1/relay/<group>/ and refuse wildcard ids", () => {
  const t = topics("fleet/a");
  const r = t.relayTopics("workers", "w1");
  assert.equal(r.claim, "fleet/a/v1/relay/workers/claim");
  assert.equal(r.inbox, "fleet/a/v1/relay/workers/to/w1");
  assert.equal(r.inboxOf("w2"), "fleet/a/v1/relay/workers/to/w2");
  assert.throws(() => t.relayTopics("wo+rkers", "w1"), { code: "E_USAGE" });
  assert.throws(() => r.inboxOf("a/b"), { code: "E_USAGE" });
});
