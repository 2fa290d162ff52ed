/**
 * `edgecut cloud`: the cloud worker over MQTT until SIGINT/SIGTERM. Wraps startWorker
 * (cloud-stub/) with connectMqtt; on the first signal it stops taking requests, finishes those
 * accepted, sends their replies, disconnects and exits 0. A second signal exits at once (code 130).
 */
import type { Command } from "commander";
import { startWorker } from "../../cloud-stub/worker.js";
import { DEFAULT_GROUP } from "../../cloud-stub/config.js";
import { createLogger } from "../../cloud-stub/log.js";
import { fail } from "../errors.js";
import { connectMqtt } from "../transport/mqtt.js";
import { DEFAULT_PREFIX } from "../transport/topics.js";
import { parseByteSize, parseNumber } from "./flags.js";
import { untilSignal } from "./signals.js";

interface CloudFlags {
  broker: string;
  models: string;
  group: string;
  concurrency: string;
  queue: string;
  memoryBudget: string;
  prefix: string;
  maxMessageBytes?: string;
  clientId?: string;
  threads?: string;
  jsonLogs?: boolean;
  logLevel: string;
}

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
type LogLevel = (typeof LEVELS)[number];

/**
 * Registers `edgecut cloud`: parses the flags into worker options (E_USAGE for a bad one),
 * connects to --broker, starts the worker (startWorker) and serves until SIGINT/SIGTERM; then
 * stops it gracefully and disconnects. A second signal exits at once with 130.
 */
export function registerCloud(program: Command): void {
  program.command("cloud")
    .description("run the cloud worker: serve the splits under --models to devices over MQTT, until SIGINT/SIGTERM")
    .requiredOption("--broker <url>", "MQTT broker URL, e.g. mqtt://127.0.0.1:1883 (credentials as mqtt://user:pass@host)")
    .requiredOption("--models <dir>", "folder searched recursively for split folders (manifest.json)")
    .option("--group <name>", "shared-subscription group: workers serving the same splits share one", DEFAULT_GROUP)
    .option("--concurrency <n>", "requests run at once", "1")
    .option("--queue <n>", "requests waiting beyond those running; more are answered E_BUSY", "16")
    .option("--memory-budget <size>", "estimated memory of loaded sessions (least recently used released first)", "2gib")
    .option("--prefix <prefix>", "topic prefix", DEFAULT_PREFIX)
    .option("--max-message-bytes <n>", "largest reply message; larger replies are fragmented (default: the broker's limit, else 128 MiB)")
    .option("--client-id <id>", "MQTT client id (default: edgecut- and random hex)")
    .option("--threads <n>", "onnxruntime intra-op threads per session (default: every core)")
    .option("--json-logs", "log JSON lines (pino) instead of text lines; both go to stderr")
    .option("--log-level <level>", `lowest level logged: ${LEVELS.join(", ")}`, "info")
    .addHelpText("after", [
      "",
      "Requests arrive on <prefix>/v1/req/<deviceId>/<splitId>; replies go to <prefix>/v1/reply/<deviceId>.",
      "With a broker that implements shared subscriptions (mosquitto 2, EMQX, VerneMQ, HiveMQ) start",
      "as many workers as you like with the same --group: each request runs once. On the embedded",
      "broker (aedes) run one worker. See cloud-stub/README.md.",
      "",
      "Example:",
      "  edgecut broker --port 1883 &",
      "  edgecut cloud --broker mqtt://127.0.0.1:1883 --models ./splits --concurrency 2 --memory-budget 4gb",
    ].join("\n"))
    .action(async (flags: CloudFlags) => {
      const level = flags.logLevel.toLowerCase() as LogLevel;
      if (!LEVELS.includes(level)) throw fail("E_USAGE", `--log-level ${flags.logLevel}: expected one of ${LEVELS.join(", ")}`);
      const options = {
        models: flags.models,
        group: flags.group,
        prefix: flags.prefix,
        concurrency: parseNumber("--concurrency", flags.concurrency, { integer: true, min: 1 }),
        queue: parseNumber("--queue", flags.queue, { integer: true, min: 0 }),
        memoryBudgetBytes: parseByteSize("--memory-budget", flags.memoryBudget),
        ...(flags.maxMessageBytes === undefined ? {} : { maxMessageBytes: parseByteSize("--max-message-bytes", flags.maxMessageBytes) }),
        ...(flags.threads === undefined ? {} : { intraOpThreads: parseNumber("--threads", flags.threads, { integer: true, min: 1 }) }),
      };
      const logger = createLogger({ json: flags.jsonLogs ?? false, level });
      const transport = await connectMqtt({ url: flags.broker, ...(flags.clientId === undefined ? {} : { clientId: flags.clientId }) });
      let worker;
      try {
        worker = await startWorker({ ...options, transport, logger });
      } catch (e) {
        await transport.close();
        throw e;
      }
      const signal = await untilSignal(() => logger.warn("second signal: exiting without finishing"));
      logger.info({ signal }, "signal received");
      await worker.stop();
      await transport.close();
      logger.info("disconnected; bye");
    });
}
