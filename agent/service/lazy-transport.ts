/**
 * A Transport that exists before its broker connection does. A board often boots before its
 * network (or the broker) is up; the agent must serve all-local requests at once and pick up the
 * cloud when it appears, rather than crash-loop under systemd. This wrapper keeps trying to
 * connect in the background; until then publish() fails with E_BROKER (the agent plans without
 * the cloud), subscriptions are remembered and placed on connect, and "connected" is emitted once
 * they are. After that it forwards the inner transport's events (mqtt.js reconnects by itself).
 */
import { fail } from "../../sdk/errors.js";
import type { MessageHandler, Transport, TransportEvent } from "../../sdk/transport/transport.js";
import type { Clock, TimerHandle } from "../clock.js";
import type { AgentLog } from "../core/log.js";

/** Connects a transport wrapped by LazyTransport. */
export type TransportConnector = () => Promise<Transport>;

/** See the module comment. */
export class LazyTransport implements Transport {
  private inner: Transport | undefined;
  private readonly subs = new Map<string, MessageHandler>();
  private readonly listeners: Record<TransportEvent, (() => void)[]> = { connected: [], disconnected: [] };
  private timer: TimerHandle | undefined;
  private closed = false;
  private attempts = 0;

  constructor(private readonly connect: TransportConnector, private readonly clock: Clock, private readonly retryMs: number, private readonly log: AgentLog, private readonly describe: string) {}

  /** True once a connection was made (it may have dropped since; mqtt.js is reconnecting then). */
  get isConnected(): boolean {
    return this.inner !== undefined;
  }

  /** Tries to connect now; on failure keeps trying every retryMs. Resolves after the first attempt. */
  async start(): Promise<boolean> {
    await this.tryOnce();
    return this.inner !== undefined;
  }

  private async tryOnce(): Promise<void> {
    if (this.closed || this.inner !== undefined) return;
    this.attempts++;
    let t: Transport;
    try {
      t = await this.connect();
    } catch (e) {
      if (this.attempts === 1 || this.attempts % 10 === 0) this.log.warn({ broker: this.describe, attempts: this.attempts, err: (e as Error).message }, "broker not reachable yet; serving without the cloud and retrying");
      this.timer = this.clock.setTimeout(() => { void this.tryOnce(); }, this.retryMs);
      return;
    }
    if (this.closed) {
      await t.close().catch(() => undefined);
      return;
    }
    try {
      for (const [filter, handler] of this.subs) await t.subscribe(filter, handler);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "subscribing after connect failed; reconnecting");
      await t.close().catch(() => undefined);
      this.timer = this.clock.setTimeout(() => { void this.tryOnce(); }, this.retryMs);
      return;
    }
    this.inner = t;
    t.on("connected", () => this.emit("connected"));
    t.on("disconnected", () => this.emit("disconnected"));
    this.log.info({ broker: this.describe }, "connected to the broker");
    this.emit("connected");
  }

  private emit(event: TransportEvent): void {
    for (const fn of this.listeners[event]) fn();
  }

  publish(topic: string, payload: Uint8Array): Promise<void> {
    if (this.inner === undefined) return Promise.reject(fail("E_BROKER", `not connected to the broker at ${this.describe} yet`));
    return this.inner.publish(topic, payload);
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.subs.set(filter, handler);
    if (this.inner !== undefined) await this.inner.subscribe(filter, handler);
  }

  async unsubscribe(filter: string): Promise<void> {
    this.subs.delete(filter);
    if (this.inner !== undefined) await this.inner.unsubscribe(filter);
  }

  get protocolVersion(): 4 | 5 {
    return this.inner?.protocolVersion ?? 4;
  }

  get maxPacketSize(): number | undefined {
    return this.inner?.maxPacketSize;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    await this.inner?.close();
  }

  on(event: TransportEvent, fn: () => void): void {
    this.listeners[event].push(fn);
  }
}
