/**
 * `edgecut status`: what a running agent is doing, from its local API (GET /v1/status): the split
 * in use and why, the live plan table (the same predictions as `edgecut plan`, from what the agent
 * measures now), and its device, network and cloud estimates.
 */
import type { Command } from "commander";
import type { AgentStatus } from "../../agent/core/types.js";
import type { PlanRow } from "../../agent/planner/types.js";
import { connectAgent } from "../infer/agent-client.js";
import { fmtBytes, printJson, table } from "./output.js";

interface StatusFlags {
  url: string;
  socket?: string;
  json?: boolean;
}

function ms(v: number): string {
  return !Number.isFinite(v) ? "?" : v < 10 ? v.toFixed(2) : v.toFixed(1);
}

function rate(bytesPerSec: number): string {
  const bits = bytesPerSec * 8;
  return bits >= 1e9 ? `${(bits / 1e9).toFixed(2)} Gbit/s` : bits >= 1e6 ? `${(bits / 1e6).toFixed(2)} Mbit/s` : `${(bits / 1e3).toFixed(1)} kbit/s`;
}

/** The plan table as text: one row per split point, the one in use marked "*", infeasible ones "x". */
export function planTable(rows: readonly PlanRow[], current: number | null): string {
  const head = ["", "k", "local", "encode", "up", "down", "rtt", "cloud", "queue", "total ms", "req/s", "up bytes", "front mem"];
  return table([head, ...rows.map((r) => {
    const p = r.predicted;
    return [
      r.k === current ? "*" : r.feasible ? "" : "x", String(r.k), ms(p.localMs), ms(p.encodeMs), ms(p.upMs), ms(p.downMs), ms(p.rttMs), ms(p.cloudMs),
      ms(p.queueMs), ms(p.totalMs), Number.isFinite(p.throughputPerSec) ? p.throughputPerSec.toFixed(1) : "-", fmtBytes(r.upBytes), fmtBytes(r.memBytes),
    ];
  })]);
}

function printText(s: AgentStatus): void {
  console.log(`agent ${s.deviceId} (edgecut ${s.version}), up ${(s.uptimeMs / 1000).toFixed(0)} s, ${s.ready ? "ready" : "NOT ready"}`);
  console.log(`model: ${s.model.manifest} (${s.model.segments} segments, splitId ${s.model.splitId.slice(0, 12)}...)`);
  console.log(`split: ${s.split ?? "none"} (${s.action}): ${s.reason}; ${s.switches} switch(es) since start`);
  if (s.device !== null) {
    const d = s.device;
    console.log(`device: RAM ${fmtBytes(d.ramAvailableBytes)} available of ${fmtBytes(d.ramTotalBytes)}, CPU ${d.cpuLoadPercent.toFixed(0)}% busy, ${d.cores} cores${d.temperatureC !== undefined ? `, ${d.temperatureC.toFixed(1)} °C` : ""}`);
  }
  const n = s.network;
  console.log(`network: ${n.reachable ? "reachable" : "UNREACHABLE"}, RTT ${ms(n.rttMs)} ms, up ${rate(n.upBytesPerSec)}, down ${rate(n.downBytesPerSec)} (${n.basis}, ${n.samples} samples, confidence ${n.confidence.toFixed(2)})`);
  console.log(`cloud: queueing ${ms(s.cloud.queueMs)} ms; queued requests ${s.queueDepth}, in flight ${s.inFlight}`);
  if (s.plan !== null) {
    console.log(planTable(s.plan.rows, s.split));
    for (const r of s.plan.rows) if (!r.feasible && r.reason !== undefined) console.log(`  x k = ${r.k}: ${r.reason}`);
  }
}

/** Registers `edgecut status`. */
export function registerStatus(program: Command): void {
  program.command("status")
    .description("show a running agent's split, live plan table and estimates (from its local API)")
    .option("--url <url>", "the agent API's URL", "http://127.0.0.1:8787")
    .option("--socket <path>", "the agent API's unix socket (api.listen unix:<path>); wins over --url")
    .option("--json", "print GET /v1/status as JSON")
    .action(async (flags: StatusFlags) => {
      const client = await connectAgent({ ...(flags.socket !== undefined ? { socketPath: flags.socket } : { url: flags.url }), timeoutMs: 5000 });
      try {
        const s = await client.status();
        if (flags.json === true) printJson(s);
        else printText(s);
      } finally {
        await client.close();
      }
    });
}
