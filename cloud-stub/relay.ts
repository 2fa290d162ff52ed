/**
 * Fragmented requests under a shared subscription. A broker hands each MESSAGE of a shared
 * subscription to one member of the group (MQTT 5 §4.8.2; mosquitto 2 in turn), so the fragments
 * of one request land on different workers and none of them can reassemble it. Measured on
 * mosquitto 2 with two workers: every fragmented request was lost. The device side cannot help
 * (the broker picks the member per message), so the workers of a group sort it out among
 * themselves:
 *
 * - The worker that receives the frame's designated fragment owns it: index hash(frameId) mod
 *   count, which every worker computes alike from any fragment's header. (Fragment 0 would do,
 *   but a broker handing messages out in turn would then give every request with an even number
 *   of fragments to the same worker; the random frameId spreads ownership.) The owner announces
 *   itself with a small claim on `<prefix>/v1/relay/<group>/claim`, which every worker of the
 *   group subscribes to plainly.
 * - A worker that receives any other fragment of a frame it does not own forwards it to the
 *   owner's inbox `<prefix>/v1/relay/<group>/to/<workerId>`, together with the request topic it
 *   arrived on (the device identity the reply goes to). Fragments that arrive before the claim
 *   are held (bounded in bytes, dropped after the reassembly timeout) and forwarded when it comes.
 * - The owner pushes forwarded fragments into its Reassembler as if they had arrived directly.
 *
 * Each fragment crosses the broker at most twice, claims are a few hundred bytes, and nothing is
 * buffered by more than one worker. Only workers publish on the relay topics: a broker ACL should
 * keep devices to their own `<prefix>/v1/req/<deviceId>/+` (the same ACL that makes the deviceId
 * of a request topic mean anything).
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Transport } from "../sdk/transport/transport.js";
import { topics } from "../sdk/transport/topics.js";
import { parseHeaderJson, rawPrefix } from "../sdk/wire/prefix.js";
import { parseFragmentHeader } from "../sdk/wire/schema.js";
import { MAX_FRAGMENT_HEADER_BYTES, PROTOCOL_VERSION, type FragmentHeader } from "../sdk/wire/types.js";

/** The fragment header of a message when it is a well-formed fragment of our version, else undefined (never throws). */
export function fragmentHeaderOf(message: Uint8Array): FragmentHeader | undefined {
  const p = rawPrefix(message);
  if (!p || p.version !== PROTOCOL_VERSION || p.headerLength > MAX_FRAGMENT_HEADER_BYTES || p.headerStart + p.headerLength > message.length) return undefined;
  try {
    const value = parseHeaderJson(message, p);
    if (typeof value !== "object" || value === null || (value as { kind?: unknown }).kind !== "fragment") return undefined;
    return parseFragmentHeader(value);
  } catch {
    return undefined;
  }
}

/** The index of the fragment whose receiver owns the frame: FNV-1a of the frameId, mod the count. */
export function designatedIndex(h: FragmentHeader): number {
  let x = 0x811c9dc5;
  for (let i = 0; i < h.frameId.length; i++) x = Math.imul(x ^ h.frameId.charCodeAt(i), 0x01000193) >>> 0;
  return x % h.fragment.count;
}

/** What the relay needs from the worker. */
export interface RelayOptions {
  transport: Transport;
  prefix: string;
  group: string;
  now: () => number;
  /** How long claims and held fragments are kept (the reassembly timeout). */
  timeoutMs: number;
  /** Most bytes of fragments held while waiting for a claim. */
  maxHeldBytes: number;
  log: Logger;
  /** Hands a fragment to this worker's intake as if it had arrived on `topic`. */
  deliver(topic: string, payload: Uint8Array): void;
}

interface Held {
  until: number;
  header: FragmentHeader;
  items: Array<{ topic: string; payload: Uint8Array }>;
}

/** Fragments held for a frame no worker claimed in time: its designated fragment never arrived. */
export interface Unclaimed {
  /** The request topic they arrived on. */
  topic: string;
  requestId: string;
  received: number;
  count: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Forwards fragments between the workers of a group so that one worker gets all fragments of a frame. */
export class FragmentRelay {
  /** This worker's id on the relay topics (random per start). */
  readonly workerId = randomBytes(6).toString("hex");
  private readonly claimTopic: string;
  private readonly inboxTopic: string;
  private readonly inboxOf: (workerId: string) => string;
  /** Frames this worker owns (it got the designated fragment), until when. */
  private readonly owned = new Map<string, number>();
  /** Frames other workers own: owner id and until when. */
  private readonly claims = new Map<string, { owner: string; until: number }>();
  private readonly held = new Map<string, Held>();
  private heldBytes = 0;

  constructor(private readonly o: RelayOptions) {
    const t = topics(o.prefix).relayTopics(o.group, this.workerId);
    this.claimTopic = t.claim;
    this.inboxTopic = t.inbox;
    this.inboxOf = t.inboxOf;
  }

