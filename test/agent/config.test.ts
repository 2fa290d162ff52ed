import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EdgecutError } from "../../sdk/errors.js";
import { ENV_OVERRIDES, loadAgentConfig, parseAgentConfig, redactConfig, type AgentConfig } from "../../agent/config/index.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-config-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A fresh folder with `files` written in it; returns its path. */
function dir(files: Record<string, string> = {}): string {
  const d = path.join(root, `case-${n++}`);
  fs.mkdirSync(d, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
    fs.writeFileSync(path.join(d, name), text);
  }
  return d;
}

const MINIMAL = "deviceId: pi-1\nmanifest: model/manifest.json\n";

/** Loads `text` as <tmp>/agent.yaml with `env` (default: none). */
function load(text: string, env: Record<string, string> = {}, name = "agent.yaml"): AgentConfig {
  const d = dir({ [name]: text });
  return loadAgentConfig(path.join(d, name), env);
}

/** The E_CONFIG message of loading `text`; fails the test when it loads. */
function loadError(text: string, env: Record<string, string> = {}, name = "agent.yaml"): string {
  try {
    load(text, env, name);
  } catch (e) {
    assert.ok(e instanceof EdgecutError, String(e));
    assert.equal(e.code, "E_CONFIG", e.message);
    return e.message;
  }
  assert.fail("expected E_CONFIG");
}

