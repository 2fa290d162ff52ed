// Topic-filter matching, with the examples of MQTT 3.1.1 §4.7 and MQTT 5 §4.8.2.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isValidFilter, isValidTopic, parseFilter, topicMatches } from "../../sdk/transport/topic-match.js";

function cases(filter: string, yes: string[], no: string[]): void {
  for (const t of yes) assert.equal(topicMatches(filter, t), true, `${filter} should match ${t}`);
  for (const t of no) assert.equal(topicMatches(filter, t), false, `${filter} should not match ${t}`);
}

test("'#' (MQTT 3.1.1 §4.7.1.2)", () => {
  cases("sport/tennis/player1/#",
    ["sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon"],
    ["sport/tennis/player2", "sport/tennis", "sport/tennis/player10"]);
  cases("sport/#", ["sport", "sport/", "sport/x/y"], ["sports", "spor"]);
  cases("#", ["a", "a/b", "/", "/a"], []);
});

test("'+' (MQTT 3.1.1 §4.7.1.3)", () => {
  cases("sport/tennis/+", ["sport/tennis/player1", "sport/tennis/player2", "sport/tennis/"], ["sport/tennis/player1/ranking", "sport/tennis"]);
  cases("sport/+", ["sport/"], ["sport"]);
  cases("+/+", ["/finance", "a/b"], ["a", "a/b/c"]);
  cases("/+", ["/finance"], ["finance", "a/b"]);
  cases("+", ["finance", ""], ["/finance"]);
  cases("+/tennis/#", ["sport/tennis", "sport/tennis/player1"], ["sport/football"]);
});

test("topics beginning with '$' (MQTT 3.1.1 §4.7.2)", () => {
  cases("#", [], ["$SYS", "$SYS/broker/clients"]);
  cases("+/monitor/Clients", [], ["$SYS/monitor/Clients"]);
  cases("$SYS/#", ["$SYS/", "$SYS/monitor/Clients"], []);
  cases("$SYS/monitor/+", ["$SYS/monitor/Clients"], []);
});

test("exact filters and case (MQTT 3.1.1 §4.7.3: topics are case-sensitive)", () => {
  cases("a/b", ["a/b"], ["A/b", "a/b/", "a", "a/b/c"]);
  cases("a b/c", ["a b/c"], ["a/c"]);
});

test("shared subscriptions match like their filter (MQTT 5 §4.8.2)", () => {
  cases("$share/g/sport/+", ["sport/tennis"], ["$share/g/sport/tennis", "sport"]);
  cases("$share/g/#", ["a/b"], ["$SYS/x"]);
  assert.deepEqual(parseFilter("$share/g/a/#"), { group: "g", filter: "a/#" });
  assert.deepEqual(parseFilter("a/#"), { group: undefined, filter: "a/#" });
  for (const bad of ["$share/", "$share/g", "$share/g/", "$share//a", "$share/g+/a", "$share/#/a"]) {
    assert.equal(parseFilter(bad), undefined, bad);
    assert.equal(isValidFilter(bad), false, bad);
    assert.equal(topicMatches(bad, "a"), false, bad);
  }
});

test("without shared subscriptions (aedes), $share/... is a literal filter", () => {
  assert.equal(topicMatches("$share/g/a/+", "a/b", false), false);
  assert.equal(topicMatches("$share/g/a/+", "$share/g/a/b", false), true);
});

test("filter and topic validity (MQTT 3.1.1 §4.7.1, §4.7.3, §1.5.3)", () => {
  for (const ok of ["a", "#", "+", "a/#", "+/+/#", "/", "a//b", "$share/g/a/+"]) assert.ok(isValidFilter(ok), ok);
  for (const bad of ["", "a/#/b", "a#", "a/b#", "a+", "+a/b", "a/\u0000"]) assert.equal(isValidFilter(bad), false, bad);
  for (const ok of ["a", "/", "a//b", "$SYS/x"]) assert.ok(isValidTopic(ok), ok);
  for (const bad of ["", "a/+", "a/#", "a\u0000"]) assert.equal(isValidTopic(bad), false, bad);
  // A malformed filter matches nothing rather than something surprising.
  assert.equal(topicMatches("a/#/b", "a/x/b"), false);
});
