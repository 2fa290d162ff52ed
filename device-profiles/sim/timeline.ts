/**
 * A scenario played over a board and a preset: the true conditions at any virtual time, as
 * piecewise-constant steps (every event window's start and end is a step). Looked up by binary
 * search, so a replayed trace with thousands of events stays fast.
 */
import type { SimConditions } from "./types.js";
import type { SimDevice, SimLink } from "./network.js";
import type { Scenario, ScenarioEvent } from "./scenario.js";

/** The conditions the simulator computes with: SimConditions plus the link's jitter. */
export interface TrueConditions extends SimConditions {
  /** Std. dev. of the one-way delay (ms). */
  jitterMs: number;
}

interface Window {
  from: number;
  to: number;
  /** Index of the event in the file: active events apply in file order. */
  order: number;
  event: ScenarioEvent;
}

/** The windows [from, to) an event is active in, clipped to [0, end). */
function windows(e: ScenarioEvent, order: number, end: number): Window[] {
  const to = e.to ?? end;
  if (e.repeat === undefined) return e.from < end ? [{ from: e.from, to: Math.min(to, end), order, event: e }] : [];
  const out: Window[] = [];
  const until = Math.min(e.repeat.until ?? end, end);
  for (let start = e.from; start < until; start += e.repeat.every) {
    out.push({ from: start, to: Math.min(start + (to - e.from), until), order, event: e });
  }
  return out;
}

function apply(c: TrueConditions, e: ScenarioEvent): void {
  if (e.upMbit !== undefined) c.upMbit = e.upMbit;
  if (e.downMbit !== undefined) c.downMbit = e.downMbit;
  if (e.bandwidthScale !== undefined) {
    c.upMbit *= e.bandwidthScale;
    c.downMbit *= e.bandwidthScale;
  }
  if (e.rttMs !== undefined) c.rttMs = e.rttMs;
  if (e.rttAddMs !== undefined) c.rttMs += e.rttAddMs;
  if (e.jitterMs !== undefined) c.jitterMs = e.jitterMs;
  if (e.lossPct !== undefined) c.lossPct = e.lossPct;
  if (e.cpuLoadPercent !== undefined) c.cpuLoadPercent = e.cpuLoadPercent;
  if (e.ramAvailableBytes !== undefined) c.ramAvailableBytes = e.ramAvailableBytes;
  if (e.cloudUp !== undefined) c.cloudUp = e.cloudUp;
}

/** The true conditions of a scenario over time (see the module comment). */
export class Timeline {
  /** Step start times, ascending, the first 0. */
  private readonly starts: number[] = [];
  private readonly steps: TrueConditions[] = [];
  /** The virtual duration (ms). */
  readonly durationMs: number;

  constructor(scenario: Scenario, device: SimDevice, link: SimLink) {
    this.durationMs = scenario.durationMs;
    const end = scenario.durationMs;
    const base: TrueConditions = {
      upMbit: link.upMbit, downMbit: link.downMbit, rttMs: link.rttMs, lossPct: link.lossPct, jitterMs: link.jitterMs,
      cpuLoadPercent: 0, ramAvailableBytes: Math.floor(device.ramBytes * scenario.ramAvailableFraction), cloudUp: true,
    };
    const all = scenario.events.flatMap((e, i) => windows(e, i, end));
    const points = [...new Set([0, ...all.flatMap((w) => [w.from, w.to]).filter((t) => t < end)])].sort((a, b) => a - b);
    // Sweep: windows sorted by start enter the active set, leave it at their end.
    const byStart = [...all].sort((a, b) => a.from - b.from || a.order - b.order);
    let next = 0;
    let active: Window[] = [];
    for (const t of points) {
      while (next < byStart.length && byStart[next]!.from <= t) active.push(byStart[next++]!);
      active = active.filter((w) => w.to > t);
      const c = { ...base };
      for (const w of [...active].sort((a, b) => a.order - b.order)) apply(c, w.event);
      const prev = this.steps[this.steps.length - 1];
      if (prev !== undefined && sameConditions(prev, c)) continue;
      this.starts.push(t);
      this.steps.push(c);
    }
  }

  /** The conditions at virtual time t (the last step before the end holds after it). */
  at(t: number): TrueConditions {
    return this.steps[this.indexAt(t)]!;
  }

  /** The steps (start time and conditions), for SimResult.timeline. */
  stepList(): { t: number; conditions: TrueConditions }[] {
    return this.starts.map((t, i) => ({ t, conditions: this.steps[i]! }));
  }

  /** The first step start after t, or null when none. */
  nextChange(t: number): number | null {
    const i = this.indexAt(t) + 1;
    return i < this.starts.length ? this.starts[i]! : null;
  }

  /** The earliest time >= t at which `ok` holds for the conditions, or null when it never does. */
  firstTimeFrom(t: number, ok: (c: TrueConditions) => boolean): number | null {
    for (let i = this.indexAt(t); i < this.steps.length; i++) {
      if (ok(this.steps[i]!)) return Math.max(t, this.starts[i]!);
    }
    return null;
  }

  private indexAt(t: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function sameConditions(a: TrueConditions, b: TrueConditions): boolean {
  return a.upMbit === b.upMbit && a.downMbit === b.downMbit && a.rttMs === b.rttMs && a.jitterMs === b.jitterMs && a.lossPct === b.lossPct
    && a.cpuLoadPercent === b.cpuLoadPercent && a.ramAvailableBytes === b.ramAvailableBytes && a.cloudUp === b.cloudUp;
}
