/**
 * A TCP relay between a device and its broker that can play a network partition: while cut, no
 * byte crosses in either direction and no FIN or RST either (a dead link, not a closed one), so
 * each side finds out only by its own MQTT keepalive. Connections opened during the cut are
 * accepted and black-holed too (the CONNECT is never answered). When the link heals, every
 * connection that lived through the cut is reset (a NAT or firewall on the path has forgotten it
 * by then), and new connections are relayed again.
 */
import * as net from "node:net";

/** A running relay; see {@link startLinkCut}. */
export interface LinkCut {
  /** The port devices connect to. */
  port: number;
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  /** Starts the partition. */
  cut(): void;
  /** Ends it: connections that saw the cut are reset, new ones are relayed. */
  heal(): void;
  /** Connections accepted so far, and those black-holed at birth. */
  stats(): { accepted: number; bornCut: number };
  close(): Promise<void>;
}

interface Pair {
  device: net.Socket;
  broker: net.Socket | undefined;
  /** Saw the cut: its byte streams lost data, so it must not carry on. */
  tainted: boolean;
}

/** Starts a relay on a free 127.0.0.1 port to 127.0.0.1:`brokerPort`. */
export async function startLinkCut(brokerPort: number): Promise<LinkCut> {
  let isCut = false;
  let accepted = 0;
  let bornCut = 0;
  const pairs = new Set<Pair>();
  const drop = (p: Pair): void => {
    pairs.delete(p);
    p.device.destroy();
    p.broker?.destroy();
  };
  const server = net.createServer((device) => {
    accepted++;
    device.setNoDelay(true);
    const p: Pair = { device, broker: undefined, tainted: isCut };
    pairs.add(p);
    device.on("error", () => undefined);
    if (isCut) {
      bornCut++;
      device.on("data", () => undefined); // swallowed by the dead link
      device.on("close", () => { pairs.delete(p); });
      return;
    }
    const broker = net.connect({ port: brokerPort, host: "127.0.0.1" });
    p.broker = broker;
    broker.setNoDelay(true);
    broker.on("error", () => undefined);
    device.on("data", (b: Buffer) => { if (!isCut && !p.tainted) broker.write(b); });
    broker.on("data", (b: Buffer) => { if (!isCut && !p.tainted) device.write(b); });
    // A close crosses only a live link; during the cut the other side learns nothing.
    device.on("close", () => { if (!isCut && !p.tainted) drop(p); });
    broker.on("close", () => { if (!isCut && !p.tainted) drop(p); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    cut: () => {
      isCut = true;
      for (const p of pairs) p.tainted = true;
    },
    heal: () => {
      isCut = false;
      for (const p of [...pairs]) if (p.tainted) drop(p);
    },
    stats: () => ({ accepted, bornCut }),
    close: async () => {
      for (const p of [...pairs]) drop(p);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
