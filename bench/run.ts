/**
 * `npm run bench [name...]`: runs benchmarks and writes bench/results/<name>.json as
 * `{ name, gitSha, machine, metrics, targets, pass }`. Exit code 1 when a target is missed.
 * Benchmarks check speed and memory targets; tests never time anything.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { BenchResult } from "./harness.js";

/** `sections`: more structured results a benchmark adds to its JSON document, beside metrics and targets. */
const BENCHES: Record<string, () => Promise<BenchResult & { sections?: Record<string, unknown> }>> = {
  graph: async () => (await import("./graph.js")).run(),
  offload: async () => (await import("./offload.js")).run(),
  agent: async () => (await import("./agent.js")).run(),
  sim: async () => (await import("./sim.js")).run(),
  generate: async () => (await import("./generate.js")).run(),
  load: async () => (await import("./load.js")).run(),
};

function gitSha(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return "unknown";
  }
}

const names = process.argv.slice(2);
for (const n of names) {
  if (!(n in BENCHES)) {
    console.error(`bench: unknown benchmark "${n}"; available: ${Object.keys(BENCHES).join(", ")}`);
    process.exit(2);
  }
}
const outDir = path.join(import.meta.dirname, "results");
fs.mkdirSync(outDir, { recursive: true });
let allPass = true;
for (const name of names.length ? names : Object.keys(BENCHES)) {
  console.log(`bench ${name}: running`);
  const r = await BENCHES[name]!();
  const pass = Object.values(r.targets).every((t) => t.pass);
  allPass &&= pass;
  const doc = {
    name, gitSha: gitSha(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown", memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version, platform: `${process.platform}-${process.arch}` },
    metrics: r.metrics, targets: r.targets, pass, ...r.sections,
  };
  const file = path.join(outDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + "\n");
  console.log(JSON.stringify(doc, null, 2));
  console.log(`bench ${name}: ${pass ? "all targets met" : "TARGET MISSED"}; wrote ${path.relative(process.cwd(), file)}`);
}
process.exit(allPass ? 0 : 1);
