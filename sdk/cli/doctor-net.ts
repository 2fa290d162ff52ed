/**
 * `edgecut doctor`'s network checks: the MQTT broker answers (or, for the embedded broker, its
 * port is free), and the local API's listen address is free. An address held by an edgecut
 * agent that is already running (it answers GET /healthz) is a warning, not a failure: that is
 * the usual state of a device where the doctor is run next to the service.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import type { AgentConfig, BrokerConfig } from "../../agent/config/index.js";
import { EMBEDDED_BROKER } from "../../agent/config/index.js";
import { connectMqtt, redactUrl, type MqttOptions } from "../transport/mqtt.js";
import { canWrite, errorText, ok, problem, skip, type CheckResult } from "./doctor-check.js";
import { fmtBytes } from "./output.js";

/** How long the broker may take to accept the connection. */
export const BROKER_TIMEOUT_MS = 3000;
/** How long a /healthz probe of whatever holds the API's address may take. */
const PROBE_TIMEOUT_MS = 1000;
/** The embedded broker's port when --broker embedded is given without a config. */
const DEFAULT_EMBEDDED_PORT = 1883;

/** Binds `where` and closes again: undefined when that worked, else the error. */
function tryListen(where: net.ListenOptions): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (e: NodeJS.ErrnoException) => resolve(e));
    server.listen({ ...where, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * GET /healthz at `target`: "live, ready" (or "live, not ready") when an edgecut agent answers
 * there, undefined for anything else (nothing, another program, a timeout).
 */
function probeAgent(target: { host: string; port: number } | { socketPath: string }): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ ...target, path: "/healthz", timeout: PROBE_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > 64 * 1024) req.destroy();
        else chunks.push(c);
      });
      res.on("end", () => {
        try {
          const h = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
          const rec = typeof h === "object" && h !== null ? h as Record<string, unknown> : {};
          resolve(typeof rec.live === "boolean" ? `${rec.live ? "live" : "not live"}, ${rec.ready === true ? "ready" : "not ready"}` : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

/** The listen check's result and whether an edgecut agent already runs at that address. */
export interface ListenOutcome {
  result: CheckResult;
  agentRunning: boolean;
}

const RUNNING_FIX = "nothing to do if that is this device's agent (systemctl status edgecut-agent); a second agent needs its own api.listen and stateDir";

/** The API's listen address is free: a TCP port binds, or a unix socket's folder exists and is writable. */
export async function checkApiListen(config: AgentConfig | undefined): Promise<ListenOutcome> {
  const name = "api";
  if (config === undefined) return { result: skip(name, "no config: the listen address is unknown"), agentRunning: false };
  const a = config.api.address;
  if (a.kind === "tcp") {
    const at = `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
    if (a.port === 0) return { result: ok(name, `${at}: the OS picks a free port`), agentRunning: false };
    const err = await tryListen({ host: a.host, port: a.port });
    if (err === undefined) return { result: ok(name, `${at} is free`), agentRunning: false };
    if (err.code === "EADDRINUSE") {
      const agent = await probeAgent({ host: a.host, port: a.port });
      if (agent !== undefined) return { result: problem(name, "warn", `${at}: an edgecut agent already listens there (${agent})`, RUNNING_FIX), agentRunning: true };
      return { result: problem(name, "fail", `${at} is in use by another program`, `stop it (\`ss -ltnp 'sport = :${a.port}'\` shows which) or set api.listen to a free port`), agentRunning: false };
    }
    const fix = err.code === "EACCES" ? "ports below 1024 need privileges: use a port above 1023, e.g. 127.0.0.1:8787"
      : err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" || err.code === "EAI_AGAIN" ? `no interface of this machine has ${a.host}: use 127.0.0.1 (or [::1], or a unix: socket)`
      : "set api.listen to an address this machine can listen on, e.g. 127.0.0.1:8787";
    return { result: problem(name, "fail", `cannot listen on ${at}: ${err.code ?? err.message}`, fix), agentRunning: false };
  }
  return checkUnixListen(a.path);
}

async function checkUnixListen(socket: string): Promise<ListenOutcome> {
  const name = "api";
  const dir = path.dirname(socket);
  const fail = (detail: string, fix: string): ListenOutcome => ({ result: problem(name, "fail", detail, fix), agentRunning: false });
  // systemd's RuntimeDirectory=edgecut makes /run/edgecut when the service starts and removes it when it stops.
  const runtimeDir = dir.startsWith("/run/");
  const createFix = `create it for the agent's user (sudo install -d -o <user> ${dir})${runtimeDir ? "; under systemd, RuntimeDirectory=edgecut creates it when the service starts" : ""}`;
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    const detail = `unix:${socket}: the folder ${dir} does not exist (the agent does not create it)`;
    return runtimeDir ? { result: problem(name, "warn", detail, createFix), agentRunning: false } : fail(detail, createFix);
  }
  if (!st.isDirectory()) return fail(`unix:${socket}: ${dir} is not a folder`, "set api.listen to a socket path in a folder, e.g. unix:/run/edgecut/agent.sock");
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(socket);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined) {
    if (!existing.isSocket()) return fail(`unix:${socket} exists and is not a socket`, "remove that file or choose another api.listen path");
    const agent = await probeAgent({ socketPath: socket });
    if (agent !== undefined) return { result: problem(name, "warn", `unix:${socket}: an edgecut agent already listens there (${agent})`, RUNNING_FIX), agentRunning: true };
    const live = await new Promise<boolean>((resolve) => {
      const s = net.connect(socket);
      s.once("connect", () => { s.destroy(); resolve(true); });
      s.once("error", () => resolve(false));
    });
    if (live) return fail(`unix:${socket} is in use by another program`, "stop it or choose another api.listen path");
  }
  if (!canWrite(dir)) {
    const detail = `unix:${socket}: ${dir} is not writable by this user`;
    const fix = `run edgecut doctor as the agent's user (or root), or ${createFix}`;
    return runtimeDir ? { result: problem(name, "warn", detail, fix), agentRunning: false } : fail(detail, fix);
  }
  return { result: ok(name, `unix:${socket}: ${dir} is writable${existing !== undefined ? " (a stale socket there is replaced at start)" : ""}`), agentRunning: false };
}

