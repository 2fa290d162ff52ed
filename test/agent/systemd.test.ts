import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAgentConfig } from "../../agent/config/index.js";
import { startListener, toolSkipReason } from "../support/notify-listener.js";
import { createNotifier, sanitizeStatus, watchdogIntervalFromEnv, MAX_STATUS_CHARS, type NotifyExec } from "../../agent/systemd/notify.js";

const UNIT = path.join(import.meta.dirname, "../../agent/systemd/edgecut-agent.service");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-systemd-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** [Section] -> key -> values, of a unit file (comments and blank lines dropped). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s !== null) {
      section = new Map();
      out.set(s[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(section !== undefined && eq > 0, `unit line outside a section or without '=': ${line}`);
    const k = line.slice(0, eq);
    section.set(k, [...(section.get(k) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

describe("systemd unit", () => {
  const text = fs.readFileSync(UNIT, "utf8");
  const unit = parseUnit(text);
  const service = unit.get("Service")!;
  const one = (k: string): string | undefined => service.get(k)?.at(-1);

  test("declares the notify protocol, the watchdog, the folders and the hardening", () => {
    const expected: Record<string, string> = {
      Type: "notify", NotifyAccess: "all", WatchdogSec: "30", Restart: "on-failure", RestartSec: "5",
      DynamicUser: "yes", StateDirectory: "edgecut", RuntimeDirectory: "edgecut", ConfigurationDirectory: "edgecut",
      ProtectSystem: "strict", ProtectHome: "yes", PrivateTmp: "yes", NoNewPrivileges: "yes", KillSignal: "SIGTERM",
      Environment: "NODE_ENV=production",
      ExecStart: "/usr/bin/node --single-threaded /opt/edgecut/dist/sdk/cli/main.js agent --config /etc/edgecut/agent.yaml",
    };
    for (const [k, v] of Object.entries(expected)) assert.equal(one(k), v, k);
    assert.equal(unit.get("Install")?.get("WantedBy")?.[0], "multi-user.target");
    // V8's JIT writes code, then executes it: MemoryDenyWriteExecute=yes makes Node abort.
    assert.equal(service.get("MemoryDenyWriteExecute"), undefined);
    // The device monitor reads /proc/meminfo and /proc/stat.
    assert.equal(service.get("ProcSubset"), undefined);
    // The credential is optional: an active LoadCredential= of a missing file fails the start.
    assert.equal(service.get("LoadCredential"), undefined);
    assert.match(text, /^#LoadCredential=broker-password:\/etc\/edgecut\/broker-password$/m);
    assert.match(text, /^#Environment=EDGECUT_BROKER_PASSWORD_FILE=%d\/broker-password$/m);
  });

  test("TimeoutStopSec covers draining a request with its retries under the default config", () => {
    const cfg = parseAgentConfig({ deviceId: "d", manifest: "m" }, "defaults", root, {});
    const drainMs = cfg.offload.timeoutMs * (cfg.offload.retries + 1) + cfg.telemetry.flushIntervalMs;
    const stopSec = Number(one("TimeoutStopSec"));
    assert.ok(stopSec * 1000 > drainMs, `TimeoutStopSec=${stopSec} s does not cover ${drainMs} ms`);
    assert.equal(one("KillMode"), "mixed");
  });

  test("passes systemd-analyze verify", (t) => {
    const skip = toolSkipReason("systemd-analyze", "apt-get install systemd");
    if (skip !== undefined) return t.skip(skip);
    // verify checks that ExecStart's binary exists: point it at this node and a real script.
    const dir = fs.mkdtempSync(path.join(root, "unit-"));
    const script = path.join(dir, "main.js");
    fs.writeFileSync(script, "");
    const copy = text.replace("/usr/bin/node --single-threaded /opt/edgecut/dist/sdk/cli/main.js", `${process.execPath} --single-threaded ${script}`);
    assert.notEqual(copy, text, "ExecStart not found in the unit");
    const file = path.join(dir, "edgecut-agent.service");
    fs.writeFileSync(file, copy);
    const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8", cwd: dir });
    assert.equal(r.error, undefined);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), "", "systemd-analyze verify complained");
    assert.equal(r.status, 0);
  });

  test("systemd-analyze verify would catch a broken unit (the check above can fail)", (t) => {
    const skip = toolSkipReason("systemd-analyze", "apt-get install systemd");
    if (skip !== undefined) return t.skip(skip);
    const dir = fs.mkdtempSync(path.join(root, "bad-"));
    const file = path.join(dir, "edgecut-agent.service");
    fs.writeFileSync(file, text.replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomeDir=yes"));
    const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8", cwd: dir });
    assert.match(r.stderr, /Unknown key 'ProtectHomeDir'/);
  });
});

describe("notifier: without systemd", () => {
  test("watchdogIntervalMs is half of WATCHDOG_USEC when it is meant for this process", () => {
    assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: "30000000" }, 42), 15_000);
    assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42), 15_000);
    assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: "1000", WATCHDOG_PID: "" }, 42), 0.5);
    assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "43" }, 42), null);
    assert.equal(watchdogIntervalFromEnv({}, 42), null);
    for (const bad of ["", "0", "-5", "1e6", "abc", "99999999999999999999"]) assert.equal(watchdogIntervalFromEnv({ WATCHDOG_USEC: bad }, 42), null, bad);
    const n = createNotifier({ env: { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "20000000", WATCHDOG_PID: String(process.pid) } });
    assert.equal(n.watchdogIntervalMs, 10_000);
    assert.equal(createNotifier({ env: { NOTIFY_SOCKET: "/run/x", WATCHDOG_USEC: "20000000" }, pid: 7 }).watchdogIntervalMs, 10_000);
  });

  test("every call is a no-op without NOTIFY_SOCKET", async () => {
    const calls: string[][] = [];
    const exec: NotifyExec = async (_f, args) => { calls.push([...args]); };
    for (const env of [{}, { NOTIFY_SOCKET: "" }]) {
      const n = createNotifier({ env: { ...env, WATCHDOG_USEC: "30000000" }, exec });
      assert.equal(n.enabled, false);
      assert.equal(n.watchdogIntervalMs, null);
      await n.ready();
      await n.watchdog();
      await n.status("x");
      await n.stopping();
    }
    assert.deepEqual(calls, []);
  });

  test("a failing systemd-notify is logged once per distinct failure, never thrown", async () => {
    const logged: Array<{ fields: Record<string, unknown>; msg: string }> = [];
    const n = createNotifier({
      env: { NOTIFY_SOCKET: path.join(root, "nobody.sock") },
      command: path.join(root, "no-such-systemd-notify"),
      log: (fields, msg) => logged.push({ fields, msg }),
    });
    assert.equal(n.enabled, true);
    await n.ready();
    await n.watchdog();
    await n.watchdog();
    assert.equal(logged.length, 1, JSON.stringify(logged));
    assert.match(logged[0]!.msg, /systemd notification READY=1 failed \(.*no-such-systemd-notify not found/);
    assert.match(String(logged[0]!.fields.err), /ENOENT/);
  });

  test("status text is one line: a newline cannot smuggle in another variable", () => {
    assert.equal(sanitizeStatus("serving\nREADY=1\tk=2"), "serving READY=1 k=2");
    const long = sanitizeStatus("x".repeat(1000));
    assert.equal(long.length, MAX_STATUS_CHARS);
    assert.ok(long.endsWith("…"));
  });
});


