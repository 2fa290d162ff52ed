/**
 * The device side of `npm run bench load`, seen from the bench: the forked device processes
 * (bench/load-devices.ts) and one measured phase across all of them, with the CPU each part used.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { percentile, type FromDevices, type PhaseReport, type PhaseSpec, type ToDevices } from "./load-common.js";
import { cpuSnapshot, cpuUse, type CpuUse } from "./load-cpu.js";
import type { LoadWorker } from "./load-workers.js";

const r2 = (v: number): number => +v.toFixed(2);

/** A forked device process and the messages it sent, awaited by type. */
export class DeviceProcess {
  private readonly inbox: FromDevices[] = [];
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  readonly child: ChildProcess;

  constructor(index: number) {
    this.child = fork(path.join(import.meta.dirname, "load-devices.ts"), [], {
      execArgv: ["--import", "tsx"], serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"],
      env: { ...process.env, NODE_NO_WARNINGS: "1" },
    });
    const kill = (): void => { this.child.kill("SIGKILL"); };
    process.on("exit", kill);
    this.child.on("message", (m: FromDevices) => {
      if (m.type === "error") this.failure = new Error(`device process ${index}: ${m.message}`);
      else this.inbox.push(m);
      this.waiter?.();
    });
    this.child.once("exit", (code) => {
      process.off("exit", kill);
      this.failure ??= code === 0 ? undefined : new Error(`device process ${index} exited with ${code}`);
      this.waiter?.();
    });
  }

  send(m: ToDevices): void {
    this.child.send(m);
  }

  async next<T extends FromDevices["type"]>(type: T): Promise<Extract<FromDevices, { type: T }>> {
    for (;;) {
      if (this.failure) throw this.failure;
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<FromDevices, { type: T }>;
      await new Promise<void>((resolve) => { this.waiter = resolve; });
    }
  }
}

/** One phase's figures, all device processes together. */
export interface PhaseResult extends Pick<PhaseReport, "name" | "sent" | "ok" | "errors" | "lost" | "duplicated" | "wrong"> {
  workers: number;
  throughputPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Results per worker (by which worker computed them). */
  byWorker: Record<string, number>;
  cpu: CpuUse;
}

export async function runPhase(procs: DeviceProcess[], workers: LoadWorker[], spec: Omit<PhaseSpec, "startAt">, pids: Record<string, number[]>): Promise<PhaseResult> {
  const phase: PhaseSpec = { ...spec, startAt: Date.now() + 500 };
  for (const p of procs) p.send({ type: "phase", phase });
  const before = cpuSnapshot(pids);
  await new Promise((r) => setTimeout(r, phase.startAt + phase.durationMs - Date.now()));
  const cpu = cpuUse(before, cpuSnapshot(pids));
  const reports: PhaseReport[] = [];
  for (const p of procs) reports.push((await p.next("report")).report);
  const sum = (f: (r: PhaseReport) => number): number => reports.reduce((a, r) => a + f(r), 0);
  const errors: Record<string, number> = {};
  for (const r of reports) for (const [c, n] of Object.entries(r.errors)) errors[c] = (errors[c] ?? 0) + n;
  const latencies = reports.flatMap((r) => r.latencies);
  // A result handed to two requests would show as one request id twice.
  const okIds = reports.flatMap((r) => r.okIds);
  const repeatedIds = okIds.length - new Set(okIds).size;
  const byWorker: Record<string, number> = {};
  for (const w of workers) byWorker[w.label] = reports.reduce((a, r) => a + r.okIds.filter((id) => w.computed.has(id)).length, 0);
  return {
    name: spec.name, workers: workers.length, sent: sum((r) => r.sent), ok: sum((r) => r.ok), errors, lost: sum((r) => r.lost),
    duplicated: sum((r) => r.duplicated) + repeatedIds, wrong: sum((r) => r.wrong),
    throughputPerSec: r2(sum((r) => r.completedInWindow) / ((spec.durationMs - spec.warmMs) / 1000)),
    p50Ms: r2(percentile(latencies, 0.5)), p99Ms: r2(percentile(latencies, 0.99)), byWorker, cpu,
  };
}

/** Cores the workers used in a phase, together. */
export const workerCores = (p: { cpu: CpuUse }): number => Object.entries(p.cpu.cores).filter(([k]) => k.startsWith("worker-")).reduce((a, [, v]) => a + v, 0);
