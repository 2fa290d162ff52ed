/**
 * The fleet summary publisher: every `intervalMs`, one JSON message on
 * `<prefix>/v1/telemetry/<deviceId>` (QoS 1) summarising the requests since the previous one
 * (see telemetry.ts). A failed publish (broker down) is logged; that window's counts are lost,
 * which is fine for a summary (the store keeps the per-request samples).
 */
import { topics } from "../../sdk/transport/topics.js";
import type { Transport } from "../../sdk/transport/transport.js";
import type { Clock, TimerHandle } from "../clock.js";
import type { AgentLog } from "./log.js";
import { summarize, type FleetSummary, type TelemetryBuffer } from "./telemetry.js";

/** The parts of a summary that are not counted from samples. */
export type FleetBase = Omit<FleetSummary, "format" | "requests" | "latencyMs" | "bytesUp" | "bytesDown" | "windowMs">;

/** Publishes the fleet summary periodically. */
export class FleetPublisher {
  private timer: TimerHandle | undefined;
  private stopped = false;
  private failing = false;
  private lastAt: number;
  /** Summaries published, and publishes that failed. */
  published = 0;
  failed = 0;

  constructor(
    private readonly transport: Transport, prefix: string | undefined, private readonly intervalMs: number, private readonly clock: Clock,
    private readonly log: AgentLog, private readonly base: () => FleetBase, private readonly buffer: TelemetryBuffer,
  ) {
    this.topic = (id: string): string => topics(prefix).telemetryTopic(id);
    this.lastAt = clock.now();
  }

  private readonly topic: (deviceId: string) => string;

  /** Starts the period. */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    const loop = (): void => {
      // A publish pending across stop() (broker down) must not arm another period afterwards.
      if (this.stopped) return;
      this.timer = this.clock.setTimeout(() => { void this.publishNow().finally(loop); }, this.intervalMs);
    };
    loop();
  }

  /** Stops the period. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Publishes one summary of the samples since the last one. */
  async publishNow(): Promise<FleetSummary> {
    const now = this.clock.now();
    const base = this.base();
    const summary: FleetSummary = { ...summarize(this.buffer.drainWindow(), { ...base, windowMs: now - this.lastAt }), windowMs: now - this.lastAt };
    this.lastAt = now;
    try {
      await this.transport.publish(this.topic(base.deviceId), new TextEncoder().encode(JSON.stringify(summary)));
      this.published++;
      this.failing = false;
    } catch (e) {
      this.failed++;
      // Once per outage: a device offline for a day must not log a warning every minute.
      if (!this.failing) this.log.warn({ err: (e as Error).message }, "fleet telemetry not published (logged once until it works again)");
      this.failing = true;
    }
    return summary;
  }
}
