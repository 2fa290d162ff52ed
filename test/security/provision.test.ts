// `edgecut provision` and sdk/provision: mosquitto's password hash byte for byte, the password and
// ACL files edited in place (idempotent, neighbours untouched), bad names refused, credential files
// the agent's config accepts, parallel runs across processes losing nothing, and 500 boards
// provisioned into one password/ACL file that a real mosquitto loads and authenticates against.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, test } from "node:test";
import { Command } from "commander";
import { parseAgentConfig } from "../../agent/config/index.js";
import { registerProvision } from "../../sdk/cli/cmd-provision.js";
import {
  aclFileUsers, aclRules, aclSpecOf, generatePassword, hashPassword, passwordFileUsers, provision, renderAclBlock, upsertAclBlock,
  upsertPasswordEntry, verifyPassword,
} from "../../sdk/provision/index.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { findMosquitto, freePort, mosquittoSkipReason, waitForPort } from "../support/brokers.js";
import { connectAs, fleet, passwordOf, startSecureMosquitto, stayRoot, tempDir } from "./support.js";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const mode = (p: string): number => fs.statSync(p).mode & 0o777;

describe("mosquitto password hashes", () => {
  test("the $7$ hash is mosquitto_passwd's, byte for byte (a hash it wrote, reproduced from its salt)", () => {
    // `mosquitto_passwd -c -b pw alice secret` (mosquitto 2.0.11) wrote this line.
    const written = "$7$101$6cHrqw7kj5x9m8Hb$gpX+dTpQx8RMP59sdoVU4Q7gwD+howx6QEve53MIT/o8oSBOjKMAMYqX2r30OxC9X4cYkc3tKoMJNoujVJsfng==";
    assert.equal(hashPassword("secret", { salt: Buffer.from("6cHrqw7kj5x9m8Hb", "base64") }), written);
    assert.equal(verifyPassword("secret", written), true);
    assert.equal(verifyPassword("Secret", written), false);
    assert.equal(verifyPassword("secret", "$6$abc$def"), false);
  });

  test("a fresh hash verifies, with a new salt each time; mosquitto_passwd's own hashes verify too", (t) => {
    const a = hashPassword("pw");
    const b = hashPassword("pw");
    assert.notEqual(a, b);
    assert.match(a, /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    assert.ok(verifyPassword("pw", a) && verifyPassword("pw", b));
    const tool = spawnSync("sh", ["-c", "command -v mosquitto_passwd"], { encoding: "utf8" }).stdout.trim();
    if (tool === "") return t.skip("mosquitto_passwd is not installed");
    const dir = tempDir("passwd");
    const file = path.join(dir, "pw");
    assert.equal(spawnSync(tool, ["-c", "-b", file, "bob", "hunter2"]).status, 0);
    const hash = fs.readFileSync(file, "utf8").trim().split(":")[1]!;
    assert.equal(verifyPassword("hunter2", hash), true);
  });

  test("generated passwords: 192 random bits as 32 base64url characters", () => {
    const seen = new Set(Array.from({ length: 100 }, generatePassword));
    assert.equal(seen.size, 100);
    for (const p of seen) assert.match(p, /^[A-Za-z0-9_-]{32}$/);
  });
});

describe("editing the password file and the ACL file", () => {
  test("password entries: added, replaced in place, duplicates dropped, other lines kept", () => {
    const text = "# managed by hand\nalice:$7$1$a$b\nbob:$7$1$c$d\nalice:$7$1$old$dup\n";
    const r = upsertPasswordEntry(text, "alice", "$7$101$new$hash");
    assert.equal(r.replaced, true);
    assert.equal(r.text, "# managed by hand\nalice:$7$101$new$hash\nbob:$7$1$c$d\n");
    const added = upsertPasswordEntry(r.text, "carol", "$7$101$x$y");
    assert.equal(added.replaced, false);
    assert.deepEqual(passwordFileUsers(added.text), ["alice", "bob", "carol"]);
    assert.equal(upsertPasswordEntry("", "dev", "h").text, "dev:h\n");
  });

  test("ACL blocks: appended after a blank line, replaced in place, idempotent; hand-written rules, patterns and comments survive", () => {
    const hand = [
      "# anonymous clients get nothing but this",
      "topic read public/#",
      "",
      "pattern read edgecut/v1/status/%u",
      "",
      "user operator",
      "topic readwrite #",
      "",
      "# the next block is edgecut's",
    ].join("\n") + "\n";
    const a = renderAclBlock({ role: "device", user: "pi-1", prefix: "edgecut" });
    const once = upsertAclBlock(hand, "pi-1", a);
    assert.equal(once.replaced, false);
    assert.equal(once.text, hand + "\n" + a.join("\n") + "\n");
    assert.equal(upsertAclBlock(once.text, "pi-1", a).text, once.text, "the same block again changes nothing");
    const b = upsertAclBlock(once.text, "pi-2", renderAclBlock({ role: "device", user: "pi-2", prefix: "edgecut" })).text;
    // pi-1 becomes a worker: its block changes where it stands, pi-2's and the hand-written ones stay.
    const w = renderAclBlock({ role: "worker", user: "pi-1", prefix: "edgecut", workerId: "w-7", group: "g" });
    const r = upsertAclBlock(b, "pi-1", w);
    assert.equal(r.replaced, true);
    assert.ok(r.text.startsWith(hand), r.text);
    assert.ok(r.text.includes(`${w.join("\n")}\n\n# edgecut device\nuser pi-2\n`), r.text);
    assert.deepEqual(aclFileUsers(r.text), ["operator", "pi-1", "pi-2"]);
    assert.doesNotMatch(r.text, /topic write edgecut\/v1\/req\/pi-1\//);
    // A duplicate block (hand edit) of the user goes.
    const dup = upsertAclBlock(`${r.text}\nuser pi-2\ntopic read x\n`, "pi-2", renderAclBlock({ role: "monitor", user: "pi-2", prefix: "edgecut" })).text;
    assert.deepEqual(aclFileUsers(dup), ["operator", "pi-1", "pi-2"]);
    assert.doesNotMatch(dup, /topic read x/);
  });

  test("the grants of each role, under a multi-level prefix", () => {
    const rules = (spec: Parameters<typeof aclRules>[0]): string[] => aclRules(spec).map((x) => `${x.access} ${x.topic}`);
    assert.deepEqual(rules({ role: "device", user: "pi-1", prefix: "site-3/edgecut" }), [
      "write site-3/edgecut/v1/req/pi-1/+", "write site-3/edgecut/v1/req/pi-1/+/+", "read site-3/edgecut/v1/reply/pi-1", "write site-3/edgecut/v1/telemetry/pi-1",
    ]);
    assert.deepEqual(rules({ role: "worker", user: "gpu-1", prefix: "e", workerId: "w1", group: "pool" }), [
      "read e/v1/req/+/+", "read e/v1/req/+/+/w1", "write e/v1/reply/+", "readwrite e/v1/relay/pool/#", "readwrite e/v1/probe/#",
    ]);
    assert.deepEqual(rules({ role: "monitor", user: "grafana", prefix: "e" }), ["read e/v1/telemetry/+"]);
    // Without a worker id: whatever id the worker starts with (edgecut cloud's is random per start).
    assert.deepEqual(rules({ role: "worker", user: "gpu-2", prefix: "e" }).slice(0, 2), ["read e/v1/req/+/+", "read e/v1/req/+/+/+"]);
  });
});

describe("provision()", () => {
  test("bad names and options are E_USAGE naming the flag and the reason", async () => {
    const outDir = tempDir("bad");
    const bad: Array<[Parameters<typeof provision>[0], RegExp]> = [
      [{ deviceId: "a/b" }, /--device-id: deviceId "a\/b" must not contain '\/'/],
      [{ deviceId: "dev+1" }, /--device-id: .*'\+'/],
      [{ deviceId: "" }, /--device-id: .*must not be empty/],
      [{ deviceId: "x".repeat(129) }, /--device-id: .*over the limit of 128/],
      [{ deviceId: "pi 1" }, /--device-id: .*letters, digits.*e\.g\. "pi-1"/],
      [{ deviceId: "pi:1" }, /--device-id: .*letters, digits/],
      [{ deviceId: ".." }, /--device-id: .*letters, digits/],
      [{ deviceId: "-rf" }, /--device-id: .*starting with a letter or digit/],
      [{ deviceId: "pi-1", workerId: "w1" }, /--worker-id applies to --role worker only/],
      [{ deviceId: "pi-1", group: "g" }, /--group applies to --role worker only/],
      [{ deviceId: "w", role: "worker", workerId: "a#b" }, /--worker-id: worker id "a#b" must not contain '#'/],
      [{ deviceId: "w", role: "worker", group: "g/h" }, /--group: share group "g\/h"/],
      [{ deviceId: "pi-1", prefix: "$SYS" }, /--prefix: .*must not start with '\$'/],
      [{ deviceId: "pi-1", prefix: "a b" }, /--prefix: .*whitespace/],
      [{ deviceId: "pi-1", role: "admin" as "device" }, /--role "admin": expected one of device, worker, monitor/],
    ];
    for (const [opts, message] of bad) {
      await assert.rejects(provision({ ...opts, outDir }), { code: "E_USAGE", message }, JSON.stringify(opts));
    }
    assert.deepEqual(fs.readdirSync(outDir), [], "nothing written for a refused name");
  });

  test("credential files: modes, contents the agent's config accepts, renewal replaces, a role change drops device files", async () => {
    const f = fleet("creds");
    const r = await f.add({ deviceId: "pi-42" });
    const pw = passwordOf(r);
    assert.equal(mode(r.files.dir), 0o700);
    assert.equal(mode(r.files.password), 0o600);
    assert.equal(mode(r.files.env!), 0o600);
    assert.equal(mode(r.files.dropIn!), 0o644);
    assert.equal(mode(f.passwordFile), 0o600);
    assert.doesNotMatch(fs.readFileSync(r.files.dropIn!, "utf8"), new RegExp(pw), "the drop-in holds no secret");
    assert.doesNotMatch(JSON.stringify(r), new RegExp(pw), "the result never holds the password");
    assert.ok(verifyPassword(pw, fs.readFileSync(f.passwordFile, "utf8").trim().split(":")[1]!));

    const base = { manifest: "model/manifest.json", broker: { url: "mqtt://broker.lan:1883" } };
    // agent.env, as docker --env-file or EnvironmentFile= reads it.
    const env = Object.fromEntries(fs.readFileSync(r.files.env!, "utf8").split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    const fromEnv = parseAgentConfig(base, "agent.env", f.dir, env);
    assert.deepEqual([fromEnv.deviceId, fromEnv.broker.username, fromEnv.broker.password], ["pi-42", "pi-42", pw]);
    // The drop-in's variables, with the credential file where systemd puts it (%d/broker-password).
    const dropIn = fs.readFileSync(r.files.dropIn!, "utf8");
    const vars = Object.fromEntries([...dropIn.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.replace("%d/broker-password", r.files.password)]));
    assert.match(dropIn, /^LoadCredential=broker-password:\/etc\/edgecut\/broker-password$/m);
    const fromDropIn = parseAgentConfig(base, "drop-in", f.dir, vars);
    assert.deepEqual([fromDropIn.deviceId, fromDropIn.broker.username, fromDropIn.broker.password], ["pi-42", "pi-42", pw]);

    const again = await f.add({ deviceId: "pi-42" });
    assert.equal(again.passwordFile?.replaced, true);
    assert.equal(again.aclFile?.replaced, true);
    assert.notEqual(passwordOf(again), pw);
    assert.deepEqual(passwordFileUsers(fs.readFileSync(f.passwordFile, "utf8")), ["pi-42"]);
    assert.deepEqual(aclFileUsers(fs.readFileSync(f.aclFile, "utf8")), ["pi-42"]);

    const worker = await f.add({ deviceId: "pi-42", role: "worker" });
    assert.equal(worker.files.env, undefined);
    assert.deepEqual(fs.readdirSync(worker.files.dir), ["broker-password"]);
    assert.deepEqual(aclFileUsers(fs.readFileSync(f.aclFile, "utf8")), ["pi-42"]);
  });

  test("an existing broker file keeps its mode; a missing folder is E_IO saying what to do", async () => {
    const f = fleet("modes");
    fs.writeFileSync(f.passwordFile, "other:$7$101$x$y\n", { mode: 0o640 });
    fs.chmodSync(f.passwordFile, 0o640);
    await f.add({ deviceId: "pi-1" });
    assert.equal(mode(f.passwordFile), 0o640);
    assert.deepEqual(passwordFileUsers(fs.readFileSync(f.passwordFile, "utf8")), ["other", "pi-1"]);
    await assert.rejects(provision({ deviceId: "pi-2", outDir: f.outDir, passwordFile: path.join(f.dir, "missing", "passwd") }), { code: "E_IO", message: /folder exists/ });
  });

  test("parallel runs, in this process and in four others at once, lose and duplicate no entry", async () => {
    const f = fleet("parallel");
    const script = path.join(f.dir, "provision-some.mts");
    fs.writeFileSync(script, [
      `import { provision } from ${JSON.stringify(pathToFileURL(path.join(ROOT, "sdk", "provision", "index.ts")).href)};`,
      'import * as fs from "node:fs";',
      "const [tag, passwordFile, aclFile, outDir, go] = process.argv.slice(2);",
      // Every process starts at the same moment: each says it is ready, then waits for the go file.
      "fs.writeFileSync(`${go}.${tag}`, '');",
      "while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 2));",
      "for (let i = 0; i < 20; i++) await provision({ deviceId: `${tag}-${i}`, passwordFile, aclFile, outDir });",
    ].join("\n"));
    const go = path.join(f.dir, "go");
    const tags = ["p1", "p2", "p3", "p4"];
    const run = (tag: string): Promise<void> => new Promise((resolve, reject) => {
      const c = spawn(process.execPath, ["--import", "tsx", script, tag, f.passwordFile, f.aclFile, f.outDir, go], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      c.stderr.on("data", (b: Buffer) => { err += b.toString(); });
      c.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`provisioning process ${tag} exited ${code}: ${err}`))));
    });
    const done = Promise.all(tags.map(run));
    const deadline = Date.now() + 20_000;
    while (!tags.every((tag) => fs.existsSync(`${go}.${tag}`))) {
      if (Date.now() > deadline) assert.fail("the provisioning processes did not start");
      await new Promise((r) => setTimeout(r, 10));
    }
    fs.writeFileSync(go, "");
    await Promise.all([done, ...Array.from({ length: 20 }, (_, i) => f.add({ deviceId: `local-${i}` }))]);
    const users = passwordFileUsers(fs.readFileSync(f.passwordFile, "utf8"));
    const acl = aclFileUsers(fs.readFileSync(f.aclFile, "utf8"));
    assert.equal(users.length, 100);
    assert.equal(new Set(users).size, 100);
    assert.deepEqual([...acl].sort(), [...users].sort());
    assert.deepEqual(fs.readdirSync(f.dir).filter((n) => n.includes(".lock") || n.includes(".tmp-")), [], "no lock or temp file left behind");
  });
});

