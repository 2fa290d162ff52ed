/**
 * sha256 of files and strings. Files are hashed in chunks: weight files can be many GB, more
 * than one Node Buffer can hold.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { fail } from "../errors.js";

const CHUNK = 8 << 20;

/** sha256 (lowercase hex) of a string (as UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * sha256 (lowercase hex) of a file, read in fixed-size chunks (any size; split, loadManifest and
 * verify all hash this way). Throws E_MODEL_READ when it cannot be read.
 */
export function sha256FileSync(file: string): string {
  const h = createHash("sha256");
  const cannot = (e: unknown): Error => fail("E_MODEL_READ", `cannot read ${file} to hash it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (e) {
    throw cannot(e);
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } catch (e) {
    throw cannot(e); // e.g. EISDIR: a folder opens but does not read
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}
