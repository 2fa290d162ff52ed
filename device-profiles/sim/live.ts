/**
 * The live simulator (`edgecut simulate --live`): the real agent core, a real MQTT broker and a
 * real cloud worker on this machine, playing a scenario in real time (compressed by
 * durationScale). It proves the wiring; its figures are noisy (a shared machine, one process).
 *
 * - Device compute: the agent runs the split's segments here with one intra-op thread, each
 *   stretched by localSlowdown = max(1, relativeSpeed here / the profile's relativeSpeed) (a quick
 *   calibration, edgecut calibrate's kernels and the split's segments at 5 runs, unless a
 *   calibration of this split is given). Its segment costs are those measured times x the slowdown.
 * - Cloud compute: a worker in this process (one thread) whose segment runs are stretched so it is
 *   the scenario's cloudSpeedup times the stretched device (not faster than this machine).
 * - Device RAM and CPU load: reported by a scripted sampler from the scenario; neither is enforced
 *   (the CPU hog does not slow the real compute, the planner only sees its load figure).
 * - Link: the agent's MQTT connection goes through the link shaper, set to the scenario's
 *   bandwidth and round trip (half each way) as it goes; a cloud outage partitions it (with
 *   connection events, as keepalive would report). Loss and jitter are not shaped; the worker's
 *   own connection is not shaped.
 * - Requests run one at a time, in rounds at the scenario's arrival times (scaled; a round that
 *   overruns skips the slots it covered): each round runs the adaptive policy, all-local and
 *   all-cloud forced with `infer(inputs, { split })`, in a seeded order, on the same conditions.
 *   Forced runs teach the agent too (as any request does). Best-static and oracle are
 *   approximated (live-results.ts). Unrecorded warm-up rounds at the first conditions come first.
 *   The scenario's cloudQueueMs, holdTimeoutMs and computeNoisePct are not applied (the real
 *   worker queues, the real agent holds, the real machine is noisy).
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import type { CostSource } from "../../agent/core/plan-inputs.js";
import { zeroInputs } from "../../agent/core/profiled-costs.js";
import { createPolicy, POLICY_NAMES, type PolicyConfigInput, type SplitPolicyLike } from "../../agent/planner/policies.js";
import { fail } from "../../sdk/errors.js";
import { loadManifest, type Manifest } from "../../sdk/graph/manifest.js";
import { Mulberry32, streamSeed } from "../../sdk/graph/models/rng.js";
import type { TensorMap } from "../../sdk/runtime/tensor.js";
import { calibrateMachine, measureSegments } from "../calibrate.js";
import { loadProfile, type DeviceProfile } from "../index.js";
import type { Calibration } from "./costs.js";
import { bestStaticOf, failedOutcome, okOutcome, oracleOf, splitCostsOf } from "./live-results.js";
import { summarize } from "./summary.js";
import { startRig, type Rig } from "./live-rig.js";
import { conditionsAt, LiveConductor, linkFor } from "./live-timeline.js";
import { resolveLink, simDevice } from "./network.js";
import { loadScenario, type Scenario } from "./scenario.js";
import { Timeline } from "./timeline.js";
import type { SimOutcome, SimRequest, SimResult } from "./types.js";

/** Options of {@link runLive}. */
export interface LiveOptions {
  /** The split's manifest.json (a full split; the worker serves its folder unless cloudModels says otherwise). */
  manifestPath: string;
  /** A shipped profile id, a profile file, or a loaded profile. */
  profile: string | DeviceProfile;
  /** The network preset the run starts from (default: the scenario's). */
  preset?: string;
  /** A shipped scenario's name, a scenario file, or a checked scenario (device-profiles/sim/scenario.ts). */
  scenario: string | Scenario;
  /** The adaptive policy: a name (hysteresis, greedy, static needs a config), a config, or a policy object. */
  policy: string | PolicyConfigInput | SplitPolicyLike;
  /** Orders the runs within each round. */
  seed: number;
  /** Real ms per scenario ms (default 1; 0.1 plays a 60 s scenario in 6 s). */
  durationScale?: number;
  /** A broker to use (default: an embedded aedes broker). */
  brokerUrl?: string;
  /** Folder the worker serves (default: the manifest's folder). */
  cloudModels?: string;
  /** This machine's calibration (edgecut calibrate); its segment times are used when measured on this split. */
  calibration?: Calibration;
  /** Unrecorded rounds before the scenario starts (default 4). */
  warmupRounds?: number;
  /** Per-attempt offload timeout (default 10 000 ms). */
  offloadTimeoutMs?: number;
  /** Recorded in meta (default "unknown"). */
  gitSha?: string;
  /** Called after each recorded round (a progress bar). */
  onRequest?: (r: SimRequest) => void;
}

