/**
 * The workers of `npm run bench load`: `edgecut cloud --threads 1 --concurrency 1` processes (node
 * --import tsx sdk/cli/main.ts cloud) in one shared-subscription group. Their JSON log lines are
 * read as they come: each "request done" is one computation, keyed by device and request id, so
 * the bench can tell requests computed once from work done again.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";

const MAIN_TS = path.resolve(import.meta.dirname, "..", "sdk", "cli", "main.ts");

/** A running worker process and what it logged. */
export interface LoadWorker {
  label: string;
  pid: number;
  /** From its "worker ready" line: whether it subscribed through $share. */
  shared: boolean;
  /** Computations ("request done" lines) per "deviceId/requestId". */
  computed: Map<string, number>;
  /** The compute time each "request done" line reports (ms). */
  computeMs: number[];
  /** Its metrics from the "stopped" line (after stop()). */
  finalMetrics(): Record<string, unknown> | undefined;
  /** The last log lines, for error messages. */
  tail(): string;
  /** SIGTERM (accepted requests finish), SIGKILL after 15 s; the exit code. Idempotent. */
  stop(): Promise<number | null>;
}

/** Starts one worker serving every split under `models`; resolves once it logged "worker ready". */
export async function startLoadWorker(label: string, brokerUrl: string, models: string, queue: number): Promise<LoadWorker> {
  const child = spawn(process.execPath, [
    "--import", "tsx", MAIN_TS, "cloud", "--broker", brokerUrl, "--models", models, "--threads", "1", "--concurrency", "1",
    "--queue", String(queue), "--client-id", `bench-load-${label}`, "--json-logs", "--log-level", "info",
  ], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, NODE_NO_WARNINGS: "1" } });
  const kill = (): void => { child.kill("SIGKILL"); };
  process.on("exit", kill);
  const computed = new Map<string, number>();
  const computeMs: number[] = [];
  let lines: string[] = [];
  let partial = "";
  let shared: boolean | undefined;
  let stopped: Record<string, unknown> | undefined;
  let onReady: (() => void) | undefined;
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    partial += chunk;
    const got = partial.split("\n");
    partial = got.pop()!;
    for (const line of got) {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch {
        lines.push(line);
        continue;
      }
      if (r.msg === "request done") {
        const key = `${String(r.deviceId)}/${String(r.requestId)}`;
        computed.set(key, (computed.get(key) ?? 0) + 1);
        if (typeof r.computeMs === "number") computeMs.push(r.computeMs);
        continue;
      }
      lines.push(line);
      if (r.msg === "worker ready") {
        shared = r.shared === true;
        onReady?.();
      }
      if (r.msg === "stopped") stopped = r.metrics as Record<string, unknown>;
    }
    lines = lines.slice(-20);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => { process.off("exit", kill); resolve(code); }));
  const tail = (): string => [...lines, partial].join("\n");
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill("SIGKILL"); reject(new Error(`${label} did not log "worker ready" within 30 s:\n${tail()}`)); }, 30_000);
    onReady = () => { clearTimeout(timer); resolve(); };
    void exited.then((code) => { clearTimeout(timer); if (shared === undefined) reject(new Error(`${label} exited (${code}) before it was ready:\n${tail()}`)); });
  });
  let stopping: Promise<number | null> | undefined;
  return {
    label, pid: child.pid!, shared: shared === true, computed, computeMs, tail, finalMetrics: () => stopped,
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
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