describe("500 boards into one password and ACL file, loaded by mosquitto", { skip: mosquittoSkipReason() ?? false }, () => {
  test("every account is in once; mosquitto starts on the files and authenticates the first, a middle and the last board", async (t) => {
    const f = fleet("fleet500");
    const ids = Array.from({ length: 500 }, (_, i) => `pi-${String(i).padStart(3, "0")}`);
    const results = [];
    for (const id of ids) results.push(await f.add({ deviceId: id }));
    // Two re-provisioned in the loop (a board replaced): still once each.
    results[7] = await f.add({ deviceId: ids[7]! });
    results[499] = await f.add({ deviceId: ids[499]! });
    assert.deepEqual(passwordFileUsers(fs.readFileSync(f.passwordFile, "utf8")), ids);
    assert.deepEqual(aclFileUsers(fs.readFileSync(f.aclFile, "utf8")), ids);
    const broker = await startSecureMosquitto(f);
    t.after(() => broker.close());
    for (const i of [0, 7, 250, 499]) {
      const c = await connectAs(broker.url, results[i]!);
      await c.close();
    }
    await assert.rejects(connectMqtt({ url: broker.url, reconnectPeriodMs: 0, username: ids[1]!, password: passwordOf(results[2]!) }), { code: "E_BROKER", message: /Not authorized/ });
    assert.doesNotMatch(broker.log(), /error/i, broker.log());
  });
});