const LOCAL = "all-local";
const CLOUD = "all-cloud";

function policyOf(p: LiveOptions["policy"]): SplitPolicyLike {
  if (typeof p !== "string") return typeof (p as SplitPolicyLike).decide === "function" ? p as SplitPolicyLike : createPolicy(p as PolicyConfigInput);
  if (!(POLICY_NAMES as readonly string[]).includes(p)) throw fail("E_USAGE", `unknown policy "${p}"; known: ${POLICY_NAMES.join(", ")}`);
  return createPolicy({ name: p as (typeof POLICY_NAMES)[number] });
}

/** Segment costs for the agent: measured here, stretched by the slowdown; memory at least the weights. */
function costsOf(manifest: Manifest, cal: Calibration, model: NonNullable<Calibration["model"]>, slowdown: number): CostSource {
  const segs = manifest.segments.map((s, i) => ({ localMs: model.segmentMs[i]! * slowdown, flops: s.flops, memBytes: Math.max(model.segmentRssBytes[i]!, s.weightBytes) }));
  return { segments: () => segs, flopsPerMs: () => cal.flopsPerMs / slowdown };
}

/** The calibration to run with: the given one when it measured this split, else a quick one here. */
async function calibrationFor(manifestPath: string, manifest: Manifest, given: Calibration | undefined): Promise<{ cal: Calibration; model: NonNullable<Calibration["model"]> }> {
  if (given?.model !== undefined && given.model.splitId === manifest.splitId && given.model.segmentMs.length === manifest.segments.length) return { cal: given, model: given.model };
  if (given !== undefined) return { cal: given, model: await measureSegments(manifestPath, { runs: 5, threads: 1 }) };
  const cal = await calibrateMachine({ manifestPath, runs: 5, threads: 1 });
  return { cal, model: cal.model! };
}

/** Seeded Fisher-Yates. */
function shuffled<T>(items: readonly T[], rng: Mulberry32): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One run on the agent: adaptive (split undefined) or forced. */
async function runOnce(rig: Rig, inputs: TensorMap, split: number | undefined): Promise<SimOutcome> {
  try {
    return okOutcome(await rig.agent.infer(inputs, split === undefined ? {} : { split }));
  } catch (e) {
    return failedOutcome(e);
  }
}

/**
 * Runs the scenario live (see the module comment) and returns its SimResult (meta.mode "live").
 * E_USAGE for bad options (unknown policy or preset, a bad timeline or durationScale), E_PROFILE
 * for a bad profile, E_MANIFEST for a bad split, E_BROKER when the broker cannot be reached.
 */
