/**
 * The agent service: what `edgecut agent --config <file>` runs. Wires the validated configuration
 * into the parts: the store, the broker (remote, or an embedded aedes broker), the device
 * sampler, the profiler, the agent core and its local API; tells systemd when it is ready and
 * pings its watchdog; and on SIGTERM stops in order: stop accepting (API), finish in-flight work
 * (agent), flush and close the store, exit 0.
 */
import * as fs from "node:fs";
import pino, { type Logger } from "pino";
import { fail } from "../../sdk/errors.js";
import { VERSION } from "../../sdk/version.js";
import { connectMqtt, redactUrl, type MqttOptions } from "../../sdk/transport/mqtt.js";
import type { EmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { startApi, type ApiServer } from "../api/index.js";
import { systemClock, type Clock } from "../clock.js";
import type { AgentConfig } from "../config/index.js";
import { Agent } from "../core/agent.js";
import { profiledCosts, zeroInputs } from "../core/profiled-costs.js";
import { createSystemSampler, type SystemSampler } from "../monitor/index.js";
import { loadSplitOrPack } from "../planner/pack.js";
import { Profiler } from "../profiler/index.js";
import { openStore, type AgentStore } from "../store/index.js";
import { createNotifier, type Notifier } from "../systemd/notify.js";
import { LazyTransport } from "./lazy-transport.js";

/** Injected parts (tests); production uses the defaults. */
export interface ServiceDeps {
  log?: Logger;
  sampler?: SystemSampler;
  notifier?: Notifier;
  clock?: Clock;
  version?: string;
  /** Profile the segments at start (default true; tests of wiring may skip the measuring). */
  profile?: boolean;
}

/** A running service. */
export interface AgentService {
  agent: Agent;
  api: ApiServer;
  /** The embedded broker's URL, when the config asked for one. */
  brokerUrl: string | undefined;
  /** Stops in order (see the module comment). Idempotent. */
  stop(): Promise<void>;
}

function readPem(file: string | undefined, what: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw fail("E_CONFIG", `broker.${what}: cannot read ${file} (${(e as Error).message}); check the path and that the agent's user may read it`);
  }
}