describe("the broker setup of docs/provisioning.md (mosquitto)", { skip: mosquittoSkipReason() ?? false }, () => {
  test("its mosquitto.conf settings load; accounts provisioned while it runs apply on SIGHUP, which cuts off renewed accounts only", async (t) => {
    const f = fleet("reload");
    const first = await f.add({ deviceId: "pi-1" });
    const third = await f.add({ deviceId: "pi-3" });
    const doc = fs.readFileSync(path.join(ROOT, "docs", "provisioning.md"), "utf8");
    const block = /```conf\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(block !== undefined, "docs/provisioning.md has a ```conf block");
    // Its global settings as written (the files moved to the test's folder); a plain loopback listener instead of the TLS one.
    const settings = block.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#") && !/^(listener|certfile|keyfile)\b/.test(l))
      .map((l) => l.replace("/etc/mosquitto/edgecut.passwd", f.passwordFile).replace("/etc/mosquitto/edgecut.acl", f.aclFile));
    assert.ok(settings.includes(`password_file ${f.passwordFile}`) && settings.includes("allow_anonymous false"), settings.join("\n"));
    const port = await freePort();
    const conf = path.join(f.dir, "mosquitto.conf");
    fs.writeFileSync(conf, [...settings, `listener ${port} 127.0.0.1`, "log_dest stderr", ...stayRoot()].join("\n") + "\n");
    const broker = spawn(findMosquitto()!, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    broker.stderr.on("data", (b: Buffer) => { log += b.toString(); });
    const exited = new Promise((r) => broker.once("exit", r));
    t.after(async () => { broker.kill("SIGKILL"); await exited; });
    await waitForPort(port, "127.0.0.1", 5000, () => broker.exitCode === null).catch((e: Error) => assert.fail(`${e.message}\n${log}`));
    const url = `mqtt://127.0.0.1:${port}`;

    const c1 = await connectAs(url, first);
    assert.equal(c1.maxPacketSize, 16 * 2 ** 20, "max_packet_size from the docs is in force");
    const c3 = await connectAs(url, third);
    t.after(async () => { await c1.close(); await c3.close(); });
    const down = new Set<string>();
    c1.on("disconnected", () => down.add("pi-1"));
    c3.on("disconnected", () => down.add("pi-3"));
    const oldPassword = passwordOf(first);
    const second = await f.add({ deviceId: "pi-2" });
    const renewed = await f.add({ deviceId: "pi-1" });
    await assert.rejects(connectAs(url, second), { code: "E_BROKER", message: /Not authorized/ }, "not before the reload");
    broker.kill("SIGHUP");
    const deadline = Date.now() + 5000;
    while (!down.has("pi-1") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // The reload cuts off the account whose password changed, and only that one.
    assert.ok(down.has("pi-1"), `the renewed account stays connected after the reload:\n${log}`);
    await c3.publish("edgecut/v1/telemetry/pi-3", new Uint8Array(1));
    assert.ok(!down.has("pi-3"), "an unchanged account is disconnected by the reload");
    await (await connectAs(url, second)).close();
    await (await connectAs(url, renewed)).close();
    await assert.rejects(connectMqtt({ url, username: "pi-1", password: oldPassword, reconnectPeriodMs: 0 }), { code: "E_BROKER", message: /Not authorized/ });
  });
});

describe("edgecut provision (the command)", () => {
  async function run(argv: string[]): Promise<string> {
    const program = new Command("edgecut").exitOverride();
    registerProvision(program);
    const out: string[] = [];
    const saved = process.stdout.write;
    // Strings are the command's; the test runner's own (binary) events pass through.
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      if (typeof chunk !== "string") return (saved as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
      out.push(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      await program.parseAsync(argv, { from: "user" });
    } finally {
      process.stdout.write = saved;
    }
    return out.join("");
  }

  test("--json: what was done, never the password; text: the files and the reload hint", async () => {
    const dir = tempDir("cli");
    const common = ["--out-dir", path.join(dir, "creds"), "--password-file", path.join(dir, "passwd"), "--acl-file", path.join(dir, "acl")];
    const doc = JSON.parse(await run(["provision", "--device-id", "gpu-1", "--role", "worker", "--worker-id", "w-1", "--group", "pool", "--prefix", "site/edgecut", "--json", ...common])) as Record<string, unknown>;
    const pw = fs.readFileSync(path.join(dir, "creds", "gpu-1", "broker-password"), "utf8").trim();
    assert.deepEqual([doc.deviceId, doc.role, doc.username, doc.workerId, doc.group, doc.prefix], ["gpu-1", "worker", "gpu-1", "w-1", "pool", "site/edgecut"]);
    assert.deepEqual(doc.passwordFile, { path: path.join(dir, "passwd"), replaced: false });
    assert.ok(Array.isArray(doc.acl) && doc.acl.some((r: { topic: string }) => r.topic === "site/edgecut/v1/req/+/+/w-1"));
    assert.doesNotMatch(JSON.stringify(doc), new RegExp(pw));
    const text = await run(["provision", "--device-id", "pi-1", ...common]);
    assert.match(text, /^provisioned device pi-1\n/);
    assert.match(text, /password file: .*passwd \(entry added\)/);
    assert.match(text, /ACL file: .*acl \(block added: 4 topic rules\)/);
    assert.match(text, /systemctl reload mosquitto/);
    await assert.rejects(run(["provision", "--device-id", "pi-1", "--role", "root", ...common]), { code: "E_USAGE", message: /--role root: expected one of device, worker, monitor/ });
  });
});

describe("worker ACLs per split", () => {
  test("--split confines a worker's reads to those splits; it is refused for a device", () => {
    const rules = aclRules(aclSpecOf({ deviceId: "w1", role: "worker", workerId: "w1", splits: ["s1", "s2", "s1"] }));
    assert.deepEqual(rules.filter((r) => r.access === "read").map((r) => r.topic), [
      "edgecut/v1/req/+/s1", "edgecut/v1/req/+/s1/w1", "edgecut/v1/req/+/s2", "edgecut/v1/req/+/s2/w1",
    ]);
    assert.ok(aclRules(aclSpecOf({ deviceId: "w1", role: "worker" })).some((r) => r.topic === "edgecut/v1/req/+/+"), "no --split: every split");
    assert.throws(() => aclSpecOf({ deviceId: "pi", splits: ["s1"] }), { code: "E_USAGE", message: /--split applies to --role worker/ });
    assert.throws(() => aclSpecOf({ deviceId: "w1", role: "worker", splits: ["a/b"] }), { code: "E_USAGE", message: /--split/ });
  });
});