  /** Subscribes to the claims of the group and to this worker's inbox. */
  async start(): Promise<void> {
    await this.o.transport.subscribe(this.claimTopic, (_t, payload) => this.onClaim(payload));
    await this.o.transport.subscribe(this.inboxTopic, (_t, payload) => this.onForwarded(payload));
  }

  /** Unsubscribes (errors are logged: the worker is stopping anyway). */
  async stop(): Promise<void> {
    for (const f of [this.claimTopic, this.inboxTopic]) {
      await this.o.transport.unsubscribe(f).catch((e: unknown) => this.o.log.warn({ filter: f, err: (e as Error).message }, "unsubscribe failed"));
    }
  }

  /**
   * Decides where a fragment that arrived through the shared subscription goes. false: push it
   * into this worker's Reassembler; true: the relay took it (forwarded to its owner, or held).
   */
  route(topic: string, payload: Uint8Array, h: FragmentHeader): boolean {
    const key = JSON.stringify([h.deviceId, h.requestId, h.frameId]);
    if (h.fragment.index === designatedIndex(h)) {
      this.owned.set(key, this.o.now() + this.o.timeoutMs);
      const claim = encoder.encode(JSON.stringify({ key, owner: this.workerId }));
      this.o.transport.publish(this.claimTopic, claim).catch((e: unknown) => this.o.log.warn({ requestId: h.requestId, err: (e as Error).message }, "publishing a fragment claim failed"));
      const held = this.take(key);
      // The designated fragment goes in first (the caller pushes it on return), then the held ones.
      queueMicrotask(() => { for (const m of held) this.o.deliver(m.topic, m.payload); });
      return false;
    }
    if (this.owned.has(key)) return false;
    const claim = this.claims.get(key);
    if (claim !== undefined) {
      this.forward(claim.owner, topic, payload);
      return true;
    }
    if (this.heldBytes + payload.byteLength > this.o.maxHeldBytes) {
      this.o.log.warn({ requestId: h.requestId, deviceId: h.deviceId, heldBytes: this.heldBytes }, "too many fragments waiting for their frame's owner; dropped one");
      return true;
    }
    const entry = this.held.get(key) ?? { until: this.o.now() + this.o.timeoutMs, header: h, items: [] };
    entry.items.push({ topic, payload });
    this.held.set(key, entry);
    this.heldBytes += payload.byteLength;
    return true;
  }

  /**
   * Forgets claims and drops held fragments past the timeout, returning the frames they belonged
   * to: no worker got their designated fragment, so no Reassembler will time them out and the
   * worker answers them E_FRAGMENT itself.
   */
  sweep(): Unclaimed[] {
    const t = this.o.now();
    for (const [key, until] of this.owned) if (until <= t) this.owned.delete(key);
    for (const [key, c] of this.claims) if (c.until <= t) this.claims.delete(key);
    const out: Unclaimed[] = [];
    for (const [key, h] of this.held) {
      if (h.until > t) continue;
      const items = this.take(key);
      const received = new Set(items.map((m) => fragmentHeaderOf(m.payload)?.fragment.index)).size;
      out.push({ topic: items[0]!.topic, requestId: h.header.requestId, received, count: h.header.fragment.count });
      this.o.log.debug({ frame: key, fragments: items.length }, "no worker claimed these fragments in time; dropped");
    }
    return out;
  }

  private onClaim(payload: Uint8Array): void {
    let claim: { key?: unknown; owner?: unknown };
    try {
      claim = JSON.parse(decoder.decode(payload)) as typeof claim;
    } catch {
      return;
    }
    // The owner id becomes a topic level: only the form workerId has is accepted.
    if (typeof claim.key !== "string" || typeof claim.owner !== "string" || !/^[0-9a-f]{12}$/.test(claim.owner) || claim.owner === this.workerId) return;
    this.claims.set(claim.key, { owner: claim.owner, until: this.o.now() + this.o.timeoutMs });
    for (const m of this.take(claim.key)) this.forward(claim.owner, m.topic, m.payload);
  }

  /** A fragment another worker forwarded: [u32 LE topic length][topic][fragment]. */
  private onForwarded(payload: Uint8Array): void {
    if (payload.byteLength < 4) return;
    const n = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true);
    if (4 + n > payload.byteLength) return;
    this.o.deliver(decoder.decode(payload.subarray(4, 4 + n)), payload.subarray(4 + n));
  }

  private forward(owner: string, topic: string, fragment: Uint8Array): void {
    const t = encoder.encode(topic);
    const out = new Uint8Array(4 + t.byteLength + fragment.byteLength);
    new DataView(out.buffer).setUint32(0, t.byteLength, true);
    out.set(t, 4);
    out.set(fragment, 4 + t.byteLength);
    const to = this.inboxOf(owner);
    this.o.transport.publish(to, out).catch((e: unknown) => this.o.log.warn({ owner, err: (e as Error).message }, "forwarding a fragment failed"));
  }

  private take(key: string): Held["items"] {
    const h = this.held.get(key);
    if (h === undefined) return [];
    this.held.delete(key);
    for (const m of h.items) this.heldBytes -= m.payload.byteLength;
    return h.items;
  }
}