describe("notifier: a real NOTIFY_SOCKET", () => {
  test("ready, watchdog, status and stopping reach the socket through systemd-notify", async (t) => {
    const skip = toolSkipReason("systemd-notify", "apt-get install systemd") ?? toolSkipReason("python3", "apt-get install python3");
    if (skip !== undefined) return t.skip(skip);
    const listener = await startListener(root);
    t.after(() => listener.close());
    const logged: string[] = [];
    const n = createNotifier({ env: { ...process.env, NOTIFY_SOCKET: listener.socket }, log: (f, m) => logged.push(`${m} ${JSON.stringify(f)}`) });
    assert.equal(n.enabled, true);
    await n.ready();
    await n.watchdog();
    await n.status("serving split 2\nREADY=0");
    await n.stopping();
    const has = (line: string) => (d: string[]): boolean => d.some((x) => x.split("\n").includes(line));
    await listener.waitFor(has("READY=1"), "READY=1");
    await listener.waitFor(has("WATCHDOG=1"), "WATCHDOG=1");
    await listener.waitFor(has("STATUS=serving split 2 READY=0"), "STATUS");
    await listener.waitFor(has("STOPPING=1"), "STOPPING=1");
    assert.deepEqual(logged, []);
    // --pid names this process as the main PID.
    const ready = listener.datagrams.find((d) => d.split("\n").includes("READY=1"))!;
    assert.ok(ready.split("\n").includes(`MAINPID=${process.pid}`), ready);
    // In call order: READY before WATCHDOG before STATUS before STOPPING.
    const order = ["READY=1", "WATCHDOG=1", "STATUS=serving split 2 READY=0", "STOPPING=1"]
      .map((line) => listener.datagrams.findIndex((d) => d.split("\n").includes(line)));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
  });
});
