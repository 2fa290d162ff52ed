/**
 * The segment profiler: runs a split's segments on this device, in chain order on real model
 * inputs, and stores what each costs (median latency of warm runs, the RSS its session added)
 * under (model sha256, segment index, device id, shape bucket). It also says which profiles need
 * re-measuring (missing, stale, or taken under a very different CPU load), and turns profiles
 * into the planner's segment costs.
 *
 * Sessions: every session of a profileAll() call stays loaded until the call returns, then all
 * are released; the profiler keeps no model in RAM between calls (the agent's runner holds its own
 * sessions). Holding them during the call is deliberate: freeing segment i before loading i + 1
 * would let i + 1 reuse i's pages and measure an RSS delta near zero, and the device runs its front
 * segments loaded together too. Peak memory is therefore that of running all profiled segments
 * locally; on a board where that does not fit, profile a prefix with `only`.
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fail } from "../../sdk/errors.js";
import type { Manifest } from "../../sdk/graph/manifest.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import type { HostTensor, TensorMap } from "../../sdk/runtime/tensor.js";
import type { SegmentProfile as PlannerSegment } from "../planner/types.js";
import type { AgentStore, SegmentProfile } from "../store/index.js";
import { shapeBucket } from "./bucket.js";
import { checkLoad, DEFAULT_MAX_CPU_LOAD, idleLatencyMs, median, rssNote } from "./measure.js";

/** Where the profiler writes notes (an RSS delta below the weights). A pino Logger fits. */
export interface ProfilerLog {
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** Profiler settings. */
export interface ProfilerOptions {
  store: AgentStore;
  /** This device's id (the store key). */
  deviceId: string;
  /** The folder the manifest's `file` paths are relative to (LoadedManifest.dir). */
  manifestDir: string;
  manifest: Manifest;
  /** CPU load of other work now, 0..1 (e.g. DeviceSample.cpuLoadPercent / 100). */
  cpuLoad: () => number;
  /** Wall-clock epoch ms for measuredAt and staleness (default Date.now). */
  clock?: () => number;
  /** Monotonic ms for timing runs (default performance.now). */
  now?: () => number;
  /** Resident set size of this process in bytes (default process.memoryUsage.rss). */
  rss?: () => number;
  /** Untimed runs per segment, the first of which also feeds the RSS measurement (default 2, >= 1). */
  warmupRuns?: number;
  /** Timed runs per segment; the median is stored (default 5). */
  timedRuns?: number;
  /** onnxruntime intra-op threads per session (default: onnxruntime's choice). */
  intraOpThreads?: number;
  /** A profile older than this is re-measured (default 7 days). */
  staleAfterMs?: number;
  /** Re-measure when the current load differs from the profile's by more than this fraction (default 0.3). */
  loadChangeThreshold?: number;
  /** Clamp of the load correction in plannerSegments (default 0.9, the planner's maxCpuLoad). */
  maxCpuLoad?: number;
  log?: ProfilerLog;
}

/** Options of one profileAll call. */
export interface ProfileRunOptions {
  /**
   * Segments to measure and store (default: all). Earlier segments still run once, untimed, to
   * make their inputs; segments after the last one named do not run.
   */
  only?: readonly number[];
}

/** Why a segment needs profiling. */
export type ProfilingReason = "missing" | "stale" | "load-changed";

/** One segment needing a (new) profile. */
export interface ProfilingNeed {
  segmentIndex: number;
  reason: ProfilingReason;
}

const DAY_MS = 24 * 3600_000;

function intAtLeast(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw fail("E_USAGE", `Profiler: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (typeof v !== "number" || Number.isNaN(v) || v < 0) throw fail("E_USAGE", `Profiler: ${name} must be a number >= 0, got ${v}`);
  return v;
}

/** Profiles a split's segments on this device (see the module comment). */
export class Profiler {
  readonly manifest: Manifest;
  readonly deviceId: string;
  readonly #o: ProfilerOptions;
  readonly #clock: () => number;
  readonly #now: () => number;
  readonly #rss: () => number;
  readonly #warmupRuns: number;
  readonly #timedRuns: number;
  readonly #staleAfterMs: number;
  readonly #loadChangeThreshold: number;
  readonly #maxCpuLoad: number;

  constructor(o: ProfilerOptions) {
    if (typeof o.deviceId !== "string" || o.deviceId === "") throw fail("E_USAGE", "Profiler: deviceId must be a non-empty string");
    if (typeof o.manifestDir !== "string" || o.manifestDir === "") throw fail("E_USAGE", "Profiler: manifestDir must be the split folder (LoadedManifest.dir)");
    this.manifest = o.manifest;
    this.deviceId = o.deviceId;
    this.#o = o;
    this.#clock = o.clock ?? Date.now;
    this.#now = o.now ?? (() => performance.now());
    this.#rss = o.rss ?? (() => process.memoryUsage.rss());
    this.#warmupRuns = intAtLeast("warmupRuns", o.warmupRuns ?? 2, 1);
    this.#timedRuns = intAtLeast("timedRuns", o.timedRuns ?? 5, 1);
    this.#staleAfterMs = nonNegative("staleAfterMs", o.staleAfterMs ?? 7 * DAY_MS);
    this.#loadChangeThreshold = nonNegative("loadChangeThreshold", o.loadChangeThreshold ?? 0.3);
    this.#maxCpuLoad = o.maxCpuLoad ?? DEFAULT_MAX_CPU_LOAD;
    if (!(this.#maxCpuLoad >= 0 && this.#maxCpuLoad < 1)) throw fail("E_USAGE", `Profiler: maxCpuLoad must be in [0, 1), got ${this.#maxCpuLoad}`);
    if (o.intraOpThreads !== undefined) intAtLeast("intraOpThreads", o.intraOpThreads, 1);
  }

  /** The model's sha256, the store key's first part. */
  get modelSha256(): string {
    return this.manifest.model.sha256;
  }

  /**
   * Runs segments 0..n-1 (or up to the last of `only`) in chain order on `inputs`, measures each,
   * stores and returns the profiles (in segment order). The CPU load is read once, before anything
   * runs, so it is the load of other work, not of the profiling itself. E_INPUT_MISSING / E_USAGE
   * for inputs that do not fit the model, E_RUNTIME from onnxruntime, E_STORE from the store.
   */
  async profileAll(inputs: TensorMap, opts: ProfileRunOptions = {}): Promise<SegmentProfile[]> {
    this.#checkInputs(inputs);
    const n = this.manifest.segments.length;
    const only = new Set(opts.only ?? this.manifest.segments.map((s) => s.index));
    for (const i of only) {
      if (!Number.isSafeInteger(i) || i < 0 || i >= n) throw fail("E_USAGE", `profileAll: segment ${i} does not exist (this split has segments 0..${n - 1})`);
    }
    const last = Math.max(-1, ...only);
    const bucket = shapeBucket(inputs);
    const cpuLoad = checkLoad(this.#o.cpuLoad(), "cpuLoad()");
    const pool = new Map<string, HostTensor>(Object.entries(inputs));
    const sessions: OrtSession[] = [];
    const profiles: SegmentProfile[] = [];
    try {
      for (let i = 0; i <= last; i++) {
        const seg = this.manifest.segments[i]!;
        const feeds: TensorMap = {};
        for (const t of seg.inputs) {
          const v = pool.get(t.name);
          if (v === undefined) throw fail("E_MANIFEST", `segment ${i} needs "${t.name}", which no model input or earlier segment provides; re-run the split`);
          feeds[t.name] = v;
        }
        const fetch = seg.outputs.map((o) => o.name);
        const rss0 = this.#rss();
        const session = await OrtSession.create(path.resolve(this.#o.manifestDir, seg.file), this.#sessionOptions());
        sessions.push(session);
        const out = await session.run(feeds, fetch);
        const rssDelta = Math.max(0, this.#rss() - rss0);
        for (const [name, t] of Object.entries(out)) pool.set(name, t);
        if (!only.has(i)) continue;

        const note = rssNote(rssDelta, seg.weightBytes);
        if (note !== undefined) this.#o.log?.warn({ segment: i, rssBytes: rssDelta, weightBytes: seg.weightBytes }, note);
        for (let w = 1; w < this.#warmupRuns; w++) await session.run(feeds, fetch);
        const times: number[] = [];
        for (let r = 0; r < this.#timedRuns; r++) {
          const t0 = this.#now();
          await session.run(feeds, fetch);
          times.push(this.#now() - t0);
        }
        const p: SegmentProfile = {
          modelSha256: this.modelSha256, segmentIndex: i, deviceId: this.deviceId, shapeBucket: bucket,
          latencyMs: Math.max(0, median(times)), rssBytes: rssDelta, runs: this.#timedRuns, measuredAt: this.#clock(), cpuLoad,
        };
        this.#o.store.putProfile(p);
        profiles.push(p);
      }
    } finally {
      for (const s of sessions) await s.release();
    }
    return profiles;
  }

  /**
   * Segments whose profile in `bucket` is missing, older than staleAfterMs, or was taken under a
   * CPU load differing from `currentLoad` (0..1) by more than loadChangeThreshold; in segment order.
   */
  needsProfiling(bucket: string, currentLoad: number): ProfilingNeed[] {
    checkLoad(currentLoad, "needsProfiling: currentLoad");
    const wallNow = this.#clock();
    const needs: ProfilingNeed[] = [];
    for (const seg of this.manifest.segments) {
      const p = this.#profile(seg.index, bucket);
      const reason: ProfilingReason | undefined = p === undefined ? "missing"
        : wallNow - p.measuredAt > this.#staleAfterMs ? "stale"
        : Math.abs(currentLoad - p.cpuLoad) > this.#loadChangeThreshold ? "load-changed"
        : undefined;
      if (reason !== undefined) needs.push({ segmentIndex: seg.index, reason });
    }
    return needs;
  }

  /**
   * The planner's segment costs for `bucket`. Profiled segments: localMs = the stored latency
   * corrected to idle (idleLatencyMs; the planner applies the current load itself), memBytes =
   * max(rssBytes, weightBytes). Unprofiled: localMs null (the planner predicts flops / flopsPerMs)
   * and memBytes = weightBytes. The weight bytes are a floor because the RSS delta undercounts
   * (see rssNote), and weights must be in RAM to run, mapped or not.
   */
  plannerSegments(bucket: string): PlannerSegment[] {
    return this.manifest.segments.map((seg) => {
      const p = this.#profile(seg.index, bucket);
      if (p === undefined) return { localMs: null, flops: seg.flops, memBytes: seg.weightBytes };
      return { localMs: idleLatencyMs(p, this.#maxCpuLoad), flops: seg.flops, memBytes: Math.max(p.rssBytes, seg.weightBytes) };
    });
  }

  /** This model's stored profiles on this device (every bucket), by segment then bucket. */
  profiles(): SegmentProfile[] {
    return this.#o.store.listProfiles(this.modelSha256, this.deviceId);
  }

  #profile(segmentIndex: number, shapeBucket: string): SegmentProfile | undefined {
    return this.#o.store.getProfile({ modelSha256: this.modelSha256, segmentIndex, deviceId: this.deviceId, shapeBucket });
  }

  #sessionOptions(): { allowSpinning: boolean; intraOpThreads?: number } {
    return { allowSpinning: false, ...(this.#o.intraOpThreads !== undefined ? { intraOpThreads: this.#o.intraOpThreads } : {}) };
  }

  /** Every model input present with its declared type, rank and fixed dims; nothing else. */
  #checkInputs(inputs: TensorMap): void {
    const declared = new Map(this.manifest.model.inputs.map((t) => [t.name, t]));
    for (const name of Object.keys(inputs)) {
      if (!declared.has(name)) throw fail("E_USAGE", `profileAll: the inputs include "${name}", which is not a model input (inputs: ${[...declared.keys()].join(", ")})`);
    }
    for (const [name, d] of declared) {
      const t = inputs[name];
      const want = `${d.type} [${d.shape.map((x) => x ?? "?").join(", ")}]`;
      if (t === undefined) throw fail("E_INPUT_MISSING", `profileAll: model input "${name}" (${want}) is missing from the inputs; profile with a full set of model inputs`);
      if (t.type !== d.type) throw fail("E_USAGE", `profileAll: input "${name}" is ${t.type} but the model wants ${want}`);
      if (t.dims.length !== d.shape.length) throw fail("E_USAGE", `profileAll: input "${name}" has dims [${t.dims.join(", ")}] but the model wants ${want}`);
      d.shape.forEach((fixed, i) => {
        if (typeof fixed === "number" && t.dims[i] !== fixed) throw fail("E_USAGE", `profileAll: input "${name}" has dims [${t.dims.join(", ")}] but dim ${i} is fixed at ${fixed}`);
      });
    }
  }
}
