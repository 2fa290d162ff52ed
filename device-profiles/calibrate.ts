/**
 * Measures this machine for the simulators (`edgecut calibrate`): FLOPs per ms on reference kernels
 * and, for a split, each segment's median latency and session RSS. The result is a Calibration
 * (device-profiles/sim/costs.ts, format 1); scaleSegmentMs turns its segment times into a
 * profile's: t_board = t_here * relativeSpeed_here / relativeSpeed_board.
 *
 * Kernels (each a float32 model built in memory with the graph library and run in onnxruntime):
 * - "matmul": the agent profiler's own reference, a 256^3 MatMul (agent/profiler calibrate()).
 * - "conv3x3": a 64 -> 64 channel 3x3 Conv on 32x32, the bulk of a small CNN.
 * - "attention": one single-head attention block at sequence 64, width 256 (Q/K/V/output
 *   projections, QK^T, softmax, xV), the matmul chain of a small transformer.
 * flopsPerMs is the geometric mean over the kernels: no one kernel shape dominates the figure.
 * FLOPs are counted as the manifest counts them (2 MACs per multiply-add of MatMul and Conv; the
 * softmax and bias are not counted), so flopsPerMs is comparable with the manifest's FLOPs.
 */
import { filled, positiveInt } from "../agent/profiler/calibrate.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { calibrate as matmulCalibrate, median, Profiler, shapeBucket } from "../agent/profiler/index.js";
import { zeroInputs } from "../agent/core/profiled-costs.js";
import { openStore } from "../agent/store/index.js";
import { REFERENCE_FLOPS_PER_MS } from "../sdk/cli/plan-figures.js";
import { fail } from "../sdk/errors.js";
import { loadManifest } from "../sdk/graph/manifest.js";
import { OrtSession } from "../sdk/runtime/ort.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import type { Calibration } from "./sim/costs.js";

/** One reference kernel measured. */
export interface KernelResult {
  name: "matmul" | "conv3x3" | "attention";
  /** FLOPs of one run (manifest counting). */
  flops: number;
  /** Median run (ms). */
  ms: number;
  flopsPerMs: number;
}

/** What `edgecut calibrate --json` prints and `-o` writes: a Calibration plus how it was measured. */
export interface CalibrationReport extends Calibration {
  kernels: KernelResult[];
  /** onnxruntime intra-op threads of every measurement. */
  threads: number;
  /** Timed runs per kernel and segment (the median counts). */
  runs: number;
  /** The reference board's assumed FLOPs/ms (sdk/cli/plan-figures.ts REFERENCE_FLOPS_PER_MS). */
  referenceFlopsPerMs: number;
}

/** Options of {@link calibrateMachine}. */
export interface CalibrateMachineOptions {
  /** A split's manifest.json: also measure each of its segments. */
  manifestPath?: string;
  /** Timed runs per kernel and segment (default 10). */
  runs?: number;
  /** onnxruntime intra-op threads (default 1: the worker and the profiler's setting in the simulators). */
  threads?: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
}

const WARMUP = 2;


interface KernelModel {
  bytes: Uint8Array;
  feeds: TensorMap;
  flops: number;
}

/** Conv 64 -> 64, 3x3, pad 1, on [1, 64, 32, 32]: 2 * 64 * 64 * 9 * 32 * 32 FLOPs. */
async function convModel(): Promise<KernelModel> {
  const { GraphBuilder } = await import("../sdk/graph/builder.js");
  const { serializeModel } = await import("../sdk/graph/model-io.js");
  const [c, hw, k] = [64, 32, 3];
  const b = new GraphBuilder({ name: "edgecut-calibration-conv" });
  const x = b.input("x", "float32", [1, c, hw, hw]);
  const w = b.initializer("w", "float32", [c, c, k, k], filled(c * c * k * k, 5));
  const bias = b.initializer("b", "float32", [c], filled(c, 9));
  b.op("Conv", [x, w, bias], { kernel_shape: [k, k], pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], group: 1 }, { output: "y" });
  b.output("y", "float32", [1, c, hw, hw]);
  return {
    bytes: serializeModel(b.build(), { sourceDir: os.tmpdir() }),
    feeds: { x: { type: "float32", dims: [1, c, hw, hw], data: filled(c * hw * hw, 3) } },
    flops: 2 * c * c * k * k * hw * hw,
  };
}

