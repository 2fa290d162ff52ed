/**
 * Editing a file that a broker reads and other scripts edit at the same time:
 *
 * - a lock file `<file>.lock` created with O_EXCL serialises read-edit-write cycles, across
 *   processes and within one (a loop of `edgecut provision` runs in parallel loses no entry). A
 *   lock whose holder died (its pid is gone) or that is older than staleMs is broken; two waiters
 *   breaking the same dead lock at once is the one race left, and needs a crashed holder first.
 * - the new content goes to a temporary file in the same folder, gets the old file's mode (and,
 *   as root, its owner: mosquitto must still read it), is fsynced and renamed over the file, so a
 *   broker reloading (SIGHUP) sees the old file or the new one, never half of one.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fail } from "../errors.js";

/** Options of {@link updateFile}. */
export interface UpdateOptions {
  /** Mode of a file that does not exist yet (default 0o600: it may hold hashes or secrets). */
  mode?: number;
  /** Longest wait for the lock, ms (default 30 000). */
  lockTimeoutMs?: number;
  /** A lock older than this (ms) is taken to be left over by a hung run (default 60 000). */
  staleLockMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Whether process `pid` exists (EPERM: it does, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === "EPERM";
  }
}

/** Why a held lock may be broken (undefined: it may not). */
function staleReason(lock: string, staleMs: number): string | undefined {
  try {
    const st = fs.statSync(lock);
    const pid = Number.parseInt(fs.readFileSync(lock, "utf8"), 10);
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) return `its process ${pid} is gone`;
    if (Date.now() - st.mtimeMs > staleMs) return `it is older than ${staleMs} ms`;
    return undefined;
  } catch (e) {
    // Gone meanwhile: the next attempt takes it.
    if (errno(e) === "ENOENT") return undefined;
    throw e;
  }
}

/** Takes `<file>.lock`; resolves with its release function. */
async function lock(file: string, timeoutMs: number, staleMs: number): Promise<() => void> {
  const lockFile = `${file}.lock`;
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const fd = fs.openSync(lockFile, "wx", 0o600);
      try { fs.writeSync(fd, `${process.pid}\n`); } finally { fs.closeSync(fd); }
      return () => fs.rmSync(lockFile, { force: true });
    } catch (e) {
      if (errno(e) !== "EEXIST") throw fail("E_IO", `cannot create the lock file ${lockFile}: ${(e as Error).message}; check that the folder exists and is writable`, e);
    }
    if (staleReason(lockFile, staleMs) !== undefined) {
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw fail("E_IO", `${file} stays locked by ${lockFile} (another edgecut provision run?) after ${timeoutMs} ms; if none runs, remove the lock file`);
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * Writes `text` to `file` through a temporary sibling and a rename (see the module comment). The
 * file keeps its mode and owner; a new one gets `mode`, as does every one with `forceMode`.
 */
export function replaceFileAtomic(file: string, text: string, opts: { mode?: number; forceMode?: boolean } = {}): void {
  const mode = opts.mode ?? 0o600;
  let target = file;
  let st: fs.Stats | undefined;
  try {
    // A symlinked file (/etc/mosquitto/passwd -> ...) is replaced where it points, the link stays.
    target = fs.realpathSync(file);
    st = fs.statSync(target);
  } catch (e) {
    if (errno(e) !== "ENOENT") throw fail("E_IO", `cannot read ${file}: ${(e as Error).message}`, e);
  }
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    const fd = fs.openSync(tmp, "wx", 0o600);
    try {
      fs.writeFileSync(fd, text);
      // fchmod, not open's mode: the umask must not loosen or tighten what mosquitto needs.
      const keep = opts.forceMode === true ? undefined : st;
      fs.fchmodSync(fd, keep === undefined ? mode : keep.mode & 0o7777);
      if (keep !== undefined && process.getuid?.() === 0 && (keep.uid !== 0 || keep.gid !== 0)) fs.fchownSync(fd, keep.uid, keep.gid);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fail("E_IO", `cannot write ${file}: ${(e as Error).message}; check that its folder exists and is writable`, e);
  }
  // The rename itself is durable once the folder is synced (best effort: not every file system allows it).
  try {
    const dfd = fs.openSync(path.dirname(target), "r");
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch {
    // fsync of a folder is refused on some file systems; the rename still happened.
  }
}

/**
 * Under the file's lock: reads it ("" when it does not exist), applies `edit`, and writes the
 * result atomically. Returns what `edit` returned. E_IO when the file cannot be read, written or
 * locked in time.
 */
export async function updateFile<T extends { text: string }>(file: string, edit: (old: string) => T, opts: UpdateOptions = {}): Promise<T> {
  const release = await lock(file, opts.lockTimeoutMs ?? 30_000, opts.staleLockMs ?? 60_000);
  try {
    let old = "";
    try {
      old = fs.readFileSync(file, "utf8");
    } catch (e) {
      if (errno(e) !== "ENOENT") throw fail("E_IO", `cannot read ${file}: ${(e as Error).message}`, e);
    }
    const result = edit(old);
    if (result.text !== old) replaceFileAtomic(file, result.text, opts.mode === undefined ? {} : { mode: opts.mode });
    return result;
  } finally {
    release();
  }
}
