/**
 * Part 3 of `npm run bench agent`: an idle agent's memory and CPU, measured from outside as an
 * operator would (/proc/<pid>/status VmRSS, /proc/<pid>/stat utime + stime).
 *
 * What runs is the service itself, as systemd runs it: `edgecut agent --config <file>` on plain
 * node with the node flags of agent/systemd/edgecut-agent.service's ExecStart, on JavaScript (under
 * tsx the process would also hold the loader's hooks and transformed sources). The sources are
 * transpiled file by file with TypeScript's transpileModule into a temp folder (a node_modules link
 * and a package.json with "type": "module" beside them). The agent connects to the bench's broker
 * (a worker answers its idle probes), samples the device every 2 s, serves its API, and holds no
 * model: `--no-profile`, and no request is made, so no session (and no onnxruntime) is loaded.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import ts from "typescript";
import { median } from "./harness.js";

const ROOT = path.resolve(import.meta.dirname, "..");

/** Transpiles every .ts file under ROOT/<dirs> (and the `files`) into outDir, same layout. Returns the file count. */
export function transpileTree(dirs: readonly string[], files: readonly string[], outDir: string): number {
  const all = [...files];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) all.push(path.relative(ROOT, p));
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d));
  const compilerOptions: ts.CompilerOptions = { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, sourceMap: false, esModuleInterop: true };
  for (const rel of all) {
    const out = ts.transpileModule(fs.readFileSync(path.join(ROOT, rel), "utf8"), { compilerOptions, fileName: rel });
    const dest = path.join(outDir, rel.replace(/\.ts$/, ".js"));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, out.outputText);
  }
  fs.writeFileSync(path.join(outDir, "package.json"), JSON.stringify({ type: "module" }));
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(outDir, "node_modules"), "dir");
  return all.length;
}

/** What part 3 reports. */
export interface IdleResult {
  /** Median VmRSS over the window (MB = 2^20 bytes), and its extremes. */
  rssMB: number;
  rssMinMB: number;
  rssMaxMB: number;
  /** A bare `node` process (an empty timer loop) on this machine, for scale. */
  bareNodeRssMB: number;
  /** RssAnon and RssFile (shared libraries, mapped files) at the end of the window, MB. */
  rssAnonMB: number;
  rssFileMB: number;
  /** V8 heap in use at the end of the window (MB), from the agent's /metrics. */
  heapUsedMB: number;
  /** The mapped files with the most resident pages (MB): shared libraries, mostly. */
  topFilesMB: Record<string, number>;
  /** utime + stime over the window, as a percentage of one core. */
  cpuPercent: number;
  /** The same including reaped children (cutime + cstime): processes the agent spawned. */
  cpuPercentWithChildren: number;
  seconds: number;
  settleSeconds: number;
  /** The node flags taken from the unit's ExecStart. */
  nodeFlags: string[];
  transpiledFiles: number;
  transpileSeconds: number;
  /** The agent's split and action at the end (from GET /v1/status). */
  split: number | null;
  action: string;
}

function clockTicks(): number {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
}

/** utime + stime and cutime + cstime of `pid`, in clock ticks (/proc/<pid>/stat fields 14-17). */
function cpuTicks(pid: number): { own: number; children: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  // f[0] is field 3 (state): field n is f[n - 3].
  return { own: f[11]! + f[12]!, children: f[13]! + f[14]! };
}

function statusKb(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`/proc/${pid}/status has no ${key}`);
  return Number(m[1]);
}

/** The mapped files holding the most resident memory (MB), from /proc/<pid>/smaps. */
function topMappedFiles(pid: number, count: number): Record<string, number> {
  const byFile = new Map<string, number>();
  let current: string | undefined;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head !== null) {
      current = head[1]!.startsWith("/") ? path.basename(head[1]!) : undefined;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null && current !== undefined) byFile.set(current, (byFile.get(current) ?? 0) + Number(rss[1]) / 1024);
  }
  return Object.fromEntries([...byFile].sort((a, b) => b[1] - a[1]).slice(0, count).map(([f, mb]) => [f, +mb.toFixed(1)]));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a bare node process that only waits, 2 s after its start (MB). */
async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  try {
    await sleep(2000);
    return statusKb(child.pid!, "VmRSS") / 1024;
  } finally {
    child.kill("SIGKILL");
  }
}