/** Starts the service on a validated configuration (see the module comment). */
export async function startAgentService(cfg: AgentConfig, deps: ServiceDeps = {}): Promise<AgentService> {
  const root = deps.log ?? pino({ level: cfg.log.level });
  const log = root.child({ component: "agent", deviceId: cfg.deviceId });
  const clock = deps.clock ?? systemClock;
  const notifier = deps.notifier ?? createNotifier({ log: (o, m) => log.warn(o, m) });
  const version = deps.version ?? VERSION;
  const cleanups: (() => Promise<void> | void)[] = [];
  const unwind = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try { await c(); } catch (e) { log.warn({ err: (e as Error).message }, "cleanup step failed"); }
    }
  };
  try {
    const store: AgentStore = openStore(cfg.storeFile, {
      telemetryMaxRows: cfg.telemetry.maxRows,
      ...(cfg.store.maxPageCount !== undefined ? { maxPageCount: cfg.store.maxPageCount } : {}),
      ...(cfg.store.finishedMaxAgeMs !== undefined ? { finishedMaxAgeMs: cfg.store.finishedMaxAgeMs } : {}),
      ...(cfg.store.finishedMaxCount !== undefined ? { finishedMaxCount: cfg.store.finishedMaxCount } : {}),
    });
    cleanups.push(() => store.close());
    store.pruneFinished();

    let embedded: EmbeddedBroker | undefined;
    let mqtt: MqttOptions;
    if (cfg.broker.url === "embedded") {
      // Loaded only when asked for: aedes is ~10 MB of resident memory a device with a real broker does not need.
      const { startEmbeddedBroker } = await import("../../sdk/transport/embedded-broker.js");
      embedded = await startEmbeddedBroker({ host: "127.0.0.1", port: cfg.broker.embeddedPort });
      cleanups.push(() => embedded!.close());
      log.info({ url: embedded.url }, "embedded MQTT broker listening (for trying things out; use mosquitto in production)");
      mqtt = { url: embedded.url, keepaliveSec: cfg.broker.keepaliveSec };
    } else {
      const ca = readPem(cfg.broker.ca, "ca");
      const cert = readPem(cfg.broker.cert, "cert");
      const key = readPem(cfg.broker.key, "key");
      mqtt = {
        url: cfg.broker.url, keepaliveSec: cfg.broker.keepaliveSec, rejectUnauthorized: cfg.broker.rejectUnauthorized,
        ...(cfg.broker.username !== undefined ? { username: cfg.broker.username } : {}),
        ...(cfg.broker.password !== undefined ? { password: cfg.broker.password } : {}),
        ...(ca !== undefined ? { ca } : {}), ...(cert !== undefined ? { cert } : {}), ...(key !== undefined ? { key } : {}),
      };
    }
    const transport = new LazyTransport(() => connectMqtt(mqtt), clock, 5000, log, redactUrl(mqtt.url));
    cleanups.push(() => transport.close());
    const connected = await transport.start();

    const sampler = deps.sampler ?? createSystemSampler();
    const { loaded, maxSplit } = loadSplitOrPack(cfg.manifest);
    const manifest = loaded.manifest;
    let lastLoad = 0;
    const profiler = new Profiler({
      store, deviceId: cfg.deviceId, manifestDir: loaded.dir, manifest,
      cpuLoad: () => lastLoad, warmupRuns: cfg.profiler.warmupRuns, timedRuns: cfg.profiler.timedRuns,
      staleAfterMs: cfg.profiler.staleAfterMs, loadChangeThreshold: cfg.profiler.loadChangeThreshold, maxCpuLoad: cfg.planner.maxCpuLoad,
      ...(cfg.intraOpThreads !== undefined ? { intraOpThreads: cfg.intraOpThreads } : {}),
      log: { warn: (o, m) => log.warn(o, m) },
    });
    try {
      lastLoad = Math.min(1, (await sampler.sample()).cpuLoadPercent / 100);
    } catch (e) {
      log.warn({ err: (e as Error).message }, "first device sample failed");
    }
    const costs = profiledCosts(profiler, manifest, 1e6, log);
    if (deps.profile ?? true) {
      // Only the segments this device holds can be measured here (a pack holds 0..maxSplit-1).
      const inputs = zeroInputs(manifest);
      await costs.refresh(inputs, lastLoad, maxSplit);
    }

    const agent = await Agent.start({
      // Read now, not before profiling: the broker may have come up meanwhile (its "connected" event is gone).
      deviceId: cfg.deviceId, manifestPath: cfg.manifest, store, transport, transportConnected: transport.isConnected, sampler, clock,
      planner: cfg.planner, policy: cfg.policy, network: cfg.network, costs,
      offload: { timeoutMs: cfg.offload.timeoutMs, retries: cfg.offload.retries, encoding: cfg.offload.encoding, prefix: cfg.broker.prefix },
      sampleIntervalMs: cfg.sampleIntervalMs, planIntervalMs: cfg.planIntervalMs,
      telemetry: { flushIntervalMs: cfg.telemetry.flushIntervalMs, publishIntervalMs: cfg.telemetry.publishIntervalMs },
      ...(cfg.intraOpThreads !== undefined ? { intraOpThreads: cfg.intraOpThreads } : {}),
      ...(cfg.model.tokenizer !== undefined ? { tokenizer: cfg.model.tokenizer } : {}),
      log, version,
    });
    cleanups.push(() => agent.stop());
    agent.on("switch", () => { void notifier.status(`split ${String(agent.status().split)} (${agent.status().action})`); });

    // Re-measure, while idle, profiles gone stale or taken under very different load (profiling
    // loads the segments' sessions, so it never runs beside requests).
    let recheck: ReturnType<typeof setInterval> | undefined;
    let profiling: Promise<unknown> | undefined;
    if ((deps.profile ?? true) && cfg.profiler.recheckIntervalMs > 0) {
      recheck = setInterval(() => {
        const st = agent.status();
        if (profiling !== undefined || st.inFlight > 0 || st.queueDepth > 0) return;
        const load = Math.min(1, (st.device?.cpuLoadPercent ?? 0) / 100);
        profiling = costs.refresh(zeroInputs(manifest), load, maxSplit)
          .catch((e: unknown) => log.warn({ err: (e as Error).message }, "re-profiling failed; keeping the old profiles"))
          .finally(() => { profiling = undefined; });
      }, cfg.profiler.recheckIntervalMs);
      recheck.unref();
      // Before the store closes: a profile being measured writes to it.
      cleanups.push(async () => { clearInterval(recheck); await profiling; });
    }

    const listen = cfg.api.address.kind === "unix" ? `unix:${cfg.api.address.path}` : cfg.api.listen;
    const api = await startApi(agent, { listen, socketMode: cfg.api.socketMode, maxBodyBytes: cfg.api.maxBodyBytes, log: root.child({ component: "api" }), version });
    cleanups.push(() => api.close());

    let watchdog: ReturnType<typeof setInterval> | undefined;
    if (notifier.watchdogIntervalMs !== null) {
      // The ping proves the event loop turns and the store answers, not merely that the process exists.
      watchdog = setInterval(() => { if (agent.health().live) void notifier.watchdog(); }, notifier.watchdogIntervalMs);
      watchdog.unref();
    }
    await notifier.ready();
    const st = agent.status();
    void notifier.status(`split ${String(st.split)} (${st.action}); API ${api.address}`);
    log.info({ api: api.address, split: st.split, action: st.action, broker: redactUrl(mqtt.url), connected, segments: manifest.segments.length, maxSplit }, "agent ready");

    let stopping: Promise<void> | undefined;
    return {
      agent, api, brokerUrl: embedded?.url,
      stop: () => {
        stopping ??= (async () => {
          log.info({}, "stopping: refusing new requests, finishing in-flight work");
          if (watchdog !== undefined) clearInterval(watchdog);
          await notifier.stopping();
          await unwind();
          log.info({}, "stopped");
        })();
        return stopping;
      },
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}
