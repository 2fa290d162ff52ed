/**
 * `edgecut doctor [--config file] [--manifest m.json] [--broker url] [--json]`: checks that this
 * machine can run the edgecut agent (Node.js, a 64-bit platform, onnxruntime and better-sqlite3
 * working, the config, the split's files, the store, the broker, the API address, RAM and disk)
 * and says how to fix each problem. Exit 0 when nothing failed (warnings allowed), 1 otherwise.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Command } from "commander";
import { EMBEDDED_BROKER } from "../../agent/config/index.js";
import { errorText, guarded, problem, type CheckResult } from "./doctor-check.js";
import { checkConfig, checkDisk, checkManifest, checkStateDir } from "./doctor-files.js";
import { checkApiListen, checkBroker, type BrokerTarget, type ListenOutcome } from "./doctor-net.js";
import { checkMemory, checkNode, checkOnnxruntime, checkPlatform, checkSqlite } from "./doctor-system.js";
import { printJson, table } from "./output.js";

export type { CheckResult, CheckStatus } from "./doctor-check.js";

/** What to check besides the machine itself. */
export interface DoctorOptions {
  /** The agent's config file; without it the config, store, API and disk checks are skipped. */
  config?: string;
  /** A manifest.json to check instead of the one the config names. */
  manifest?: string;
  /** A broker URL to try instead of the config's broker.url ("embedded": check its port). */
  broker?: string;
}

/** Every check's result, in a fixed order; `ok` is false when any failed. */
export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

const BUG = "this is a bug in edgecut doctor: please report it with the command line";

/** Runs every check (none stops the others) and returns their results. */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const { result: configResult, config } = checkConfig(opts.config);
  // checkOnnxruntime reports its own errors; what escapes it is the temp folder for its test model.
  const ortResult = await guarded("onnxruntime", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-doctor-"));
    try {
      return await checkOnnxruntime(tmp, config?.intraOpThreads);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, `free space in ${os.tmpdir()} or set TMPDIR to a writable folder: the check writes a small test model there`);
  const sqliteResult = await guarded("sqlite", checkSqlite, BUG);
  const manifestPath = opts.manifest ?? config?.manifest;
  let listen: ListenOutcome;
  try {
    listen = await checkApiListen(config);
  } catch (e) {
    listen = { result: problem("api", "fail", errorText(e), BUG), agentRunning: false };
  }
  // The config's credentials and TLS files go only to the config's own broker, not to a --broker URL.
  const target: BrokerTarget | undefined = opts.broker !== undefined
    ? { url: opts.broker, ...(config !== undefined && opts.broker === EMBEDDED_BROKER ? { config: config.broker } : {}) }
    : config === undefined ? undefined : { url: config.broker.url, config: config.broker };
  const checks = [
    checkNode(),
    checkPlatform(),
    ortResult,
    sqliteResult,
    configResult,
    await guarded("manifest", () => checkManifest(manifestPath), BUG),
    await guarded("store", () => checkStateDir(config, sqliteResult.status === "ok"), BUG),
    await guarded("broker", () => checkBroker(target, listen.agentRunning), BUG),
    listen.result,
    checkMemory(),
    await guarded("disk", () => checkDisk(config), "check that the state folder's file system is mounted"),
  ];
  return { ok: checks.every((c) => c.status !== "fail"), checks };
}

const SHOWN: Readonly<Record<CheckResult["status"], string>> = { ok: "ok", warn: "WARN", fail: "FAIL", skip: "skip" };

function printText(r: DoctorReport): void {
  console.log(table([["check", "status", "detail"], ...r.checks.map((c) => [c.name, SHOWN[c.status], c.detail])]));
  const problems = r.checks.filter((c) => c.fix !== undefined);
  if (problems.length > 0) {
    console.log("\nfixes:");
    for (const c of problems) console.log(`  ${c.name} (${SHOWN[c.status]}): ${c.fix}`);
  }
  const failed = r.checks.filter((c) => c.status === "fail").length;
  const warned = r.checks.filter((c) => c.status === "warn").length;
  const skipped = r.checks.filter((c) => c.status === "skip").length;
  const counts = [`${failed} failed`, `${warned} warning${warned === 1 ? "" : "s"}`, `${skipped} skipped`].join(", ");
  console.log(`\n${failed > 0 ? "the agent cannot run here until the failed checks are fixed" : warned > 0 ? "the agent can run here; see the warnings" : "the agent can run here"} (${counts})`);
}

/** Registers `edgecut doctor`. */
export function registerDoctor(program: Command): void {
  program.command("doctor")
    .description("check that this machine can run the edgecut agent, and say how to fix each problem")
    .option("--config <file>", "the agent's config file (e.g. /etc/edgecut/agent.yaml); without it the store, API and disk checks are skipped")
    .option("--manifest <file>", "a split's manifest.json to check (default: the config's manifest)")
    .option("--broker <url>", "an MQTT broker URL to try (default: the config's broker.url; \"embedded\": check its port is free)")
    .option("--json", "print { ok, checks: [{ name, status, detail, fix? }] }")
    .addHelpText("after", [
      "",
      "Statuses: ok, warn (the agent runs; look at it), fail (the agent cannot run), skip (not checked).",
      "Exit code 0 when no check failed (warnings allowed), 1 when one did.",
      "",
      "Examples:",
      "  edgecut doctor --config /etc/edgecut/agent.yaml",
      "  edgecut doctor --manifest out/manifest.json --broker mqtt://broker.lan:1883 --json",
    ].join("\n"))
    .action(async (flags: DoctorOptions & { json?: boolean }) => {
      const { json, ...opts } = flags;
      const report = await runDoctor(opts);
      if (!report.ok) process.exitCode = 1;
      if (json) printJson(report);
      else printText(report);
    });
}
