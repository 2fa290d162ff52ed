/**
 * Where a simulation's segment costs come from, in order:
 * 1. a calibration file (`--calibration f.json`, made by `edgecut calibrate --manifest`);
 * 2. else a measurement made here once (the calibration's kernels and the agent's Profiler on
 *    each segment, one onnxruntime thread), cached as `<cacheDir>/<splitId>.json` (the same
 *    format), so later runs are instant and repeatable;
 * (3. tests give a SimModel directly.)
 * Either way the times are this machine's, scaled to each profile with scaleSegmentMs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fail } from "../../sdk/errors.js";
import { loadManifest } from "../../sdk/graph/manifest.js";
import { calibrateMachine, readCalibration } from "../calibrate.js";
import type { Calibration } from "./costs.js";
import { modelFromCalibration, type SimModel } from "./model.js";

/** Options of loadSimModel. */
export interface SimModelOptions {
  /** A calibration file with this split's segment times. */
  calibrationFile?: string;
  /** Where measurements are cached (default `.cache/sim` under the working directory). */
  cacheDir?: string;
  /** A label for the result's meta.model (default: the split folder's name). */
  name?: string;
  /** Called before a measurement that takes a while (for a progress note). */
  onMeasure?: (what: string) => void;
}

/** The default cache folder: `.cache/sim` under the working directory. */
export function defaultCacheDir(): string {
  return path.resolve(".cache", "sim");
}

/**
 * The split at `manifestPath` with segment costs (see the module comment). E_MANIFEST for a bad
 * manifest, E_PROFILE for a bad calibration file, E_USAGE when it belongs to another split,
 * E_RUNTIME when onnxruntime cannot run a segment.
 */
export async function loadSimModel(manifestPath: string, opts: SimModelOptions = {}): Promise<SimModel> {
  const { manifest } = loadManifest(manifestPath, { checkFiles: false });
  const name = opts.name ?? path.basename(path.dirname(path.resolve(manifestPath)));
  if (opts.calibrationFile !== undefined) {
    return modelFromCalibration(manifest, readCalibration(opts.calibrationFile), name, `calibration ${opts.calibrationFile}`);
  }
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const cached = path.join(cacheDir, `${manifest.splitId}.json`);
  if (fs.existsSync(cached)) {
    try {
      return modelFromCalibration(manifest, readCalibration(cached), name, `measured here, cached in ${cached}`);
    } catch {
      // A cache file from another version or cut short: measure again below.
    }
  }
  opts.onMeasure?.(`measuring this machine and the ${manifest.segments.length} segments of ${name} once (cached in ${cacheDir})`);
  const cal: Calibration = await calibrateMachine({ manifestPath, runs: 5, threads: 1 });
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    const tmp = `${cached}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(cal, null, 2) + "\n");
    fs.renameSync(tmp, cached);
  } catch (e) {
    throw fail("E_IO", `cannot write the measurement cache ${cached}: ${(e as Error).message}; give --calibration instead, or a writable working directory`, e);
  }
  return modelFromCalibration(manifest, cal, name, `measured here, cached in ${cached}`);
}
