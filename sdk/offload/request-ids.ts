/**
 * Request ids, and the memory of finished ones that tells a duplicate reply (a retry's second
 * answer, a QoS 1 redelivery) from a reply this device never asked for.
 */
import { randomBytes } from "node:crypto";

/**
 * Makes `<deviceId>-<counter>-<6 random hex digits>`: the counter keeps ids unique within this
 * client, the random part across restarts of the device (whose counter starts again at 1).
 * At most 128 + 1 + 16 + 1 + 6 characters, inside the wire format's 256.
 */
export class RequestIds {
  private counter = 0;

  constructor(private readonly deviceId: string) {}

  next(): string {
    this.counter++;
    return `${this.deviceId}-${this.counter}-${randomBytes(3).toString("hex")}`;
  }
}

/** A set that forgets its oldest entries beyond `capacity` (insertion order), so memory stays bounded. */
export class RecentSet {
  private readonly items = new Set<string>();

  constructor(private readonly capacity: number) {}

  add(id: string): void {
    this.items.delete(id);
    this.items.add(id);
    if (this.items.size > this.capacity) {
      const oldest = this.items.values().next();
      if (!oldest.done) this.items.delete(oldest.value);
    }
  }

  has(id: string): boolean {
    return this.items.has(id);
  }
}
