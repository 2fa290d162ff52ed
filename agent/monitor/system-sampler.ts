/**
 * The real device sampler: RAM and CPU load from systeminformation, temperature and throttling from
 * the Raspberry Pi's /sys files (see ./sysfs.ts).
 *
 * CPU load needs a baseline. systeminformation's `currentLoad()` is the busy share of the CPU tick
 * counters (/proc/stat) between this call and the previous one; the very first call has no previous
 * one and compares against zero, i.e. reports the average since boot — on a board that idled for a
 * week, ~0 % even under full load. So the sampler takes one reading when it is created and throws it
 * away; every `sample()` then reports the load since the sample before it. Two more quirks of the
 * library, both process-wide because its counters are module state:
 * - a call within 200 ms of the previous one returns the previous result unchanged, so `sample()`
 *   waits until 200 ms have passed since the baseline before its first reading;
 * - any other caller of `currentLoad()` in the process moves the baseline (the agent should own the
 *   only sampler).
 */
import * as os from "node:os";
import si from "systeminformation";
import { fail } from "../../sdk/errors.js";
import { systemClock, type Clock } from "../clock.js";
import { Notes, ThrottleReader, readTemperatureC, vcgencmdRunner, type VcgencmdRunner } from "./sysfs.js";
import { silentLog, type DeviceSample, type MonitorLog, type SystemSampler } from "./types.js";

/** systeminformation refreshes `currentLoad()` at most every 200 ms (lib/cpu.js). */
const SI_MIN_INTERVAL_MS = 200;

/** The two systeminformation calls the sampler makes; tests substitute scripted ones. */
export interface SystemInfoSource {
  /** Bytes of physical (`total`) and allocatable (`available`) memory. */
  mem(): Promise<{ total: number; available: number }>;
  /** CPU busy percentage since the previous call. */
  currentLoad(): Promise<{ currentLoad: number }>;
}

/** Options of {@link createSystemSampler}. */
export interface SystemSamplerOptions {
  /** Root under which `sys/...` is read (default "/"); tests point it at a temp dir of fake /sys files. */
  sysRoot?: string;
  /** Debug notes about unreadable or garbage /sys contents (default: silent). */
  log?: MonitorLog;
  /**
   * How to ask the firmware when no get_throttled file exists: a runner, or false for never. Default:
   * `vcgencmd get_throttled` when `sysRoot` is "/", never otherwise (a fake /sys must not reach the
   * real firmware).
   */
  vcgencmd?: VcgencmdRunner | false;
  /** RAM and load source (default: systeminformation). */
  systemInfo?: SystemInfoSource;
  /** Clock for the wait after the baseline (default: the system clock). */
  clock?: Clock;
  /** Logical cores (default: `os.availableParallelism()`, which honours CPU affinity). */
  cores?: number;
}

/**
 * Creates the real sampler and takes the CPU-load baseline right away (see the module comment).
 * Throws E_USAGE for a bad option; `sample()` rejects with E_IO only when RAM cannot be read.
 */
export function createSystemSampler(opts: SystemSamplerOptions = {}): SystemSampler {
  const sysRoot = opts.sysRoot ?? "/";
  const cores = opts.cores ?? os.availableParallelism();
  if (!Number.isInteger(cores) || cores < 1) throw fail("E_USAGE", `createSystemSampler: cores must be an integer >= 1, got ${cores}`);
  const notes = new Notes(opts.log ?? silentLog);
  const source = opts.systemInfo ?? si;
  const clock = opts.clock ?? systemClock;
  const runner = opts.vcgencmd === undefined ? (sysRoot === "/" ? vcgencmdRunner() : undefined) : opts.vcgencmd || undefined;
  const throttle = new ThrottleReader(sysRoot, notes, runner);

  const baselineAt = clock.now();
  // A failed baseline only costs the first reading its accuracy; sample() reports real failures.
  const baseline = source.currentLoad().then(() => undefined, (e: unknown) => {
    notes.note("load:baseline", { err: (e as Error).message }, "the CPU load baseline failed; the first load reading covers the time since boot");
  });
  let lastLoad = 0;

  /** The load since the previous call, clamped to 0..100 (tick counters can step back when a core goes offline). */
  async function load(): Promise<number> {
    await baseline;
    const wait = baselineAt + SI_MIN_INTERVAL_MS - clock.now();
    if (wait > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, wait + 1));
    const v = (await source.currentLoad()).currentLoad;
    if (!Number.isFinite(v)) {
      notes.note("load:garbage", { value: v }, "systeminformation reported a non-finite CPU load; repeating the previous reading");
      return lastLoad;
    }
    notes.clear("load:garbage");
    return (lastLoad = Math.min(100, Math.max(0, v)));
  }

  async function ram(): Promise<{ total: number; available: number }> {
    let m: { total: number; available: number };
    try {
      m = await source.mem();
    } catch (e) {
      throw fail("E_IO", `cannot read the device's memory figures (${(e as Error).message}); is /proc mounted?`, e);
    }
    if (!(Number.isFinite(m.total) && m.total > 0 && Number.isFinite(m.available))) {
      throw fail("E_IO", `the device's memory figures make no sense (total ${m.total}, available ${m.available}); is /proc/meminfo readable?`);
    }
    return { total: m.total, available: Math.min(m.total, Math.max(0, m.available)) };
  }

  return {
    async sample(): Promise<DeviceSample> {
      const [memory, cpuLoadPercent, temperatureC, throttled] = await Promise.all([
        ram(), load(), readTemperatureC(sysRoot, notes), throttle.read(),
      ]);
      const s: DeviceSample = { ramAvailableBytes: memory.available, ramTotalBytes: memory.total, cpuLoadPercent, cores };
      if (temperatureC !== undefined) s.temperatureC = temperatureC;
      if (throttled !== undefined) s.throttled = throttled;
      return s;
    },
  };
}
