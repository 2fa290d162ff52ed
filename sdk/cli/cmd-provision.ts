/**
 * `edgecut provision`: one broker account for a device (or a worker, or a fleet monitor): a new
 * random password, the credential files for the machine, and the account's entries in mosquitto's
 * password_file and acl_file (sdk/provision/). Safe to repeat (the account's entries are
 * replaced) and to run in parallel (the files are locked and replaced atomically).
 */
import type { Command } from "commander";
import { DEFAULT_GROUP } from "../../cloud-stub/config.js";
import { fail } from "../errors.js";
import { ANY_WORKER, DEFAULT_OUT_DIR, provision, ROLES, type ProvisionResult, type Role } from "../provision/index.js";
import { DEFAULT_PREFIX } from "../transport/topics.js";
import { printJson } from "./output.js";

interface ProvisionFlags {
  deviceId: string;
  role: string;
  workerId?: string;
  group?: string;
  split: string[];
  prefix: string;
  outDir: string;
  passwordFile?: string;
  aclFile?: string;
  json?: boolean;
}

function describe(r: ProvisionResult): string {
  const id = r.workerId === undefined || r.workerId === ANY_WORKER ? "any worker id" : `worker id ${r.workerId}`;
  const what = r.role === "worker" ? `worker ${r.username} (${id}, group ${r.group ?? DEFAULT_GROUP}, ${r.splits === undefined ? "every split" : `splits ${r.splits.join(", ")}`})` : `${r.role} ${r.username}`;
  const lines = [`provisioned ${what}`, `  credentials: ${r.files.dir}/ (broker-password${r.files.env === undefined ? "" : ", agent.env, edgecut-agent.conf"})`];
  if (r.passwordFile) lines.push(`  password file: ${r.passwordFile.path} (${r.passwordFile.replaced ? "entry replaced" : "entry added"})`);
  if (r.aclFile) lines.push(`  ACL file: ${r.aclFile.path} (${r.aclFile.replaced ? "block replaced" : "block added"}: ${r.acl.length} topic rules)`);
  if (!r.passwordFile && !r.aclFile) lines.push("  no broker file updated (--password-file, --acl-file): add the account to the broker yourself");
  else lines.push("  reload the broker to apply: systemctl reload mosquitto (SIGHUP)");
  return lines.join("\n");
}

/**
 * Registers `edgecut provision`: validates the flags (E_USAGE), provisions the account (E_IO when
 * a file cannot be written) and prints what it did, or the result as JSON with --json; never the
 * password, which is only in `<out-dir>/<id>/broker-password`.
 */
export function registerProvision(program: Command): void {
  program.command("provision")
    .description("create or renew a broker account: random password, credential files, mosquitto password and ACL entries")
    .requiredOption("--device-id <id>", "the device's id, also its MQTT user name (for --role worker or monitor: the account's user name)")
    .option("--role <role>", `what the account may do: ${ROLES.join(", ")}`, "device")
    .option("--worker-id <id>", "--role worker: read only the sessions stuck to this worker id (edgecut cloud --worker-id); default: any id, for workers whose id is random per start")
    .option("--group <name>", `--role worker: its shared-subscription group (default ${DEFAULT_GROUP})`)
    .option("--split <splitId>", "--role worker: a split it serves (repeatable); it may read only those splits' requests (default: every split)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--prefix <prefix>", "topic prefix", DEFAULT_PREFIX)
    .option("--out-dir <dir>", "folder for the credentials; this account's go to <dir>/<id>/", DEFAULT_OUT_DIR)
    .option("--password-file <file>", "mosquitto password_file to add or replace the account's entry in (created when missing)")
    .option("--acl-file <file>", "mosquitto acl_file to add or replace the account's block in (created when missing)")
    .option("--json", "print the result as JSON (never the password)")
    .addHelpText("after", [
      "",
      "Roles: a device publishes its own requests and telemetry and reads its own replies; a worker",
      "reads every device's requests and the sessions stuck to it, and replies to any device; a monitor",
      "reads every device's telemetry. Everything else is denied. See docs/provisioning.md and SECURITY.md.",
      "",
      "Example (a fleet of boards):",
      "  for id in $(cat boards.txt); do",
      "    edgecut provision --device-id \"$id\" --password-file /etc/mosquitto/passwd --acl-file /etc/mosquitto/acl --out-dir creds",
      "  done",
      "  systemctl reload mosquitto",
    ].join("\n"))
    .action(async (flags: ProvisionFlags) => {
      if (!(ROLES as readonly string[]).includes(flags.role)) throw fail("E_USAGE", `--role ${flags.role}: expected one of ${ROLES.join(", ")}`);
      const result = await provision({
        deviceId: flags.deviceId, role: flags.role as Role, prefix: flags.prefix, outDir: flags.outDir,
        ...(flags.workerId === undefined ? {} : { workerId: flags.workerId }),
        ...(flags.group === undefined ? {} : { group: flags.group }),
        ...(flags.split.length === 0 ? {} : { splits: flags.split }),
        ...(flags.passwordFile === undefined ? {} : { passwordFile: flags.passwordFile }),
        ...(flags.aclFile === undefined ? {} : { aclFile: flags.aclFile }),
      });
      if (flags.json) printJson(result);
      else console.log(describe(result));
    });
}
