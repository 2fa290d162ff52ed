// The device agent's SQLite store (agent/store/): every API on a temp file, reopen, a second
// connection standing in for a crashed one, store full, corrupt file, bad paths.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { openStore, SCHEMA_VERSION, type AgentStore, type SegmentProfile, type StoreOptions } from "../../agent/store/index.js";
import { openSqlite } from "../../agent/store/sqlite.js";
import { EdgecutError } from "../../sdk/errors.js";
import { throwsCode } from "../support/throws.js";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-store-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let n = 0;
const tmpFile = (): string => path.join(tmpRoot, `t${n++}`, "agent.db");

/** A clock the test moves by hand. */
function fakeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function open(file: string, opts: StoreOptions = {}): AgentStore {
  return openStore(file, opts);
}


const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);

const profile = (over: Partial<SegmentProfile> = {}): SegmentProfile => ({
  modelSha256: "ab".repeat(32), segmentIndex: 0, deviceId: "pi-1", shapeBucket: "1x64",
  latencyMs: 12.5, rssBytes: 48 << 20, runs: 9, measuredAt: 1_700_000_000_000, cpuLoad: 0.3, ...over,
});

describe("opening", () => {
  test("creates the folder and file, migrates, uses WAL; reopen keeps the schema version", () => {
    const file = path.join(tmpRoot, "deep", "er", "agent.db");
    const s = open(file);
    assert.ok(fs.existsSync(file));
    assert.deepEqual(s.check(), ["ok"]);
    s.close();
    s.close(); // idempotent
    const again = open(file);
    again.close();
    // WAL is recorded in the file; synchronous=NORMAL (1) and the busy timeout are per connection.
    const raw = openSqlite(file, { busyTimeoutMs: 1234 });
    assert.equal(raw.pragma("journal_mode"), "wal");
    assert.equal(raw.pragma("synchronous"), 1);
    assert.equal(raw.pragma("busy_timeout"), 1234);
    assert.equal(raw.prepare<{ v: number }>("SELECT max(version) AS v FROM schema_migrations").get()?.v, SCHEMA_VERSION);
    raw.close();
  });

  test(":memory: works without touching the disk", () => {
    const s = open(":memory:");
    s.putProfile(profile());
    assert.equal(s.listProfiles(profile().modelSha256, "pi-1").length, 1);
    s.close();
  });

  test("a path under a regular file: E_STORE naming the path and the reason", () => {
    const blocker = path.join(tmpRoot, "blocker");
    fs.writeFileSync(blocker, "x");
    const bad = path.join(blocker, "sub", "agent.db");
    throwsCode(() => open(bad), "E_STORE", /blocker.*sub.*ENOTDIR|ENOTDIR/);
  });

  test("a directory as the path: E_STORE", () => {
    throwsCode(() => open(tmpRoot), "E_STORE", new RegExp(tmpRoot.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  });

  test("a file that is not a database: E_STORE 'file is not a database', and the file is left alone", () => {
    const file = tmpFile();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const junk = Buffer.from("this is not sqlite ".repeat(300));
    fs.writeFileSync(file, junk);
    throwsCode(() => open(file), "E_STORE", /file is not a database/);
    assert.deepEqual(fs.readFileSync(file), junk);
  });

  test("a store from a newer agent is refused with E_STORE", () => {
    const file = tmpFile();
    open(file).close();
    const raw = openSqlite(file);
    raw.exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${SCHEMA_VERSION + 1}, 'future', 0)`);
    raw.close();
    throwsCode(() => open(file), "E_STORE", new RegExp(`schema version ${SCHEMA_VERSION + 1} is newer than this agent's ${SCHEMA_VERSION}`));
  });

  test("a monotonic clock (not epoch ms) is refused: stored times must survive a restart", () => {
    throwsCode(() => open(tmpFile(), { clock: () => performance.now() }), "E_USAGE", /wall-clock/);
  });

  test("a closed store throws E_STORE on use", () => {
    const s = open(tmpFile());
    s.close();
    throwsCode(() => s.pendingCount(), "E_STORE", /closed/);
  });
});

describe("profiles", () => {
  test("put/get/list/stale, upsert by key, survive reopen", () => {
    const file = tmpFile();
    const s = open(file);
    const a = profile();
    const b = profile({ segmentIndex: 1, latencyMs: 30, measuredAt: 1_700_000_500_000, cpuLoad: 1.5 });
    const c = profile({ segmentIndex: 1, shapeBucket: "1x128", latencyMs: 55 });
    const other = profile({ deviceId: "jetson-2" });
    for (const p of [b, c, a, other]) s.putProfile(p);
    assert.deepEqual(s.getProfile(a), a);
    assert.equal(s.getProfile({ ...a, shapeBucket: "8x8" }), undefined);
    assert.deepEqual(s.listProfiles(a.modelSha256, "pi-1"), [a, c, b]);
    assert.deepEqual(s.listProfiles(a.modelSha256, "nobody"), []);
    // Re-measured: replaces, does not duplicate.
    const a2 = { ...a, latencyMs: 11, measuredAt: 1_700_000_900_000, cpuLoad: 0.1 };
    s.putProfile(a2);
    assert.deepEqual(s.getProfile(a), a2);
    assert.equal(s.listProfiles(a.modelSha256, "pi-1").length, 3);
    // Stale: measured more than 600 s before now.
    const now = 1_700_001_000_000;
    assert.deepEqual(s.staleProfiles(600_000, now).map((p) => [p.deviceId, p.segmentIndex, p.shapeBucket]),
      [["jetson-2", 0, "1x64"], ["pi-1", 1, "1x128"]], "oldest first, then by key");
    s.close();
    const r = open(file);
    assert.deepEqual(r.getProfile(a), a2);
    assert.equal(r.listProfiles(a.modelSha256, "pi-1").length, 3);
    r.close();
  });

  test("bad profiles are E_USAGE and write nothing", () => {
    const s = open(":memory:");
    throwsCode(() => s.putProfile(profile({ segmentIndex: -1 })), "E_USAGE");
    throwsCode(() => s.putProfile(profile({ latencyMs: Number.NaN })), "E_USAGE");
    throwsCode(() => s.putProfile(profile({ runs: 0 })), "E_USAGE");
    throwsCode(() => s.putProfile(profile({ modelSha256: "" })), "E_USAGE");
    assert.deepEqual(s.staleProfiles(0, Number.MAX_SAFE_INTEGER), []);
    s.close();
  });
});

describe("jobs", () => {
  test("enqueue is idempotent per key; get/getByKey; claim, complete, fail; survive reopen", () => {
    const file = tmpFile();
    const clock = fakeClock();
    const s = open(file, { clock: clock.now, leaseMs: 1000 });
    const r1 = s.enqueue("key-1", bytes(1, 2, 3), { splitId: "gpt", deadlineMs: 5000 });
    assert.deepEqual(r1, { id: r1.id, created: true, sameRequest: true });
    assert.deepEqual(s.enqueue("key-1", bytes(1, 2, 3), {}), { id: r1.id, created: false, sameRequest: true });
    assert.deepEqual(s.enqueue("key-1", bytes(9), {}), { id: r1.id, created: false, sameRequest: false });
    const r2 = s.enqueue("key-2", bytes(4));
    const r3 = s.enqueue("key-3", bytes(5));
    assert.equal(s.pendingCount(), 3);

    const q = s.getByKey("key-1");
    assert.equal(q?.status, "queued");
    assert.ok(q?.status === "queued");
    assert.deepEqual([...q.request], [1, 2, 3]);
    assert.deepEqual(q.meta, { splitId: "gpt", deadlineMs: 5000 });
    assert.equal(q.createdAt, clock.now());
    assert.equal(s.get(999), undefined);
    assert.equal(s.getByKey("nope"), undefined);

    // FIFO claims with a lease.
    const j1 = s.claimNext("w1");
    assert.equal(j1?.id, r1.id);
    assert.equal(j1?.status, "running");
    assert.equal(j1?.workerId, "w1");
    assert.equal(j1?.leaseUntil, clock.now() + 1000);
    assert.equal(j1?.attempts, 1);
    assert.deepEqual([...(j1?.request ?? [])], [1, 2, 3]);
    const j2 = s.claimNext("w2", clock.now(), 50);
    assert.equal(j2?.id, r2.id);
    assert.equal(j2?.leaseUntil, clock.now() + 50);

    clock.advance(10);
    assert.equal(s.complete(r1.id, bytes(42)), true);
    assert.equal(s.complete(r1.id, bytes(43)), false, "first result wins");
    assert.equal(s.fail(r1.id, { code: "E_RUNTIME", message: "late" }), false);
    assert.equal(s.fail(r2.id, { code: "E_RUNTIME", message: "onnxruntime said no" }), true);
    throwsCode(() => s.complete(12345, bytes(1)), "E_USAGE", /no job/);

    const done = s.get(r1.id);
    assert.ok(done?.status === "done");
    assert.deepEqual([...done.result], [42]);
    assert.equal(done.finishedAt, clock.now());
    assert.equal("request" in done, false, "request bytes are dropped once finished");
    const failed = s.getByKey("key-2");
    assert.ok(failed?.status === "failed");
    assert.deepEqual(failed.error, { code: "E_RUNTIME", message: "onnxruntime said no" });
    // A finished key still dedupes: the app gets the stored result, nothing runs again.
    assert.deepEqual(s.enqueue("key-1", bytes(1, 2, 3)), { id: r1.id, created: false, sameRequest: true });
    assert.equal(s.pendingCount(), 1);
    assert.deepEqual(s.jobCounts(), { queued: 1, running: 0, done: 1, failed: 1 });
    s.close();

    const r = open(file, { clock: clock.now });
    assert.equal(r.get(r1.id)?.status, "done");
    assert.equal(r.get(r2.id)?.status, "failed");
    assert.equal(r.get(r3.id)?.status, "queued");
    assert.equal(r.claimNext("w3")?.id, r3.id);
    assert.equal(r.claimNext("w3"), undefined, "queue empty");
    r.close();
  });

  test("release: a held job goes back to the head of the queue without spending an attempt; only its holder may", () => {
    const s = open(tmpFile(), { maxAttempts: 2 });
    const a = s.enqueue("a", bytes(1)).id;
    s.enqueue("b", bytes(2));
    for (let i = 0; i < 5; i++) {
      const j = s.claimNext("w");
      assert.equal(j?.id, a, "the released job is claimed first again");
      assert.equal(j?.attempts, 1, "a release does not count as an attempt");
      assert.equal(s.release(a, "other"), false, "only the holder releases");
      assert.equal(s.release(a, "w"), true);
      assert.equal(s.get(a)?.status, "queued");
    }
    assert.equal(s.release(a, "w"), false, "a queued job is not held");
    s.claimNext("w");
    s.complete(a, bytes(3));
    assert.equal(s.release(a, "w"), false, "a finished job stays finished");
    assert.equal(s.get(a)?.status, "done");
    s.close();
  });

  test("requeueExpiredLeases: only expired running jobs go back; heartbeat keeps a lease; finished stay", () => {
    const clock = fakeClock();
    const s = open(tmpFile(), { clock: clock.now, leaseMs: 1000, maxAttempts: 5 });
    const a = s.enqueue("a", bytes(1)).id;
    const b = s.enqueue("b", bytes(2)).id;
    const c = s.enqueue("c", bytes(3)).id;
    s.claimNext("w"); s.claimNext("w"); s.claimNext("w");
    s.complete(c, bytes(9));
    clock.advance(600);
    assert.equal(s.heartbeat(b, "w"), true);
    assert.equal(s.heartbeat(b, "someone-else"), false);
    clock.advance(500); // a expired (lease 1000 < 1100), b renewed until 1600
    assert.deepEqual(s.requeueExpiredLeases(), { requeued: 1, abandoned: 0 });
    assert.equal(s.get(a)?.status, "queued");
    assert.equal(s.get(b)?.status, "running");
    assert.equal(s.get(c)?.status, "done");
    assert.equal(s.heartbeat(a, "w"), false, "a requeued job's old runner lost its lease");
    // The requeued job is claimed again, attempts counted.
    const again = s.claimNext("w2");
    assert.equal(again?.id, a);
    assert.equal(again?.attempts, 2);
    // A slow old runner finishing a requeued job still stores its result (no second run needed).
    s.requeueExpiredLeases(Number.MAX_SAFE_INTEGER);
    assert.equal(s.get(b)?.status, "queued");
    assert.equal(s.complete(b, bytes(7)), true);
    assert.equal(s.claimNext("w3")?.id, a);
    s.close();
  });

  test("a job whose runner keeps dying fails with E_JOB_ABANDONED after maxAttempts", () => {
    const clock = fakeClock();
    const s = open(tmpFile(), { clock: clock.now, leaseMs: 10, maxAttempts: 2 });
    const id = s.enqueue("poison", bytes(1)).id;
    s.claimNext("w"); clock.advance(20);
    assert.deepEqual(s.requeueExpiredLeases(), { requeued: 1, abandoned: 0 });
    s.claimNext("w"); clock.advance(20);
    assert.deepEqual(s.requeueExpiredLeases(), { requeued: 0, abandoned: 1 });
    const j = s.get(id);
    assert.ok(j?.status === "failed");
    assert.equal(j.error.code, "E_JOB_ABANDONED");
    assert.equal(s.claimNext("w"), undefined);
    s.close();
  });

  test("pruneFinished keeps pending jobs, drops old and excess finished ones", () => {
    const clock = fakeClock();
    const s = open(tmpFile(), { clock: clock.now, finishedMaxAgeMs: 1000, finishedMaxCount: 2 });
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(s.enqueue(`k${i}`, bytes(i)).id);
      const j = s.claimNext("w");
      assert.ok(j);
      s.complete(j.id, bytes(i));
      clock.advance(100);
    }
    s.enqueue("pending", bytes(1));
    assert.equal(s.pruneFinished(), 3, "only the newest 2 finished kept");
    assert.deepEqual(ids.map((id) => s.get(id)?.status), [undefined, undefined, undefined, "done", "done"]);
    clock.advance(2000);
    assert.equal(s.pruneFinished(), 2, "older than 1000 ms");
    assert.equal(s.pendingCount(), 1);
    assert.equal(s.getByKey("pending")?.status, "queued");
    // A pruned key is a new job (ids never reused, so an old id does not find it).
    const again = s.enqueue("k0", bytes(0));
    assert.equal(again.created, true);
    assert.ok(again.id > Math.max(...ids));
    s.close();
  });

  test("argument checks are E_USAGE", () => {
    const s = open(":memory:");
    throwsCode(() => s.enqueue("", bytes(1)), "E_USAGE");
    throwsCode(() => s.enqueue("x".repeat(256), bytes(1)), "E_USAGE");
    throwsCode(() => s.claimNext(""), "E_USAGE");
    throwsCode(() => s.claimNext("w", Number.NaN), "E_USAGE");
    assert.equal(s.pendingCount(), 0);
    s.close();
  });

  test("idempotency holds across two connections enqueueing the same keys interleaved", () => {
    const file = tmpFile();
    const a = open(file);
    const b = open(file);
    const created: boolean[] = [];
    const ids = new Map<string, Set<number>>();
    for (let i = 0; i < 200; i++) {
      const key = `k${i % 50}`;
      const r = (i % 2 === 0 ? a : b).enqueue(key, bytes(i % 50));
      created.push(r.created);
      if (!ids.has(key)) ids.set(key, new Set());
      ids.get(key)?.add(r.id);
    }
    assert.equal(created.filter(Boolean).length, 50);
    for (const set of ids.values()) assert.equal(set.size, 1);
    assert.equal(a.pendingCount(), 50);
    a.close();
    b.close();
  });
});

