/**
 * `edgecut sweep`: the best split of one model on every board x network preset, in steady
 * conditions (no scenario events: the preset's link, an idle board with ramAvailableFraction of
 * its RAM free, the cloud up). Each split point's cost is its expected true latency (the mean over
 * seeded draws of jitter, loss and compute noise, as simulate's SimResult.splits), the best is the
 * feasible split with the lowest (ties: the larger k, as the planner's).
 */
import type { PlannerConfigInput } from "../../agent/planner/config.js";
import type { SweepRow } from "../report/index.js";
import type { DeviceProfile } from "../schema.js";
import type { SimModel } from "./model.js";
import { resolveLink, simDevice } from "./network.js";
import { parseScenario } from "./scenario.js";
import { simSetup, splitCosts } from "./simulate.js";
import { Timeline } from "./timeline.js";

export type { SweepRow } from "../report/index.js";

/** What sweep() runs. */
export interface SweepOptions {
  model: SimModel;
  profiles: DeviceProfile[];
  /** Network preset names (shared presets, or a board's own). */
  presets: string[];
  /** Cloud speed over the device's idle profile (default 4, the planner's default). */
  cloudSpeedup?: number;
  planner?: PlannerConfigInput;
  /** Seeds the noise draws the expected costs average over (default 1). */
  seed?: number;
  /** Called after each board x preset (a progress bar). */
  onRow?: (row: SweepRow) => void;
}

/** One row per profile x preset, profiles outer, in the given orders. E_USAGE for a preset a board does not have. */
export function sweep(o: SweepOptions): SweepRow[] {
  const rows: SweepRow[] = [];
  for (const profile of o.profiles) {
    const device = simDevice(profile);
    for (const preset of o.presets) {
      const scenario = parseScenario({
        format: 1, name: "steady", description: "steady conditions for a sweep", preset, durationMs: 1, interArrivalMs: 1,
        ...(o.cloudSpeedup !== undefined ? { cloudSpeedup: o.cloudSpeedup } : {}),
      }, "sweep");
      const setup = simSetup(o.model, device, scenario, o.planner);
      const splits = splitCosts(setup, new Timeline(scenario, device, resolveLink(profile, preset)).at(0), o.seed ?? 1);
      let best: (typeof splits)[number] | null = null;
      for (const s of splits) if (s.feasible && (best === null || s.totalMs <= best.totalMs)) best = s;
      const row: SweepRow = { profile: profile.id, preset, bestSplit: best?.split ?? null, totalMs: best?.totalMs ?? null, splits };
      rows.push(row);
      o.onRow?.(row);
    }
  }
  return rows;
}
