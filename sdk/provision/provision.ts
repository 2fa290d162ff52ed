/**
 * Provisioning one broker account (`edgecut provision`): a fresh random password, the account's
 * credential files (credentials.ts), its block in mosquitto's acl_file (acl.ts) and its entry in
 * the password_file (password.ts), each file updated under a lock and replaced atomically
 * (atomic.ts). Re-provisioning an account replaces its entry and block: a new password, the same
 * grants, never a duplicate.
 *
 * The order makes a crash half-way harmless: the credentials are on disk before the broker knows
 * the hash (no password is ever lost), and the ACL block is in before the password entry (an
 * account that can log in always has its grants, never more).
 */
import * as path from "node:path";
import { DEFAULT_GROUP } from "../../cloud-stub/config.js";
import { fail } from "../errors.js";
import { DEFAULT_PREFIX } from "../transport/topics.js";
import { aclRules, renderAclBlock, upsertAclBlock, ANY_WORKER, ROLES, type AclRule, type AclSpec, type Role } from "./acl.js";
import { updateFile, type UpdateOptions } from "./atomic.js";
import { writeCredentials, type CredentialFiles } from "./credentials.js";
import { assertAccountName, assertAclGroup, assertAclPrefix } from "./identity.js";
import { generatePassword, hashPassword, upsertPasswordEntry } from "./password.js";

/** Default folder of the credentials (one subfolder per account). */
export const DEFAULT_OUT_DIR = "edgecut-credentials";

/** Options of {@link provision}. */
export interface ProvisionOptions {
  /** The account's name: a device's id (also its MQTT user name), or a worker's or monitor's user name. */
  deviceId: string;
  /** What the account may do (default "device"; see acl.ts). */
  role?: Role;
  /** Worker role: the worker id whose sticky sessions it may read (default "+": any, for workers whose id is random per start). */
  workerId?: string;
  /** Worker role: its shared-subscription group (default DEFAULT_GROUP). */
  group?: string;
  /** Worker role: the splitIds it serves; it may read only their requests (default: every split). */
  splits?: readonly string[];
  /** Topic prefix (default "edgecut"). */
  prefix?: string;
  /** Folder for the credentials; the account's go to `<outDir>/<deviceId>/` (default ./edgecut-credentials). */
  outDir?: string;
  /** mosquitto password_file to add the entry to (created when missing). */
  passwordFile?: string;
  /** mosquitto acl_file to add the block to (created when missing). */
  aclFile?: string;
  /** Lock waits, for tests. */
  lock?: Pick<UpdateOptions, "lockTimeoutMs" | "staleLockMs">;
}

/** What {@link provision} did (never the password: it is in `files.password`). */
export interface ProvisionResult {
  deviceId: string;
  role: Role;
  /** The MQTT user name (= deviceId). */
  username: string;
  prefix: string;
  /** Worker role: the worker id of the sticky sessions it may read ("+": any). */
  workerId?: string;
  /** Worker role. */
  group?: string;
  /** Worker role: the splits it may read (absent: every split). */
  splits?: string[];
  files: CredentialFiles;
  /** The password_file updated, and whether the account had an entry there before. */
  passwordFile?: { path: string; replaced: boolean };
  /** The acl_file updated, and whether the account had a block there before. */
  aclFile?: { path: string; replaced: boolean };
  /** The account's grants. */
  acl: AclRule[];
}

/** The ACL spec of validated options; E_USAGE for a bad name, role or role-specific option. */
export function aclSpecOf(opts: Pick<ProvisionOptions, "deviceId" | "role" | "workerId" | "group" | "prefix" | "splits">): AclSpec {
  const role = opts.role ?? "device";
  if (!ROLES.includes(role)) throw fail("E_USAGE", `--role ${JSON.stringify(role)}: expected one of ${ROLES.join(", ")}`);
  assertAccountName("deviceId", opts.deviceId, "--device-id");
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  assertAclPrefix(prefix, "--prefix");
  if (role !== "worker") {
    if (opts.workerId !== undefined) throw fail("E_USAGE", `--worker-id applies to --role worker only (this is a ${role})`);
    if (opts.group !== undefined) throw fail("E_USAGE", `--group applies to --role worker only (this is a ${role})`);
    if (opts.splits !== undefined && opts.splits.length > 0) throw fail("E_USAGE", `--split applies to --role worker only (this is a ${role}: a device may send to any split)`);
    return { role, user: opts.deviceId, prefix };
  }
  // A worker whose id is random per start (edgecut cloud's default) cannot be named in advance.
  const workerId = opts.workerId ?? ANY_WORKER;
  if (workerId !== ANY_WORKER) assertAccountName("worker id", workerId, "--worker-id");
  const group = opts.group ?? DEFAULT_GROUP;
  assertAclGroup(group, "--group");
  const splits = [...new Set(opts.splits ?? [])];
  for (const split of splits) assertAccountName("splitId", split, "--split");
  return { role, user: opts.deviceId, prefix, workerId, group, ...(splits.length > 0 ? { splits } : {}) };
}

/**
 * Provisions one account (see the module comment). E_USAGE for a bad name or option, E_IO when
 * a file cannot be written or stays locked.
 */
export async function provision(opts: ProvisionOptions): Promise<ProvisionResult> {
  const spec = aclSpecOf(opts);
  const outDir = path.resolve(opts.outDir ?? DEFAULT_OUT_DIR);
  const password = generatePassword();
  const hash = hashPassword(password);
  const files = writeCredentials(outDir, spec.user, spec.role, password);
  const result: ProvisionResult = {
    deviceId: spec.user, role: spec.role, username: spec.user, prefix: spec.prefix,
    ...(spec.workerId === undefined ? {} : { workerId: spec.workerId }),
    ...(spec.group === undefined ? {} : { group: spec.group }),
    ...(spec.splits === undefined ? {} : { splits: [...spec.splits] }),
    files, acl: aclRules(spec),
  };
  if (opts.aclFile !== undefined) {
    const file = path.resolve(opts.aclFile);
    const { replaced } = await updateFile(file, (old) => upsertAclBlock(old, spec.user, renderAclBlock(spec)), opts.lock);
    result.aclFile = { path: file, replaced };
  }
  if (opts.passwordFile !== undefined) {
    const file = path.resolve(opts.passwordFile);
    const { replaced } = await updateFile(file, (old) => upsertPasswordEntry(old, spec.user, hash), opts.lock);
    result.passwordFile = { path: file, replaced };
  }
  return result;
}
