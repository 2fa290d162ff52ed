/**
 * The files an account takes to its machine, in `<outDir>/<name>/` (mode 0700):
 *
 *   broker-password      (0600) the password alone: EDGECUT_BROKER_PASSWORD_FILE, a systemd
 *                        credential (docs/agent-service.md §5), or a worker's secret
 *   agent.env            (0600, devices) EDGECUT_DEVICE_ID, EDGECUT_BROKER_USERNAME and
 *                        EDGECUT_BROKER_PASSWORD, for `docker run --env-file` or EnvironmentFile=
 *   edgecut-agent.conf   (0644, devices) a systemd drop-in for edgecut-agent.service: the id and
 *                        user name, and the password as a credential from BOARD_PASSWORD_PATH;
 *                        holds no secret
 *
 * The names are checked (identity.ts), so no value needs quoting in any of these formats.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fail } from "../errors.js";
import type { Role } from "./acl.js";
import { replaceFileAtomic } from "./atomic.js";

/** Where the drop-in expects the password file on the board (as docs/agent-service.md installs it). */
export const BOARD_PASSWORD_PATH = "/etc/edgecut/broker-password";

/** Names of the files in an account's folder. */
export const CREDENTIAL_FILES = { password: "broker-password", env: "agent.env", dropIn: "edgecut-agent.conf" } as const;

/** Paths of the files written for one account. */
export interface CredentialFiles {
  dir: string;
  password: string;
  /** Devices only. */
  env?: string;
  /** Devices only. */
  dropIn?: string;
}

/** The agent's environment file of a device. */
export function agentEnvFile(deviceId: string, password: string): string {
  return [
    `# edgecut agent identity of ${deviceId} (edgecut provision). Secret: keep it mode 0600.`,
    "# docker run --env-file agent.env ..., or EnvironmentFile= in a systemd drop-in.",
    `EDGECUT_DEVICE_ID=${deviceId}`,
    `EDGECUT_BROKER_USERNAME=${deviceId}`,
    `EDGECUT_BROKER_PASSWORD=${password}`,
    "",
  ].join("\n");
}

/** The systemd drop-in of a device (no secret in it). */
export function agentDropIn(deviceId: string): string {
  return [
    `# edgecut agent identity of ${deviceId} (edgecut provision). Install as`,
    "#   /etc/systemd/system/edgecut-agent.service.d/identity.conf",
    `# with the password in ${BOARD_PASSWORD_PATH} (root, mode 0600); then systemctl daemon-reload.`,
    "[Service]",
    `Environment=EDGECUT_DEVICE_ID=${deviceId}`,
    `Environment=EDGECUT_BROKER_USERNAME=${deviceId}`,
    `LoadCredential=broker-password:${BOARD_PASSWORD_PATH}`,
    "Environment=EDGECUT_BROKER_PASSWORD_FILE=%d/broker-password",
    "",
  ].join("\n");
}

/** Writes the account's files into `<outDir>/<name>/` (replacing earlier ones); E_IO when it cannot. */
export function writeCredentials(outDir: string, name: string, role: Role, password: string): CredentialFiles {
  const dir = path.join(outDir, name);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
  } catch (e) {
    throw fail("E_IO", `cannot create the credentials folder ${dir}: ${(e as Error).message}; choose a writable --out-dir`, e);
  }
  const file = (n: string): string => path.join(dir, n);
  const secret = { mode: 0o600, forceMode: true };
  replaceFileAtomic(file(CREDENTIAL_FILES.password), `${password}\n`, secret);
  if (role !== "device") {
    // An account re-provisioned in another role keeps no device files that no longer apply.
    for (const n of [CREDENTIAL_FILES.env, CREDENTIAL_FILES.dropIn]) fs.rmSync(file(n), { force: true });
    return { dir, password: file(CREDENTIAL_FILES.password) };
  }
  replaceFileAtomic(file(CREDENTIAL_FILES.env), agentEnvFile(name, password), secret);
  replaceFileAtomic(file(CREDENTIAL_FILES.dropIn), agentDropIn(name), { mode: 0o644, forceMode: true });
  return { dir, password: file(CREDENTIAL_FILES.password), env: file(CREDENTIAL_FILES.env), dropIn: file(CREDENTIAL_FILES.dropIn) };
}
