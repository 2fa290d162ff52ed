/**
 * An in-process broker and Transport for fast unit tests: the same topic matching as MQTT
 * (MQTT 3.1.1 §4.7, `+` and `#`), shared subscriptions that hand each message to one member of
 * a group in turn (MQTT 5 §4.8.2), QoS 1 ordering per publisher (MQTT 3.1.1 §4.6), payloads
 * copied as a network would. A bus can be stopped and started to play a broker restart.
 */
import { fail } from "../errors.js";
import { HandlerTable } from "./handlers.js";
import { checkPublishSize } from "./limits.js";
import { isValidFilter, isValidTopic, parseFilter, topicMatches } from "./topic-match.js";
import type { MessageHandler, Transport, TransportEvent } from "./transport.js";

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions {
  /** Protocol version the transports report (default 5). */
  protocolVersion?: 4 | 5;
  /** Maximum Packet Size the "broker" announces (default: none). */
  maxPacketSize?: number;
  /**
   * Whether `$share/<group>/...` filters are shared subscriptions (default true, as mosquitto).
   * false plays aedes: the filter is a literal topic filter and nothing published to the
   * inner topics reaches it.
   */
  sharedSubscriptions?: boolean;
}

/** One shared subscription: a ShareName and a filter, with its members in turn (MQTT 5 §4.8.2). */
interface ShareGroup {
  filter: string;
  members: MemoryTransport[];
  next: number;
}

/** The in-process broker. */
export class MemoryBus {
  readonly protocolVersion: 4 | 5;
  readonly maxPacketSize: number | undefined;
  readonly sharedSubscriptions: boolean;
  private readonly clients = new Set<MemoryTransport>();
  private readonly groups = new Map<string, ShareGroup>();
  private running = true;
  private waiting: Array<() => void> = [];

  constructor(opts: MemoryBusOptions = {}) {
    this.protocolVersion = opts.protocolVersion ?? 5;
    this.maxPacketSize = opts.maxPacketSize;
    this.sharedSubscriptions = opts.sharedSubscriptions ?? true;
  }

  /** A new client of this bus (connected at once). */
  connect(): MemoryTransport {
    return new MemoryTransport(this);
  }

  /** Whether the bus accepts packets (false between stop() and start()). */
  get isRunning(): boolean {
    return this.running;
  }

  /** Plays a broker going down: every client emits "disconnected"; publishes and subscribes wait. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const c of this.clients) c.notify("disconnected");
  }

  /** Plays the broker coming back: clients reconnect (keeping their subscriptions) and emit "connected". */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const c of this.clients) c.notify("connected");
    const waiting = this.waiting;
    this.waiting = [];
    for (const go of waiting) go();
  }

  /** stop() then start() on a later tick. */
  async restart(): Promise<void> {
    this.stop();
    await new Promise((resolve) => setImmediate(resolve));
    this.start();
  }

  /** Resolves once the bus runs (at once when it does). */
  async ready(): Promise<void> {
    if (this.running) return;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** @internal */
  attach(c: MemoryTransport): void {
    this.clients.add(c);
  }

  /** @internal Removes a client and its shared-group memberships. */
  detach(c: MemoryTransport): void {
    this.clients.delete(c);
    for (const [key, g] of this.groups) {
      g.members = g.members.filter((m) => m !== c);
      if (g.members.length === 0) this.groups.delete(key);
    }
  }

  /** @internal Records a client's shared subscription (a no-op for plain filters). */
  join(c: MemoryTransport, filter: string): void {
    const share = this.shareOf(filter);
    if (share === undefined) return;
    const g = this.groups.get(filter) ?? { filter: share, members: [], next: 0 };
    if (!g.members.includes(c)) g.members.push(c);
    this.groups.set(filter, g);
  }

  /** @internal */
  leave(c: MemoryTransport, filter: string): void {
    const g = this.groups.get(filter);
    if (g === undefined) return;
    g.members = g.members.filter((m) => m !== c);
    if (g.members.length === 0) this.groups.delete(filter);
  }

  /**
   * @internal Routes one message: one copy to each client with a matching plain subscription,
   * and one copy to one member (in turn) of each matching share group (MQTT 5 §4.8.2).
   * Deliveries run on later ticks in publish order, each with its own copy of the bytes.
   */
  route(topic: string, payload: Uint8Array): void {
    const targets: MemoryTransport[] = [];
    for (const c of this.clients) {
      if (c.filters().some((f) => this.shareOf(f) === undefined && topicMatches(f, topic, this.sharedSubscriptions))) targets.push(c);
    }
    for (const g of this.groups.values()) {
      if (!topicMatches(g.filter, topic) || g.members.length === 0) continue;
      targets.push(g.members[g.next % g.members.length]!);
      g.next = (g.next + 1) % g.members.length;
    }
    for (const c of targets) {
      const copy = payload.slice();
      setImmediate(() => c.deliver(topic, copy));
    }
  }

  /** The inner filter of a shared subscription, when this bus supports them. */
  private shareOf(filter: string): string | undefined {
    if (!this.sharedSubscriptions) return undefined;
    const parsed = parseFilter(filter);
    return parsed?.group === undefined ? undefined : parsed.filter;
  }
}

