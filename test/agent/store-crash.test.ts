// The store against real processes: a runner killed with SIGKILL while holding claimed jobs, a
// writer killed mid-stream, and several processes enqueueing the same keys at once.
// This file is also the child program: with EDGECUT_STORE_CHILD set it plays that role instead
// of registering tests.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";
import { after, test } from "node:test";
import { openStore } from "../../agent/store/index.js";

const SELF = import.meta.filename;
const role = process.env.EDGECUT_STORE_CHILD;
const PAYLOAD = 16 * 1024;

// ---- child side -------------------------------------------------------------------------------

/** Claims three jobs, completes the first, then waits to be killed while holding the other two. */
function childClaim(file: string): void {
  const s = openStore(file, { leaseMs: 60_000 });
  const claimed = [s.claimNext("doomed"), s.claimNext("doomed"), s.claimNext("doomed")].map((j) => j?.id ?? -1);
  s.complete(claimed[0] ?? -1, Uint8Array.of(42));
  process.stdout.write(`ready ${JSON.stringify(claimed)}\n`);
  setInterval(() => undefined, 1000); // hold the jobs (and the open connection) until SIGKILL
}

/** Enqueues, logs telemetry, claims and completes as fast as it can, until killed. */
function childWriter(file: string): void {
  const s = openStore(file, { leaseMs: 60_000 });
  for (let i = 0; ; i++) {
    s.enqueue(`w${i}`, new Uint8Array(PAYLOAD).fill(i & 255), { i });
    s.appendTelemetry({ at: i, split: i % 4, latencyMs: i, bytesUp: PAYLOAD, bytesDown: PAYLOAD, queueDepth: 1, health: "ok" });
    const j = s.claimNext("writer");
    if (j !== undefined) s.complete(j.id, new Uint8Array(PAYLOAD).fill(i & 255));
    if (i % 25 === 0) process.stdout.write(`progress ${i}\n`);
  }
}

/** Waits for "go" on stdin, enqueues keys k0..k(n-1) starting at an offset, prints the created ones. */
function childEnqueue(file: string, offset: number, n: number): void {
  const s = openStore(file, { busyTimeoutMs: 10_000 });
  process.stdout.write("ready\n");
  readline.createInterface({ input: process.stdin }).once("line", () => {
    const created: string[] = [];
    for (let k = 0; k < n; k++) {
      const key = `k${(k + offset) % n}`;
      if (s.enqueue(key, Uint8Array.of((k + offset) % n)).created) created.push(key);
    }
    s.close();
    process.stdout.write(`${JSON.stringify(created)}\n`);
    process.exit(0);
  });
}

// ---- parent side ------------------------------------------------------------------------------

function startChild(childRole: string, file: string, extra: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", SELF], {
    env: { ...process.env, EDGECUT_STORE_CHILD: childRole, STORE_FILE: file, ...extra },
    stdio: ["pipe", "pipe", "inherit"],
  });
}

/** Resolves with the first stdout line matching `re` (rejects if the child exits first). */
function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null): void => { clearTimeout(timer); reject(new Error(`child exited (${code}) before ${re}`)); };
    child.once("exit", onExit);
    rl.on("line", (line) => {
      if (!re.test(line)) return;
      clearTimeout(timer);
      child.off("exit", onExit);
      rl.close();
      resolve(line);
    });
  });
}

function killHard(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    child.once("exit", (_code, signal) => resolve(signal));
    child.kill("SIGKILL");
  });
}

