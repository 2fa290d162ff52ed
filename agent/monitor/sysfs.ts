/**
 * Readers of the Raspberry Pi's temperature and throttling state. They never throw: a board without
 * these files (a PC, a container, a Jetson) simply has no temperature or flags, and a file holding
 * garbage is ignored with a debug note, because a monitoring hiccup must not stop inference.
 *
 * All paths hang off `sysRoot` ("/" on a device), so tests point the readers at a temp dir laid out
 * like a Pi's /sys.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { parseThrottledText, decodeThrottled } from "./throttle.js";
import type { MonitorLog, ThrottleFlags } from "./types.js";

/** Thermal zone 0: the SoC sensor on every Raspberry Pi; millidegrees Celsius as a decimal integer. */
export const THERMAL_ZONE0 = "sys/class/thermal/thermal_zone0/temp";
/** Where Raspberry Pi OS kernels expose the firmware's get_throttled word (bare hex). */
export const GET_THROTTLED = "sys/devices/platform/soc/soc:firmware/get_throttled";
/** Readings outside this span (°C) are sensor errors or garbage, not a board's temperature. */
const PLAUSIBLE_C: readonly [number, number] = [-60, 150];

/**
 * Says each distinct problem once, until the reading recovers: a sampler polling every second must
 * not write the same "garbage in get_throttled" line 86 400 times a day.
 */
export class Notes {
  private readonly said = new Set<string>();
  constructor(private readonly log: MonitorLog) {}
  /** Writes `msg` at debug level unless `key` was noted and not cleared since. */
  note(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.said.has(key)) return;
    this.said.add(key);
    this.log.debug({ component: "monitor", ...fields }, msg);
  }
  /** Forgets `key`, so the problem is noted again if it comes back. */
  clear(key: string): void {
    this.said.delete(key);
  }
}

/** Reads a small text file; undefined when it is missing, with a note when it exists but is unreadable. */
async function readText(file: string, notes: Notes): Promise<string | undefined> {
  try {
    const text = await fs.readFile(file, "utf8");
    notes.clear(`unreadable:${file}`);
    return text;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Missing is the normal case off a Pi: no note, it would only be noise.
    if (code !== "ENOENT" && code !== "ENOTDIR") {
      notes.note(`unreadable:${file}`, { file, err: (e as Error).message }, "cannot read a /sys file; ignoring it");
    }
    return undefined;
  }
}

/** The SoC temperature in °C from thermal zone 0, or undefined when absent or unparseable. */
export async function readTemperatureC(sysRoot: string, notes: Notes): Promise<number | undefined> {
  const file = path.join(sysRoot, THERMAL_ZONE0);
  const text = await readText(file, notes);
  if (text === undefined) return undefined;
  const t = text.trim();
  const milli = /^-?\d{1,7}$/.test(t) ? Number(t) : NaN;
  const c = milli / 1000;
  if (!(c >= PLAUSIBLE_C[0] && c <= PLAUSIBLE_C[1])) {
    notes.note(`garbage:${file}`, { file, content: t.slice(0, 40) },
      `thermal zone 0 does not hold millidegrees within ${PLAUSIBLE_C[0]}..${PLAUSIBLE_C[1]} °C; temperature left out`);
    return undefined;
  }
  notes.clear(`garbage:${file}`);
  return c;
}

/** Runs `vcgencmd get_throttled` and returns its stdout; rejects when the tool is missing or fails. */
export type VcgencmdRunner = () => Promise<string>;

/** The real runner: `vcgencmd get_throttled` with a 2 s timeout (the firmware mailbox answers in ms). */
export function vcgencmdRunner(command = "vcgencmd"): VcgencmdRunner {
  return () => new Promise((resolve, reject) => {
    execFile(command, ["get_throttled"], { timeout: 2000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/**
 * Reads the throttling flags: from the sysfs file when present (cheap, no process), else from
 * `vcgencmd` when a runner is given (newer kernels dropped the sysfs file; the Pi 5's firmware node
 * also sits under another platform device name, hence the scan of `sys/devices/platform/*`).
 */
export class ThrottleReader {
  /** The sysfs file found by the last lookup; undefined = look again, null = none exists. */
  private file: string | null | undefined;
  private runner: VcgencmdRunner | undefined;

  constructor(private readonly sysRoot: string, private readonly notes: Notes, runner?: VcgencmdRunner) {
    this.runner = runner;
  }

  /** The decoded flags, or undefined when neither source answers sensibly. */
  async read(): Promise<ThrottleFlags | undefined> {
    const file = await this.findFile();
    if (file !== null) {
      const text = await readText(file, this.notes);
      if (text === undefined) {
        this.file = undefined; // gone (driver unloaded?): look again next time
        return undefined;
      }
      return this.parse(text, file);
    }
    return this.runner ? this.fromVcgencmd(this.runner) : undefined;
  }

  private parse(text: string, where: string): ThrottleFlags | undefined {
    const raw = parseThrottledText(text);
    if (raw === undefined) {
      this.notes.note(`garbage:${where}`, { source: where, content: text.trim().slice(0, 40) },
        "get_throttled is not a hex word; throttling flags left out");
      return undefined;
    }
    this.notes.clear(`garbage:${where}`);
    return decodeThrottled(raw);
  }

  private async fromVcgencmd(run: VcgencmdRunner): Promise<ThrottleFlags | undefined> {
    let out: string;
    try {
      out = await run();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        // Not a Pi (or no firmware tools): stop spawning a process per sample.
        this.runner = undefined;
        this.notes.note("vcgencmd:missing", {}, "no get_throttled file and no vcgencmd: throttling flags unavailable");
      } else {
        this.notes.note("vcgencmd:failed", { err: (e as Error).message }, "vcgencmd get_throttled failed; throttling flags left out");
      }
      return undefined;
    }
    this.notes.clear("vcgencmd:failed");
    return this.parse(out, "vcgencmd get_throttled");
  }

  /** The get_throttled file: the Pi 4 path, else `sys/devices/platform/<dev>/<x>:firmware/get_throttled`. */
  private async findFile(): Promise<string | null> {
    if (this.file !== undefined) return this.file;
    const known = path.join(this.sysRoot, GET_THROTTLED);
    if (await exists(known)) return (this.file = known);
    const platform = path.join(this.sysRoot, "sys/devices/platform");
    for (const dev of await listDir(platform)) {
      for (const sub of await listDir(path.join(platform, dev))) {
        const f = path.join(platform, dev, sub, "get_throttled");
        if (sub.endsWith(":firmware") && (await exists(f))) return (this.file = f);
      }
    }
    return (this.file = null);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}
