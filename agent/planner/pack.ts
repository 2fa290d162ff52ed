/**
 * A device pack (`edgecut pack`): a split folder holding only what a device needs to run split
 * points 0..maxSplit, i.e. segments 0..maxSplit-1 and the data files they reference.
 *
 * manifest.json is copied byte for byte, so it still describes the whole split (the planner
 * knows every segment's cost, and the splitId the worker serves is unchanged). The manifest
 * schema has no way to say a file is absent, and changing it would change the splitId, so the
 * pack says it in a second file, pack.json: the largest split point it can run and the files it
 * holds, with their sha256 and size. A folder without pack.json is a whole split.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { fail } from "../../sdk/errors.js";
import { isContainedPath, loadManifest, type LoadedManifest } from "../../sdk/graph/manifest.js";
import { fieldPath } from "../../sdk/validation.js";

/** The file next to manifest.json that marks a folder as a pack. */
export const PACK_FILE = "pack.json";

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { message: "must be a sha256: 64 lowercase hex digits" });
const Count = z.int().nonnegative();

/** The zod schema of pack.json (format 1; unknown keys rejected). */
export const PackInfoSchema = z.strictObject({
  format: z.literal(1),
  /** The manifest's splitId: the pack belongs to that split. */
  splitId: Sha256,
  /** Segments in the whole split (n). */
  segments: Count,
  /** The largest split point the pack runs: segments 0..maxSplit-1 are present. */
  maxSplit: Count,
  /** Files the pack holds besides manifest.json and pack.json (segments, then data files). */
  files: z.array(z.strictObject({
    file: z.string().min(1).refine(isContainedPath, { message: "must be a relative path inside the pack folder" }),
    sha256: Sha256,
    bytes: Count,
  })),
  /** Bytes of the whole split's files (manifest, every segment, every data file), for comparison. */
  fullBytes: Count,
});

/** A parsed pack.json. */
export type PackInfo = z.infer<typeof PackInfoSchema>;

/** pack.json of the folder `dir`, or null when there is none (a whole split). E_MANIFEST when it is malformed. */
export function readPackInfo(dir: string): PackInfo | null {
  const file = path.join(dir, PACK_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw fail("E_MANIFEST", `cannot read ${file}: ${(e as Error).message}`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fail("E_MANIFEST", `${file} is not valid JSON (${(e as Error).message}); re-run edgecut pack`, e);
  }
  const r = PackInfoSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw fail("E_MANIFEST", `${file}: ${fieldPath(issue.path)}: ${issue.message}; re-run edgecut pack`);
  }
  return r.data;
}

/** A loaded split folder and, for a pack, its pack.json. */
export interface LoadedSplitOrPack {
  loaded: LoadedManifest;
  /** Null for a whole split. */
  pack: PackInfo | null;
  /** The largest split point this folder can run: pack.maxSplit, or n for a whole split. */
  maxSplit: number;
}

/**
 * Loads manifest.json of a whole split (every file checked, as loadManifest does) or of a pack:
 * then only the files pack.json lists are checked (present, of their size), plus that the pack
 * belongs to this manifest and holds segments 0..maxSplit-1. E_MANIFEST otherwise. Give the
 * result's `loaded` to SplitRunner.fromLoaded and run it at any k <= maxSplit.
 */
export function loadSplitOrPack(manifestPath: string): LoadedSplitOrPack {
  const dir = path.dirname(path.resolve(manifestPath));
  const pack = readPackInfo(dir);
  if (pack === null) {
    const loaded = loadManifest(manifestPath);
    return { loaded, pack, maxSplit: loaded.manifest.segments.length };
  }
  const loaded = loadManifest(manifestPath, { checkFiles: false });
  const m = loaded.manifest;
  const where = path.join(dir, PACK_FILE);
  if (pack.splitId !== m.splitId) throw fail("E_MANIFEST", `${where}: splitId ${pack.splitId} is not the manifest's (${m.splitId}): the pack was made from another split; re-run edgecut pack`);
  if (pack.segments !== m.segments.length || pack.maxSplit > m.segments.length) {
    throw fail("E_MANIFEST", `${where}: segments ${pack.segments}, maxSplit ${pack.maxSplit} do not fit the manifest's ${m.segments.length} segments; re-run edgecut pack`);
  }
  const listed = new Set(pack.files.map((f) => path.posix.normalize(f.file)));
  for (const s of m.segments.slice(0, pack.maxSplit)) {
    if (!listed.has(path.posix.normalize(s.file))) throw fail("E_MANIFEST", `${where}: segment ${s.index} (${s.file}) is not listed, but maxSplit ${pack.maxSplit} needs it; re-run edgecut pack`);
  }
  for (const f of pack.files) {
    const abs = path.resolve(dir, f.file);
    let size: number;
    try {
      size = fs.statSync(abs).size;
    } catch {
      throw fail("E_MANIFEST", `${where}: "${f.file}" is missing (looked for ${abs}); copy the whole pack folder`);
    }
    if (size !== f.bytes) throw fail("E_MANIFEST_HASH", `${where}: ${abs} is ${size} bytes but pack.json says ${f.bytes}: it was truncated or replaced; re-run edgecut pack`);
  }
  return { loaded, pack, maxSplit: pack.maxSplit };
}
