/**
 * Shared pieces of the security tests: accounts provisioned with sdk/provision into a temp folder,
 * mosquitto started on them (password_file + acl_file, no anonymous access), and connections with
 * an account's credentials through the project's transport.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { provision, type ProvisionOptions, type ProvisionResult } from "../../sdk/provision/index.js";
import { connectMqtt, type MqttOptions } from "../../sdk/transport/mqtt.js";
import type { Transport } from "../../sdk/transport/transport.js";
import { startMosquitto, type MosquittoHandle } from "../support/brokers.js";

/** A temp folder removed when the process exits. */
export function tempDir(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `edgecut-sec-${label}-`));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * mosquitto.conf lines that make a broker started as root keep running as root: mosquitto 2 drops
 * to the `mosquitto` user before it reads password_file and acl_file, and that user cannot enter
 * a 0700 temp folder. (A real install gives the files to the mosquitto user: docs/provisioning.md.)
 */
export function stayRoot(): string[] {
  return process.getuid?.() === 0 ? ["user root"] : [];
}

/** A broker's password and ACL files, and the folder the accounts' credentials go to. */
export interface Fleet {
  dir: string;
  passwordFile: string;
  aclFile: string;
  outDir: string;
  /** Provisions one more account into the files. */
  add(opts: Omit<ProvisionOptions, "passwordFile" | "aclFile" | "outDir">): Promise<ProvisionResult>;
}

/** An empty fleet in a temp folder. */
export function fleet(label: string): Fleet {
  const dir = tempDir(label);
  const f = { dir, passwordFile: path.join(dir, "passwd"), aclFile: path.join(dir, "acl"), outDir: path.join(dir, "creds") };
  return { ...f, add: (opts) => provision({ ...opts, passwordFile: f.passwordFile, aclFile: f.aclFile, outDir: f.outDir }) };
}

/** The password an account's credentials folder holds. */
export function passwordOf(r: ProvisionResult): string {
  return fs.readFileSync(r.files.password, "utf8").trim();
}

/** mosquitto with the fleet's files, anonymous access off, plus `config` lines. */
export function startSecureMosquitto(f: Pick<Fleet, "passwordFile" | "aclFile">, config: string[] = []): Promise<MosquittoHandle> {
  return startMosquitto({ config: ["allow_anonymous false", `password_file ${f.passwordFile}`, `acl_file ${f.aclFile}`, ...stayRoot(), ...config] });
}

/** Connects as the account (no reconnects: a refused login must fail at once). */
export function connectAs(url: string, r: ProvisionResult, extra: Partial<MqttOptions> = {}): Promise<Transport> {
  return connectMqtt({ url, username: r.username, password: passwordOf(r), reconnectPeriodMs: 0, connectTimeoutMs: 3000, ...extra });
}

/**
 * Subscribes and says whether the broker granted it. mosquitto 2.0 grants any filter and checks
 * read access per delivered message; other versions and brokers may refuse the SUBACK (0x87).
 * Either way nothing denied may arrive, which is what the tests check.
 */
export async function trySubscribe(t: Transport, filter: string, handler: (topic: string, payload: Uint8Array) => void): Promise<boolean> {
  try {
    await t.subscribe(filter, handler);
    return true;
  } catch {
    return false;
  }
}
