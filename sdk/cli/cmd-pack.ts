/**
 * `edgecut pack <manifest.json> --device-max-split k -o <dir>`: a folder with what a device needs
 * to run split points 0..k: segments 0..k-1, the data files they reference (read from the
 * segments' own external_data locations: the manifest does not say which segment uses which
 * data file), manifest.json byte for byte (whole split, same splitId) and pack.json saying what
 * is present (agent/planner/pack.ts). Files are hard-linked when on the same filesystem, else
 * copied, and their sha256 checked against the manifest. The folder is written as a temp sibling
 * and renamed into place, so a failure leaves nothing half-written.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { PACK_FILE, readPackInfo, type PackInfo } from "../../agent/planner/pack.js";
import { EdgecutError, fail } from "../errors.js";
import { sha256FileSync } from "../graph/hash.js";
import { replaceFolder } from "../graph/split.js";
import { loadManifest, type Manifest } from "../graph/manifest.js";
import { forEachNodeTensor, forEachTensor, loadModel } from "../graph/model-io.js";
import { TensorProto_DataLocation } from "../graph/onnx/onnx_pb.js";
import { fmtBytes, printJson } from "./output.js";

interface PackFlags { deviceMaxSplit?: string; output: string; force?: boolean; json?: boolean }

/** What packSplit wrote. */
export interface PackResult {
  /** The pack folder (absolute). */
  dir: string;
  info: PackInfo;
  /** Files in the pack, manifest.json and pack.json included. */
  fileCount: number;
  /** Bytes in the pack, manifest.json and pack.json included. */
  bytes: number;
  /** True when some files were copied rather than hard-linked. */
  copied: boolean;
}

/** Registers `edgecut pack`. */
export function registerPack(program: Command): void {
  program.command("pack")
    .description("write the files a device needs to run split points 0..k (segments 0..k-1 and their data)")
    .argument("<manifest>", "manifest.json of a whole split")
    .option("--device-max-split <k>", "the largest split point the device will run (0..n)")
    .requiredOption("-o, --output <dir>", "folder to write (must not exist or be empty)")
    .option("--force", "replace a previous pack or split in the output folder (never other files)")
    .option("--json", "print pack.json with the totals as JSON")
    .addHelpText("after", "\nExample:\n  edgecut pack out/manifest.json --device-max-split 2 -o device/\n\nThe device then runs any k <= 2 with out/'s worker serving segments k..n-1.")
    .action((manifestPath: string, flags: PackFlags) => {
      if (flags.deviceMaxSplit === undefined) throw fail("E_USAGE", "--device-max-split <k> is required: the largest split point the device will run (segments 0..k-1 go into the pack)");
      if (!/^\d+$/.test(flags.deviceMaxSplit.trim())) throw fail("E_USAGE", `--device-max-split ${flags.deviceMaxSplit}: expected an integer k >= 0 (segments 0..k-1 go into the pack)`);
      const r = packSplit(manifestPath, Number(flags.deviceMaxSplit), flags.output, { force: flags.force ?? false });
      if (flags.json) { printJson({ ...r.info, dir: r.dir, fileCount: r.fileCount, bytes: r.bytes }); return; }
      const n = r.info.segments;
      const k = r.info.maxSplit;
      const share = r.info.fullBytes > 0 ? ` (${((100 * r.bytes) / r.info.fullBytes).toFixed(1)}%)` : "";
      console.log(`packed split points 0..${k} of ${n} into ${flags.output}: ${k === 0 ? "no segments (k = 0 sends the model inputs)" : `segments 0..${k - 1}`}`);
      for (const f of r.info.files) console.log(`  ${f.file}  ${fmtBytes(f.bytes)}`);
      console.log(`${r.fileCount} files, ${fmtBytes(r.bytes)} of the whole split's ${fmtBytes(r.info.fullBytes)}${share}${r.copied ? "" : " (hard links)"}`);
    });
}

