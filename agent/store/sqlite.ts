/**
 * The one module that loads better-sqlite3. It opens a connection with the pragmas the agent's
 * store needs and hands out a small typed surface (`Sqlite`, `Stmt`) whose every call maps
 * SQLite's errors to EdgecutErrors: E_STORE_FULL when a write ran out of space (disk full, or
 * the `max_page_count` size limit), E_STORE for everything else (not a database, cannot open,
 * read-only, locked for longer than the busy timeout, I/O errors), always naming the file.
 */
import Database from "better-sqlite3";
import * as fs from "node:fs";
import * as path from "node:path";
import { EdgecutError, fail } from "../../sdk/errors.js";

/** A value SQLite can bind or return (BLOBs are bound from any Uint8Array, returned as Buffer). */
export type SqlValue = string | number | bigint | Uint8Array | null;

/** What a write statement reports. */
export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/** A prepared statement whose rows have type `R` (the caller vouches for the SQL's columns). */
export interface Stmt<R> {
  run(...params: SqlValue[]): RunResult;
  get(...params: SqlValue[]): R | undefined;
  all(...params: SqlValue[]): R[];
}

/** Connection settings. */
export interface SqliteOptions {
  /**
   * "normal" (default): in WAL mode a commit survives a crash or kill -9 of the process and the
   * file is never corrupted by a power cut, but the last commits before a power cut may be lost.
   * That trade is right on SD cards and eMMC, where an fsync per commit costs milliseconds and
   * flash wear. "full" fsyncs every commit, for deployments that must not lose an acknowledged
   * enqueue even on power loss.
   */
  synchronous?: "normal" | "full";
  /** How long a write waits for another connection's lock before failing with E_STORE (ms). */
  busyTimeoutMs?: number;
  /** Size limit in pages (`PRAGMA max_page_count`): writes beyond it fail with E_STORE_FULL. */
  maxPageCount?: number;
}

/** An open connection. */
export interface Sqlite {
  /** The file (or ":memory:"). */
  readonly file: string;
  /** Whether close() has not been called yet. */
  readonly isOpen: boolean;
  /** Prepares a statement (no cache here: callers prepare once and keep it). */
  prepare<R = unknown>(sql: string): Stmt<R>;
  /** Runs SQL without results (schema statements). */
  exec(sql: string): void;
  /** Runs `fn` in a BEGIN IMMEDIATE transaction: all of it commits, or none of it on a throw. */
  immediate<T>(fn: () => T): T;
  /** Reads one pragma's value (the first column of its first row). */
  pragma(name: string): unknown;
  /** Checkpoints the WAL into the main file and closes; idempotent. */
  close(): void;
}

/** Error codes SQLite reports when it has no room: the disk, or the max_page_count limit. */
const FULL_CODES = new Set(["SQLITE_FULL", "SQLITE_IOERR_WRITE_FULL"]);

/**
 * Maps an error thrown by better-sqlite3 (or the file system) to an EdgecutError naming the file.
 * EdgecutErrors pass through; so do errors that are not SQLite's (a TypeError from a bad binding
 * is a bug in the caller and must not be disguised as a storage problem).
 */
export function storeError(err: unknown, file: string, doing: string): unknown {
  if (err instanceof EdgecutError) return err;
  const code = sqliteCode(err);
  const reason = err instanceof Error ? err.message : String(err);
  if (code !== undefined && FULL_CODES.has(code)) {
    return fail("E_STORE_FULL", `store ${file}: ${doing}: ${reason} (free disk space, or raise the store's size limit)`, err);
  }
  if (code !== undefined || isFsError(err)) {
    const hint = code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT"
      ? " (move the file aside; the agent creates a new store)" : "";
    return fail("E_STORE", `store ${file}: ${doing}: ${reason}${hint}`, err);
  }
  return err;
}

function sqliteCode(err: unknown): string | undefined {
  if (err instanceof Database.SqliteError) return err.code;
  return undefined;
}

function isFsError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string";
}

/** better-sqlite3 binds Buffers as BLOBs; a plain Uint8Array view is wrapped without copying. */
function bind(params: SqlValue[]): unknown[] {
  return params.map((p) => p instanceof Uint8Array && !Buffer.isBuffer(p)
    ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p);
}

/**
 * Opens (creating the folder and file if needed) a SQLite database with WAL journaling, the
 * chosen synchronous level and a busy timeout. Throws E_STORE with the path and the reason when
 * the folder cannot be created, the file cannot be opened, or it is not a database.
 */
export function openSqlite(file: string, options: SqliteOptions = {}): Sqlite {
  const memory = file === ":memory:";
  if (!memory) {
    try {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    } catch (err) {
      throw storeError(err, file, "cannot create its folder");
    }
  }
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 5000 });
  } catch (err) {
    // better-sqlite3 throws a TypeError (not a SqliteError) when the folder is missing.
    const e = err instanceof Database.SqliteError || isFsError(err) ? err
      : new Database.SqliteError(err instanceof Error ? err.message : String(err), "SQLITE_CANTOPEN");
    throw storeError(e, file, "cannot open");
  }
  try {
    // The first statement reads the header: a file that is not SQLite fails here (SQLITE_NOTADB).
    // WAL lets readers (the fleet summary, the local API) run while a job commits, and makes a
    // commit one sequential append instead of a rewrite of the pages in place.
    db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
    // Bound the WAL file after checkpoints so a burst of writes does not keep the SD card full.
    db.pragma("journal_size_limit = 4194304");
    if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxPageCount))}`);
    // A partly written or truncated file can pass the header check; make it fail now, at open,
    // rather than on some later write in the middle of a job.
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
  } catch (err) {
    db.close();
    throw storeError(err, file, "cannot open");
  }
  return wrap(db, file);
}

function wrap(db: Database.Database, file: string): Sqlite {
  let open = true;
  const guard = <T>(doing: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw storeError(err, file, doing);
    }
  };
  return {
    file,
    get isOpen() {
      return open;
    },
    prepare<R>(sql: string): Stmt<R> {
      const st = guard("prepare", () => db.prepare(sql));
      // Errors name the statement's verb (INSERT, UPDATE, SELECT, ...): enough to tell a failed
      // write from a failed read without dumping the SQL into the message.
      const doing = `${/^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? "statement"} failed`;
      return {
        run: (...p) => guard(doing, () => st.run(...bind(p))),
        get: (...p) => guard(doing, () => st.get(...bind(p)) as R | undefined),
        all: (...p) => guard(doing, () => st.all(...bind(p)) as R[]),
      };
    },
    exec: (sql) => {
      guard("exec", () => db.exec(sql));
    },
    immediate: <T>(fn: () => T): T => guard("transaction", () => db.transaction(fn).immediate()),
    pragma: (name) => guard("pragma", () => db.pragma(name, { simple: true })),
    close: () => {
      if (!open) return;
      open = false;
      try {
        // Fold the WAL into the main file so the store is one self-contained file at rest
        // (copyable, and quick to open). A busy reader elsewhere just leaves the WAL in place.
        db.pragma("wal_checkpoint(TRUNCATE)");
      } catch {
        // A failing checkpoint loses nothing: the WAL is replayed on the next open.
      } finally {
        db.close();
      }
    },
  };
}
