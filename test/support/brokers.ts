/**
 * Brokers for the tests: the embedded aedes broker and a private mosquitto process, both on
 * free ports, both restartable on the same port (to test reconnects), and brokerMatrix() so the
 * transport and end-to-end suites run against each.
 *
 * mosquitto: $MOSQUITTO if set, else /usr/sbin/mosquitto, else `mosquitto` on the PATH. When it is
 * missing, mosquittoSkipReason() returns the reason the caller gives to skip, except under
 * CI=true, where it throws E_TOOL_MISSING so the run fails instead of silently testing less.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fail } from "../../sdk/errors.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../sdk/transport/embedded-broker.js";

/** A broker a test started. */
export interface BrokerHandle {
  name: string;
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Kills the broker and starts it again on the same port (clients see a dropped connection). */
  restart(): Promise<void>;
  /** Stops the broker for good. Idempotent. */
  close(): Promise<void>;
}

/** One broker kind of the matrix; `skip` is the reason it cannot run here, if any. */
export interface BrokerKind {
  name: "aedes" | "mosquitto";
  /** MQTT version an "auto" client ends up with on this broker. */
  protocolVersion: 4 | 5;
  /** Whether `$share/...` subscriptions are shared subscriptions (MQTT 5 §4.8.2) on it. */
  sharedSubscriptions: boolean;
  skip: string | undefined;
  start(): Promise<BrokerHandle>;
}

/** A TCP port that was free a moment ago (the OS picks it). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves once host:port accepts a TCP connection; throws after timeoutMs. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 5000, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host });
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (!alive()) throw new Error(`nothing listens on ${host}:${port}: the process exited`);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Path of the mosquitto binary, or undefined when it is not installed. */
export function findMosquitto(): string | undefined {
  // $MOSQUITTO, when set, is the only candidate (MOSQUITTO=/nonexistent plays a missing mosquitto).
  const env = process.env.MOSQUITTO;
  if (env) return fs.existsSync(env) ? env : undefined;
  for (const p of ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]) if (fs.existsSync(p)) return p;
  const which = spawnSync("sh", ["-c", "command -v mosquitto"], { encoding: "utf8" });
  const found = which.stdout.trim();
  return which.status === 0 && found ? found : undefined;
}

/**
 * Why mosquitto tests must be skipped (undefined: they can run). Under CI=true a missing
 * mosquitto throws E_TOOL_MISSING instead: CI must not pass by testing less.
 */
export function mosquittoSkipReason(): string | undefined {
  if (findMosquitto() !== undefined) return undefined;
  const reason = "mosquitto is not installed (apt-get install mosquitto, or set $MOSQUITTO to its path)";
  if (process.env.CI === "true") throw fail("E_TOOL_MISSING", `${reason}; CI=true requires it`);
  return reason;
}

/** Options of {@link startMosquitto}. */
export interface MosquittoOptions {
  /** Port (default: a free one). */
  port?: number;
  /** More mosquitto.conf lines, e.g. ["max_packet_size 4096"]. */
  config?: string[];
}

/** A private mosquitto process; `log()` is what it printed (for failure messages). */
export interface MosquittoHandle extends BrokerHandle {
  log(): string;
}

/**
 * Starts mosquitto on 127.0.0.1 with a generated config (anonymous access, no persistence)
 * and resolves once it accepts connections. Throws E_TOOL_MISSING when mosquitto is missing.
 */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoHandle> {
  const bin = findMosquitto();
  if (bin === undefined) throw fail("E_TOOL_MISSING", "mosquitto is not installed (apt-get install mosquitto, or set $MOSQUITTO)");
  const port = opts.port ?? await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-mosquitto-"));
  const conf = path.join(dir, "mosquitto.conf");
  fs.writeFileSync(conf, [`listener ${port} 127.0.0.1`, "allow_anonymous true", "persistence false", "log_dest stderr",
    // As the README tells deployments: without it every small message waits for a delayed ACK (~40 ms on loopback).
    "set_tcp_nodelay true", ...(opts.config ?? [])].join("\n") + "\n");
  let output = "";
  let child: ChildProcess | undefined;
  let closed = false;

  const killChild = (): void => { child?.kill("SIGKILL"); };
  process.on("exit", killChild);

  const launch = async (): Promise<void> => {
    const c = spawn(bin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    const keep = (b: Buffer): void => { output = (output + b.toString()).slice(-20_000); };
    c.stdout?.on("data", keep);
    c.stderr?.on("data", keep);
    let exited = false;
    c.once("exit", () => { exited = true; });
    try {
      await waitForPort(port, "127.0.0.1", 5000, () => !exited);
    } catch (e) {
      c.kill("SIGKILL");
      throw new Error(`mosquitto did not start on port ${port}: ${(e as Error).message}\n${output}`);
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
    c.kill("SIGKILL");
    await exited;
  };

  await launch();
  return {
    name: "mosquitto",
    url: `mqtt://127.0.0.1:${port}`,
    port,
    log: () => output,
    restart: async () => {
      await stop();
      await launch();
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await stop();
      process.off("exit", killChild);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The embedded aedes broker on a free port, restartable on the same port. */
export async function startAedes(): Promise<BrokerHandle> {
  let broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0 });
  const port = broker.port;
  return {
    name: "aedes",
    url: broker.url,
    port,
    restart: async () => {
      await broker.close();
      broker = await startEmbeddedBroker({ port });
    },
    close: () => broker.close(),
  };
}

/** The brokers every transport and end-to-end suite runs against. */
export function brokerMatrix(): BrokerKind[] {
  return [
    { name: "aedes", protocolVersion: 4, sharedSubscriptions: false, skip: undefined, start: startAedes },
    { name: "mosquitto", protocolVersion: 5, sharedSubscriptions: true, skip: mosquittoSkipReason(), start: () => startMosquitto() },
  ];
}
