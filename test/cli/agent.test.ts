// `edgecut agent` flags without starting the service: --check (validated config, secrets redacted),
// --policy, and configuration errors. The running service is tested in test/integration/agent-service.test.ts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { assertCliError, runCli } from "./helpers.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-cli-agent-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function config(body: string): string {
  const file = path.join(dir, `c${fs.readdirSync(dir).length}.yaml`);
  fs.writeFileSync(file, body);
  return file;
}

const base = ["deviceId: pi-9", "manifest: split/manifest.json", "broker:", "  url: mqtt://broker.lan:1883", "  username: pi-9", "  password: s3cret"].join("\n");

test("--check prints the validated config with the password redacted, and exits 0", async () => {
  const r = await runCli(["agent", "--config", config(base), "--check"]);
  assert.equal(r.code, 0, r.stderr);
  const cfg = JSON.parse(r.stdout) as { deviceId: string; manifest: string; broker: { password: string }; policy: { name: string } };
  assert.equal(cfg.deviceId, "pi-9");
  assert.equal(cfg.manifest, path.join(dir, "split", "manifest.json"), "relative paths resolve against the config's folder");
  assert.equal(cfg.broker.password, "***");
  assert.ok(!r.stdout.includes("s3cret"));
  assert.equal(cfg.policy.name, "hysteresis");
});

test("--policy overrides the config's policy; unknown names and static without a split are E_USAGE", async () => {
  const r = await runCli(["agent", "--config", config(base), "--check", "--policy", "greedy"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { policy: { name: string } }).policy.name, "greedy");
  assertCliError(await runCli(["agent", "--config", config(base), "--check", "--policy", "best"]), "E_USAGE", { exit: 2, message: /hysteresis, greedy, static/ });
  assertCliError(await runCli(["agent", "--config", config(base), "--check", "--policy", "static"]), "E_USAGE", { exit: 2, message: /policy\.split/ });
});

test("a bad or missing config is E_CONFIG naming the field, exit 2", async () => {
  assertCliError(await runCli(["agent", "--config", config(`${base}\nsampleIntervalMs: fast`), "--check"]), "E_CONFIG", { exit: 2, message: /sampleIntervalMs/ });
  assertCliError(await runCli(["agent", "--config", path.join(dir, "nope.yaml")]), "E_CONFIG", { exit: 2, message: /nope\.yaml/ });
  assertCliError(await runCli(["agent"]), "E_USAGE", { exit: 2, message: /--config/ });
});
