/**
 * Finding the splits a worker serves: every manifest.json under the models folder, validated
 * with loadManifest, indexed by splitId. A request names only a splitId; the worker never opens
 * a path that came in a message, only the files of manifests it found here at start.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Logger } from "pino";
import { EdgecutError, fail } from "../sdk/errors.js";
import { computeSplitId, loadManifest, type Manifest } from "../sdk/graph/manifest.js";

/** Name of the file that marks a split folder. */
export const MANIFEST_NAME = "manifest.json";

/** One split the worker serves. */
export interface ServedSplit {
  readonly splitId: string;
  readonly manifest: Manifest;
  /** Absolute path of its manifest.json. */
  readonly manifestPath: string;
  /** Absolute folder its segment files are relative to. */
  readonly dir: string;
}

/** Folders never searched: dependencies and version control, which hold no splits but many files. */
const SKIP_DIRS = new Set(["node_modules", ".git"]);

/**
 * Paths of every manifest.json under `root`, sorted by path components so that which of two
 * duplicates wins does not depend on the file system's listing order. Symbolic links to folders are not followed (no
 * cycles); an unreadable folder is logged and skipped.
 */
function findManifests(root: string, log: Logger): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      log.warn({ dir, err: (e as Error).message }, "cannot read folder; skipped");
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(p);
      } else if (e.name === MANIFEST_NAME && (e.isFile() || e.isSymbolicLink())) {
        found.push(p);
      }
    }
  };
  walk(root);
  return found.sort(byComponents);
}

/** Path order by components, so `a/split/` comes before `a/split-copy/` (plain string order puts '-' before '/'). */
function byComponents(a: string, b: string): number {
  const x = a.split(path.sep);
  const y = b.split(path.sep);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  }
  return x.length - y.length;
}

/**
 * Loads every valid split under `modelsDir` (recursively). A manifest that fails loadManifest, or
 * whose splitId does not match its content (edited after the split was written, so device and
 * worker could disagree on what it means), is skipped with a warning; of two manifests with the
 * same splitId the first in path order is served and the other is logged. Throws E_USAGE when
 * the folder does not exist and E_MANIFEST when it holds no valid split.
 */
export function discoverSplits(modelsDir: string, log: Logger): ReadonlyMap<string, ServedSplit> {
  const root = path.resolve(modelsDir);
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch {
    throw fail("E_USAGE", `models folder ${root} does not exist; pass --models <dir> holding split folders written by \`edgecut split\``);
  }
  if (!st.isDirectory()) throw fail("E_USAGE", `models folder ${root} is not a folder`);
  const splits = new Map<string, ServedSplit>();
  for (const file of findManifests(root, log)) {
    let loaded;
    try {
      loaded = loadManifest(file);
    } catch (e) {
      const code = e instanceof EdgecutError ? e.code : "E_MANIFEST";
      log.warn({ manifest: file, code, err: (e as Error).message }, "invalid split manifest; skipped");
      continue;
    }
    const { manifest, dir } = loaded;
    const actual = computeSplitId(manifest);
    if (actual !== manifest.splitId) {
      log.warn({ manifest: file, splitId: manifest.splitId, computed: actual }, "manifest splitId does not match its content (edited after the split?); skipped");
      continue;
    }
    const seen = splits.get(manifest.splitId);
    if (seen !== undefined) {
      log.warn({ splitId: manifest.splitId, serving: seen.manifestPath, ignored: file }, "two manifests have the same splitId; serving the first");
      continue;
    }
    splits.set(manifest.splitId, Object.freeze({ splitId: manifest.splitId, manifest, manifestPath: file, dir }));
    log.info({ splitId: manifest.splitId, manifest: file, segments: manifest.segments.length }, "serving split");
  }
  if (splits.size === 0) {
    throw fail("E_MANIFEST", `no valid split manifest (${MANIFEST_NAME}) under ${root}; write one with \`edgecut split <model.onnx> ... -o ${root}/<name>\``);
  }
  return splits;
}
