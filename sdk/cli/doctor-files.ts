/**
 * `edgecut doctor`'s checks of what the agent reads and writes on disk: the config file (as the
 * agent loads it), the split it names (every file it needs present with the sha256 recorded for
 * it), the state folder and an existing store, and free disk space there.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_STATE_DIR, loadAgentConfig, STORE_FILE, type AgentConfig } from "../../agent/config/index.js";
import { loadSplitOrPack, PACK_FILE } from "../../agent/planner/pack.js";
import { computeSplitId } from "../graph/manifest.js";
import { sha256FileSync } from "../graph/hash.js";
import { redactUrl } from "../transport/mqtt.js";
import { canWrite, errorText, ok, problem, skip, type CheckResult } from "./doctor-check.js";
import { fmtBytes } from "./output.js";

/** Where the packaged service looks for its config (docs/agent-service.md). */
export const DEFAULT_CONFIG_FILE = "/etc/edgecut/agent.yaml";
/** Below this much free disk in the state folder's file system: warn. */
export const LOW_DISK_BYTES = 100 * 1024 * 1024;

/** The config check's result and, when it loaded, the configuration. */
export interface ConfigOutcome {
  result: CheckResult;
  config?: AgentConfig;
}

/** Loads the config as the agent does (environment overrides included); skip without a file. */
export function checkConfig(file: string | undefined, defaultFile = DEFAULT_CONFIG_FILE): ConfigOutcome {
  const name = "config";
  if (file === undefined) {
    const hint = fs.existsSync(defaultFile) ? ` (${defaultFile} exists: add --config ${defaultFile} to check it)` : "";
    return { result: skip(name, `no --config given${hint}`) };
  }
  let config: AgentConfig;
  try {
    config = loadAgentConfig(file);
  } catch (e) {
    return {
      result: problem(name, "fail", errorText(e),
        "edit the file as the message says (agent/edgecut-agent.example.yaml documents every field); EDGECUT_* variables set in this shell count too, while the service gets its own from the unit"),
    };
  }
  const env = config.source.env.length > 0 ? `; from the environment: ${config.source.env.join(", ")}` : "";
  return {
    result: ok(name, `${config.source.file}: device ${config.deviceId}, broker ${redactUrl(config.broker.url)}, api ${config.api.listen}${env}`),
    config,
  };
}

/** One file the device needs and the sha256 recorded for it. */
interface NeededFile {
  what: string;
  rel: string;
  sha256: string;
}

/**
 * The split (or device pack) at `manifestPath` loads as the agent loads it, and every file it
 * runs (the segments and data files, or a pack's files) has the sha256 recorded for it.
 */
export function checkManifest(manifestPath: string | undefined): CheckResult {
  const name = "manifest";
  if (manifestPath === undefined) return skip(name, "no --manifest, and no config naming one");
  const recopy = "copy the split folder again (manifest.json with its segment and data files, kept together) from the machine that ran edgecut split, or re-run edgecut split / edgecut pack";
  let files: NeededFile[];
  let what: string;
  let dir: string;
  try {
    const { loaded, pack, maxSplit } = loadSplitOrPack(manifestPath);
    const m = loaded.manifest;
    dir = loaded.dir;
    if (computeSplitId(m) !== m.splitId) {
      return problem(name, "fail", `${manifestPath}: splitId ${m.splitId} does not match the manifest's content: it was edited after the split was written`, recopy);
    }
    if (pack === null) {
      what = `${m.segments.length} segment${m.segments.length === 1 ? "" : "s"}`;
      files = [
        ...m.segments.map((s, i) => ({ what: `segments[${i}]`, rel: s.file, sha256: s.sha256 })),
        ...m.dataFiles.map((d, i) => ({ what: `dataFiles[${i}]`, rel: d.file, sha256: d.sha256 })),
      ];
    } else {
      what = `pack: segments 0..${maxSplit - 1} of ${m.segments.length}`;
      files = pack.files.map((f, i) => ({ what: `${PACK_FILE} files[${i}]`, rel: f.file, sha256: f.sha256 }));
    }
  } catch (e) {
    const msg = errorText(e);
    const fix = /cannot read manifest/.test(msg) ? "check the path (the config's manifest, relative to the config file's folder, or --manifest): it names the manifest.json edgecut split wrote"
      : /model\.file/.test(msg) ? "copy the source model to the path model.file names: loading the split checks that it is there"
      : recopy;
    return problem(name, "fail", msg, fix);
  }
  const changed: string[] = [];
  let bytes = 0;
  for (const f of files) {
    const abs = path.resolve(dir, f.rel);
    try {
      bytes += fs.statSync(abs).size;
      if (sha256FileSync(abs) !== f.sha256) changed.push(`${f.rel} (${f.what})`);
    } catch (e) {
      return problem(name, "fail", `${abs} (${f.what}): ${errorText(e)}`, recopy);
    }
  }
  if (changed.length > 0) {
    return problem(name, "fail", `${manifestPath}: sha256 differs from the recorded one for ${changed.join(", ")}: changed or corrupted after the split was written`,
      `copy ${changed.length === 1 ? "that file" : "those files"} again from the split folder (or re-run edgecut split / edgecut pack): a changed file is corrupt or belongs to another split`);
  }
  return ok(name, `${manifestPath}: ${what}, ${fmtBytes(bytes)} in ${files.length} file${files.length === 1 ? "" : "s"}, sha256 ok`);
}