/** A client of a {@link MemoryBus}; implements {@link Transport}. */
export class MemoryTransport implements Transport {
  readonly protocolVersion: 4 | 5;
  readonly maxPacketSize: number | undefined;
  private readonly handlers = new HandlerTable();
  private readonly listeners: Record<TransportEvent, Array<() => void>> = { connected: [], disconnected: [] };
  private closed = false;

  constructor(private readonly bus: MemoryBus) {
    this.protocolVersion = bus.protocolVersion;
    this.maxPacketSize = bus.maxPacketSize;
    bus.attach(this);
  }

  async publish(topic: string, payload: Uint8Array): Promise<void> {
    this.assertOpen("publish");
    if (!isValidTopic(topic)) throw fail("E_USAGE", `cannot publish to ${JSON.stringify(topic)}: not a valid MQTT topic name (non-empty, no '+', '#' or NUL; MQTT 3.1.1 §4.7.3)`);
    checkPublishSize(topic, payload.byteLength, this.protocolVersion, this.maxPacketSize);
    const copy = payload.slice();
    await this.bus.ready();
    this.assertOpen("publish");
    this.bus.route(topic, copy);
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.assertOpen("subscribe");
    if (!isValidFilter(filter)) throw fail("E_USAGE", `cannot subscribe to ${JSON.stringify(filter)}: not a valid MQTT topic filter (MQTT 3.1.1 §4.7.1, MQTT 5 §4.8.2)`);
    this.handlers.set(filter, handler);
    this.bus.join(this, filter);
    await this.bus.ready();
  }

  async unsubscribe(filter: string): Promise<void> {
    this.assertOpen("unsubscribe");
    this.handlers.delete(filter);
    this.bus.leave(this, filter);
    await this.bus.ready();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.bus.detach(this);
  }

  on(event: TransportEvent, fn: () => void): void {
    this.listeners[event].push(fn);
  }

  /** @internal The filters subscribed, for routing. */
  filters(): string[] {
    return this.handlers.filters();
  }

  /** @internal A message the bus routed here. */
  deliver(topic: string, payload: Uint8Array): void {
    if (!this.closed) this.handlers.dispatch(topic, payload);
  }

  /** @internal */
  notify(event: TransportEvent): void {
    if (this.closed) return;
    for (const fn of [...this.listeners[event]]) fn();
  }

  private assertOpen(what: string): void {
    if (this.closed) throw fail("E_BROKER", `cannot ${what}: the transport is closed`);
  }
}

/** A new in-process broker; `bus.connect()` gives Transports on it. */
export function createMemoryBus(opts: MemoryBusOptions = {}): MemoryBus {
  return new MemoryBus(opts);
}
