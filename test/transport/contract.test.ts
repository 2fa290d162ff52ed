// The Transport contract suite (test/support/transport-contract.ts) against every
// implementation: the in-process memory bus, and mqtt.js on aedes and on mosquitto; and the
// link shaper over the memory bus, unshaped and shaped (a shaped link must still be a Transport).
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { shapeTransport } from "../../sdk/transport/shaper.js";
import { brokerMatrix } from "../support/brokers.js";
import { transportContract } from "../support/transport-contract.js";

transportContract("memory bus", async () => {
  const bus = createMemoryBus();
  return { connect: async () => bus.connect(), restart: () => bus.restart(), close: async () => undefined };
}, { protocolVersion: 5 });

transportContract("link shaper over the memory bus, zero delay", async () => {
  const bus = createMemoryBus();
  return { connect: async () => shapeTransport(bus.connect()), restart: () => bus.restart(), close: async () => undefined };
}, { protocolVersion: 5 });

transportContract("link shaper over the memory bus, 1gbit and 1 ms each way", async () => {
  const bus = createMemoryBus();
  const link = { upBitsPerSec: 1e9, downBitsPerSec: 1e9, delayMs: 1 };
  return { connect: async () => shapeTransport(bus.connect(), link), restart: () => bus.restart(), close: async () => undefined };
}, { protocolVersion: 5 });

for (const kind of brokerMatrix()) {
  transportContract(`mqtt.js + ${kind.name}`, async () => {
    const broker = await kind.start();
    return {
      connect: () => connectMqtt({ url: broker.url, reconnectPeriodMs: 100, connectTimeoutMs: 3000 }),
      restart: () => broker.restart(),
      close: () => broker.close(),
    };
  }, { protocolVersion: kind.protocolVersion }, kind.skip);
}
