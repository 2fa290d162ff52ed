/**
 * The link shaper: a Transport wrapped so its link to the broker has a bandwidth per direction,
 * a one-way delay, and can be partitioned, all changeable at run time. Tests, the agent's
 * integration tests and the simulator use it to play a device on a slow or flaky network over
 * the memory bus (or a real broker) on an injected clock.
 *
 * Model, per direction (up = publishes, down = messages for this client's subscriptions):
 * - Messages are serialised FIFO: a transfer starts when the previous one in that direction has
 *   finished and lasts payload bytes * 8 / rate (MQTT and TCP headers are not counted); then the
 *   message travels for delayMs. Order is kept (MQTT 3.1.1 §4.6), also when the delay shrinks.
 * - setLink() applies to messages that start transferring after it.
 * - A partition holds both directions (publishes wait, as TCP retransmits into a dead link;
 *   nothing is lost); a message not yet delivered when it starts is sent again in full after.
 *   SUBSCRIBE/UNSUBSCRIBE wait out a partition too, but are otherwise not shaped (tiny packets).
 */
import { fail } from "../errors.js";
import { checkPublishSize } from "./limits.js";
import { mergeLink, UNSHAPED_LINK, type LinkSettings } from "./shaper-link.js";
import { LinkPipe, systemLinkClock, type LinkClock, type PipeItem, type LinkDirectionStats } from "./shaper-pipe.js";
import { isValidFilter, isValidTopic } from "./topic-match.js";
import type { MessageHandler, Transport, TransportEvent } from "./transport.js";

export { UNSHAPED_LINK, type LinkSettings } from "./shaper-link.js";
export { systemLinkClock, type LinkClock, type LinkDirectionStats } from "./shaper-pipe.js";

/** Options of {@link shapeTransport}. */
export interface ShapeOptions {
  /** The clock transfers and delays run on (default: the system clock); FakeClock in tests. */
  clock?: LinkClock;
  /**
   * Emit "disconnected" when a partition starts and "connected" when it ends, as MQTT keepalive
   * would report a dead link (default false: a partition is silent, like a short outage
   * within the keepalive interval).
   */
  emitConnectionEvents?: boolean;
}

/** Counters of a shaped link. */
export interface LinkStats {
  /** Publishes handed to the inner transport, and the ones still waiting. */
  up: LinkDirectionStats;
  /** Incoming messages handed to this client's handlers, and the ones still waiting. */
  down: LinkDirectionStats;
  /** Messages discarded: undelivered at close(), or arrived for a filter unsubscribed meanwhile. */
  dropped: number;
  /** Messages (both directions) held by the partition right now. */
  held: number;
}

/** A Transport on a shaped link; see {@link shapeTransport}. */
export class ShapedTransport implements Transport {
  private settings: LinkSettings;
  private readonly clock: LinkClock;
  private readonly emitEvents: boolean;
  private readonly up: LinkPipe<UpItem>;
  private readonly down: LinkPipe;
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly listeners: Record<TransportEvent, Array<() => void>> = { connected: [], disconnected: [] };
  /** Callers (subscribe, unsubscribe) waiting for a partition to end. */
  private linkWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** Whether the inner transport is connected, as its own events say. */
  private innerUp = true;
  /** The state listeners last heard (or would have: the initial connect is not reported). */
  private reportedUp: boolean;
  private closed = false;
  private dropped = 0;

  /** Use {@link shapeTransport}. */
  constructor(private readonly inner: Transport, link: Partial<LinkSettings> = {}, opts: ShapeOptions = {}) {
    this.settings = mergeLink(UNSHAPED_LINK, link);
    this.clock = opts.clock ?? systemLinkClock;
    this.emitEvents = opts.emitConnectionEvents ?? false;
    this.up = new LinkPipe(this.clock, () => ({ bitsPerSec: this.settings.upBitsPerSec, delayMs: this.settings.delayMs }));
    this.down = new LinkPipe(this.clock, () => ({ bitsPerSec: this.settings.downBitsPerSec, delayMs: this.settings.delayMs }));
    if (this.settings.partitioned) {
      this.up.hold();
      this.down.hold();
    }
    this.reportedUp = this.effectiveUp();
    inner.on("connected", () => { this.innerUp = true; this.report(); });
    inner.on("disconnected", () => { this.innerUp = false; this.report(); });
  }

  get protocolVersion(): 4 | 5 {
    return this.inner.protocolVersion;
  }

  get maxPacketSize(): number | undefined {
    return this.inner.maxPacketSize;
  }

  /** The current link settings (a copy). */
  get link(): Readonly<LinkSettings> {
    return { ...this.settings };
  }

  /**
   * Changes some link settings now. Rates and delay apply to messages that start transferring
   * after the call; `partitioned: true` holds both directions at once, `false` lets the held
   * messages flow in order. Throws E_USAGE naming the field on a bad value (nothing changes then).
   */
  setLink(partial: Partial<LinkSettings>): void {
    const next = mergeLink(this.settings, partial);
    const was = this.settings.partitioned;
    this.settings = next;
    if (this.closed || was === next.partitioned) return;
    if (next.partitioned) {
      this.up.hold();
      this.down.hold();
      this.report();
      return;
    }
    this.report();
    // A "connected" listener may have partitioned the link again.
    if (this.settings.partitioned) return;
    for (const w of this.linkWaiters.splice(0)) w.resolve();
    this.up.release();
    this.down.release();
  }

