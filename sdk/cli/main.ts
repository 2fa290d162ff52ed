#!/usr/bin/env node
/**
 * The `edgecut` command line. Exit codes: 0 ok, 1 a check failed (verify), 2 usage or input
 * error, 3 internal error. Errors print `edgecut: E_CODE: message`, or
 * `{ "error": { "code", "message" } }` on stdout with --json.
 */
import { Command, CommanderError } from "commander";
import { fail } from "../errors.js";
import { reportError } from "./output.js";
import { registerModel } from "./cmd-model.js";
import { registerInspect } from "./cmd-inspect.js";
import { registerSplit } from "./cmd-split.js";
import { registerVerify } from "./cmd-verify.js";

/** Builds the command tree (exported for tests). */
export function buildProgram(): Command {
  const program = new Command("edgecut")
    .description("Cut ONNX models into segments: run the front on the device, offload the rest.")
    .version("0.1.0")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerInspect(program);
  registerSplit(program);
  registerVerify(program);
  registerModel(program);
  for (const c of program.commands) c.exitOverride().showHelpAfterError("(run with --help for usage)");
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
  if (json) program.configureOutput({ writeErr: () => undefined });
  for (const c of program.commands) if (json) c.configureOutput({ writeErr: () => undefined });
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
      const message = e.code === "commander.help" ? "name a command: inspect, split, verify or model" : e.message.replace(/^error: /, "");
      return reportError(fail("E_USAGE", message), json);
    }
    return reportError(e, json);
  } finally {
    process.exitCode = callerExitCode;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${(await import("node:fs")).realpathSync(process.argv[1])}`).href;
if (isMain) {
  process.exitCode = await main(process.argv.slice(2));
}