describe("agent config: files", () => {
  test("a minimal YAML file gets every default", () => {
    const d = dir({ "agent.yaml": MINIMAL });
    const cfg = loadAgentConfig(path.join(d, "agent.yaml"), {});
    assert.equal(cfg.deviceId, "pi-1");
    assert.equal(cfg.manifest, path.join(d, "model/manifest.json"));
    assert.equal(cfg.stateDir, path.join(d, "edgecut-state"));
    assert.equal(cfg.storeFile, path.join(d, "edgecut-state", "agent.db"));
    assert.deepEqual(cfg.broker, { url: "embedded", keepaliveSec: 10, prefix: "edgecut", rejectUnauthorized: true, embeddedPort: 1883 });
    assert.deepEqual(cfg.api, {
      listen: "127.0.0.1:8787", address: { kind: "tcp", host: "127.0.0.1", port: 8787, loopback: true },
      allowNonLoopback: false, socketMode: 0o660, maxBodyBytes: 64 * 1024 * 1024,
    });
    assert.equal(cfg.profile, undefined);
    assert.equal(cfg.planner.objective, "latency");
    assert.deepEqual(cfg.policy, { name: "hysteresis", minRelativeGain: 0.1, minAbsoluteGainMs: 2, confirmations: 3, confirmMs: 5000 });
    assert.equal(cfg.network.window, 32);
    assert.deepEqual(cfg.profiler, { warmupRuns: 2, timedRuns: 5, staleAfterMs: 7 * 24 * 3600_000, loadChangeThreshold: 0.3, recheckIntervalMs: 300_000 });
    assert.deepEqual(cfg.offload, { timeoutMs: 10_000, retries: 2, encoding: "fp32" });
    assert.deepEqual(cfg.telemetry, { publishIntervalMs: 60_000, flushIntervalMs: 5000, maxRows: 10_000 });
    assert.equal(cfg.sampleIntervalMs, 2000);
    assert.equal(cfg.planIntervalMs, 1000);
    assert.equal(cfg.intraOpThreads, undefined);
    assert.deepEqual(cfg.log, { level: "info" });
    assert.deepEqual(cfg.store, {});
    assert.deepEqual(cfg.source, { file: path.join(d, "agent.yaml"), env: [] });
  });

  test("YAML and JSON with the same settings give the same config", () => {
    const settings = {
      deviceId: "pi-2", manifest: "m.json", stateDir: "state",
      broker: { url: "mqtt://broker.lan:1883", username: "dev", keepaliveSec: 30, prefix: "site-3/edgecut" },
      api: { listen: "[::1]:9000", socketMode: "0600", maxBodyBytes: 2048 },
      planner: { objective: "throughput", privateInputs: ["input_ids"] },
      policy: { name: "static", split: 2 },
      network: { window: 16 },
      offload: { encoding: "fp16", retries: 0 },
      telemetry: { publishIntervalMs: 0 },
      intraOpThreads: 3,
      log: { level: "debug" },
      store: { maxPageCount: 1000 },
    };
    const yaml = [
      "deviceId: pi-2", "manifest: m.json", "stateDir: state",
      "broker:", "  url: mqtt://broker.lan:1883", "  username: dev", "  keepaliveSec: 30", "  prefix: site-3/edgecut",
      "api:", '  listen: "[::1]:9000"', '  socketMode: "0600"', "  maxBodyBytes: 2048",
      "planner:", "  objective: throughput", "  privateInputs: [input_ids]",
      "policy: { name: static, split: 2 }", "network:", "  window: 16", "offload:", "  encoding: fp16", "  retries: 0",
      "telemetry:", "  publishIntervalMs: 0", "intraOpThreads: 3", "log:", "  level: debug", "store:", "  maxPageCount: 1000", "",
    ].join("\n");
    const d = dir({ "a.yml": yaml, "a.json": JSON.stringify(settings) });
    const a = loadAgentConfig(path.join(d, "a.yml"), {});
    const b = loadAgentConfig(path.join(d, "a.json"), {});
    assert.deepEqual({ ...a, source: undefined }, { ...b, source: undefined });
    assert.equal(a.api.socketMode, 0o600);
    assert.deepEqual(a.api.address, { kind: "tcp", host: "::1", port: 9000, loopback: true });
    assert.equal(a.stateDir, path.join(d, "state"));
    assert.deepEqual(a.policy, { name: "static", split: 2, minRelativeGain: 0.1, minAbsoluteGainMs: 2, confirmations: 3, confirmMs: 5000 });
    assert.equal(a.planner.objective, "throughput");
    assert.equal(a.broker.prefix, "site-3/edgecut");
  });

  test("a missing file, a folder and an unknown extension are E_CONFIG naming the path", () => {
    const d = dir();
    assert.throws(() => loadAgentConfig(path.join(d, "nope.yaml"), {}), (e: EdgecutError) =>
      e.code === "E_CONFIG" && e.message.includes(path.join(d, "nope.yaml")) && /ENOENT/.test(e.message) && /example\.yaml/.test(e.message));
    assert.throws(() => loadAgentConfig(d, {}), (e: EdgecutError) => e.code === "E_CONFIG" && /is a folder/.test(e.message));
    assert.match(loadError(MINIMAL, {}, "agent.toml"), /unknown config format "\.toml"; name the file \.yaml, \.yml or \.json/);
  });

  test("YAML syntax errors and duplicate keys name the line", () => {
    assert.match(loadError("deviceId: pi-1\nmanifest: [a\n  b: c\n"), /agent\.yaml: not valid YAML at line 2, column \d+: /);
    assert.match(loadError("deviceId: pi-1\nmanifest: m\ndeviceId: pi-2\n"), /not valid YAML at line 3, column 1: .*[Uu]nique/);
  });

  test("JSON syntax errors name the line and never quote the text", () => {
    const msg = loadError('{\n  "deviceId": "pi-1",\n  "manifest": "m",\n}\n', {}, "agent.json");
    assert.match(msg, /agent\.json: not valid JSON at line 4, column 1/);
    const secret = loadError('{"broker": {"password": "hunter2"} x}', {}, "agent.json");
    assert.doesNotMatch(secret, /hunter2/);
  });

  test("an empty file reports the required fields; a list is not a config", () => {
    assert.match(loadError(""), /agent\.yaml: deviceId: is missing \(string required\); add it to .*agent\.yaml.*also: manifest: is missing/);
    assert.match(loadError("- a\n- b\n"), /\(top level\): must be a mapping of settings .*got a list/);
  });

  test("a key with no value counts as not set", () => {
    const cfg = load(`${MINIMAL}store:\n  # maxPageCount: 10\nbroker:\n  url:\n`);
    assert.deepEqual(cfg.store, {});
    assert.equal(cfg.broker.url, "embedded");
  });
});