/** Single-head attention, sequence s = 64, width d = 256: 4 projections (2sd^2 each) + QK^T + xV (2s^2d each). */
async function attentionModel(): Promise<KernelModel> {
  const { GraphBuilder } = await import("../sdk/graph/builder.js");
  const { serializeModel } = await import("../sdk/graph/model-io.js");
  const [s, d] = [64, 256];
  const b = new GraphBuilder({ name: "edgecut-calibration-attention" });
  const x = b.input("x", "float32", [s, d]);
  const proj = (name: string, input: string, salt: number): string => b.op("MatMul", [input, b.initializer(name, "float32", [d, d], filled(d * d, salt))]);
  const q = proj("wq", x, 11);
  const kT = b.op("Transpose", [proj("wk", x, 13)], { perm: [1, 0] });
  const v = proj("wv", x, 17);
  const scores = b.op("Mul", [b.op("MatMul", [q, kT]), b.constFloat([1 / Math.sqrt(d)], [])]);
  const ctx = b.op("MatMul", [b.op("Softmax", [scores], { axis: -1 }), v]);
  b.op("MatMul", [ctx, b.initializer("wo", "float32", [d, d], filled(d * d, 19))], {}, { output: "y" });
  b.output("y", "float32", [s, d]);
  return {
    bytes: serializeModel(b.build(), { sourceDir: os.tmpdir() }),
    feeds: { x: { type: "float32", dims: [s, d], data: filled(s * d, 3) } },
    flops: 4 * 2 * s * d * d + 2 * 2 * s * s * d,
  };
}

