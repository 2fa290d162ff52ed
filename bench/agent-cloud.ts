/**
 * The cloud side of `npm run bench agent`: `edgecut cloud` as its own process (node --import tsx
 * sdk/cli/main.ts cloud), as a worker runs on its own machine, so the device's and the worker's
 * event loops and garbage collections stay apart. Ready once it logged "worker ready".
 */
import { spawn } from "node:child_process";
import * as path from "node:path";

const MAIN_TS = path.resolve(import.meta.dirname, "..", "sdk", "cli", "main.ts");

/** A running `edgecut cloud`. */
export interface CloudProcess {
  pid: number;
  /** The last lines it logged (for error messages). */
  tail(): string;
  /** SIGTERM (the worker finishes accepted requests), SIGKILL after 10 s; the exit code. Idempotent. */
  stop(): Promise<number | null>;
}

/** Starts `edgecut cloud --threads <threads>` serving every split under `models`. */
export async function startCloud(brokerUrl: string, models: string, threads: number): Promise<CloudProcess> {
  const child = spawn(process.execPath, [
    "--import", "tsx", MAIN_TS, "cloud", "--broker", brokerUrl, "--models", models, "--threads", String(threads), "--json-logs", "--log-level", "info",
  ], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "1" } });
  const kill = (): void => { child.kill("SIGKILL"); };
  process.on("exit", kill);
  let lines: string[] = [];
  let partial = "";
  let ready = false;
  let onReady: (() => void) | undefined;
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    partial += chunk;
    const got = partial.split("\n");
    partial = got.pop()!;
    lines = [...lines, ...got].slice(-20);
    if (!ready && got.some((l) => l.includes('"msg":"worker ready"'))) {
      ready = true;
      onReady?.();
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => { process.off("exit", kill); resolve(code); }));
  const tail = (): string => [...lines, partial].join("\n");
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`edgecut cloud did not log "worker ready" within 30 s:\n${tail()}`)); }, 30_000);
    onReady = () => { clearTimeout(timer); resolve(); };
    void exited.then((code) => { clearTimeout(timer); if (!ready) reject(new Error(`edgecut cloud exited (${code}) before it was ready:\n${tail()}`)); });
  });
  let stopping: Promise<number | null> | undefined;
  return {
    pid: child.pid!,
    tail,
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        try {
          return await exited;
        } finally {
          clearTimeout(t);
        }
      })();
      return stopping;
    },
  };
}
