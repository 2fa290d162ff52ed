#!/usr/bin/env node
/**
 * The `edgecut` command line. Exit codes: 0 ok, 1 a check failed (verify), 2 usage or input
 * error, 3 internal error. Errors print `edgecut: E_CODE: message`, or
 * `{ "error": { "code", "message" } }` on stdout with --json.
 */
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { fail } from "../errors.js";
import { VERSION } from "../version.js";
import { reportError } from "./output.js";
type Register = (program: Command) => void;

/**
 * Every command, in help order, and how to load it. A command's module is imported only when it
 * runs (or for help): `edgecut agent` must not carry the graph library, the cloud worker or the
 * embedded broker in its resident memory, and `edgecut doctor` must start even where a native
 * module cannot load.
 */
const COMMANDS: readonly (readonly [string, () => Promise<Register>])[] = [
  ["inspect", async () => (await import("./cmd-inspect.js")).registerInspect],
  ["split", async () => (await import("./cmd-split.js")).registerSplit],
  ["verify", async () => (await import("./cmd-verify.js")).registerVerify],
  ["model", async () => (await import("./cmd-model.js")).registerModel],
  ["errors", async () => (await import("./cmd-errors.js")).registerErrors],
  ["broker", async () => (await import("./cmd-broker.js")).registerBroker],
  ["cloud", async () => (await import("./cmd-cloud.js")).registerCloud],
  ["infer", async () => (await import("./cmd-infer.js")).registerInfer],
  ["generate", async () => (await import("./cmd-generate.js")).registerGenerate],
  ["agent", async () => (await import("./cmd-agent.js")).registerAgent],
  ["status", async () => (await import("./cmd-status.js")).registerStatus],
  ["plan", async () => (await import("./cmd-plan.js")).registerPlan],
  ["pack", async () => (await import("./cmd-pack.js")).registerPack],
  ["calibrate", async () => (await import("./cmd-calibrate.js")).registerCalibrate],
  ["simulate", async () => (await import("./cmd-simulate.js")).registerSimulate],
  ["sweep", async () => (await import("./cmd-sweep.js")).registerSweep],
  ["provision", async () => (await import("./cmd-provision.js")).registerProvision],
  ["doctor", async () => (await import("./cmd-doctor.js")).registerDoctor],
];

/**
 * Builds the command tree (exported for tests): only `only` when given and known, else every
 * command (help, and an unknown command's error that lists them).
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command("edgecut")
    .description("Cut ONNX models into segments: run the front on the device, offload the rest.")
    .version(VERSION)
    .exitOverride();
  const wanted = COMMANDS.filter(([name]) => only === undefined || name === only);
  for (const [, load] of wanted.length > 0 ? wanted : COMMANDS) (await load())(program);
  // Commander's own error text is replaced by the one `edgecut: E_USAGE: ...` line main() prints.
  const quiet = { outputError: (): void => undefined };
  program.configureOutput(quiet);
  for (const c of program.commands) c.exitOverride().configureOutput(quiet);
  return program;
}

/**
 * Runs the CLI on argv (without node and script) and returns the exit code. Commands signal a
 * failed check through process.exitCode; main starts from a clean one and puts the caller's back,
 * so repeated in-process runs (tests, the demo) do not leak exit codes into each other.
 */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  // The command is the first argument that is not an option (commander's own rule for a program
  // without global options of its own).
  const first = argv.find((a) => !a.startsWith("-"));
  const program = await buildProgram(first === "help" ? undefined : first);
  const callerExitCode = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(argv, { from: "user" });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      // "commander.help" is also what commander throws after printing help for a missing command
      // (exitCode 1): only an explicit --help / help / --version is a success.
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || (e.code === "commander.help" && e.exitCode === 0)) return 0;
      const command = argv.find((a) => program.commands.some((c) => c.name() === a));
      const message = e.code === "commander.help"
        ? `name a command: ${program.commands.map((c) => c.name()).join(", ")}`
        : `${e.message.replace(/^error: /, "")} (see edgecut ${command ? `${command} ` : ""}--help)`;
      return reportError(fail("E_USAGE", message), json);
    }
    return reportError(e, json);
  } finally {
    process.exitCode = callerExitCode;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isMain) {
  // `edgecut ... | head`: a reader that went away is not an error worth a stack trace.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => { if (e.code === "EPIPE") process.exit(process.exitCode ?? 0); else throw e; });
  process.exitCode = await main(process.argv.slice(2));
}
