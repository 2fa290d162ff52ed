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
import { reportError } from "./output.js";
import { registerModel } from "./cmd-model.js";
import { registerInspect } from "./cmd-inspect.js";
import { registerSplit } from "./cmd-split.js";
import { registerVerify } from "./cmd-verify.js";
import { registerErrors } from "./cmd-errors.js";
import { registerBroker } from "./cmd-broker.js";
import { registerCloud } from "./cmd-cloud.js";
import { registerInfer } from "./cmd-infer.js";
import { registerAgent } from "./cmd-agent.js";
import { registerStatus } from "./cmd-status.js";
import { registerPlan } from "./cmd-plan.js";
import { registerPack } from "./cmd-pack.js";
import { registerDoctor } from "./cmd-doctor.js";

/** Builds the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command("edgecut")
    .description("Cut ONNX models into segments: run the front on the device, offload the rest.")
    .version("0.1.0")
    .exitOverride();
  registerInspect(program);
  registerSplit(program);
  registerVerify(program);
  registerModel(program);
  registerErrors(program);
  registerBroker(program);
  registerCloud(program);
  registerInfer(program);
  registerAgent(program);
  registerStatus(program);
  registerPlan(program);
  registerPack(program);
  registerDoctor(program);
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
  const program = buildProgram();
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