describe("telemetry", () => {
  test("append, window query, bounded ring, survives reopen", () => {
    const file = tmpFile();
    const s = open(file, { telemetryMaxRows: 5 });
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 8; i++) {
      s.appendTelemetry({ at: t0 + i * 1000, split: i % 3, latencyMs: 10 + i, bytesUp: 100 * i, bytesDown: 10 * i, queueDepth: i, health: i < 6 ? "ok" : "degraded" });
    }
    assert.equal(s.telemetryCount(), 5, "oldest dropped beyond 5 rows");
    const all = s.recentTelemetry(60_000, t0 + 7000);
    assert.deepEqual(all.map((x) => x.latencyMs), [13, 14, 15, 16, 17]);
    assert.deepEqual(all[4], { at: t0 + 7000, split: 1, latencyMs: 17, bytesUp: 700, bytesDown: 70, queueDepth: 7, health: "degraded", outcome: "ok" });
    assert.deepEqual(s.recentTelemetry(2000, t0 + 7000).map((x) => x.at - t0), [5000, 6000, 7000]);
    assert.deepEqual(s.recentTelemetry(1000, t0 + 5500).map((x) => x.at - t0), [5000], "window ends at now");
    s.close();
    const r = open(file, { telemetryMaxRows: 5 });
    assert.equal(r.telemetryCount(), 5);
    throwsCode(() => r.appendTelemetry({ at: Number.NaN, split: 0, latencyMs: 1, bytesUp: 0, bytesDown: 0, queueDepth: 0, health: "ok" }), "E_USAGE");
    r.close();
  });

  test("batches: one transaction, failures with their code and breakdown, all or none", () => {
    const s = open(tmpFile(), { telemetryMaxRows: 3 });
    const t0 = 1_700_000_000_000;
    const ok = { at: t0, split: 2, latencyMs: 5, bytesUp: 10, bytesDown: 1, queueDepth: 0, health: "ok", breakdown: { localMs: 1.5, roundTripMs: 3 } };
    const bad = { at: t0 + 1, split: -1, latencyMs: 9, bytesUp: 0, bytesDown: 0, queueDepth: 2, health: "degraded", outcome: "error" as const, errorCode: "E_TIMEOUT" };
    s.appendTelemetryBatch([ok, bad, { ...ok, at: t0 + 2 }, { ...ok, at: t0 + 3 }]);
    assert.equal(s.telemetryCount(), 3, "the ring bound holds within a batch");
    const rows = s.recentTelemetry(60_000, t0 + 10);
    assert.deepEqual(rows[0], { ...bad });
    assert.deepEqual(rows[1], { ...ok, at: t0 + 2, outcome: "ok" });
    throwsCode(() => s.appendTelemetryBatch([{ ...ok, at: t0 + 4 }, { ...ok, latencyMs: Number.NaN }]), "E_USAGE");
    assert.equal(s.recentTelemetry(60_000, t0 + 10).length, 3, "a batch with a bad sample writes nothing");
    s.close();
  });
});

