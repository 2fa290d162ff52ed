/**
 * `edgecut doctor`'s checks of the machine itself: Node.js, the platform (a 32-bit userland is
 * the classic Raspberry Pi trap), the two native modules (onnxruntime-node, better-sqlite3) and
 * free RAM. The native modules are imported on demand, so a broken binary is a failed check
 * with its error rather than a crash of the whole command.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GraphBuilder } from "../graph/builder.js";
import { serializeModel } from "../graph/model-io.js";
import { errorText, ok, problem, type CheckResult } from "./doctor-check.js";
import { fmtBytes } from "./output.js";

const MiB = 1024 * 1024;
/** Below this much available RAM the agent may not fit its front segments: warn. */
export const LOW_RAM_BYTES = 256 * MiB;
/** The oldest Node.js major the agent supports (package.json engines). */
const MIN_NODE_MAJOR = 20;

/** Node.js: at least 20 (package.json engines). `version` is process.versions.node. */
export function checkNode(version: string = process.versions.node, abi: string = process.versions.modules): CheckResult {
  const major = Number(/^(\d+)\./.exec(version)?.[1]);
  const detail = `v${version} (module ABI ${abi})`;
  if (!(major >= MIN_NODE_MAJOR)) {
    return problem("node", "fail", `${detail}: edgecut needs Node.js ${MIN_NODE_MAJOR} or later`,
      "install Node.js 20 (docs/agent-service.md step 2: NodeSource's node_20.x; Debian Bookworm's own nodejs is 18), then reinstall edgecut's modules with npm ci");
  }
  return ok("node", detail);
}

/** What checkPlatform looks at. */
export interface PlatformInfo {
  /** process.platform */
  platform: string;
  /** process.arch: the architecture Node.js (so the userland) was built for. */
  arch: string;
  /** os.machine(): the kernel's architecture (aarch64 under a 32-bit userland too). */
  machine: string;
  /** `getconf LONG_BIT`, when the tool is there. */
  longBit?: number;
}

/** This machine's PlatformInfo (`getconf LONG_BIT` run with a short timeout). */
export function platformInfo(): PlatformInfo {
  const r = spawnSync("getconf", ["LONG_BIT"], { encoding: "utf8", timeout: 2000 });
  const bits = r.status === 0 ? Number(r.stdout.trim()) : NaN;
  return { platform: process.platform, arch: process.arch, machine: os.machine(), ...(Number.isInteger(bits) ? { longBit: bits } : {}) };
}

/** Linux on arm64 or x64 passes; a 32-bit userland fails (onnxruntime-node has no binary for it). */
export function checkPlatform(p: PlatformInfo = platformInfo()): CheckResult {
  const userland32 = p.arch === "arm" || p.arch === "ia32" || p.longBit === 32;
  const bits = userland32 ? "32-bit userland" : p.longBit === 64 ? "64-bit userland" : "userland bits unknown";
  const detail = `${p.platform} ${p.arch} (kernel ${p.machine}, ${bits})`;
  if (userland32) {
    return problem("platform", "fail", `${detail}: onnxruntime-node ships no binary for a 32-bit system`,
      "install 64-bit Raspberry Pi OS; onnxruntime-node ships no armv7 binary (a 64-bit kernel under a 32-bit userland is the usual trap: `getconf LONG_BIT` must print 64)");
  }
  const knownArch = p.arch === "arm64" || p.arch === "x64";
  if (p.platform === "linux" && knownArch) return ok("platform", detail);
  if (!knownArch) {
    return problem("platform", "fail", `${detail}: onnxruntime-node ships binaries for arm64 and x64 only`,
      "run the agent on a 64-bit arm64 (aarch64) or x64 machine");
  }
  return problem("platform", "warn", `${detail}: the agent service is built for Linux with systemd`,
    "use this system for development only; on a device run 64-bit Linux (64-bit Raspberry Pi OS)");
}

