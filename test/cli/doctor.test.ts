// `edgecut doctor`: a healthy machine with a real split, config and broker passes; an unreachable
// broker, a bad config, a changed segment file and busy addresses fail with a fix; --json shape;
// and the platform / version / threshold rules on their own.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { openStore } from "../../agent/store/index.js";
import { checkMemory, checkNode, checkPlatform, LOW_RAM_BYTES } from "../../sdk/cli/doctor-system.js";
import { diskResult, LOW_DISK_BYTES } from "../../sdk/cli/doctor-files.js";
import { gptSplit, type SplitFixture } from "../offload/support.js";
import { freePort, startAedes, type BrokerHandle } from "../support/brokers.js";
import { isRecord, jsonOf, runCli, tempDir, type CliResult } from "./helpers.js";

const NAMES = ["node", "platform", "onnxruntime", "sqlite", "config", "manifest", "store", "broker", "api", "memory", "disk"];

interface Check { name: string; status: string; detail: string; fix?: string }

/** The checks of a --json run, with the shape asserted. */
function checksOf(r: CliResult): Check[] {
  const doc = jsonOf(r);
  assert.deepEqual(Object.keys(doc), ["ok", "checks"], r.stdout);
  assert.ok(Array.isArray(doc.checks));
  const checks = doc.checks as unknown[];
  for (const c of checks) {
    assert.ok(isRecord(c));
    assert.ok(["ok", "warn", "fail", "skip"].includes(c.status as string), JSON.stringify(c));
    assert.equal(typeof c.detail, "string");
    assert.ok((c.detail as string).length > 0, JSON.stringify(c));
    const problem = c.status === "warn" || c.status === "fail";
    assert.equal(typeof c.fix === "string" && c.fix.length > 10, problem, `fix exactly for warn/fail: ${JSON.stringify(c)}`);
    assert.deepEqual(Object.keys(c), problem ? ["name", "status", "detail", "fix"] : ["name", "status", "detail"]);
  }
  assert.deepEqual(checks.map((c) => (c as Check).name), NAMES);
  assert.equal(doc.ok, checks.every((c) => (c as Check).status !== "fail"));
  assert.equal(r.code, doc.ok ? 0 : 1, `exit code; ${r.stdout}`);
  assert.equal(r.stderr, "");
  return checks as Check[];
}

function byName(checks: Check[], name: string): Check {
  const c = checks.find((x) => x.name === name);
  assert.ok(c, name);
  return c;
}

/** Every check ok or skip; memory and disk may warn on a starved machine (they never fail). */
function assertHealthy(checks: Check[]): void {
  for (const c of checks) {
    const allowed = c.name === "memory" || c.name === "disk" ? ["ok", "skip", "warn"] : ["ok", "skip"];
    assert.ok(allowed.includes(c.status), `${c.name}: ${c.status}: ${c.detail} ${c.fix ?? ""}`);
  }
}

