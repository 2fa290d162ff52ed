/**
 * Turns one model's device output (bench/generate-device.ts) into the generate bench's metrics,
 * targets and JSON section: decode tokens/s split vs local, bytes per decode step, prefill at each
 * prompt length, and where a split decode step's time goes.
 *
 * The breakdown (medians over every decode step of the timed runs, ms):
 *   split step = device compute + client encode + round trip + client decode + device other
 *   round trip = worker compute + worker queue + broker round trip (a plain MQTT echo of the same
 *                size, measured in the same run) + worker overhead (intake, step decode, cache
 *                bookkeeping, sampling, reply encode: the rest)
 *   local step = local compute + local other (input building, sampling).
 * Medians of parts do not add up exactly to the median of the whole; they show where it goes.
 */
import type { BuiltSplit, GenModelName } from "./generate-build.js";
import type { DeviceOutput, RunTrace, StepTrace } from "./generate-device.js";
import { median, target, type BenchResult, type Target } from "./harness.js";

/** One model's share of the bench result. */
export interface ModelReport {
  metrics: BenchResult["metrics"];
  targets: Record<string, Target>;
  section: Record<string, unknown>;
}

/** Bytes of a token id and its logprob: what a decode step's reply must carry. */
const TOKEN_BYTES = 8;
const HEADER_BYTES = 64;
const DECODE_RATIO_TARGET = 0.85;

const r3 = (v: number): number => +v.toFixed(3);
const r1 = (v: number): number => +v.toFixed(1);

function stepMedian(steps: readonly StepTrace[], f: (s: StepTrace) => number): number {
  return median(steps.map(f));
}

/** Metrics, targets and section of one model. */
export function modelReport(name: GenModelName, built: BuiltSplit, dev: DeviceOutput): ModelReport {
  const { local, split } = dev.decode;
  const m = (k: string): string => `${name}${k}`;
  const localTps = median(local.map((r) => r.tokensPerSecond));
  const splitTps = median(split.map((r) => r.tokensPerSecond));
  const ratio = splitTps / localTps;
  const pairRatio = median(split.map((r, i) => r.tokensPerSecond / local[i]!.tokensPerSecond));
  // Best runs: on a shared machine the least disturbed run of each side, for information.
  const bestRatio = Math.max(...split.map((r) => r.tokensPerSecond)) / Math.max(...local.map((r) => r.tokensPerSecond));

  const hiddenBytes = 4 * built.dModel;
  const upLimit = 1.1 * hiddenBytes + HEADER_BYTES;
  const downLimit = TOKEN_BYTES + HEADER_BYTES;
  const stepsUp = split.flatMap((r) => r.stats.stepBytesUp);
  const splitSteps = split.flatMap((r) => r.steps);
  const localSteps = local.flatMap((r) => r.steps);
  const stepsDown = splitSteps.map((s) => s.bytesDown!);
  // The same figure from GenerationStats alone: the session's bytes down minus the prefill's reply, per decode step.
  const downFromStats = median(split.map((r) => (r.stats.bytesDown - r.open!.bytesDown) / (r.stats.tokens - 1)));

  const b = {
    localStepMs: stepMedian(localSteps, (s) => s.wallMs),
    localComputeMs: stepMedian(localSteps, (s) => s.deviceMs),
    localOtherMs: stepMedian(localSteps, (s) => s.wallMs - s.deviceMs),
    splitStepMs: stepMedian(splitSteps, (s) => s.wallMs),
    deviceComputeMs: stepMedian(splitSteps, (s) => s.deviceMs),
    workerComputeMs: stepMedian(splitSteps, (s) => s.workerComputeMs!),
    workerQueueMs: stepMedian(splitSteps, (s) => s.workerQueueMs!),
    roundTripMs: stepMedian(splitSteps, (s) => s.roundTripMs!),
    brokerEchoMs: dev.echo.p50Ms,
    workerOverheadMs: stepMedian(splitSteps, (s) => s.roundTripMs! - s.workerComputeMs! - s.workerQueueMs! - dev.echo.p50Ms),
    clientCodecMs: stepMedian(splitSteps, (s) => s.encodeMs! + s.decodeMs!),
    deviceOtherMs: stepMedian(splitSteps, (s) => s.wallMs - s.deviceMs - s.encodeMs! - s.roundTripMs! - s.decodeMs!),
    samplingMs: dev.samplingMs,
    computeSumOverLocal: (stepMedian(splitSteps, (s) => s.deviceMs) + stepMedian(splitSteps, (s) => s.workerComputeMs!)) / stepMedian(localSteps, (s) => s.deviceMs),
  };

  const metrics: BenchResult["metrics"] = {
    [m("ModelBytes")]: built.modelBytes, [m("Cut")]: `after ${built.cutAfter} (device: embedding + ${built.deviceBlocks} of ${built.layers} blocks)`,
    [m("DecodeNewTokens")]: split[0]!.ids.length, [m("DecodeReps")]: split.length,
    [m("DecodeLocalTokPerSec")]: r1(localTps), [m("DecodeSplitTokPerSec")]: r1(splitTps),
    [m("DecodeRatio")]: r3(ratio), [m("DecodePairRatioMedian")]: r3(pairRatio), [m("DecodeBestRatio")]: r3(bestRatio),
    [m("TokensMatchLocal")]: String(dev.decode.tokensMatch),
    [m("HiddenBytes")]: hiddenBytes, [m("StepBytesUpMedian")]: median(stepsUp), [m("StepBytesUpMax")]: Math.max(...stepsUp),
    [m("StepBytesUpLimit")]: r1(upLimit), [m("StepBytesUpOverHidden")]: r3(Math.max(...stepsUp) / hiddenBytes),
    [m("StepBytesDownMedian")]: median(stepsDown), [m("StepBytesDownMax")]: Math.max(...stepsDown), [m("StepBytesDownFromStats")]: r1(downFromStats),
    [m("PrefillBytesUp8Tokens")]: split[0]!.open!.bytesUp,
  };
  for (const [k, v] of Object.entries(b)) metrics[m(k[0]!.toUpperCase() + k.slice(1))] = r3(v);

  const prefill = dev.prefill.map((p) => prefillRow(p.length, p.local, p.split));
  for (const p of prefill) {
    Object.assign(metrics, {
      [m(`Prefill${p.length}LocalMs`)]: r1(p.localMs), [m(`Prefill${p.length}SplitMs`)]: r1(p.splitMs), [m(`Prefill${p.length}Ratio`)]: r3(p.ratio), [m(`Prefill${p.length}BestRatio`)]: r3(p.bestRatio),
      [m(`Prefill${p.length}SplitDeviceComputeMs`)]: r1(p.deviceComputeMs), [m(`Prefill${p.length}SplitWorkerComputeMs`)]: r1(p.workerComputeMs),
      [m(`Prefill${p.length}SplitTransferMs`)]: r1(p.transferMs), [m(`Prefill${p.length}BytesUp`)]: p.bytesUp,
    });
  }

  const targets: Record<string, Target> = {
    [m("DecodeRatio")]: target(`${name}: decode tokens/s split (loopback mosquitto, worker process) / whole model local, medians`, ratio, ">=", DECODE_RATIO_TARGET),
    [m("StepBytesUp")]: target(`${name}: most bytes up in a decode step <= 1.1 x hidden state (${hiddenBytes} B) + ${HEADER_BYTES}`, Math.max(...stepsUp), "<=", r1(upLimit)),
    [m("StepBytesDown")]: target(`${name}: most bytes down in a decode step <= token id + logprob (${TOKEN_BYTES} B) + ${HEADER_BYTES}`, Math.max(...stepsDown), "<=", downLimit),
  };

  const section = {
    model: { ...built, manifestPath: undefined, modelPath: undefined },
    decode: {
      localTokPerSec: local.map((r) => r1(r.tokensPerSecond)), splitTokPerSec: split.map((r) => r1(r.tokensPerSecond)),
      breakdownMedianMs: Object.fromEntries(Object.entries(b).map(([k, v]) => [k, r3(v)])),
      percentiles: {
        splitStepMs: spread(splitSteps.map((s) => s.wallMs)), localStepMs: spread(localSteps.map((s) => s.wallMs)),
        workerComputeMs: spread(splitSteps.map((s) => s.workerComputeMs!)), deviceComputeMs: spread(splitSteps.map((s) => s.deviceMs)),
        localComputeMs: spread(localSteps.map((s) => s.deviceMs)), roundTripMs: spread(splitSteps.map((s) => s.roundTripMs!)),
      },
    },
    prefill,
  };
  return { metrics, targets, section };
}