export async function runLive(opts: LiveOptions): Promise<SimResult> {
  const profile = typeof opts.profile === "string" ? loadProfile(opts.profile) : opts.profile;
  const scenario = typeof opts.scenario === "string" ? loadScenario(opts.scenario) : opts.scenario;
  const preset = opts.preset ?? scenario.preset;
  const timeline = new Timeline(scenario, simDevice(profile), resolveLink(profile, preset)).stepList();
  const scale = opts.durationScale ?? 1;
  if (!(Number.isFinite(scale) && scale > 0)) throw fail("E_USAGE", `durationScale must be a number > 0, got ${String(scale)}`);
  const policy = policyOf(opts.policy);
  const { manifest } = loadManifest(opts.manifestPath);
  const n = manifest.segments.length;
  const { cal, model } = await calibrationFor(opts.manifestPath, manifest, opts.calibration);
  const slowdown = Math.max(1, cal.relativeSpeed / profile.cpu.relativeSpeed.value);
  const first = timeline[0]!.conditions;
  const inputs = zeroInputs(manifest);
  const rig = await startRig({
    manifestPath: opts.manifestPath, ...(opts.cloudModels !== undefined ? { cloudModels: opts.cloudModels } : {}),
    ...(opts.brokerUrl !== undefined ? { brokerUrl: opts.brokerUrl } : {}),
    link: linkFor(first),
    sample: { ramAvailableBytes: first.ramAvailableBytes, ramTotalBytes: profile.ramBytes.value, cpuLoadPercent: first.cpuLoadPercent, cores: profile.cpu.cores.value },
    policy, costs: costsOf(manifest, cal, model, slowdown), localSlowdown: slowdown, cloudSlowdown: Math.max(1, slowdown / scenario.cloudSpeedup),
    offloadTimeoutMs: opts.offloadTimeoutMs ?? 10_000, deviceId: `live-${process.pid}-${Math.floor(performance.now())}`,
  });
  const conductor = new LiveConductor(timeline, scale, rig.link, rig.sampler);
  const requests: SimRequest[] = [];
  let splits: SimResult["splits"] = [];
  try {
    const runs: [string, number | undefined][] = [[policy.name, undefined], [LOCAL, n], [CLOUD, 0]];
    for (let i = 0; i < (opts.warmupRounds ?? 4); i++) {
      for (const [, split] of runs) await runOnce(rig, inputs, split);
      await sleep(20);
    }
    await rig.agent.refresh();
    splits = splitCostsOf(rig.agent.plan);
    const rng = new Mulberry32(streamSeed(opts.seed >>> 0, "live-order"));
    conductor.start();
    for (let i = 0; ; i++) {
      const t = conductor.now();
      if (t >= scenario.durationMs) break;
      const outcomes: Record<string, SimOutcome> = {};
      for (const [name, split] of shuffled(runs, rng)) outcomes[name] = await runOnce(rig, inputs, split);
      const request: SimRequest = { i, t, conditions: conditionsAt(timeline, t), outcomes };
      requests.push(request);
      opts.onRequest?.(request);
      // The next arrival slot still ahead (a slow round skips the slots it overran, as one device would).
      const now = conductor.now();
      await sleep(Math.max(0, (Math.ceil(now / scenario.interArrivalMs + 1e-9) * scenario.interArrivalMs - now) * scale));
    }
  } finally {
    conductor.stop();
    await rig.close();
  }
  return resultOf({ seed: opts.seed, gitSha: opts.gitSha ?? "unknown", profile: profile.id, preset, scenario: scenario.name, durationMs: scenario.durationMs }, manifest, policy.name, timeline, requests, splits);
}

interface MetaBase { seed: number; gitSha: string; profile: string; preset: string; scenario: string; durationMs: number }

function resultOf(base: MetaBase, manifest: Manifest, policyName: string, timeline: SimResult["timeline"], requests: SimRequest[], splits: SimResult["splits"]): SimResult {
  const best = bestStaticOf(requests, [LOCAL, CLOUD]);
  for (const r of requests) {
    r.outcomes["best-static"] = r.outcomes[best]!;
    r.outcomes.oracle = oracleOf([r.outcomes[policyName]!, r.outcomes[LOCAL]!, r.outcomes[CLOUD]!]);
  }
  const rowOf = (name: string): ReturnType<typeof summarize> => summarize(requests.map((r) => r.outcomes[name]!));
  const adaptive = rowOf(policyName);
  const oracle = rowOf("oracle");
  return {
    meta: {
      format: 1, ...base, policy: policyName, model: path.basename(manifest.model.file, ".onnx"), segments: manifest.segments.length,
      requests: requests.length, mode: "live",
    },
    summary: {
      adaptive, "all-local": rowOf(LOCAL), "all-cloud": rowOf(CLOUD), "best-static": rowOf("best-static"), oracle,
      adaptiveOverOracle: adaptive.meanMs / oracle.meanMs,
    },
    splits,
    timeline,
    requests,
  };
}
