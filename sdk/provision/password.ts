/**
 * Broker passwords: generation, and the entries of a mosquitto password_file.
 *
 * mosquitto 2 (`mosquitto_passwd`, default `-H sha512-pbkdf2`) writes one `<user>:<hash>` line
 * per user, the hash `$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512 (64 bytes)>`
 * with a 12-byte salt and 101 iterations (mosquitto 2.0 common/password_mosq.c: pw__encode;
 * mosquitto 2.1 still reads 12-byte salts). Checked byte for byte against mosquitto_passwd and
 * by real mosquitto accepting the hashes (test/security/).
 *
 * The iteration count is mosquitto_passwd's: the broker pays it on every CONNECT, and a
 * generated password has 192 random bits, so no count would make guessing it any harder.
 */
import { pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { fail } from "../errors.js";

/** mosquitto's PBKDF2 hash id (`$7$`), digest, salt and output lengths. */
const PBKDF2_ID = "7";
const DIGEST = "sha512";
const SALT_BYTES = 12;
const HASH_BYTES = 64;
/** mosquitto_passwd's default iteration count (mosquitto 2.0 PW_DEFAULT_ITERATIONS). */
export const MOSQUITTO_ITERATIONS = 101;

/** Random bytes in a generated password (192 bits). */
export const PASSWORD_BYTES = 24;

/** A new random password: 24 random bytes as base64url (32 characters, no padding, no `:` or whitespace). */
export function generatePassword(): string {
  return randomBytes(PASSWORD_BYTES).toString("base64url");
}

/** Options of {@link hashPassword}. */
export interface HashOptions {
  /** PBKDF2 iterations (default {@link MOSQUITTO_ITERATIONS}). */
  iterations?: number;
  /** The 12-byte salt (default: random); for reproducing a known hash. */
  salt?: Uint8Array;
}

/** The mosquitto password_file hash of `password`: `$7$<iterations>$<salt>$<hash>`. */
export function hashPassword(password: string, opts: HashOptions = {}): string {
  const iterations = opts.iterations ?? MOSQUITTO_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1) throw fail("E_USAGE", `PBKDF2 iterations must be an integer >= 1, got ${String(iterations)}`);
  const salt = opts.salt === undefined ? randomBytes(SALT_BYTES) : Buffer.from(opts.salt);
  if (salt.length !== SALT_BYTES) throw fail("E_USAGE", `the salt must be ${SALT_BYTES} bytes (what mosquitto 2.0 reads), got ${salt.length}`);
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, DIGEST);
  return `$${PBKDF2_ID}$${iterations}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** Whether `password` matches a `$7$` hash (as the broker checks it); false for any other form. */
export function verifyPassword(password: string, encoded: string): boolean {
  const m = /^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(encoded);
  if (m === null) return false;
  const iterations = Number(m[1]);
  const salt = Buffer.from(m[2]!, "base64");
  const expected = Buffer.from(m[3]!, "base64");
  if (iterations < 1 || expected.length !== HASH_BYTES) return false;
  return timingSafeEqual(pbkdf2Sync(password, salt, iterations, HASH_BYTES, DIGEST), expected);
}

/** The user name of a password_file line, or undefined for a line that holds no entry. */
function userOf(line: string): string | undefined {
  const colon = line.indexOf(":");
  return colon <= 0 || line.startsWith("#") ? undefined : line.slice(0, colon);
}

/** What {@link upsertPasswordEntry} did. */
export interface Upserted {
  /** The new file content. */
  text: string;
  /** Whether an entry of the user was there before (and was replaced). */
  replaced: boolean;
}

/**
 * The password_file content with `<user>:<hash>` in place of the user's entry (where it was, so
 * the order stays), or appended. Other lines stay as they are; duplicate entries of the user
 * (hand edits) go, so the file ends with exactly one.
 */
export function upsertPasswordEntry(text: string, user: string, hash: string): Upserted {
  const entry = `${user}:${hash}`;
  const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
  const out: string[] = [];
  let replaced = false;
  for (const line of lines) {
    if (userOf(line) !== user) out.push(line);
    else if (!replaced) { out.push(entry); replaced = true; }
  }
  if (!replaced) out.push(entry);
  return { text: out.join("\n") + "\n", replaced };
}

/** The user names of a password_file's entries, in file order. */
export function passwordFileUsers(text: string): string[] {
  return text.split(/\r?\n/).map(userOf).filter((u): u is string => u !== undefined);
}
