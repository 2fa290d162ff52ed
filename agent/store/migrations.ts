/**
 * The store's schema, as an append-only list of migrations recorded in `schema_migrations`.
 * A migration never changes once released: a new schema is a new entry at the end.
 */
import { fail } from "../../sdk/errors.js";
import type { Sqlite } from "./sqlite.js";

/** One schema step. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, in order (versions 1, 2, 3, ... without gaps). */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "profiles, jobs, telemetry",
    sql: `
      -- Per-segment measurements on this device. The key order serves listProfiles(model, device).
      CREATE TABLE profiles (
        model_sha256  TEXT    NOT NULL,
        device_id     TEXT    NOT NULL,
        segment_index INTEGER NOT NULL CHECK (segment_index >= 0),
        shape_bucket  TEXT    NOT NULL,
        latency_ms    REAL    NOT NULL CHECK (latency_ms >= 0),
        rss_bytes     INTEGER NOT NULL CHECK (rss_bytes >= 0),
        runs          INTEGER NOT NULL CHECK (runs >= 1),
        measured_at   INTEGER NOT NULL,
        cpu_load      REAL    NOT NULL,
        PRIMARY KEY (model_sha256, device_id, segment_index, shape_bucket)
      ) WITHOUT ROWID;
      CREATE INDEX profiles_measured_at ON profiles (measured_at);

      -- Queued requests. idem_key is UNIQUE so two enqueues of one key can never both insert,
      -- whatever connection or process they come from. The request bytes are dropped when a job
      -- finishes (only their sha256 stays, to tell a retry from a different request).
      CREATE TABLE jobs (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        idem_key       TEXT    NOT NULL UNIQUE,
        status         TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
        request        BLOB,
        request_sha256 TEXT    NOT NULL,
        meta           TEXT    NOT NULL,
        created_at     INTEGER NOT NULL,
        attempts       INTEGER NOT NULL DEFAULT 0,
        worker_id      TEXT,
        started_at     INTEGER,
        lease_until    INTEGER,
        result         BLOB,
        error_code     TEXT,
        error_message  TEXT,
        finished_at    INTEGER,
        CHECK ((status = 'running') = (lease_until IS NOT NULL)),
        CHECK ((status IN ('done', 'failed')) = (finished_at IS NOT NULL))
      );
      CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';
      CREATE INDEX jobs_lease ON jobs (lease_until) WHERE status = 'running';
      CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

      -- Append-only samples, kept as a ring of the newest rows (AUTOINCREMENT keeps ids rising).
      CREATE TABLE telemetry (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        split       INTEGER NOT NULL,
        latency_ms  REAL    NOT NULL,
        bytes_up    INTEGER NOT NULL,
        bytes_down  INTEGER NOT NULL,
        queue_depth INTEGER NOT NULL,
        health      TEXT    NOT NULL
      );
      CREATE INDEX telemetry_at ON telemetry (at);
    `,
  },
  {
    version: 2,
    name: "telemetry outcome and breakdown",
    sql: `
      -- A request that failed is telemetry too: its outcome, error code, and (JSON) where its time went.
      ALTER TABLE telemetry ADD COLUMN outcome    TEXT NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'error'));
      ALTER TABLE telemetry ADD COLUMN error_code TEXT;
      ALTER TABLE telemetry ADD COLUMN breakdown  TEXT;
    `,
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to SCHEMA_VERSION. Each migration and its version row commit together, in
 * a BEGIN IMMEDIATE transaction, so a crash mid-migration leaves the previous version intact and
 * two agents opening one file at once do not both apply it (the second sees the first's row).
 * Throws E_STORE when the file was written by a newer agent (a downgrade).
 */
export function migrate(db: Sqlite, now: number): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const current = db.prepare<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations");
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
  return db.immediate(() => {
    const have = current.get()?.v ?? 0;
    if (have > SCHEMA_VERSION) {
      throw fail("E_STORE", `store ${db.file}: schema version ${have} is newer than this agent's ${SCHEMA_VERSION}; upgrade the agent or move the file aside`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= have) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, now);
    }
    return SCHEMA_VERSION;
  });
}