/** The node flags of the shipped unit's ExecStart (between the node binary and the script). */
export function unitNodeFlags(): string[] {
  const unit = fs.readFileSync(path.join(ROOT, "agent", "systemd", "edgecut-agent.service"), "utf8");
  const line = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  if (line === undefined) throw new Error("agent/systemd/edgecut-agent.service has no ExecStart");
  const words = line.trim().split(/\s+/);
  const script = words.findIndex((w) => w.endsWith("main.js"));
  return words.slice(1, script).filter((w) => w.startsWith("-"));
}

async function getJson(url: string): Promise<unknown> {
  const r = await fetch(url);
  return r.json();
}

/**
 * Runs the compiled `edgecut agent` against `brokerUrl` serving `manifestPath`, waits until its API
 * answers, lets it settle for `settleSeconds`, then samples it every second for `seconds`.
 */
export async function measureIdle(workDir: string, brokerUrl: string, manifestPath: string, settleSeconds: number, seconds: number, apiPort: number): Promise<IdleResult> {
  const jsDir = path.join(workDir, "js");
  const t0 = performance.now();
  const transpiledFiles = transpileTree(["sdk", "agent", "cloud-stub", "device-profiles"], [], jsDir);
  for (const f of fs.readdirSync(path.join(ROOT, "device-profiles")).filter((x) => x.endsWith(".json"))) {
    fs.copyFileSync(path.join(ROOT, "device-profiles", f), path.join(jsDir, "device-profiles", f));
  }
  const transpileSeconds = (performance.now() - t0) / 1000;
  const config = path.join(workDir, "idle-agent.yaml");
  fs.writeFileSync(config, [
    "deviceId: bench-idle", `manifest: ${manifestPath}`, `stateDir: ${path.join(workDir, "idle-state")}`,
    "broker:", `  url: ${brokerUrl}`, "api:", `  listen: "127.0.0.1:${apiPort}"`,
  ].join("\n") + "\n");
  const nodeFlags = unitNodeFlags();
  const child = spawn(process.execPath, [...nodeFlags, path.join(jsDir, "sdk", "cli", "main.js"), "agent", "--config", config, "--no-profile", "--json-logs"], {
    stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_ENV: "production" },
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
  const kill = (): void => { child.kill("SIGKILL"); };
  process.on("exit", kill);
  const api = `http://127.0.0.1:${apiPort}`;
  try {
    const deadline = performance.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the idle agent exited (${child.exitCode}): ${stderr}`);
      try {
        await getJson(`${api}/healthz`);
        break;
      } catch {
        if (performance.now() > deadline) throw new Error(`the idle agent did not serve its API in 30 s: ${stderr}`);
        await sleep(200);
      }
    }
    const pid = child.pid!;
    // The bare node process runs during the settle time, not in the window.
    const [bareNodeRssMB] = await Promise.all([bareNodeRss(), sleep(settleSeconds * 1000)]);
    const c0 = cpuTicks(pid);
    const w0 = performance.now();
    const rss: number[] = [];
    while (performance.now() - w0 < seconds * 1000) {
      rss.push(statusKb(pid, "VmRSS") / 1024);
      await sleep(1000);
    }
    const c1 = cpuTicks(pid);
    const elapsed = (performance.now() - w0) / 1000;
    const rssAnonMB = statusKb(pid, "RssAnon") / 1024;
    const rssFileMB = statusKb(pid, "RssFile") / 1024;
    const topFilesMB = topMappedFiles(pid, 5);
    const metrics = await (await fetch(`${api}/metrics`)).text();
    const heap = /^edgecut_nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics);
    const st = await getJson(`${api}/v1/status`) as { split: number | null; action: string };
    const hz = clockTicks();
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(10_000)]);
    return {
      rssMB: median(rss), rssMinMB: Math.min(...rss), rssMaxMB: Math.max(...rss), bareNodeRssMB, rssAnonMB, rssFileMB,
      heapUsedMB: heap === null ? Number.NaN : Number(heap[1]) / 2 ** 20, topFilesMB,
      cpuPercent: (100 * (c1.own - c0.own) / hz) / elapsed,
      cpuPercentWithChildren: (100 * (c1.own + c1.children - c0.own - c0.children) / hz) / elapsed,
      seconds: elapsed, settleSeconds, nodeFlags, transpiledFiles, transpileSeconds, split: st.split, action: st.action,
    };
  } finally {
    child.kill("SIGKILL");
    process.off("exit", kill);
  }
}