describe("crash without close", () => {
  test("a second connection sees every committed write of one that never closed", () => {
    const file = tmpFile();
    const crashed = open(file, { leaseMs: 1 });
    crashed.putProfile(profile());
    const id = crashed.enqueue("k", bytes(1)).id;
    crashed.claimNext("w", 0);
    crashed.appendTelemetry({ at: 1, split: 0, latencyMs: 1, bytesUp: 1, bytesDown: 1, queueDepth: 0, health: "ok" });
    // No close(): the WAL is not checkpointed. A new connection must still see it all.
    const s = open(file);
    assert.deepEqual(s.getProfile(profile()), profile());
    assert.equal(s.get(id)?.status, "running");
    assert.deepEqual(s.requeueExpiredLeases(10), { requeued: 1, abandoned: 0 });
    assert.equal(s.telemetryCount(), 1);
    assert.deepEqual(s.check(), ["ok"]);
    s.close();
    crashed.close();
  });
});

describe("store full", () => {
  test("a write beyond max_page_count fails with E_STORE_FULL, applies nothing, and the store stays usable", () => {
    const file = tmpFile();
    const seed = open(file);
    seed.enqueue("before", bytes(1, 2, 3));
    seed.close();
    const s = open(file, { maxPageCount: 24 }); // 96 KiB at 4 KiB pages
    const big = new Uint8Array(8192).fill(7);
    let stored = 0;
    let failedKey = "";
    for (let i = 0; i < 100; i++) {
      try {
        s.enqueue(`big-${i}`, big);
        stored++;
      } catch (err) {
        assert.ok(err instanceof EdgecutError, String(err));
        assert.equal(err.code, "E_STORE_FULL", err.message);
        assert.match(err.message, /agent\.db.*full/);
        failedKey = `big-${i}`;
        break;
      }
    }
    assert.ok(failedKey !== "", "the size limit was never reached");
    assert.ok(stored > 0);
    // Nothing of the failed write is there; everything before it is, and the file is sound.
    assert.equal(s.getByKey(failedKey), undefined);
    assert.equal(s.pendingCount(), stored + 1);
    assert.deepEqual(s.check(), ["ok"]);
    // Telemetry hits the same limit with the same code.
    throwsCode(() => {
      for (let i = 0; i < 10_000; i++) s.appendTelemetry({ at: i, split: 0, latencyMs: 1, bytesUp: 1, bytesDown: 1, queueDepth: 0, health: "x".repeat(200) });
    }, "E_STORE_FULL");
    // Reads and state changes that free or reuse space still work.
    const j = s.claimNext("w");
    assert.ok(j);
    assert.equal(s.complete(j.id, bytes(1)), true);
    s.close();
    // Without the limit the same key goes in.
    const r = open(file);
    assert.deepEqual(r.check(), ["ok"]);
    assert.equal(r.enqueue(failedKey, big).created, true);
    assert.equal(r.getByKey("before")?.status, "done");
    r.close();
  });
});