/** `p` if it exists, else its nearest existing ancestor. */
export function nearestExisting(p: string): string {
  let cur = path.resolve(p);
  while (!fs.existsSync(cur)) {
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return cur;
}

/** systemd's StateDirectory= creates and owns folders under /var/lib: a non-writable one there is not the agent's problem. */
function systemdManaged(dir: string): boolean {
  return dir.startsWith("/var/lib/");
}

/**
 * Where the service keeps its state. A config without stateDir resolves to $STATE_DIRECTORY, which
 * only systemd sets: run from a shell against the installed config (/etc/edgecut), the doctor
 * checks the unit's StateDirectory (/var/lib/edgecut), not a folder next to the config.
 */
function serviceStateDir(config: AgentConfig): { stateDir: string; storeFile: string } {
  const dir = path.dirname(config.source.file);
  const defaulted = !config.source.env.includes("STATE_DIRECTORY") && config.stateDir === path.join(dir, DEFAULT_STATE_DIR);
  if (!defaulted || dir !== "/etc/edgecut") return { stateDir: config.stateDir, storeFile: config.storeFile };
  return { stateDir: "/var/lib/edgecut", storeFile: path.join("/var/lib/edgecut", STORE_FILE) };
}

/**
 * The state folder can be written (or created: the agent creates it, so its nearest existing
 * parent must be writable), and an existing store opens and passes quick_check.
 * `sqliteWorks` false: better-sqlite3 failed its own check, so the store is not opened.
 */
export async function checkStateDir(config: AgentConfig | undefined, sqliteWorks: boolean): Promise<CheckResult> {
  const name = "store";
  if (config === undefined) return skip(name, "no config: the state folder is unknown");
  const { stateDir, storeFile } = serviceStateDir(config);
  const asUser = `run edgecut doctor as the agent's user (or root), or create it for that user: sudo install -d -o <user> ${stateDir}; or set stateDir to a writable folder`;
  if (!fs.existsSync(stateDir)) {
    const parent = nearestExisting(stateDir);
    if (canWrite(parent)) return ok(name, `${stateDir} does not exist yet: the agent creates it (${parent} is writable)`);
    const detail = `${stateDir} does not exist and ${parent} is not writable by this user`;
    return systemdManaged(stateDir)
      ? problem(name, "warn", `${detail} (under systemd, StateDirectory=edgecut creates it for the service)`, asUser)
      : problem(name, "fail", detail, asUser);
  }
  if (!fs.statSync(stateDir).isDirectory()) return problem(name, "fail", `stateDir ${stateDir} is not a folder`, "point stateDir at a folder (or remove the file in its way)");
  if (!canWrite(stateDir)) {
    const detail = `${stateDir} is not writable by this user`;
    return systemdManaged(stateDir) ? problem(name, "warn", `${detail} (under systemd it belongs to the service's user)`, asUser) : problem(name, "fail", detail, asUser);
  }
  if (!fs.existsSync(storeFile)) return ok(name, `${stateDir} is writable; the agent creates ${path.basename(storeFile)} there`);
  if (!sqliteWorks) return skip(name, `${storeFile} exists but better-sqlite3 does not load (see sqlite)`);
  const moveAside = `stop the agent and move ${storeFile} aside: it starts a new store (profiles are measured again; queued requests are lost)`;
  try {
    const { openStore } = await import("../../agent/store/index.js");
    const store = openStore(storeFile, config.store.maxPageCount === undefined ? {} : { maxPageCount: config.store.maxPageCount });
    try {
      const r = store.check();
      if (r.join() !== "ok") return problem(name, "fail", `${storeFile}: quick_check found ${r.slice(0, 3).join("; ")}`, moveAside);
      return ok(name, `${storeFile}: opens, quick_check ok, ${store.pendingCount()} request(s) queued`);
    } finally {
      store.close();
    }
  } catch (e) {
    const msg = errorText(e);
    const fix = /EACCES|EPERM|readonly|permission|CANTOPEN|unable to open/i.test(msg) ? asUser
      : /newer than this agent/.test(msg) ? "upgrade edgecut on this device, or move the store aside to start a new one"
      : moveAside;
    return problem(name, "fail", msg, fix);
  }
}

/** Free space (for this user) on the file system of the state folder: warn under LOW_DISK_BYTES. */
export function diskResult(where: string, freeBytes: number): CheckResult {
  const detail = `${fmtBytes(freeBytes)} free at ${where}`;
  if (freeBytes < LOW_DISK_BYTES) {
    return problem("disk", "warn", `${detail} (under ${fmtBytes(LOW_DISK_BYTES)})`,
      "free space on that file system: the store grows with queued requests and telemetry (store.maxPageCount caps it, and writes beyond fail with E_STORE_FULL)");
  }
  return ok("disk", detail);
}

/** diskResult for the config's state folder (its nearest existing ancestor). */
export function checkDisk(config: AgentConfig | undefined): CheckResult {
  if (config === undefined) return skip("disk", "no config: the state folder is unknown");
  const where = nearestExisting(config.stateDir);
  const st = fs.statfsSync(where);
  return diskResult(where, st.bavail * st.bsize);
}