/** A config file in `dir` (YAML); `extra` lines go at the top level. */
function writeConfig(dir: string, lines: string[]): string {
  const file = path.join(dir, "agent.yaml");
  fs.writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/** A copy of the split folder (and the source model its manifest references) under `dir`. */
function copySplit(split: SplitFixture, dir: string): string {
  const from = path.dirname(split.manifestPath);
  const to = path.join(dir, "split");
  fs.cpSync(from, to, { recursive: true });
  fs.copyFileSync(path.resolve(from, split.manifest.model.file), path.resolve(to, split.manifest.model.file));
  return path.join(to, "manifest.json");
}

function flipByte(file: string, at = 100): void {
  const b = fs.readFileSync(file);
  b[at] = b[at]! ^ 0xff;
  fs.writeFileSync(file, b);
}

/** A TCP server on 127.0.0.1:port (any program); closed after the test. */
async function hold(t: { after: (fn: () => Promise<void>) => void }, server: net.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

describe("edgecut doctor", () => {
  let split: SplitFixture;
  let broker: BrokerHandle;
  before(async () => {
    split = await gptSplit();
    broker = await startAedes();
  });
  after(async () => { await broker.close(); });

  test("a healthy machine with a real split, config and broker passes (text)", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const cfg = writeConfig(dir, [
      "deviceId: pi-test-01", `manifest: ${split.manifestPath}`, "stateDir: ./state",
      "broker:", `  url: ${broker.url}`, "api:", `  listen: 127.0.0.1:${await freePort()}`,
    ]);
    const r = await runCli(["doctor", "--config", cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^check\s+status\s+detail$/m);
    for (const n of NAMES) assert.match(r.stdout, new RegExp(`^${n}\\s+(ok|skip|WARN)\\s`, "m"), r.stdout);
    assert.match(r.stdout, /^manifest\s+ok\s+.*4 segments, .* in 5 files, sha256 ok$/m);
    assert.match(r.stdout, /^broker\s+ok\s+mqtt:\/\/127\.0\.0\.1:\d+: connected, MQTT 3\.1\.1$/m);
    assert.match(r.stdout, /^store\s+ok\s+.*state does not exist yet: the agent creates it/m);
    assert.match(r.stdout, /the agent can run here/);
    assert.equal(fs.existsSync(path.join(dir, "state")), false, "the doctor must not create the state folder");

    const j = await runCli(["doctor", "--config", cfg, "--json"]);
    const checks = checksOf(j);
    assertHealthy(checks);
    assert.equal(byName(checks, "config").status, "ok");
    assert.match(byName(checks, "config").detail, /device pi-test-01/);
  });

  test("embedded broker with a free port, and an existing store that passes quick_check", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const state = path.join(dir, "state");
    const store = openStore(path.join(state, "agent.db"));
    store.enqueue("key-1", new Uint8Array([1, 2, 3]));
    store.close();
    const cfg = writeConfig(dir, [
      "deviceId: pi-test-02", `manifest: ${split.manifestPath}`, "stateDir: ./state",
      "broker:", "  url: embedded", `  embeddedPort: ${await freePort()}`, "api:", `  listen: unix:${path.join(dir, "agent.sock")}`,
    ]);
    const checks = checksOf(await runCli(["doctor", "--config", cfg, "--json"]));
    assertHealthy(checks);
    assert.match(byName(checks, "broker").detail, /^embedded broker: 127\.0\.0\.1:\d+ is free$/);
    assert.match(byName(checks, "store").detail, /agent\.db: opens, quick_check ok, 1 request\(s\) queued$/);
    assert.match(byName(checks, "api").detail, /is writable$/);
    assert.match(byName(checks, "disk").detail, new RegExp(`free at ${state}$`));
  });

  test("a store file that is not a database fails with the move-aside fix", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    fs.mkdirSync(path.join(dir, "state"));
    fs.writeFileSync(path.join(dir, "state", "agent.db"), "not a database, but long enough to have a header ".repeat(4));
    const cfg = writeConfig(dir, ["deviceId: pi-test-08", `manifest: ${split.manifestPath}`, "stateDir: ./state", "broker:", `  url: ${broker.url}`, "api:", `  listen: 127.0.0.1:${await freePort()}`]);
    const checks = checksOf(await runCli(["doctor", "--config", cfg, "--json"]));
    const s = byName(checks, "store");
    assert.equal(s.status, "fail");
    assert.match(s.detail, /^E_STORE: store .*agent\.db: cannot open/);
    assert.match(s.fix!, /move .*agent\.db aside/);
  });

  test("an unreachable broker fails with the URL (password redacted) and a fix; exit 1", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const port = await freePort();
    const cfg = writeConfig(dir, [
      "deviceId: pi-test-03", `manifest: ${split.manifestPath}`, "broker:", `  url: mqtt://dev:s3cret-pw@127.0.0.1:${port}`,
      "api:", `  listen: 127.0.0.1:${await freePort()}`,
    ]);
    const r = await runCli(["doctor", "--config", cfg]);
    assert.equal(r.code, 1, r.stdout);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cret-pw/);
    assert.match(r.stdout, new RegExp(`^broker\\s+FAIL\\s+.*mqtt://\\*\\*\\*@127\\.0\\.0\\.1:${port}.*ECONNREFUSED`, "m"), r.stdout);
    assert.match(r.stdout, /^fixes:\n {2}broker \(FAIL\): nothing listens there: is the broker running/m);
    assert.match(r.stdout, /the agent cannot run here until the failed checks are fixed \(1 failed/);

    const checks = checksOf(await runCli(["doctor", "--broker", `mqtt://127.0.0.1:${port}`, "--json"]));
    const b = byName(checks, "broker");
    assert.equal(b.status, "fail");
    assert.match(b.fix!, /broker running/);
    assert.equal(byName(checks, "config").status, "skip");
  });

  test("a bad config fails naming the field; the checks that need it are skipped", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const cfg = writeConfig(dir, ["deviceId: pi-test-04", `manifest: ${split.manifestPath}`, "broker:", "  keepalive: 10"]);
    const checks = checksOf(await runCli(["doctor", "--config", cfg, "--json"]));
    const c = byName(checks, "config");
    assert.equal(c.status, "fail");
    assert.match(c.detail, /^E_CONFIG: .*agent\.yaml: broker\.keepalive: .*keepaliveSec/);
    assert.match(c.fix!, /edgecut-agent\.example\.yaml/);
    for (const n of ["manifest", "store", "broker", "api", "disk"]) assert.equal(byName(checks, n).status, "skip", n);
  });

  test("a segment file changed after the split fails naming the file; a missing data file too", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const manifest = copySplit(split, dir);
    assertHealthy(checksOf(await runCli(["doctor", "--manifest", manifest, "--json"])));

    flipByte(path.join(path.dirname(manifest), "segment-1.onnx"));
    const r = await runCli(["doctor", "--manifest", manifest]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^manifest\s+FAIL\s+.*sha256 differs from the recorded one for segment-1\.onnx \(segments\[1\]\)/m);
    assert.match(r.stdout, /manifest \(FAIL\): copy that file again/);

    fs.rmSync(path.join(path.dirname(manifest), "weights.data"));
    const m = byName(checksOf(await runCli(["doctor", "--manifest", manifest, "--json"])), "manifest");
    assert.equal(m.status, "fail");
    assert.match(m.detail, /weights\.data/);
  });

  test("a device pack is checked by its own files", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const manifest = copySplit(split, dir);
    const packDir = path.join(dir, "pack");
    assert.equal((await runCli(["pack", manifest, "--device-max-split", "2", "-o", packDir])).code, 0);
    const ok = byName(checksOf(await runCli(["doctor", "--manifest", path.join(packDir, "manifest.json"), "--json"])), "manifest");
    assert.equal(ok.status, "ok", ok.detail);
    assert.match(ok.detail, /pack: segments 0\.\.1 of 4, .* sha256 ok$/);

    flipByte(path.join(packDir, "segment-0.onnx"));
    const bad = byName(checksOf(await runCli(["doctor", "--manifest", path.join(packDir, "manifest.json"), "--json"])), "manifest");
    assert.equal(bad.status, "fail");
    assert.match(bad.detail, /segment-0\.onnx \(pack\.json files\[0\]\)/);
  });

  test("busy addresses: the API port, an embedded broker port, a missing socket folder", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const apiPort = await hold(t, net.createServer((s) => s.destroy()));
    const brokerPort = await hold(t, net.createServer((s) => s.destroy()));
    const cfg = writeConfig(dir, [
      "deviceId: pi-test-05", `manifest: ${split.manifestPath}`, "broker:", "  url: embedded", `  embeddedPort: ${brokerPort}`,
      "api:", `  listen: 127.0.0.1:${apiPort}`,
    ]);
    const checks = checksOf(await runCli(["doctor", "--config", cfg, "--json"]));
    const api = byName(checks, "api");
    assert.equal(api.status, "fail");
    assert.match(api.detail, new RegExp(`127\\.0\\.0\\.1:${apiPort} is in use by another program`));
    const b = byName(checks, "broker");
    assert.equal(b.status, "fail");
    assert.match(b.detail, new RegExp(`127\\.0\\.0\\.1:${brokerPort} is in use`));
    assert.match(b.fix!, /embeddedPort/);

    const sock = writeConfig(dir, ["deviceId: pi-test-06", `manifest: ${split.manifestPath}`, "api:", `  listen: unix:${path.join(dir, "nope", "agent.sock")}`]);
    const u = byName(checksOf(await runCli(["doctor", "--config", sock, "--json", "--broker", broker.url])), "api");
    assert.equal(u.status, "fail");
    assert.match(u.detail, /nope does not exist \(the agent does not create it\)/);
  });

  test("an API address held by a running agent (it answers /healthz) is a warning, not a failure", async (t) => {
    const dir = tempDir(t, "edgecut-doctor-");
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === "/healthz" ? 200 : 404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ live: true, ready: true, reasons: [] }));
    });
    const port = await hold(t, server);
    const cfg = writeConfig(dir, ["deviceId: pi-test-07", `manifest: ${split.manifestPath}`, "broker:", `  url: ${broker.url}`, "api:", `  listen: 127.0.0.1:${port}`]);
    const checks = checksOf(await runCli(["doctor", "--config", cfg, "--json"]));
    const api = byName(checks, "api");
    assert.equal(api.status, "warn");
    assert.match(api.detail, /an edgecut agent already listens there \(live, ready\)/);
  });
});

