/**
 * Device calibration: how many FLOPs this machine does per millisecond, so the planner can predict
 * segments it has not profiled yet (flops / flopsPerMs). Two sources:
 *
 * - `calibrate()` times a reference kernel, one float32 MatMul built in memory and run with
 *   onnxruntime: a rough figure available before any model is profiled.
 * - `calibrationFromProfiles()` divides the manifest's FLOPs of profiled segments by their idle
 *   latency: the same ops, threads and memory traffic the model really has, so better once
 *   profiles exist.
 *
 * The store has no table for a calibration (profile rows need segmentIndex >= 0), so callers keep
 * it in memory and recompute it at start-up; calibrationFromProfiles is cheap.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { fail } from "../../sdk/errors.js";
import type { Manifest, ManifestSegment } from "../../sdk/graph/manifest.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import type { SegmentProfile } from "../store/index.js";
import { manifestBucket } from "./bucket.js";
import { DEFAULT_MAX_CPU_LOAD, idleLatencyMs, median } from "./measure.js";

/** A device's speed for FLOP-based predictions. */
export interface Calibration {
  /** FLOPs per millisecond (DeviceState.flopsPerMs of the planner). */
  flopsPerMs: number;
  /** "matmul": the reference kernel; "profiles": the model's own profiled segments. */
  source: "matmul" | "profiles";
  /** FLOPs the figure is based on (one kernel run, or the sum over the profiles used). */
  flops: number;
  /** Milliseconds those FLOPs took (the median run, or the sum of idle latencies). */
  ms: number;
  /** Timed runs (matmul) or profiles used (profiles). */
  samples: number;
}

/** Options of calibrate(). */
export interface CalibrateOptions {
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Timed runs; the median counts (default 10). */
  runs?: number;
  /** Untimed runs first (default 2). */
  warmupRuns?: number;
  /** M = N = K of the MatMul (default 256: 33.5 MFLOP, a few ms on a Raspberry Pi 4). */
  size?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice); use the profiler's setting. */
  intraOpThreads?: number;
}

/** `v` when it is an integer >= min, else E_USAGE naming it (calibration options). */
export function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw fail("E_USAGE", `calibrate: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Deterministic values in [-0.5, 0.5): the kernel's timing must not depend on a PRNG's luck (denormals). */
export function filled(n: number, salt: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (((i + salt) * 2654435761) >>> 0) / 4294967296 - 0.5;
  return a;
}

/**
 * The reference model: c[M, N] = a[M, K] x w[K, N], w an initializer. The graph library (and its
 * protobuf schema) is loaded here only: an agent that calibrates from its profiles never carries it.
 */
async function matmulModel(size: number): Promise<Uint8Array> {
  const { GraphBuilder } = await import("../../sdk/graph/builder.js");
  const { serializeModel } = await import("../../sdk/graph/model-io.js");
  const b = new GraphBuilder({ name: "edgecut-calibration" });
  const a = b.input("a", "float32", [size, size]);
  const w = b.initializer("w", "float32", [size, size], filled(size * size, 7));
  b.op("MatMul", [a, w], {}, { output: "c" });
  b.output("c", "float32", [size, size]);
  return serializeModel(b.build(), { sourceDir: os.tmpdir() });
}

/**
 * Measures FLOPs/ms on a size x size x size float32 MatMul (2 * M * N * K FLOPs, as the manifest
 * counts MatMul): median of `runs` timed runs after `warmupRuns`. E_RUNTIME when onnxruntime fails
 * or the clock shows no time passing.
 */
export async function calibrate(opts: CalibrateOptions = {}): Promise<Calibration> {
  const now = opts.now ?? (() => performance.now());
  const runs = positiveInt("runs", opts.runs ?? 10, 1);
  const warmupRuns = positiveInt("warmupRuns", opts.warmupRuns ?? 2, 0);
  const size = positiveInt("size", opts.size ?? 256, 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-calibrate-"));
  let session: OrtSession | undefined;
  try {
    const file = path.join(dir, "matmul.onnx");
    fs.writeFileSync(file, await matmulModel(size));
    session = await OrtSession.create(file, { allowSpinning: false, ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}) });
    const feeds = { a: { type: "float32" as const, dims: [size, size], data: filled(size * size, 3) } };
    for (let i = 0; i < warmupRuns; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = now();
      await session.run(feeds);
      times.push(now() - t0);
    }
    const ms = median(times);
    if (!(ms > 0) || !Number.isFinite(ms)) {
      throw fail("E_RUNTIME", `calibrate: the median MatMul run took ${ms} ms on the given clock; pass a monotonic clock in ms, or a larger size`);
    }
    const flops = 2 * size * size * size;
    return { flopsPerMs: flops / ms, source: "matmul", flops, ms, samples: runs };
  } finally {
    await session?.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Options of calibrationFromProfiles. */
export interface ProfileCalibrationOptions {
  /** Clamp of the load correction (default 0.9, the planner's maxCpuLoad). */
  maxCpuLoad?: number;
}

/**
 * flopsPerMs = sum(flops) / sum(idle latency) over the profiles of this manifest's model whose
 * segment has known, non-zero FLOPs. Latencies are corrected to idle (idleLatencyMs), as the
 * planner's flopsPerMs is an idle figure. The manifest counts FLOPs at its own `shapes`, so only
 * profiles in that shape bucket are used when the manifest's bucket can be worked out. Undefined
 * when no profile qualifies.
 */
export function calibrationFromProfiles(profiles: readonly SegmentProfile[], manifest: Manifest, opts: ProfileCalibrationOptions = {}): Calibration | undefined {
  const bucket = manifestBucket(manifest);
  let flops = 0;
  let ms = 0;
  let samples = 0;
  for (const p of profiles) {
    if (p.modelSha256 !== manifest.model.sha256 || (bucket !== undefined && p.shapeBucket !== bucket)) continue;
    const f = manifest.segments[p.segmentIndex]?.flops;
    if (f === undefined || f === null || f <= 0) continue;
    const idle = idleLatencyMs(p, opts.maxCpuLoad ?? DEFAULT_MAX_CPU_LOAD);
    if (!(idle > 0)) continue;
    flops += f;
    ms += idle;
    samples++;
  }
  return samples === 0 ? undefined : { flopsPerMs: flops / ms, source: "profiles", flops, ms, samples };
}

/**
 * A segment's predicted idle time before it is profiled: flops / flopsPerMs, or null when the
 * manifest does not know its FLOPs. E_USAGE for a flopsPerMs that is not a positive finite number.
 */
export function predictMs(segment: Pick<ManifestSegment, "flops">, flopsPerMs: number): number | null {
  if (!Number.isFinite(flopsPerMs) || flopsPerMs <= 0) throw fail("E_USAGE", `predictMs: flopsPerMs must be a positive finite number, got ${flopsPerMs}; calibrate first`);
  return segment.flops === null ? null : segment.flops / flopsPerMs;
}
