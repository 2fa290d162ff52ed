/** `edgecut broker`: an embedded MQTT broker (aedes) until SIGINT/SIGTERM. */
import type { Command } from "commander";
import { startEmbeddedBroker } from "../transport/embedded-broker.js";
import { parseNumber } from "./flags.js";
import { printJson } from "./output.js";
import { untilSignal } from "./signals.js";

interface BrokerFlags { port: string; host: string; json?: boolean }

/**
 * Registers `edgecut broker`: runs the embedded aedes broker on --host:--port, prints its URL
 * (or { url, port } with --json) once listening, and closes it on SIGINT/SIGTERM (a second
 * signal exits at once with 130).
 */
export function registerBroker(program: Command): void {
  program.command("broker")
    .description("run an embedded MQTT broker (aedes, MQTT 3.1.1) for the device and the cloud worker, until Ctrl-C")
    .option("--port <n>", "TCP port (0: a free port)", "1883")
    .option("--host <addr>", "interface to listen on (0.0.0.0: every interface)", "127.0.0.1")
    .option("--json", "print { \"url\", \"port\" } as JSON once listening")
    .addHelpText("after", [
      "",
      "The embedded broker speaks MQTT 3.1.1 and has no shared subscriptions: run one worker per",
      "broker, or use mosquitto 2 (MQTT 5) for a pool of workers. Stops cleanly on SIGINT/SIGTERM.",
      "",
      "Example:",
      "  edgecut broker --port 1883",
      "  # then point the device and the worker at mqtt://127.0.0.1:1883",
    ].join("\n"))
    .action(async (flags: BrokerFlags) => {
      const port = parseNumber("--port", flags.port, { integer: true, min: 0 });
      const broker = await startEmbeddedBroker({ port, host: flags.host });
      const stop = untilSignal(() => console.error("edgecut broker: second signal, exiting at once"));
      if (flags.json) printJson({ url: broker.url, port: broker.port });
      else console.log(`edgecut broker: listening on ${broker.url} (MQTT 3.1.1; Ctrl-C to stop)`);
      const signal = await stop;
      await broker.close();
      if (!flags.json) console.log(`edgecut broker: ${signal}, stopped`);
    });
}
