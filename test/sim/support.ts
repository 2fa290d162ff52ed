// Shared fixtures of the simulator tests: a synthetic model (segment costs given directly, no
// onnxruntime), scenarios built in memory, and a run helper.
import { loadProfile } from "../../device-profiles/index.js";
import type { SimModel } from "../../device-profiles/sim/model.js";
import { resolveLink, simDevice } from "../../device-profiles/sim/network.js";
import { parseScenario, type Scenario, type ScenarioInput } from "../../device-profiles/sim/scenario.js";
import { simulate, type SimulateOptions } from "../../device-profiles/sim/simulate.js";
import type { SimOutcome, SimResult } from "../../device-profiles/sim/types.js";

/**
 * Four segments of 50 ms each on the reference board (a Pi 4: 200 ms all-local), 13 MB each; a
 * 128-byte input, 32 KiB at every cut, 16 KiB of outputs: shaped like the tiny-gpt split.
 */
export function syntheticModel(referenceMs: number[] = [50, 50, 50, 50]): SimModel {
  const n = referenceMs.length;
  return {
    name: "synthetic", splitId: "0".repeat(64), referenceMs, memBytes: referenceMs.map(() => 13_000_000),
    geometry: {
      segments: referenceMs.map(() => ({ localMs: null, flops: null, memBytes: 13_000_000 })),
      cuts: Array.from({ length: n - 1 }, () => ({ bytes: 32_768, tensors: ["hidden"], modelInputs: [] })),
      inputBytes: 128, outputBytes: 16_384, inputNames: ["input_ids"],
    },
    costSource: "given (test)",
  };
}

/** A scenario from a partial document (format, name, description and a short duration filled in). */
export function scenario(doc: Partial<ScenarioInput> & { events?: ScenarioInput["events"] }): Scenario {
  return parseScenario({ format: 1, name: "test", description: "a test scenario", preset: "wifi-good", durationMs: "60s", interArrivalMs: "1s", ...doc }, "test");
}

/** Runs the synthetic model on a shipped profile. */
export function run(profileId: string, sc: Scenario, opts: Partial<SimulateOptions> = {}): SimResult {
  const profile = loadProfile(profileId);
  return simulate({ model: syntheticModel(), device: simDevice(profile), link: resolveLink(profile, sc.preset), scenario: sc, ...opts });
}

/** The split and latency sequence of one policy. */
export function outcomes(r: SimResult, key: string): SimOutcome[] {
  return r.requests.map((q) => q.outcomes[key]!);
}