/** A fix for a failed broker connection, chosen by the error's message. */
function brokerFix(message: string, url: string): string {
  const host = (() => {
    try {
      const u = new URL(url);
      return `${u.hostname} ${u.port || (u.protocol === "mqtts:" ? "8883" : "1883")}`;
    } catch {
      return "<host> <port>";
    }
  })();
  if (/ECONNREFUSED/.test(message)) return `nothing listens there: is the broker running (systemctl status mosquitto)? Is the port right? (\`nc -vz ${host}\` tests it)`;
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return "the host name does not resolve: check broker.url's host and this machine's DNS";
  if (/certificate|CERT_|self.signed|issuer|altname/i.test(message)) return "the broker's TLS certificate was not accepted: set broker.ca to the PEM of the CA that signed it, and use the host name the certificate names";
  if (/not authori[sz]ed|bad user ?name|password|CONNACK code (4|5|134|135)\b/i.test(message)) return "the broker refused the credentials: check broker.username and the password (EDGECUT_BROKER_PASSWORD_FILE) and the broker's ACL";
  if (/not a URL|scheme/.test(message)) return "set broker.url (or --broker) to an mqtt://, mqtts://, ws:// or wss:// URL, e.g. mqtt://broker.lan:1883";
  return `is mosquitto running there? Does a firewall drop the port (\`nc -vz ${host}\`)? For mqtts://, is broker.ca the right CA?`;
}

/** The embedded broker's port on 127.0.0.1 is free to bind. */
async function checkEmbeddedPort(port: number, agentRunning: boolean): Promise<CheckResult> {
  const name = "broker";
  if (port === 0) return skip(name, "embedded broker on a port the OS picks: nothing to check");
  const at = `127.0.0.1:${port}`;
  const err = await tryListen({ host: "127.0.0.1", port });
  if (err === undefined) return ok(name, `embedded broker: ${at} is free`);
  if (err.code === "EADDRINUSE") {
    const detail = `embedded broker: ${at} is in use`;
    if (agentRunning) return problem(name, "warn", `${detail}, probably by the running agent's embedded broker`, RUNNING_FIX);
    return problem(name, "fail", detail, `stop the program holding it (mosquitto? \`ss -ltnp 'sport = :${port}'\` shows which), set broker.embeddedPort to a free port (0: any), or set broker.url to that broker's mqtt:// URL`);
  }
  const fix = err.code === "EACCES" ? "ports below 1024 need privileges: set broker.embeddedPort above 1023" : "set broker.embeddedPort to a free port (0: any)";
  return problem(name, "fail", `embedded broker: cannot listen on ${at}: ${err.code ?? err.message}`, fix);
}

/** What the broker check connects to: --broker, else the config's broker (with its credentials and TLS files). */
export interface BrokerTarget {
  url: string;
  /** The config's broker settings, when the URL came from the config. */
  config?: BrokerConfig;
}

function readPem(file: string | undefined): Buffer | undefined {
  return file === undefined ? undefined : fs.readFileSync(file);
}

/** Connects to the broker (3 s) and reports the protocol version; for "embedded", checks its port. */
export async function checkBroker(target: BrokerTarget | undefined, agentRunning: boolean, timeoutMs = BROKER_TIMEOUT_MS): Promise<CheckResult> {
  const name = "broker";
  if (target === undefined) return skip(name, "no --broker, and no config naming one");
  if (target.url === EMBEDDED_BROKER) return checkEmbeddedPort(target.config?.embeddedPort ?? DEFAULT_EMBEDDED_PORT, agentRunning);
  const shown = redactUrl(target.url);
  const b = target.config;
  let opts: MqttOptions;
  try {
    const ca = readPem(b?.ca);
    const cert = readPem(b?.cert);
    const key = readPem(b?.key);
    opts = {
      url: target.url, connectTimeoutMs: timeoutMs, reconnectPeriodMs: 0,
      ...(b === undefined ? {} : { keepaliveSec: b.keepaliveSec, rejectUnauthorized: b.rejectUnauthorized }),
      ...(b?.username === undefined ? {} : { username: b.username }),
      ...(b?.password === undefined ? {} : { password: b.password }),
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    };
  } catch (e) {
    return problem(name, "fail", `${shown}: cannot read a TLS file: ${errorText(e)}`, "check broker.ca, broker.cert and broker.key and that this user may read them");
  }
  try {
    const t = await connectMqtt(opts);
    const detail = `${shown}: connected, MQTT ${t.protocolVersion === 5 ? "5" : "3.1.1"}${t.maxPacketSize === undefined ? "" : `, largest message ${fmtBytes(t.maxPacketSize)}`}`;
    await t.close();
    return ok(name, detail);
  } catch (e) {
    const msg = errorText(e);
    // connectMqtt names the redacted URL itself; say it again only when it did not.
    return problem(name, "fail", msg.includes(shown) ? msg : `${shown}: ${msg}`, brokerFix(msg, target.url));
  }
}