/**
 * Writes the pack of `manifestPath` for split points 0..maxSplit to `outDir`. E_USAGE for a
 * maxSplit outside 0..n or an output folder holding the split itself, E_OUTPUT_EXISTS for a
 * non-empty folder (without `force`; with it, only a previous pack or split is replaced),
 * E_MANIFEST for a missing file or a data file the manifest does not list, E_MANIFEST_HASH for a
 * file whose sha256 or size differs from the manifest.
 */
export function packSplit(manifestPath: string, maxSplit: number, outDir: string, opts: { force?: boolean } = {}): PackResult {
  const { manifest, dir: src } = loadManifest(manifestPath, { checkFiles: false });
  const n = manifest.segments.length;
  if (!Number.isSafeInteger(maxSplit) || maxSplit < 0 || maxSplit > n) {
    throw fail("E_USAGE", `--device-max-split ${maxSplit}: this split has ${n} segments, so k is 0 (only the manifest: everything in the cloud) to ${n} (every segment)`);
  }
  const out = path.resolve(outDir);
  const rel = path.relative(out, src);
  if (rel === "" || !(rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel))) {
    throw fail("E_USAGE", `-o ${outDir}: the split being packed is in ${src}; write the pack to another folder`);
  }
  checkOut(out, opts.force ?? false);

  const files = neededFiles(manifest, src, maxSplit);
  const fullBytes = [path.resolve(manifestPath), ...manifest.segments.map((s) => path.resolve(src, s.file)), ...manifest.dataFiles.map((d) => path.resolve(src, d.file))]
    .reduce((a, f) => a + sizeOf(f), 0);
  const info: PackInfo = { format: 1, splitId: manifest.splitId, segments: n, maxSplit, files: files.map((f) => ({ file: f.file, sha256: f.sha256, bytes: 0 })), fullBytes };

  const tmp = `${out}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  let createdParent: string | undefined;
  let copied = false;
  try {
    createdParent = fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.mkdirSync(tmp);
    fs.copyFileSync(path.resolve(manifestPath), path.join(tmp, "manifest.json"));
    files.forEach((f, i) => {
      const dest = path.join(tmp, f.file);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      copied = place(f.abs, dest) || copied;
      // Hashed after placing: what the device gets is what is checked.
      const got = sha256FileSync(dest);
      if (got !== f.sha256) throw fail("E_MANIFEST_HASH", `${f.abs}: sha256 is ${got}, the manifest says ${f.sha256}: the file changed after the split was written; re-run the split or restore the file`);
      const bytes = fs.statSync(dest).size;
      if (f.bytes !== undefined && bytes !== f.bytes) throw fail("E_MANIFEST_HASH", `${f.abs} is ${bytes} bytes but the manifest says ${f.bytes}: it was truncated or replaced; re-run the split`);
      info.files[i]!.bytes = bytes;
    });
    fs.writeFileSync(path.join(tmp, PACK_FILE), `${JSON.stringify(info, null, 2)}\n`);
    replaceFolder(tmp, out, (o) => checkOut(o, opts.force ?? false));
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (createdParent) fs.rmSync(createdParent, { recursive: true, force: true });
    if (e instanceof EdgecutError) throw e;
    throw fail("E_IO", `writing the pack to ${out} failed: ${(e as Error).message}; check that the output folder's parent is writable and the disk has room`, e);
  }
  const entries = [path.join(out, "manifest.json"), path.join(out, PACK_FILE), ...info.files.map((f) => path.join(out, f.file))];
  return { dir: out, info, fileCount: entries.length, bytes: entries.reduce((a, f) => a + sizeOf(f), 0), copied };
}

interface NeededFile { file: string; abs: string; sha256: string; bytes?: number }