/** p10, p50, p90 of a list. */
function spread(xs: readonly number[]): { p10: number; p50: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (f: number): number => r3(s[Math.round(f * (s.length - 1))]!);
  return { p10: at(0.1), p50: at(0.5), p90: at(0.9) };
}

/** One prompt length: medians of prompt-to-first-token, and what the split's prefill spent where. */
function prefillRow(length: number, local: readonly RunTrace[], split: readonly RunTrace[]): {
  length: number; localMs: number; splitMs: number; ratio: number; bestRatio: number; deviceComputeMs: number; workerComputeMs: number; transferMs: number; bytesUp: number;
  localRunsMs: number[]; splitRunsMs: number[];
} {
  const localMs = median(local.map((r) => r.prefillMs));
  const splitMs = median(split.map((r) => r.prefillMs));
  return {
    length, localMs, splitMs, ratio: splitMs / localMs,
    bestRatio: Math.min(...split.map((r) => r.prefillMs)) / Math.min(...local.map((r) => r.prefillMs)),
    deviceComputeMs: median(split.map((r) => r.prefillDeviceMs)),
    workerComputeMs: median(split.map((r) => r.open!.workerComputeMs)),
    // Round trip minus the worker's compute and queue: both trips through the broker with the prompt's hidden states, and the worker's intake.
    transferMs: median(split.map((r) => r.open!.roundTripMs - r.open!.workerComputeMs - r.open!.workerQueueMs)),
    bytesUp: split[0]!.open!.bytesUp,
    localRunsMs: local.map((r) => r1(r.prefillMs)), splitRunsMs: split.map((r) => r1(r.prefillMs)),
  };
}
