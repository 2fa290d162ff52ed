/**
 * Which names can be a broker account. An account's name is its MQTT user name and, for a device,
 * its deviceId (the ACL ties the two together), so it is a topic level; it is also a line of
 * mosquitto's password_file and acl_file, a folder of credentials, and a value in env files and
 * systemd drop-ins. On top of assertId's rules (no '/', '+', '#', control characters; at most
 * 128 bytes) it is therefore kept to letters, digits, '.', '_' and '-', starting with a letter or
 * digit: nothing any of those formats would quote, trim, split on (':' in password_file) or
 * expand ('%' in systemd, '$' in shells).
 */
import { fail } from "../errors.js";
import { assertId, topics } from "../transport/topics.js";

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Throws E_USAGE naming the flag and the reason when `value` cannot be an account's (or worker's) name. */
export function assertAccountName(kind: "deviceId" | "worker id" | "splitId", value: unknown, flag: string): asserts value is string {
  try {
    assertId(kind, value);
  } catch (e) {
    throw fail("E_USAGE", `${flag}: ${(e as Error).message}`);
  }
  if (!ACCOUNT_NAME.test(value)) {
    throw fail("E_USAGE", `${flag}: ${kind} ${JSON.stringify(value)} must be letters, digits, '.', '_' and '-', starting with a letter or digit (it becomes an MQTT user name, a line of mosquitto's password and ACL files and a folder name); e.g. ${JSON.stringify(value.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "") || "pi-001")}`);
  }
}

/** Throws E_USAGE when `group` is no share group (assertId) or holds whitespace (acl_file lines are trimmed). */
export function assertAclGroup(group: unknown, flag: string): asserts group is string {
  try {
    assertId("share group", group);
  } catch (e) {
    throw fail("E_USAGE", `${flag}: ${(e as Error).message}`);
  }
  if (/\s/u.test(group)) throw fail("E_USAGE", `${flag}: share group ${JSON.stringify(group)} must not contain whitespace (mosquitto's acl_file trims topic lines)`);
}

/** Throws E_USAGE when `prefix` is no topic prefix (topics() rules) or holds whitespace (acl_file lines are trimmed). */
export function assertAclPrefix(prefix: unknown, flag: string): asserts prefix is string {
  try {
    topics(prefix as string);
  } catch (e) {
    throw fail("E_USAGE", `${flag}: ${(e as Error).message}`);
  }
  if (/\s/u.test(prefix as string)) throw fail("E_USAGE", `${flag}: topic prefix ${JSON.stringify(prefix)} must not contain whitespace (mosquitto's acl_file trims topic lines)`);
}
