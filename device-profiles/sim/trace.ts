/**
 * A recorded trace replayed as a scenario (`edgecut simulate --scenario trace:<file>`). Two kinds
 * of record are read, as a JSON array, an object holding one (`samples`, `rows` or `summaries`),
 * or JSON lines (one record per line, e.g. the MQTT messages of `edgecut/v1/telemetry/<device>`):
 *
 * - The agent store's telemetry rows (TelemetrySample: at, split, latencyMs, bytesUp, bytesDown,
 *   outcome, errorCode, breakdown). They drive the LINK only: every offload's bytes and round trip
 *   (breakdown.roundTripMs minus the worker's cloudComputeMs and cloudQueueMs) go through the
 *   agent's own NetworkEstimator in order, and its estimate after each row sets upMbit, downMbit
 *   and rttMs until the next row. When the rows' sizes do not vary enough for it to part RTT from
 *   bandwidth (one split, one request shape), the preset's RTT is kept (or the row's whole time,
 *   when shorter) and the rest of the row's time is its bandwidth. E_TIMEOUT / E_BROKER errors
 *   count as failed round trips; while the estimator says unreachable the cloud is down. Rows carry no CPU or RAM figures: the
 *   board's stay at the profile's (idle, ramAvailableFraction of its RAM). The request rate is the
 *   median gap between rows.
 * - Fleet summaries (the JSON the agent publishes every minute: at, windowMs, requests, network,
 *   device). Each one's window [at - windowMs, at) gets its network figures (upBytesPerSec,
 *   downBytesPerSec, rttMs, reachable -> cloudUp) and its device figures (cpuLoadPercent,
 *   ramAvailableBytes; none when device is null). The request rate is all windows' requests over
 *   their time.
 *
 * Jitter and loss are not in either record: they come from the preset the trace is played over.
 * Times are relative to the first record; the scenario lasts until the last.
 */
import * as fs from "node:fs";
import { z } from "zod";
import { NetworkEstimator } from "../../agent/network/index.js";
import { fail } from "../../sdk/errors.js";
import type { SimLink } from "./network.js";
import { parseScenario, type Scenario, type ScenarioInput } from "./scenario.js";

type EventInput = NonNullable<ScenarioInput["events"]>[number];

const Num = z.number().finite();
const TelemetryRow = z.object({
  at: Num, split: Num, latencyMs: Num, bytesUp: z.number().nonnegative(), bytesDown: z.number().nonnegative(),
  outcome: z.enum(["ok", "error"]).optional(), errorCode: z.string().optional(),
  breakdown: z.record(z.string(), z.number()).optional(),
});
const FleetRecord = z.object({
  at: Num, windowMs: z.number().nonnegative(),
  requests: z.object({ ok: z.number().nonnegative(), error: z.number().nonnegative() }),
  network: z.object({ rttMs: z.number().nonnegative(), upBytesPerSec: z.number().positive(), downBytesPerSec: z.number().positive(), reachable: z.boolean() }),
  device: z.object({ ramAvailableBytes: z.number().nonnegative(), cpuLoadPercent: z.number().min(0).max(100) }).nullable(),
});
type Row = z.infer<typeof TelemetryRow>;
type Fleet = z.infer<typeof FleetRecord>;

/** The records of a trace file (see the module comment). E_USAGE when there are none. */
function records(file: string): unknown[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw fail("E_USAGE", `cannot read trace ${file}: ${(e as Error).message}`, e);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // JSON lines: one record per non-empty line.
    try {
      doc = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as unknown);
    } catch (e) {
      throw fail("E_USAGE", `trace ${file} is neither JSON nor JSON lines (${(e as Error).message})`, e);
    }
  }
  if (doc !== null && typeof doc === "object" && !Array.isArray(doc)) {
    const o = doc as Record<string, unknown>;
    doc = o.samples ?? o.rows ?? o.summaries ?? [doc];
  }
  if (!Array.isArray(doc) || doc.length === 0) throw fail("E_USAGE", `trace ${file} holds no records; give telemetry rows or fleet summaries (see device-profiles/sim/trace.ts)`);
  return doc;
}

const mbit = (bytesPerSec: number): number => (bytesPerSec * 8) / 1e6;
const round = (v: number, digits = 3): number => Number(v.toFixed(digits));

function sameLink(a: EventInput, b: EventInput): boolean {
  return a.upMbit === b.upMbit && a.downMbit === b.downMbit && a.rttMs === b.rttMs && a.cloudUp === b.cloudUp
    && a.cpuLoadPercent === b.cpuLoadPercent && a.ramAvailableBytes === b.ramAvailableBytes;
}

/** Adds an event, merging it into the previous one when it continues it with the same figures. */
function pushEvent(events: EventInput[], e: EventInput): void {
  const prev = events[events.length - 1];
  if (prev !== undefined && prev.to === e.from && sameLink(prev, e)) prev.to = e.to;
  else events.push(e);
}