/** x [1, 4] + c -> y: the smallest model that makes onnxruntime load and run something. */
function tinyModelBytes(dir: string): Uint8Array {
  const b = new GraphBuilder();
  b.input("x", "float32", [1, 4]);
  const c = b.constFloat([0.5, 1.5, 2.5, 3.5], [1, 4]);
  b.op("Add", ["x", c], {}, { output: "y" });
  b.output("y", "float32", [1, 4]);
  return serializeModel(b.build(), { sourceDir: dir });
}

function ortFix(message: string): string {
  if (/GLIBC/.test(message)) return "this system's C library is too old for onnxruntime-node: use Raspberry Pi OS Bookworm (Debian 12) or newer, 64-bit";
  return "reinstall the modules on this machine (cd /opt/edgecut && sudo npm ci --omit=dev): node_modules copied from another machine carry the wrong native binaries; onnxruntime-node ships binaries for linux arm64 and x64 only";
}

/** onnxruntime-node loads, and runs a one-node model written to `tmpDir`. */
export async function checkOnnxruntime(tmpDir: string, intraOpThreads?: number): Promise<CheckResult> {
  const name = "onnxruntime";
  const file = path.join(tmpDir, "doctor-add.onnx");
  let ort: typeof import("../runtime/ort.js");
  try {
    ort = await import("../runtime/ort.js");
  } catch (e) {
    const msg = errorText(e);
    return problem(name, "fail", `cannot load onnxruntime-node: ${msg}`, ortFix(msg));
  }
  try {
    fs.writeFileSync(file, tinyModelBytes(tmpDir));
    const session = await ort.OrtSession.create(file, { intraOpThreads: intraOpThreads ?? 1 });
    try {
      const out = await session.run({ x: { type: "float32", dims: [1, 4], data: Float32Array.from([1, 2, 3, 4]) } });
      const y = out.y;
      const got = y?.type === "float32" ? [...y.data] : [];
      if (got.join(",") !== "1.5,3.5,5.5,7.5") {
        return problem(name, "fail", `a test model (Add) gave [${got.join(", ")}], expected [1.5, 3.5, 5.5, 7.5]`, ortFix(""));
      }
    } finally {
      await session.release();
    }
    return ok(name, "loaded onnxruntime-node and ran a test model (Add)");
  } catch (e) {
    const msg = errorText(e);
    return problem(name, "fail", `onnxruntime could not run a test model: ${msg}`, ortFix(msg));
  }
}

/** better-sqlite3 loads, and an in-memory store opens and passes quick_check. */
export async function checkSqlite(): Promise<CheckResult> {
  const name = "sqlite";
  const abi = process.versions.modules;
  const fix = (msg: string): string => (/NODE_MODULE_VERSION|compiled against a different Node/.test(msg)
    ? `better-sqlite3 was built for another Node.js: rebuild it for this one (module ABI ${abi}): cd /opt/edgecut && sudo npm rebuild better-sqlite3`
    : "reinstall the modules on this machine (cd /opt/edgecut && sudo npm ci --omit=dev); when no prebuilt better-sqlite3 binary downloads it compiles itself: sudo apt-get install -y build-essential python3 first");
  try {
    const { openStore } = await import("../../agent/store/index.js");
    const store = openStore(":memory:");
    try {
      const r = store.check();
      if (r.join() !== "ok") return problem(name, "fail", `an in-memory store failed quick_check: ${r.join("; ")}`, fix(""));
    } finally {
      store.close();
    }
    return ok(name, "better-sqlite3 opened an in-memory store (quick_check ok)");
  } catch (e) {
    const msg = errorText(e);
    return problem(name, "fail", `better-sqlite3 does not work: ${msg}`, fix(msg));
  }
}

/** Available RAM (os.freemem: MemAvailable on Linux): warn below LOW_RAM_BYTES. */
export function checkMemory(free: number = os.freemem(), total: number = os.totalmem()): CheckResult {
  const detail = `${fmtBytes(free)} available of ${fmtBytes(total)}`;
  if (free < LOW_RAM_BYTES) {
    return problem("memory", "warn", `${detail} (under ${fmtBytes(LOW_RAM_BYTES)})`,
      "stop services you do not need, or expect the planner to run fewer segments here: it keeps planner.ramMarginBytes free and offloads what does not fit");
  }
  return ok("memory", detail);
}
