// The Transport contract suite (test/support/transport-contract.ts) against every
// implementation: the in-process memory bus, and mqtt.js on aedes and on mosquitto.
import { createMemoryBus } from "../../sdk/transport/memory.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { brokerMatrix } from "../support/brokers.js";
import { transportContract } from "../support/transport-contract.js";

transportContract("memory bus", async () => {
  const bus = createMemoryBus();
  return { connect: async () => bus.connect(), restart: () => bus.restart(), close: async () => undefined };
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