if (role === undefined) {
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-store-crash-"));
  after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

  test("a runner killed with SIGKILL while holding claimed jobs: its jobs are requeued, the completed one stays done", async () => {
    const file = path.join(tmpRoot, "claim", "agent.db");
    const seed = openStore(file);
    const ids = [1, 2, 3, 4, 5].map((i) => seed.enqueue(`job-${i}`, Uint8Array.of(i)).id);
    seed.close();

    const child = startChild("claim", file);
    const line = await waitForLine(child, /^ready /);
    const claimed = JSON.parse(line.slice("ready ".length)) as number[];
    assert.deepEqual(claimed, ids.slice(0, 3));
    assert.equal(await killHard(child), "SIGKILL");

    const s = openStore(file);
    assert.deepEqual(s.check(), ["ok"]);
    assert.equal(s.get(ids[0] ?? 0)?.status, "done");
    assert.deepEqual(ids.map((id) => s.get(id)?.status), ["done", "running", "running", "queued", "queued"]);
    // Leases still running: nothing to requeue yet. Once they end, the two orphans go back.
    assert.deepEqual(s.requeueExpiredLeases(Date.now()), { requeued: 0, abandoned: 0 });
    assert.deepEqual(s.requeueExpiredLeases(Date.now() + 60_001), { requeued: 2, abandoned: 0 });
    const rerun: number[] = [];
    for (let j = s.claimNext("survivor"); j !== undefined; j = s.claimNext("survivor")) {
      rerun.push(j.id);
      assert.equal(j.attempts, j.id === ids[1] || j.id === ids[2] ? 2 : 1);
      s.complete(j.id, Uint8Array.of(j.id));
    }
    assert.deepEqual(rerun, ids.slice(1), "every job but the completed one runs, each once");
    const first = s.get(ids[0] ?? 0);
    assert.ok(first?.status === "done");
    assert.deepEqual([...first.result], [42], "the killed runner's result is kept, not re-run");
    s.close();
  });

  test("a writer killed mid-stream leaves a sound store: each write whole or absent", async () => {
    const file = path.join(tmpRoot, "writer", "agent.db");
    openStore(file).close();
    const child = startChild("writer", file);
    await waitForLine(child, /^progress (\d*[1-9]\d*)$/); // at least 25 iterations in
    await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 30)));
    assert.equal(await killHard(child), "SIGKILL");

    const s = openStore(file);
    assert.deepEqual(s.check(), ["ok"]);
    const c = s.jobCounts();
    const jobs = c.queued + c.running + c.done + c.failed;
    assert.ok(jobs >= 25, `only ${jobs} jobs`);
    assert.equal(c.failed, 0);
    assert.ok(c.queued + c.running <= 1, `at most the last job is unfinished: ${JSON.stringify(c)}`);
    const t = s.telemetryCount();
    assert.ok(t === jobs || t === jobs - 1, `telemetry ${t} vs jobs ${jobs}`);
    for (let i = 0; i < jobs; i++) {
      const j = s.getByKey(`w${i}`);
      assert.ok(j !== undefined, `w${i} missing`);
      assert.deepEqual(j.meta, { i });
      const data = j.status === "done" ? j.result : j.status === "failed" ? new Uint8Array(0) : j.request;
      assert.equal(data.length, PAYLOAD, `w${i} ${j.status}`);
      assert.ok(data.every((b) => b === (i & 255)), `w${i} bytes intact`);
    }
    assert.equal(s.getByKey(`w${jobs}`), undefined);
    s.close();
  });

  test("four processes enqueueing the same 100 keys at once: each key is created exactly once", async () => {
    const file = path.join(tmpRoot, "race", "agent.db");
    openStore(file).close();
    const n = 100;
    const children = [0, 25, 50, 75].map((offset) => startChild("enqueue", file, { OFFSET: String(offset), KEYS: String(n) }));
    await Promise.all(children.map((c) => waitForLine(c, /^ready$/)));
    const results = children.map((c) => waitForLine(c, /^\[/));
    for (const c of children) c.stdin?.write("go\n");
    const created = (await Promise.all(results)).flatMap((l) => JSON.parse(l) as string[]);
    assert.equal(created.length, n, "one creation per key in total");
    assert.equal(new Set(created).size, n);
    const s = openStore(file);
    assert.equal(s.pendingCount(), n);
    for (let k = 0; k < n; k++) assert.deepEqual([...((s.getByKey(`k${k}`) as { request: Uint8Array }).request)], [k]);
    s.close();
  });
} else {
  const file = process.env.STORE_FILE ?? "";
  if (role === "claim") childClaim(file);
  else if (role === "writer") childWriter(file);
  else if (role === "enqueue") childEnqueue(file, Number(process.env.OFFSET), Number(process.env.KEYS));
  else throw new Error(`unknown child role ${role}`);
}