function fromTelemetry(rows: Row[], presetRttMs: number): { events: EventInput[]; durationMs: number; interArrivalMs: number } {
  rows.sort((a, b) => a.at - b.at);
  const t0 = rows[0]!.at;
  const gaps = rows.slice(1).map((r, i) => r.at - rows[i]!.at).filter((g) => g > 0).sort((a, b) => a - b);
  const interArrivalMs = gaps.length === 0 ? 1000 : gaps[Math.floor(gaps.length / 2)]!;
  const durationMs = rows[rows.length - 1]!.at - t0 + interArrivalMs;
  let now = 0;
  const est = new NetworkEstimator({ now: () => now });
  const events: EventInput[] = [];
  let link: { upMbit: number; downMbit: number; rttMs: number } | undefined;
  rows.forEach((r, i) => {
    now = r.at - t0;
    const b = r.breakdown ?? {};
    const rt = b.roundTripMs ?? 0;
    if ((r.outcome ?? "ok") === "ok" && r.bytesUp > 0 && rt > 0) {
      const netMs = Math.max(0, rt - (b.cloudComputeMs ?? 0) - (b.cloudQueueMs ?? 0));
      est.observe({ bytesUp: r.bytesUp, bytesDown: r.bytesDown, roundTripMs: rt, cloudComputeMs: b.cloudComputeMs ?? 0, cloudQueueMs: b.cloudQueueMs ?? 0, at: now });
      const d = est.detail();
      if (d.basis === "up-down" || d.basis === "total") {
        link = { upMbit: mbit(d.upBytesPerSec), downMbit: mbit(d.downBytesPerSec), rttMs: d.rttMs };
      } else {
        // Messages all of one size: the estimator cannot part RTT from bandwidth. Take the preset's
        // RTT (or the whole time, when shorter) and the rest as bandwidth, so the row's time is kept.
        const rtt = Math.min(presetRttMs, netMs);
        const bw = netMs - rtt > 1e-3 ? mbit(((r.bytesUp + r.bytesDown) * 1000) / (netMs - rtt)) : 10_000;
        link = { upMbit: bw, downMbit: bw, rttMs: rtt };
      }
    } else if (r.outcome === "error" && (r.errorCode === "E_TIMEOUT" || r.errorCode === "E_BROKER")) {
      est.observeFailure(now);
    }
    if (link === undefined) return;
    const to = i + 1 < rows.length ? rows[i + 1]!.at - t0 : durationMs;
    if (to <= now) return;
    pushEvent(events, { from: now, to, upMbit: round(link.upMbit), downMbit: round(link.downMbit), rttMs: round(link.rttMs), cloudUp: est.estimate().reachable });
  });
  return { events, durationMs, interArrivalMs };
}

function fromFleet(recs: Fleet[]): { events: EventInput[]; durationMs: number; interArrivalMs: number } {
  recs.sort((a, b) => a.at - b.at);
  const t0 = recs[0]!.at - recs[0]!.windowMs;
  const events: EventInput[] = [];
  let requests = 0;
  let covered = 0;
  for (const r of recs) {
    const from = Math.max(0, r.at - r.windowMs - t0);
    const to = r.at - t0;
    if (to <= from) continue;
    requests += r.requests.ok + r.requests.error;
    covered += to - from;
    pushEvent(events, {
      from, to, upMbit: round(mbit(r.network.upBytesPerSec)), downMbit: round(mbit(r.network.downBytesPerSec)), rttMs: round(r.network.rttMs), cloudUp: r.network.reachable,
      ...(r.device !== null ? { cpuLoadPercent: round(r.device.cpuLoadPercent, 1), ramAvailableBytes: Math.round(r.device.ramAvailableBytes) } : {}),
    });
  }
  const durationMs = recs[recs.length - 1]!.at - t0;
  return { events, durationMs, interArrivalMs: requests > 0 ? Math.max(1, Math.round(covered / requests)) : 1000 };
}

/**
 * The scenario a trace file replays (see the module comment), over network preset `link`.
 * E_USAGE naming the file and the first bad record when it is neither kind.
 */
export function scenarioFromTrace(file: string, link: SimLink): Scenario {
  const recs = records(file);
  const isFleet = FleetRecord.safeParse(recs[0]).success;
  const schema = isFleet ? FleetRecord : TelemetryRow;
  const parsed: (Row | Fleet)[] = recs.map((r, i) => {
    const p = schema.safeParse(r);
    if (!p.success) {
      const issue = p.error.issues[0]!;
      throw fail("E_USAGE", `trace ${file}: record ${i}: ${issue.path.map(String).join(".") || "(record)"}: ${issue.message}; give the agent's telemetry rows or its fleet summaries (${isFleet ? "this looks like fleet summaries" : "this looks like telemetry rows"})`);
    }
    return p.data;
  });
  const { events, durationMs, interArrivalMs } = isFleet ? fromFleet(parsed as Fleet[]) : fromTelemetry(parsed as Row[], link.rttMs);
  if (!(durationMs > 0)) throw fail("E_USAGE", `trace ${file} spans no time (one record, or all at the same moment); give a longer trace`);
  const doc: ScenarioInput = {
    format: 1, name: "trace",
    description: `replay of ${isFleet ? "fleet summaries" : "telemetry rows"} from ${file} (${recs.length} records)`,
    preset: link.name, durationMs, interArrivalMs: Math.min(interArrivalMs, durationMs), events,
  };
  return parseScenario(doc, `trace ${file}`);
}

/** `trace:<file>` -> the file, else undefined. */
export function traceFile(spec: string): string | undefined {
  return spec.startsWith("trace:") ? spec.slice("trace:".length) : undefined;
}
