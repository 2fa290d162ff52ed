// The worker's generation session store on a fake clock: ttl, the byte cap with least recently
// used eviction, the count cap, busy sessions never evicted, one over the cap alone refused.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GenerationStore, sessionKey, type GenerationSession } from "../../cloud-stub/generation/store.js";
import type { ServedSplit } from "../../cloud-stub/splits.js";

function session(id: string, bytes: number, device = "pi"): GenerationSession {
  return {
    key: sessionKey(device, id), deviceId: device, sessionId: id, split: {} as ServedSplit, from: 1, to: 2, sample: true,
    sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 }, slots: [], last: new Map(),
    cache: new Map([["past", { type: "float32", dims: [bytes / 4], data: new Float32Array(bytes / 4) }]]),
    length: 0, nextStep: 1, lastReply: undefined, busy: false, lastUsed: 0, bytes: 0,
  };
}

describe("GenerationStore", () => {
  test("a session idle past the ttl is gone; a used one stays", () => {
    let now = 0;
    const store = new GenerationStore({ ttlMs: 100, maxBytes: 1e6, maxSessions: 10, now: () => now });
    const a = session("a", 400);
    const b = session("b", 400);
    store.put(a); store.resize(a);
    store.put(b); store.resize(b);
    now = 80;
    assert.ok(store.get(a.key));
    now = 150;
    assert.ok(store.get(a.key), "used at 80: alive at 150");
    assert.equal(store.get(b.key), undefined, "idle since 0: expired");
    now = 400;
    assert.equal(store.sweep(), 1);
    assert.deepEqual([store.stats().sessions, store.stats().bytes, store.stats().expired], [0, 0, 2]);
  });

  test("the byte cap evicts the least recently used idle sessions, never a busy one", () => {
    let now = 0;
    const store = new GenerationStore({ ttlMs: 1e9, maxBytes: 1000, maxSessions: 10, now: () => now });
    const [a, b, c] = [session("a", 400), session("b", 400), session("c", 400)];
    store.put(a); store.resize(a); now++;
    store.put(b); store.resize(b); now++;
    store.get(a.key); now++;
    b.busy = true;
    store.put(c);
    assert.equal(store.resize(c), true);
    assert.equal(store.get(a.key), undefined, "a was the least recently used idle session");
    assert.ok(store.get(b.key) && store.get(c.key));
    assert.ok(store.stats().bytes <= 1000);
    assert.equal(store.stats().evicted, 1);
  });

  test("a session larger than the cap alone is refused; the count cap evicts too", () => {
    const store = new GenerationStore({ ttlMs: 1e9, maxBytes: 1000, maxSessions: 2, now: () => 0 });
    const big = session("big", 2000);
    store.put(big);
    assert.equal(store.resize(big), false);
    assert.equal(store.stats().refused, 1);
    for (const id of ["x", "y", "z"]) { const s = session(id, 40); store.put(s); store.resize(s); }
    assert.equal(store.stats().sessions, 2);
    assert.equal(store.get(sessionKey("pi", "x")), undefined);
  });

  test("sessions are per device: another device cannot name them", () => {
    const store = new GenerationStore({ ttlMs: 1e9, maxBytes: 1e6, maxSessions: 10, now: () => 0 });
    store.put(session("s", 40, "pi-a"));
    assert.equal(store.get(sessionKey("pi-b", "s")), undefined);
    assert.ok(store.get(sessionKey("pi-a", "s")));
  });
});