/** Segments 0..k-1 and, once each, the manifest data files their tensors reference. */
function neededFiles(m: Manifest, src: string, k: number): NeededFile[] {
  const dataByName = new Map(m.dataFiles.map((d) => [path.posix.normalize(d.file), d]));
  const segs: NeededFile[] = [];
  const data = new Map<string, NeededFile>();
  for (const s of m.segments.slice(0, k)) {
    const abs = path.resolve(src, s.file);
    if (!isFile(abs)) throw fail("E_MANIFEST", `segments[${s.index}].file: "${s.file}" is missing (looked for ${abs}); pack from a complete split folder`);
    // Before parsing it: a changed segment is a hash mismatch, whatever its bytes now hold.
    const got = sha256FileSync(abs);
    if (got !== s.sha256) throw fail("E_MANIFEST_HASH", `${abs}: sha256 is ${got}, the manifest says ${s.sha256}: the segment changed after the split was written; re-run the split or restore the file`);
    segs.push({ file: s.file, abs, sha256: s.sha256 });
    for (const loc of externalLocations(abs)) {
      // Locations are relative to the segment's folder; the manifest's are relative to its own.
      const rel = path.posix.normalize(path.relative(src, path.resolve(path.dirname(abs), loc)).split(path.sep).join("/"));
      const d = dataByName.get(rel);
      if (d === undefined) throw fail("E_MANIFEST", `segment ${s.index} (${s.file}) reads external data from "${loc}", which manifest.dataFiles does not list; re-run the split`);
      const dAbs = path.resolve(src, d.file);
      if (!isFile(dAbs)) throw fail("E_MANIFEST", `dataFiles: "${d.file}" is missing (looked for ${dAbs}); segment ${s.index} needs it: pack from a complete split folder`);
      if (!data.has(rel)) data.set(rel, { file: d.file, abs: dAbs, sha256: d.sha256, bytes: d.bytes });
    }
  }
  return [...segs, ...data.values()];
}

/** The external data locations a model's tensors name (graph, subgraphs and functions). */
function externalLocations(file: string): Set<string> {
  const { proto } = loadModel(file);
  const out = new Set<string>();
  const visit = (t: { dataLocation: TensorProto_DataLocation; externalData: { key: string; value: string }[] }): void => {
    if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) return;
    const loc = t.externalData.find((e) => e.key === "location")?.value;
    if (loc) out.add(loc);
  };
  if (proto.graph) forEachTensor(proto.graph, visit);
  for (const f of proto.functions) for (const node of f.node) forEachNodeTensor(node, visit);
  return out;
}

/** Hard link, else copy; returns true when it had to copy. */
function place(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    return false;
  } catch {
    fs.copyFileSync(from, to);
    return true;
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function sizeOf(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

/**
 * E_OUTPUT_EXISTS for a non-empty folder (or a file) at `out`; with `force`, only a folder holding
 * nothing but a previous pack or split (manifest.json, pack.json, segment files and the files its
 * manifest or pack.json lists) may be replaced.
 */
function checkOut(out: string, force: boolean): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch {
    return;
  }
  if (!st.isDirectory()) throw fail("E_OUTPUT_EXISTS", `${out} exists and is not a folder; choose another output folder`);
  const entries = fs.readdirSync(out);
  if (entries.length === 0) return;
  if (!force) throw fail("E_OUTPUT_EXISTS", `output folder ${out} exists and is not empty; choose another folder, or --force to replace a previous pack there`);
  const known = new Set(["manifest.json", PACK_FILE]);
  try {
    const m = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as { segments?: { file?: unknown }[]; dataFiles?: { file?: unknown }[] };
    for (const x of [...(m.segments ?? []), ...(m.dataFiles ?? [])]) if (typeof x.file === "string") known.add(x.file);
    for (const f of readPackInfo(out)?.files ?? []) known.add(f.file);
  } catch {
    known.clear(); // no readable manifest or pack.json: nothing here is known to be ours to replace
  }
  const strangers = entries.filter((e) => !known.has(e));
  if (strangers.length > 0) {
    throw fail("E_OUTPUT_EXISTS", `output folder ${out} holds files that are not part of a previous pack or split (${strangers.slice(0, 5).join(", ")}${strangers.length > 5 ? ", ..." : ""}); --force only replaces a pack: choose another folder`);
  }
}

