/**
 * Segment profiles: what running one segment costs on this device (median latency of N warm runs,
 * the session's RSS) per shape bucket, with when it was measured and the CPU load at the time,
 * so the profiler can re-measure stale entries or ones taken under very different load.
 */
import { fail } from "../../sdk/errors.js";
import type { Sqlite, Stmt } from "./sqlite.js";

/** Identifies one profile. */
export interface ProfileKey {
  /** sha256 (hex) of the whole model the segment was cut from. */
  modelSha256: string;
  /** Segment index within the split (0 = first). */
  segmentIndex: number;
  deviceId: string;
  /** The input-shape bucket the measurement stands for (e.g. "1x64"); the profiler names them. */
  shapeBucket: string;
}

/** One measurement of one segment on one device. */
export interface SegmentProfile extends ProfileKey {
  /** Median latency of `runs` timed runs after warm-up (ms). */
  latencyMs: number;
  /** Resident memory the segment's session added (bytes). */
  rssBytes: number;
  /** How many timed runs the median is of (>= 1). */
  runs: number;
  /** When it was measured (ms since the epoch). */
  measuredAt: number;
  /** CPU load during the measurement (the profiler's measure, e.g. 1-minute load per core). */
  cpuLoad: number;
}

interface Row {
  model_sha256: string;
  device_id: string;
  segment_index: number;
  shape_bucket: string;
  latency_ms: number;
  rss_bytes: number;
  runs: number;
  measured_at: number;
  cpu_load: number;
}

const COLUMNS = "model_sha256, device_id, segment_index, shape_bucket, latency_ms, rss_bytes, runs, measured_at, cpu_load";

function fromRow(r: Row): SegmentProfile {
  return {
    modelSha256: r.model_sha256, segmentIndex: r.segment_index, deviceId: r.device_id, shapeBucket: r.shape_bucket,
    latencyMs: r.latency_ms, rssBytes: r.rss_bytes, runs: r.runs, measuredAt: r.measured_at, cpuLoad: r.cpu_load,
  };
}

function checkKey(k: ProfileKey): void {
  for (const f of ["modelSha256", "deviceId", "shapeBucket"] as const) {
    if (typeof k[f] !== "string" || k[f] === "") throw fail("E_USAGE", `profile ${f} must be a non-empty string`);
  }
  if (!Number.isInteger(k.segmentIndex) || k.segmentIndex < 0) throw fail("E_USAGE", `profile segmentIndex must be an integer >= 0, got ${k.segmentIndex}`);
}

function checkProfile(p: SegmentProfile): void {
  checkKey(p);
  const finite = (name: string, v: number, min: number): void => {
    if (!Number.isFinite(v) || v < min) throw fail("E_USAGE", `profile ${name} must be a finite number >= ${min}, got ${v}`);
  };
  finite("latencyMs", p.latencyMs, 0);
  finite("rssBytes", p.rssBytes, 0);
  finite("runs", p.runs, 1);
  finite("measuredAt", p.measuredAt, 0);
  finite("cpuLoad", p.cpuLoad, 0);
  if (!Number.isInteger(p.runs)) throw fail("E_USAGE", `profile runs must be an integer, got ${p.runs}`);
}

/** Profile storage on an open connection (statements prepared once). */
export class ProfileStore {
  readonly #put: Stmt<never>;
  readonly #get: Stmt<Row>;
  readonly #list: Stmt<Row>;
  readonly #stale: Stmt<Row>;

  constructor(db: Sqlite) {
    this.#put = db.prepare(`INSERT INTO profiles (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model_sha256, device_id, segment_index, shape_bucket) DO UPDATE SET
        latency_ms = excluded.latency_ms, rss_bytes = excluded.rss_bytes, runs = excluded.runs,
        measured_at = excluded.measured_at, cpu_load = excluded.cpu_load`);
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM profiles
      WHERE model_sha256 = ? AND device_id = ? AND segment_index = ? AND shape_bucket = ?`);
    this.#list = db.prepare(`SELECT ${COLUMNS} FROM profiles WHERE model_sha256 = ? AND device_id = ?
      ORDER BY segment_index, shape_bucket`);
    this.#stale = db.prepare(`SELECT ${COLUMNS} FROM profiles WHERE measured_at < ?
      ORDER BY measured_at, model_sha256, device_id, segment_index, shape_bucket`);
  }

  /** Inserts or replaces the profile for its key (one statement: atomic on its own). */
  put(p: SegmentProfile): void {
    checkProfile(p);
    this.#put.run(p.modelSha256, p.deviceId, p.segmentIndex, p.shapeBucket, p.latencyMs, Math.round(p.rssBytes), p.runs, Math.round(p.measuredAt), p.cpuLoad);
  }

  /** The profile for a key, or undefined when never measured. */
  get(k: ProfileKey): SegmentProfile | undefined {
    checkKey(k);
    const r = this.#get.get(k.modelSha256, k.deviceId, k.segmentIndex, k.shapeBucket);
    return r === undefined ? undefined : fromRow(r);
  }

  /** Every profile of a model on a device, by segment index then shape bucket. */
  list(modelSha256: string, deviceId: string): SegmentProfile[] {
    return this.#list.all(modelSha256, deviceId).map(fromRow);
  }

  /** Profiles measured more than `olderThanMs` before `now`, oldest first. */
  stale(olderThanMs: number, now: number): SegmentProfile[] {
    return this.#stale.all(now - olderThanMs).map(fromRow);
  }
}