/** Times one kernel model: WARMUP untimed runs, then the median of `runs`. */
async function timeKernel(name: KernelResult["name"], m: KernelModel, runs: number, threads: number, now: () => number): Promise<KernelResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-calibrate-"));
  let session: OrtSession | undefined;
  try {
    const file = path.join(dir, `${name}.onnx`);
    fs.writeFileSync(file, m.bytes);
    session = await OrtSession.create(file, { allowSpinning: false, intraOpThreads: threads });
    for (let i = 0; i < WARMUP; i++) await session.run(m.feeds);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = now();
      await session.run(m.feeds);
      times.push(now() - t0);
    }
    const ms = median(times);
    if (!(ms > 0) || !Number.isFinite(ms)) throw fail("E_RUNTIME", `calibrate: the ${name} kernel's median run took ${ms} ms on the given clock; pass a monotonic clock in ms`);
    return { name, flops: m.flops, ms, flopsPerMs: m.flops / ms };
  } finally {
    await session?.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the reference kernels. */
export async function measureKernels(opts: { runs: number; threads: number; now?: () => number }): Promise<KernelResult[]> {
  const now = opts.now ?? (() => performance.now());
  const mm = await matmulCalibrate({ runs: opts.runs, warmupRuns: WARMUP, intraOpThreads: opts.threads, now });
  const out: KernelResult[] = [{ name: "matmul", flops: mm.flops, ms: mm.ms, flopsPerMs: mm.flopsPerMs }];
  out.push(await timeKernel("conv3x3", await convModel(), opts.runs, opts.threads, now));
  out.push(await timeKernel("attention", await attentionModel(), opts.runs, opts.threads, now));
  return out;
}

/** Geometric mean of the kernels' FLOPs/ms. */
export function combinedFlopsPerMs(kernels: readonly KernelResult[]): number {
  if (kernels.length === 0) throw fail("E_USAGE", "calibrate: no kernel was measured");
  return Math.exp(kernels.reduce((a, k) => a + Math.log(k.flopsPerMs), 0) / kernels.length);
}

/**
 * Each segment of a split: median latency (ms) of `runs` runs on zero inputs at the manifest's
 * shapes, and the RSS its session added, with the agent's profiler (in a throw-away in-memory store).
 */
export async function measureSegments(manifestPath: string, opts: { runs: number; threads: number; now?: () => number }): Promise<NonNullable<Calibration["model"]>> {
  const { manifest, dir } = loadManifest(manifestPath);
  const inputs = zeroInputs(manifest);
  const store = openStore(":memory:");
  try {
    const profiler = new Profiler({
      store, deviceId: "calibrate", manifestDir: dir, manifest, cpuLoad: () => 0,
      warmupRuns: WARMUP, timedRuns: opts.runs, intraOpThreads: opts.threads, ...(opts.now !== undefined ? { now: opts.now } : {}),
    });
    const profiles = await profiler.profileAll(inputs);
    return {
      splitId: manifest.splitId, manifest: path.resolve(manifestPath), shapeBucket: shapeBucket(inputs),
      segmentMs: profiles.map((p) => p.latencyMs), segmentRssBytes: profiles.map((p) => p.rssBytes),
    };
  } finally {
    store.close();
  }
}

/** Where and on what this runs. */
export function machineInfo(): Calibration["machine"] {
  const cpus = os.cpus();
  return {
    host: os.hostname(), cpuModel: cpus[0]?.model.trim() ?? "unknown", cores: os.availableParallelism(),
    node: process.version, measuredAt: new Date().toISOString(),
  };
}

/**
 * Measures this machine (see the module comment). relativeSpeed = flopsPerMs /
 * REFERENCE_FLOPS_PER_MS (the Pi 4 reference, an assumption). E_USAGE for bad options, E_MANIFEST
 * for a bad manifest, E_RUNTIME from onnxruntime.
 */
export async function calibrateMachine(opts: CalibrateMachineOptions = {}): Promise<CalibrationReport> {
  const runs = positiveInt("runs", opts.runs ?? 10, 1);
  const threads = positiveInt("threads", opts.threads ?? 1, 1);
  const now = opts.now ?? (() => performance.now());
  const kernels = await measureKernels({ runs, threads, now });
  const flopsPerMs = combinedFlopsPerMs(kernels);
  const model = opts.manifestPath === undefined ? undefined : await measureSegments(opts.manifestPath, { runs, threads, now });
  return {
    format: 1, machine: machineInfo(), flopsPerMs, relativeSpeed: flopsPerMs / REFERENCE_FLOPS_PER_MS,
    ...(model !== undefined ? { model } : {}),
    kernels, threads, runs, referenceFlopsPerMs: REFERENCE_FLOPS_PER_MS,
  };
}

const Positive = z.number().positive();
const NonNeg = z.number().nonnegative();

/** The zod schema of a calibration file (format 1; fields other than Calibration's are allowed and ignored). */
export const CalibrationSchema = z.object({
  format: z.literal(1),
  machine: z.object({ host: z.string(), cpuModel: z.string(), cores: z.int().positive(), node: z.string(), measuredAt: z.string() }),
  flopsPerMs: Positive,
  relativeSpeed: Positive,
  model: z.object({
    splitId: z.string().min(1), manifest: z.string(), shapeBucket: z.string(),
    segmentMs: z.array(NonNeg).min(1), segmentRssBytes: z.array(NonNeg).min(1),
  }).refine((m) => m.segmentMs.length === m.segmentRssBytes.length, { message: "segmentMs and segmentRssBytes must have one entry per segment" }).optional(),
});

/**
 * Reads a calibration file (what `edgecut calibrate -o` writes). E_PROFILE naming the file and the
 * field when it cannot be read, is not JSON or does not fit the format.
 */
export function readCalibration(file: string): Calibration {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw fail("E_PROFILE", `calibration ${file}: ${(e as Error).message}; re-run edgecut calibrate -o ${file}`, e);
  }
  const r = CalibrationSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail("E_PROFILE", `calibration ${file}: ${issue.path.map(String).join(".") || "(document)"}: ${issue.message}; re-run edgecut calibrate -o ${file}`);
  }
  const c = r.data;
  return { format: 1, machine: c.machine, flopsPerMs: c.flopsPerMs, relativeSpeed: c.relativeSpeed, ...(c.model !== undefined ? { model: c.model } : {}) };
}
