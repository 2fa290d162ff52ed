// A Transport wrapper that holds chosen publishes until the test releases them: a request (or a
// generation step) is then in flight on the device, for abort and streaming tests.
import type { Transport, TransportEvent } from "../../sdk/transport/transport.js";

/** The wrapped transport and its gate. */
export interface GatedTransport {
  transport: Transport;
  /**
   * Lets `count` more matching publishes through, then holds every later one until release();
   * `held` resolves when the first is held.
   */
  holdAfter(count: number): { held: Promise<void>; release(): void };
}

/** Wraps `inner`; publishes whose topic `matches` are the ones a gate counts and holds. */
export function gatedTransport(inner: Transport, matches: (topic: string) => boolean): GatedTransport {
  let gate: { left: number; onHeld: () => void; released: Promise<void> } | undefined;
  const transport: Transport = {
    get protocolVersion() { return inner.protocolVersion; },
    get maxPacketSize() { return inner.maxPacketSize; },
    publish: async (topic, payload) => {
      const g = gate;
      if (g !== undefined && matches(topic)) {
        if (g.left > 0) g.left--;
        else {
          g.onHeld();
          await g.released;
        }
      }
      await inner.publish(topic, payload);
    },
    subscribe: (filter, handler) => inner.subscribe(filter, handler),
    unsubscribe: (filter) => inner.unsubscribe(filter),
    close: () => inner.close(),
    on: (event: TransportEvent, fn: () => void) => inner.on(event, fn),
  };
  return {
    transport,
    holdAfter: (count) => {
      let onHeld!: () => void;
      let release!: () => void;
      const held = new Promise<void>((r) => { onHeld = r; });
      const released = new Promise<void>((r) => { release = r; });
      const g = { left: count, onHeld, released };
      gate = g;
      return { held, release: () => { if (gate === g) gate = undefined; release(); } };
    },
  };
}
