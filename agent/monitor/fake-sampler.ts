/**
 * A scripted sampler for tests of the agent: the device's readings change at given (fake) times,
 * so "RAM drops to 300 MB at t = 5 s" is one line of a test instead of a real memory hog.
 */
import { fail } from "../../sdk/errors.js";
import type { Clock } from "../clock.js";
import type { DeviceSample, SystemSampler } from "./types.js";

/** One step of the script: from `atMs` on (clock time), these fields replace the previous ones. */
export interface FakeStep {
  atMs: number;
  sample: Partial<DeviceSample>;
}

/** Options of {@link FakeSampler}. */
export interface FakeSamplerOptions {
  /** The clock whose `now()` selects the step in force. */
  clock: Clock;
  /** The readings before the first step (default: an idle 4-core board with 4 GiB, 3 GiB available). */
  initial?: DeviceSample;
  /** Steps in ascending `atMs` order; each applies on top of everything before it. */
  steps?: FakeStep[];
}

/** The default starting point: a quiet Raspberry Pi 4 4 GB. */
const IDLE_PI4: DeviceSample = { ramAvailableBytes: 3 * 2 ** 30, ramTotalBytes: 4 * 2 ** 30, cpuLoadPercent: 5, cores: 4 };

/**
 * Returns, at each `sample()`, the initial readings with every step due by `clock.now()` applied in
 * order. `set()` changes the readings from now on; `failNext()` makes the next sample reject.
 */
export class FakeSampler implements SystemSampler {
  private readonly clock: Clock;
  private base: DeviceSample;
  private readonly steps: FakeStep[];
  private failure: Error | undefined;
  /** How many times `sample()` was called. */
  calls = 0;

  constructor(opts: FakeSamplerOptions) {
    this.clock = opts.clock;
    this.base = { ...(opts.initial ?? IDLE_PI4) };
    this.steps = [...(opts.steps ?? [])];
    this.steps.forEach((s, i) => {
      const prev = this.steps[i - 1];
      if (!Number.isFinite(s.atMs) || (prev !== undefined && s.atMs < prev.atMs)) {
        throw fail("E_USAGE", `FakeSampler: steps[${i}].atMs is ${s.atMs}; steps must have finite times in ascending order`);
      }
    });
  }

  /** The readings in force at `clock.now()`. */
  current(): DeviceSample {
    const now = this.clock.now();
    let s: DeviceSample = { ...this.base };
    for (const step of this.steps) if (step.atMs <= now) s = { ...s, ...step.sample };
    return s;
  }

  /** Resolves with {@link current} (a copy), or rejects once with the error given to {@link failNext}. */
  sample(): Promise<DeviceSample> {
    this.calls++;
    const f = this.failure;
    if (f !== undefined) {
      this.failure = undefined;
      return Promise.reject(f);
    }
    return Promise.resolve(this.current());
  }

  /** Changes the readings from now on: merged into the base, and steps already due are folded in first. */
  set(sample: Partial<DeviceSample>): void {
    const now = this.clock.now();
    this.base = { ...this.current(), ...sample };
    const remaining = this.steps.filter((s) => s.atMs > now);
    this.steps.splice(0, this.steps.length, ...remaining);
  }

  /** Makes the next `sample()` reject with `err` (a sampler failing once, as a real one may). */
  failNext(err: Error = new Error("FakeSampler: scripted failure")): void {
    this.failure = err;
  }
}
