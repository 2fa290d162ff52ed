/** `edgecut errors`: the error catalogue (stable codes, their exit codes and meaning). */
import type { Command } from "commander";
import { ERRORS, exitCodeFor, EdgecutError, type ErrorCode } from "../errors.js";
import { printJson, table } from "./output.js";

export function registerErrors(program: Command): void {
  program.command("errors")
    .description("list the stable error codes with their exit codes")
    .option("--json", "print JSON")
    .action((flags: { json?: boolean }) => {
      const rows = (Object.keys(ERRORS) as ErrorCode[]).map((code) => ({
        code, exitCode: exitCodeFor(new EdgecutError(code, "")), kind: ERRORS[code][0], meaning: ERRORS[code][1],
      }));
      if (flags.json) { printJson(rows); return; }
      console.log(table([["code", "exit", "meaning"], ...rows.map((r) => [r.code, String(r.exitCode), r.meaning])]));
    });
}
