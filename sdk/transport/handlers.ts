/**
 * The table of subscription handlers a Transport keeps: one handler per topic filter, and the
 * local dispatch of an incoming message to every handler whose filter matches its topic.
 * Both transports use it, so a message reaches the same handlers on the memory bus and on MQTT.
 */
import { topicMatches } from "./topic-match.js";
import type { MessageHandler } from "./transport.js";

/** Filter -> handler, in subscription order. */
export class HandlerTable {
  private readonly byFilter = new Map<string, MessageHandler>();

  /** Sets the handler of a filter (replacing an earlier one) and returns the previous handler. */
  set(filter: string, handler: MessageHandler): MessageHandler | undefined {
    const previous = this.byFilter.get(filter);
    this.byFilter.set(filter, handler);
    return previous;
  }

  /** Removes a filter's handler; true when there was one. */
  delete(filter: string): boolean {
    return this.byFilter.delete(filter);
  }

  /** Puts back what `set` returned (undefined removes the filter). */
  restore(filter: string, previous: MessageHandler | undefined): void {
    if (previous === undefined) this.byFilter.delete(filter);
    else this.byFilter.set(filter, previous);
  }

  /** The subscribed filters, in subscription order. */
  filters(): string[] {
    return [...this.byFilter.keys()];
  }

  /**
   * Calls every handler whose filter matches the topic (MQTT 3.1.1 §4.7; a `$share/<group>/`
   * filter matches like its inner filter, MQTT 5 §4.8.2) and returns how many it called.
   * A handler that throws is a bug in the caller: the exception is rethrown on a later tick,
   * where it reaches process "uncaughtException", so it cannot break the connection's
   * packet processing or starve the other handlers.
   */
  dispatch(topic: string, payload: Uint8Array): number {
    let called = 0;
    for (const [filter, handler] of [...this.byFilter]) {
      if (!topicMatches(filter, topic)) continue;
      called++;
      try {
        handler(topic, payload);
      } catch (e) {
        setImmediate(() => { throw e; });
      }
    }
    return called;
  }
}