describe("doctor rules", () => {
  test("a 32-bit userland fails with the 64-bit OS fix, also under a 64-bit kernel", () => {
    for (const p of [
      { platform: "linux", arch: "arm", machine: "armv7l", longBit: 32 },
      { platform: "linux", arch: "arm", machine: "aarch64" },
      { platform: "linux", arch: "arm64", machine: "aarch64", longBit: 32 },
    ]) {
      const r = checkPlatform(p);
      assert.equal(r.status, "fail", JSON.stringify(p));
      assert.match(r.fix!, /^install 64-bit Raspberry Pi OS; onnxruntime-node ships no armv7 binary/);
    }
    assert.equal(checkPlatform({ platform: "linux", arch: "arm64", machine: "aarch64", longBit: 64 }).status, "ok");
    assert.equal(checkPlatform({ platform: "linux", arch: "x64", machine: "x86_64" }).status, "ok");
    assert.equal(checkPlatform({ platform: "linux", arch: "riscv64", machine: "riscv64", longBit: 64 }).status, "fail");
    assert.equal(checkPlatform({ platform: "darwin", arch: "arm64", machine: "arm64", longBit: 64 }).status, "warn");
  });

  test("Node.js 20 or later", () => {
    assert.equal(checkNode("18.20.4", "108").status, "fail");
    assert.match(checkNode("18.20.4", "108").fix!, /Node\.js 20/);
    assert.equal(checkNode("20.0.0", "115").status, "ok");
    assert.equal(checkNode("22.11.0", "127").detail, "v22.11.0 (module ABI 127)");
  });

  test("low RAM and low disk warn, at the documented thresholds", () => {
    assert.equal(checkMemory(LOW_RAM_BYTES - 1, 4 * LOW_RAM_BYTES).status, "warn");
    assert.equal(checkMemory(LOW_RAM_BYTES, 4 * LOW_RAM_BYTES).status, "ok");
    assert.equal(diskResult("/var/lib/edgecut", LOW_DISK_BYTES - 1).status, "warn");
    assert.equal(diskResult("/var/lib/edgecut", LOW_DISK_BYTES).status, "ok");
    assert.equal(LOW_RAM_BYTES, 256 * 1024 * 1024);
    assert.equal(LOW_DISK_BYTES, 100 * 1024 * 1024);
  });
});