  /** Messages and bytes through each direction, the backlogs, drops and held messages. */
  stats(): LinkStats {
    return { up: this.up.stats(), down: this.down.stats(), dropped: this.dropped, held: this.up.held + this.down.held };
  }

  /**
   * Queues the message on the up direction; resolves once it crossed the shaped link, was handed
   * to the inner transport and that acknowledged it. Topic and size are checked at once.
   */
  async publish(topic: string, payload: Uint8Array): Promise<void> {
    this.assertOpen("publish");
    if (!isValidTopic(topic)) throw fail("E_USAGE", `cannot publish to ${JSON.stringify(topic)}: not a valid MQTT topic name (non-empty, no '+', '#' or NUL; MQTT 3.1.1 §4.7.3)`);
    checkPublishSize(topic, payload.byteLength, this.inner.protocolVersion, this.inner.maxPacketSize);
    // The caller may reuse its buffer once publish() returns, as on a real network.
    const copy = payload.slice();
    await new Promise<void>((resolve, reject) => {
      this.up.push({
        bytes: copy.byteLength,
        deliver: () => {
          let sent: Promise<void>;
          try {
            sent = this.inner.publish(topic, copy);
          } catch (e) {
            sent = Promise.reject(e);
          }
          sent.then(resolve, reject);
        },
        drop: reject,
      });
    });
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.assertOpen("subscribe");
    if (!isValidFilter(filter)) throw fail("E_USAGE", `cannot subscribe to ${JSON.stringify(filter)}: not a valid MQTT topic filter (MQTT 3.1.1 §4.7.1, MQTT 5 §4.8.2)`);
    const previous = this.handlers.get(filter);
    this.handlers.set(filter, handler);
    try {
      await this.linked("subscribe");
      await this.inner.subscribe(filter, (topic, payload) => this.receive(filter, topic, payload));
    } catch (e) {
      // Put back the earlier handler unless a later subscribe replaced this one meanwhile.
      if (this.handlers.get(filter) === handler) {
        if (previous === undefined) this.handlers.delete(filter);
        else this.handlers.set(filter, previous);
      }
      throw e;
    }
  }

  async unsubscribe(filter: string): Promise<void> {
    this.assertOpen("unsubscribe");
    this.handlers.delete(filter);
    await this.linked("unsubscribe");
    await this.inner.unsubscribe(filter);
  }

  /**
   * Closes the inner transport. Publishes not yet handed to it (held by a partition, queued or
   * on the way) fail with E_BROKER; incoming messages on the way are dropped. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = (): Error => fail("E_BROKER", "the shaped transport was closed before this message crossed its link; publish again on a new connection");
    for (const item of this.up.drain()) {
      this.dropped++;
      item.drop(err());
    }
    this.dropped += this.down.drain().length;
    for (const w of this.linkWaiters.splice(0)) w.reject(fail("E_BROKER", "the shaped transport was closed while its link was partitioned"));
    await this.inner.close();
  }

  on(event: TransportEvent, fn: () => void): void {
    this.listeners[event].push(fn);
  }

  /** An incoming message from the inner transport: shaped on the down direction. */
  private receive(filter: string, topic: string, payload: Uint8Array): void {
    if (this.closed) return;
    this.down.push({
      bytes: payload.byteLength,
      deliver: () => {
        // The handler in place when the message arrives, as a client dispatches on receipt.
        const handler = this.handlers.get(filter);
        if (handler === undefined) {
          this.dropped++;
          return;
        }
        try {
          handler(topic, payload);
        } catch (e) {
          // A throwing handler is the caller's bug: report it on a later tick (as HandlerTable
          // does) so it cannot stall the pipe.
          setImmediate(() => { throw e; });
        }
      },
    });
  }

  /** Resolves at once, or when the partition ends; rejects with E_BROKER on close(). */
  private linked(what: string): Promise<void> {
    if (!this.settings.partitioned) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.linkWaiters.push({ resolve, reject })).then(() => this.assertOpen(what));
  }

  private effectiveUp(): boolean {
    return this.innerUp && !(this.emitEvents && this.settings.partitioned);
  }

  /** Tells listeners about a change of the combined state (inner connection and partition). */
  private report(): void {
    const nowUp = this.effectiveUp();
    if (this.closed || nowUp === this.reportedUp) return;
    this.reportedUp = nowUp;
    for (const fn of [...this.listeners[nowUp ? "connected" : "disconnected"]]) fn();
  }

  private assertOpen(what: string): void {
    if (this.closed) throw fail("E_BROKER", `cannot ${what}: the transport is closed`);
  }
}

/** A publish in the up pipe: it can also be failed when the transport closes. */
interface UpItem extends PipeItem {
  drop(e: Error): void;
}

/**
 * Wraps `inner` so its link is shaped by `link` (default: unshaped), changeable later with
 * `setLink`. The returned transport owns `inner`: its close() closes inner.
 */
export function shapeTransport(inner: Transport, link: Partial<LinkSettings> = {}, opts: ShapeOptions = {}): ShapedTransport {
  return new ShapedTransport(inner, link, opts);
}