describe("agent config: validation", () => {
  test("an unknown key names the keys allowed next to it and the likely one", () => {
    const top = loadError(`${MINIMAL}planer:\n  objective: latency\n`);
    assert.match(top, /agent\.yaml: planer: unknown key; the keys allowed here are deviceId, manifest, .*planner.*; did you mean "planner"\? rename or remove it/);
    const nested = loadError(`${MINIMAL}broker:\n  url: mqtt://b:1883\n  keepalive: 5\n`);
    assert.match(nested, /broker\.keepalive: unknown key; the keys allowed here are url, username, password, keepaliveSec, .*did you mean "keepaliveSec"/);
    const reused = loadError(`${MINIMAL}network:\n  windowSize: 5\n`);
    assert.match(reused, /network\.windowSize: unknown key; the keys allowed here are window, halfLifeSamples/);
    const far = loadError(`${MINIMAL}zzzzzzzz: 1\n`);
    assert.match(far, /zzzzzzzz: unknown key; .*; remove it/);
  });

  test("a wrong type names the field", () => {
    assert.match(loadError(`${MINIMAL}broker:\n  keepaliveSec: ten\n`), /agent\.yaml: broker\.keepaliveSec: Invalid input: expected number, received string; fix it in /);
    assert.match(loadError(`${MINIMAL}broker:\n  keepaliveSec: 601\n`), /broker\.keepaliveSec: Too big/);
    assert.match(loadError(`${MINIMAL}offload:\n  encoding: raw\n`), /offload\.encoding: Invalid option/);
    assert.match(loadError(`${MINIMAL}telemetry:\n  publishIntervalMs: 10\n`), /telemetry\.publishIntervalMs: must be 0 \(off\) or at least 1000 ms/);
    assert.match(loadError(`${MINIMAL}api:\n  socketMode: 0660\n`), /api\.socketMode: must be a quoted octal string such as "0660"/);
    assert.match(loadError(`${MINIMAL}log:\n  level: verbose\n`), /log\.level: Invalid option/);
  });

  test("a deviceId that is not one topic level is refused", () => {
    for (const [id, why] of [["a/b", /'\/'/], ["a+b", /'\+'/], ["a#", /'#'/], ["a\\tb", /U\+0009/], ["x".repeat(129), /129 UTF-8 bytes, over the limit of 128/]] as const) {
      assert.match(loadError(`deviceId: "${id}"\nmanifest: m\n`), new RegExp(`deviceId: must .*|deviceId: is .*`), id);
      assert.match(loadError(`deviceId: "${id}"\nmanifest: m\n`), why, id);
    }
    assert.equal(load(`deviceId: "${"é".repeat(64)}"\nmanifest: m\n`).deviceId.length, 64);
  });

  test("a bad topic prefix is refused", () => {
    assert.match(loadError(`${MINIMAL}broker:\n  prefix: "a/#"\n`), /broker\.prefix: topic prefix "a\/#" must not contain '#'/);
  });

  test("a non-loopback TCP listen address is refused unless allowNonLoopback", () => {
    for (const listen of ["0.0.0.0:8787", "192.168.1.20:8787", "[::]:8787", "pi.lan:8787"]) {
      assert.match(loadError(`${MINIMAL}api:\n  listen: "${listen}"\n`), /api\.listen: .* is not a loopback address and the API has no authentication; .*allowNonLoopback: true/, listen);
    }
    const cfg = load(`${MINIMAL}api:\n  listen: 0.0.0.0:8787\n  allowNonLoopback: true\n`);
    assert.deepEqual(cfg.api.address, { kind: "tcp", host: "0.0.0.0", port: 8787, loopback: false });
    for (const listen of ["127.0.0.2:1", "localhost:8787", "[::1]:0"]) {
      assert.equal(load(`${MINIMAL}api:\n  listen: "${listen}"\n`).api.address.kind, "tcp", listen);
    }
    assert.match(loadError(`${MINIMAL}api:\n  listen: "8787"\n`), /api\.listen: "8787" is not "host:port"/);
    assert.match(loadError(`${MINIMAL}api:\n  listen: "127.0.0.1:70000"\n`), /port 70000 is over 65535/);
  });

  test("a unix socket path resolves against the config folder and must fit sun_path", () => {
    const d = dir({ "agent.yaml": `${MINIMAL}api:\n  listen: unix:run/agent.sock\n` });
    assert.deepEqual(loadAgentConfig(path.join(d, "agent.yaml"), {}).api.address, { kind: "unix", path: path.join(d, "run/agent.sock") });
    assert.match(loadError(`${MINIMAL}api:\n  listen: unix:/${"s".repeat(120)}.sock\n`), /api\.listen: the socket path .* bytes; a unix socket path holds at most 107/);
  });

  test("the static policy needs a split, and only it takes one", () => {
    assert.match(loadError(`${MINIMAL}policy:\n  name: static\n`), /policy\.split: the "static" policy needs "split"/);
    assert.match(loadError(`${MINIMAL}policy:\n  split: 1\n`), /policy\.split: applies to the "static" policy only/);
    assert.equal(load(`${MINIMAL}policy:\n  name: static\n  split: 0\n`).policy.split, 0);
    assert.equal(load(`${MINIMAL}policy:\n  name: greedy\n`).policy.name, "greedy");
  });

  test("broker URLs and TLS settings are checked", () => {
    assert.match(loadError(`${MINIMAL}broker:\n  url: http://b\n`), /broker\.url: http:\/\/b has scheme http:; expected mqtt:\/\//);
    assert.match(loadError(`${MINIMAL}broker:\n  url: "not a url"\n`), /broker\.url: "not a url" is not a URL/);
    assert.match(loadError(`${MINIMAL}broker:\n  url: "mqtt://me:secret@"\n`), /broker\.url: "mqtt:\/\/\*\*\*@" is not a URL/);
    assert.match(loadError(`${MINIMAL}broker:\n  username: u\n`), /broker\.username: applies to a remote broker only, but url is "embedded"/);
    assert.match(loadError(`${MINIMAL}broker:\n  url: mqtt://b:1883\n  ca: ca.pem\n`), /broker\.ca: is a TLS setting but url mqtt:\/\/b:1883 does not use TLS/);
    const d = dir({ "agent.yaml": `${MINIMAL}broker:\n  url: mqtts://b:8883\n  cert: tls/c.pem\n`, "tls/c.pem": "x" });
    assert.throws(() => loadAgentConfig(path.join(d, "agent.yaml"), {}), /broker\.key: cert and key go together/);
  });

  test("TLS files resolve against the config folder and must be readable", () => {
    const d = dir({
      "agent.yaml": `${MINIMAL}broker:\n  url: mqtts://b:8883\n  ca: tls/ca.pem\n  cert: tls/c.pem\n  key: /abs/missing.key\n`,
      "tls/ca.pem": "ca", "tls/c.pem": "c",
    });
    assert.throws(() => loadAgentConfig(path.join(d, "agent.yaml"), {}), (e: EdgecutError) =>
      e.code === "E_CONFIG" && /broker\.key: cannot read \/abs\/missing\.key: ENOENT/.test(e.message));
    fs.writeFileSync(path.join(d, "agent.yaml"), `${MINIMAL}broker:\n  url: wss://b/mqtt\n  ca: tls/ca.pem\n  cert: tls/c.pem\n  key: tls/c.pem\n`);
    const cfg = loadAgentConfig(path.join(d, "agent.yaml"), {});
    assert.equal(cfg.broker.ca, path.join(d, "tls/ca.pem"));
    assert.equal(cfg.broker.cert, path.join(d, "tls/c.pem"));
  });

  test("a device profile is checked when the config is read", () => {
    assert.equal(load(`${MINIMAL}profile: pi4-4gb\n`).profile, "pi4-4gb");
    assert.match(loadError(`${MINIMAL}profile: pi9-1tb\n`), /profile: no device profile "pi9-1tb"; known ids: .*pi4-4gb/);
    const shipped = fs.readFileSync(path.join(import.meta.dirname, "../../device-profiles/pi5-8gb.json"), "utf8");
    const d = dir({ "agent.yaml": `${MINIMAL}profile: boards/pi5-8gb.json\n`, "boards/pi5-8gb.json": shipped });
    assert.equal(loadAgentConfig(path.join(d, "agent.yaml"), {}).profile, path.join(d, "boards/pi5-8gb.json"));
  });

  test("relative paths resolve against the config file's folder, not the working directory", () => {
    const d = dir({ "etc/agent.yaml": "deviceId: pi-1\nmanifest: ../models/m/manifest.json\nstateDir: ./state\n" });
    const cfg = loadAgentConfig(path.relative(process.cwd(), path.join(d, "etc/agent.yaml")), {});
    assert.equal(cfg.manifest, path.join(d, "models/m/manifest.json"));
    assert.equal(cfg.stateDir, path.join(d, "etc/state"));
    assert.equal(cfg.source.file, path.join(d, "etc/agent.yaml"));
    const abs = parseAgentConfig({ deviceId: "x", manifest: "/m/manifest.json" }, "inline", d, {});
    assert.equal(abs.manifest, "/m/manifest.json");
  });

  test("stateDir defaults to $STATE_DIRECTORY (systemd), and an explicit stateDir wins", () => {
    const cfg = load(MINIMAL, { STATE_DIRECTORY: "/var/lib/edgecut:/var/lib/other" });
    assert.equal(cfg.stateDir, "/var/lib/edgecut");
    assert.equal(cfg.storeFile, "/var/lib/edgecut/agent.db");
    assert.deepEqual(cfg.source.env, ["STATE_DIRECTORY"]);
    assert.equal(load(`${MINIMAL}stateDir: /srv/edgecut\n`, { STATE_DIRECTORY: "/var/lib/edgecut" }).stateDir, "/srv/edgecut");
  });
});

describe("agent config: environment overrides", () => {
  const FILE = `${MINIMAL}broker:\n  url: mqtt://file:1883\n  username: file-user\n  password: file-pass\napi:\n  listen: 127.0.0.1:1\nlog:\n  level: warn\n`;

  test("every override replaces the file's value and is listed in source.env", () => {
    const cfg = load(FILE, {
      EDGECUT_DEVICE_ID: "pi-env",
      EDGECUT_BROKER_URL: "mqtts://env:8883",
      EDGECUT_BROKER_USERNAME: "env-user",
      EDGECUT_BROKER_PASSWORD: "env-pass",
      EDGECUT_API_LISTEN: "unix:/run/edgecut/agent.sock",
      EDGECUT_LOG_LEVEL: "trace",
    });
    assert.equal(cfg.deviceId, "pi-env");
    assert.equal(cfg.broker.url, "mqtts://env:8883");
    assert.equal(cfg.broker.username, "env-user");
    assert.equal(cfg.broker.password, "env-pass");
    assert.deepEqual(cfg.api.address, { kind: "unix", path: "/run/edgecut/agent.sock" });
    assert.equal(cfg.log.level, "trace");
    assert.deepEqual([...cfg.source.env].sort(), ["EDGECUT_API_LISTEN", "EDGECUT_BROKER_PASSWORD", "EDGECUT_BROKER_URL", "EDGECUT_BROKER_USERNAME", "EDGECUT_DEVICE_ID", "EDGECUT_LOG_LEVEL"]);
    assert.deepEqual(Object.keys(ENV_OVERRIDES).sort(), [...cfg.source.env, "EDGECUT_BROKER_PASSWORD_FILE"].sort());
  });

  test("overrides fill sections the file leaves out, and an empty variable counts as unset", () => {
    const cfg = load("manifest: m\n", { EDGECUT_DEVICE_ID: "pi-9", EDGECUT_BROKER_URL: "mqtt://b:1883", EDGECUT_BROKER_USERNAME: "" });
    assert.equal(cfg.deviceId, "pi-9");
    assert.deepEqual(cfg.broker, { url: "mqtt://b:1883", keepaliveSec: 10, prefix: "edgecut", rejectUnauthorized: true, embeddedPort: 1883 });
    assert.equal(load(FILE, { EDGECUT_LOG_LEVEL: "" }).log.level, "warn");
  });

  test("a bad override is reported against the variable", () => {
    assert.match(loadError(FILE, { EDGECUT_DEVICE_ID: "a/b" }), /deviceId \(from \$EDGECUT_DEVICE_ID\): must not contain '\/'.*; fix the environment variable \$EDGECUT_DEVICE_ID/);
    assert.match(loadError(FILE, { EDGECUT_LOG_LEVEL: "loud" }), /log\.level \(from \$EDGECUT_LOG_LEVEL\): Invalid option/);
    assert.match(loadError(FILE, { EDGECUT_API_LISTEN: "0.0.0.0:80" }), /api\.listen \(from \$EDGECUT_API_LISTEN\): .*not a loopback address/);
    assert.match(loadError(FILE, { EDGECUT_BROKER_URL: "ftp://x" }), /broker\.url \(from \$EDGECUT_BROKER_URL\): ftp:\/\/x has scheme ftp:/);
  });

  test("EDGECUT_BROKER_PASSWORD_FILE reads the password, less one trailing newline", () => {
    const d = dir({ "cred/broker-password": "s3cret: with spaces\n", "crlf": "pw\r\n", "empty": "\n" });
    const cfg = load(FILE, { EDGECUT_BROKER_PASSWORD_FILE: path.join(d, "cred/broker-password") });
    assert.equal(cfg.broker.password, "s3cret: with spaces");
    assert.deepEqual(cfg.source.env, ["EDGECUT_BROKER_PASSWORD_FILE"]);
    assert.equal(load(FILE, { EDGECUT_BROKER_PASSWORD_FILE: path.join(d, "crlf") }).broker.password, "pw");
    assert.match(loadError(FILE, { EDGECUT_BROKER_PASSWORD_FILE: path.join(d, "empty") }), /broker\.password \(from \$EDGECUT_BROKER_PASSWORD_FILE\): .*empty is empty/);
    assert.match(loadError(FILE, { EDGECUT_BROKER_PASSWORD_FILE: path.join(d, "missing") }), /cannot read .*missing: ENOENT.*LoadCredential=broker-password/);
    assert.match(loadError(FILE, { EDGECUT_BROKER_PASSWORD_FILE: d }), /is not a regular file/);
    assert.match(loadError(FILE, { EDGECUT_BROKER_PASSWORD: "a", EDGECUT_BROKER_PASSWORD_FILE: path.join(d, "crlf") }), /broker\.password: both \$EDGECUT_BROKER_PASSWORD and \$EDGECUT_BROKER_PASSWORD_FILE are set; unset one of them/);
  });
});

describe("agent config: freezing and redaction", () => {
  /** Every object reachable from v, with its path. */
  function objects(v: unknown, at = "cfg", out: Array<[string, object]> = []): Array<[string, object]> {
    if (typeof v === "object" && v !== null) {
      out.push([at, v]);
      for (const [k, x] of Object.entries(v)) objects(x, `${at}.${k}`, out);
    }
    return out;
  }

  test("the config is frozen all the way down", () => {
    const cfg = load(`${MINIMAL}planner:\n  privateInputs: [input_ids]\nbroker:\n  url: mqtt://b:1\n  password: p\n`);
    const all = objects(cfg);
    assert.ok(all.length >= 15, `only ${all.length} objects`);
    for (const [at, o] of all) assert.ok(Object.isFrozen(o), `${at} is not frozen`);
    assert.throws(() => { (cfg.broker as { url: string }).url = "mqtt://evil:1"; }, TypeError);
    assert.throws(() => { (cfg.planner.privateInputs as string[]).push("x"); }, TypeError);
    assert.throws(() => { (cfg.api.address as { kind: string }).kind = "unix"; }, TypeError);
  });

  test("redactConfig hides the password and URL credentials in a frozen copy", () => {
    const cfg = load(`${MINIMAL}broker:\n  url: mqtt://tok:en@b:1883\n  username: u\n  password: hunter2\n`);
    const red = redactConfig(cfg);
    assert.equal(red.broker.password, "***");
    assert.equal(red.broker.url, "mqtt://***@b:1883");
    assert.equal(red.broker.username, "u");
    assert.doesNotMatch(JSON.stringify(red), /hunter2|tok:en/);
    assert.equal(cfg.broker.password, "hunter2");
    for (const [at, o] of objects(red)) assert.ok(Object.isFrozen(o), `${at} is not frozen`);
    assert.deepEqual({ ...red, broker: undefined }, { ...cfg, broker: undefined });
    assert.equal(redactConfig(load(MINIMAL)).broker.password, undefined);
  });
});

describe("agent config: the shipped template", () => {
  const template = path.join(import.meta.dirname, "../../agent/edgecut-agent.example.yaml");

  test("parses, and every value it spells out is the default", () => {
    const cfg = loadAgentConfig(template, {});
    const text = fs.readFileSync(template, "utf8");
    const field = (k: string): string => new RegExp(`^${k}: (.+)$`, "m").exec(text)![1]!;
    const brokerUrl = /^ {2}url: (.+)$/m.exec(text)![1]!;
    const defaults = parseAgentConfig({ deviceId: field("deviceId"), manifest: field("manifest"), broker: { url: brokerUrl } }, template, path.dirname(template), {});
    assert.deepEqual(cfg, defaults);
    assert.equal(cfg.manifest, "/opt/edgecut/models/my-model/manifest.json");
  });

  test("names every environment override", () => {
    const text = fs.readFileSync(template, "utf8");
    for (const name of Object.keys(ENV_OVERRIDES)) assert.match(text, new RegExp(`#\\s+${name}\\s`), name);
  });

  test("every commented-out setting parses when uncommented", () => {
    const d = dir({ "tls/ca.pem": "c", "tls/device.pem": "c", "tls/device.key": "k" });
    const text = fs.readFileSync(template, "utf8")
      .replace(/^(\s*)# (stateDir|username|ca|cert|key|profile|split|intraOpThreads|maxPageCount|finishedMaxAgeMs|finishedMaxCount): (.+)$/gm, "$1$2: $3")
      .replace("url: mqtt://broker.lan:1883", "url: mqtts://broker.lan:8883")
      .replace(/\/etc\/edgecut\/(broker-ca|device)/g, "tls/$1").replace("broker-ca.pem", "ca.pem")
      .replace("name: hysteresis", "name: static");
    fs.writeFileSync(path.join(d, "agent.yaml"), text);
    const cfg = loadAgentConfig(path.join(d, "agent.yaml"), {});
    assert.equal(cfg.broker.username, "device-pi-kitchen-01");
    assert.equal(cfg.broker.ca, path.join(d, "tls/ca.pem"));
    assert.equal(cfg.profile, "pi4-4gb");
    assert.equal(cfg.policy.split, 2);
    assert.equal(cfg.intraOpThreads, 3);
    assert.deepEqual(cfg.store, { maxPageCount: 262144, finishedMaxAgeMs: 604800000, finishedMaxCount: 10000 });
    assert.equal(cfg.stateDir, "/var/lib/edgecut");
  });
});
