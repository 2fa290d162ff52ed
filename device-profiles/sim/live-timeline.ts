/**
 * Plays a scenario's conditions on the live rig in real time: at each step (scenario ms x
 * durationScale after the start) the shaped link gets the step's bandwidth and delay (half the
 * round trip each way) and is partitioned while the cloud is down, and the scripted sampler
 * reports the step's available RAM and CPU load. What the shaper cannot do (packet loss, jitter)
 * and what the sampler only reports (the CPU hog does not slow the real compute; the RAM is not
 * taken from the process) are the live mode's documented limits.
 */
import { performance } from "node:perf_hooks";
import { fail } from "../../sdk/errors.js";
import type { FakeSampler } from "../../agent/monitor/index.js";
import type { LinkSettings, ShapedTransport } from "../../sdk/transport/shaper.js";
import type { SimConditions, SimResult } from "./types.js";

/** Conditions as steps from t = 0 (scenario ms), SimResult.timeline's format. */
export type ConditionsTimeline = SimResult["timeline"];

/** Throws E_USAGE unless the steps start at 0 and are in ascending time order. */
export function checkTimeline(timeline: ConditionsTimeline): void {
  if (timeline.length === 0 || timeline[0]!.t !== 0) throw fail("E_USAGE", "live simulation: the scenario's timeline must start with a step at t = 0");
  timeline.forEach((s, i) => {
    if (!Number.isFinite(s.t) || (i > 0 && s.t < timeline[i - 1]!.t)) throw fail("E_USAGE", `live simulation: timeline step ${i} is at t = ${s.t}; steps must have finite, ascending times`);
  });
}

/** The conditions in force at scenario time t (the last step at or before t). */
export function conditionsAt(timeline: ConditionsTimeline, t: number): SimConditions {
  let c = timeline[0]!.conditions;
  for (const s of timeline) {
    if (s.t > t) break;
    c = s.conditions;
  }
  return c;
}

/** The shaped link's settings for some conditions. */
export function linkFor(c: SimConditions): LinkSettings {
  return { upBitsPerSec: c.upMbit * 1e6, downBitsPerSec: c.downMbit * 1e6, delayMs: c.rttMs / 2, partitioned: !c.cloudUp };
}

/** Plays a timeline on a link and a sampler (see the module comment). */
export class LiveConductor {
  private readonly timers: NodeJS.Timeout[] = [];
  private startedAt = Number.NaN;
  /** Steps applied so far. */
  applied = 0;

  /** @param scale real ms per scenario ms (durationScale). */
  constructor(private readonly timeline: ConditionsTimeline, private readonly scale: number, private readonly link: ShapedTransport, private readonly sampler: FakeSampler) {
    checkTimeline(timeline);
    if (!(Number.isFinite(scale) && scale > 0)) throw fail("E_USAGE", `live simulation: durationScale must be a number > 0, got ${scale}`);
  }

  /** Applies the first step now and schedules the others. */
  start(): void {
    this.startedAt = performance.now();
    for (const step of this.timeline) {
      if (step.t === 0) this.apply(step.conditions);
      else this.timers.push(setTimeout(() => this.apply(step.conditions), step.t * this.scale));
    }
  }

  /** Scenario ms since start(). */
  now(): number {
    return (performance.now() - this.startedAt) / this.scale;
  }

  /** The conditions in force now. */
  current(): SimConditions {
    return conditionsAt(this.timeline, this.now());
  }

  /** Cancels the steps not applied yet and heals a partition (so closing does not wait on it). */
  stop(): void {
    for (const t of this.timers.splice(0)) clearTimeout(t);
    if (this.link.link.partitioned) this.link.setLink({ partitioned: false });
  }

  private apply(c: SimConditions): void {
    this.applied++;
    this.link.setLink(linkFor(c));
    this.sampler.set({ ramAvailableBytes: c.ramAvailableBytes, cpuLoadPercent: c.cpuLoadPercent });
  }
}
