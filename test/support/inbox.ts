/**
 * Collecting messages in tests: an Inbox is a MessageHandler that remembers what arrived and
 * lets a test wait for a count, or for an event, with a timeout and a clear failure message.
 */
import type { MessageHandler, Transport, TransportEvent } from "../../sdk/transport/transport.js";

/** One received message. */
export interface Received {
  topic: string;
  payload: Uint8Array;
}

/** Records every message its handler gets. */
export class Inbox {
  readonly messages: Received[] = [];
  private wake: Array<() => void> = [];

  /** Pass this to Transport.subscribe. */
  readonly handler: MessageHandler = (topic, payload) => {
    this.messages.push({ topic, payload });
    for (const w of this.wake.splice(0)) w();
  };

  /** The topics received so far, in order. */
  topics(): string[] {
    return this.messages.map((m) => m.topic);
  }

  /** Resolves with the messages once at least n arrived; rejects after timeoutMs. */
  async waitFor(n: number, timeoutMs = 5000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} messages within ${timeoutMs} ms, got ${this.messages.length}: ${JSON.stringify(this.topics().slice(0, 20))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.messages;
  }
}

/** Resolves on the transport's next `event`; rejects after timeoutMs. */
export function nextEvent(transport: Transport, event: TransportEvent, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const t = setTimeout(() => { done = true; reject(new Error(`no "${event}" event within ${timeoutMs} ms`)); }, timeoutMs);
    transport.on(event, () => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve();
    });
  });
}

/** Waits a little (for "nothing else arrives" checks). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
