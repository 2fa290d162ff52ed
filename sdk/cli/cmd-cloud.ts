/**
 * `edgecut cloud`: the cloud worker over MQTT until SIGINT/SIGTERM. Wraps startWorker
 * (cloud-stub/) with connectMqtt; on the first signal it stops taking requests, finishes those
 * accepted, sends their replies, disconnects and exits 0. A second signal exits at once (code 130).
 */
import * as fs from "node:fs";
import type { Command } from "commander";
import { startWorker } from "../../cloud-stub/worker.js";
import { DEFAULT_GROUP } from "../../cloud-stub/config.js";
import { createLogger } from "../../cloud-stub/log.js";
import { fail } from "../errors.js";
import { connectMqtt } from "../transport/mqtt.js";
import { DEFAULT_PREFIX } from "../transport/topics.js";
import { parseByteSize, parseDuration, parseNumber } from "./flags.js";
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
  workerId?: string;
  username?: string;
  passwordFile?: string;
  ca?: string;
  cert?: string;
  key?: string;
  sessionTtl: string;
  sessionMemory: string;
  maxSessions: string;
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
    .option("--username <name>", "broker user name (see edgecut provision --role worker)")
    .option("--password-file <file>", "file holding the broker password (kept out of the process list, unlike a password in the URL)")
    .option("--ca <file>", "TLS: PEM of the CA that signed the broker's certificate (mqtts://; certificate checks are always on)")
    .option("--cert <file>", "TLS client certificate (PEM), for brokers that authenticate clients by certificate")
    .option("--key <file>", "TLS client key (PEM)")
    .option("--worker-id <id>", "this worker's id: its generation sessions continue on <prefix>/v1/req/+/+/<id> (default: random per start)")
    .option("--session-ttl <duration>", "drop a generation session (its KV cache) unused this long; the device rebuilds it by replay", "300s")
    .option("--session-memory <size>", "cap on the generation sessions' bytes (KV caches); least recently used idle sessions are evicted", "512mib")
    .option("--max-sessions <n>", "cap on generation sessions held at once", "256")
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
        ...(flags.workerId === undefined ? {} : { workerId: flags.workerId }),
        generation: {
          ttlMs: sessionTtlMs(flags.sessionTtl),
          maxBytes: parseByteSize("--session-memory", flags.sessionMemory),
          maxSessions: parseNumber("--max-sessions", flags.maxSessions, { integer: true, min: 1 }),
        },
      };
      const logger = createLogger({ json: flags.jsonLogs ?? false, level });
      if ((flags.cert === undefined) !== (flags.key === undefined)) throw fail("E_USAGE", "--cert and --key go together: give both or neither");
      const transport = await connectMqtt({
        url: flags.broker, ...(flags.clientId === undefined ? {} : { clientId: flags.clientId }),
        ...(flags.username === undefined ? {} : { username: flags.username }),
        ...(flags.passwordFile === undefined ? {} : { password: readSecret("--password-file", flags.passwordFile, true) }),
        ...(flags.ca === undefined ? {} : { ca: readSecret("--ca", flags.ca) }),
        ...(flags.cert === undefined ? {} : { cert: readSecret("--cert", flags.cert) }),
        ...(flags.key === undefined ? {} : { key: readSecret("--key", flags.key) }),
      });
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

function sessionTtlMs(v: string): number {
  const ms = parseDuration("--session-ttl", v) * 1000;
  if (!(ms > 0)) throw fail("E_USAGE", `--session-ttl ${v}: must be longer than 0`);
  return ms;
}

/** Reads a credential file named by a flag (a password loses one trailing newline); E_USAGE naming the flag when it cannot. */
function readSecret(flag: string, file: string, password = false): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw fail("E_USAGE", `${flag} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path and its permissions`);
  }
  if (!password) return text;
  const p = text.replace(/\r?\n$/, "");
  if (p === "") throw fail("E_USAGE", `${flag} ${file} is empty; write the broker password into it`);
  return p;
}
