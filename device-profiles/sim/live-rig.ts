/**
 * The live simulator's parts, all in this process: an MQTT broker (embedded aedes, or a given
 * URL), a cloud worker (cloud-stub startWorker, one intra-op thread) on its own connection, and the
 * agent core on a shaped link (sdk/transport/shaper.ts) with a scripted sampler standing in for the
 * board's RAM and CPU figures. Started in that order and closed in reverse, also when a later part
 * fails to start.
 */
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { Agent } from "../../agent/core/agent.js";
import type { CostSource } from "../../agent/core/plan-inputs.js";
import { systemClock } from "../../agent/clock.js";
import { FakeSampler } from "../../agent/monitor/index.js";
import type { PolicyConfigInput, SplitPolicyLike } from "../../agent/planner/policies.js";
import { openStore, type AgentStore } from "../../agent/store/index.js";
import { startWorker, type SessionFactory, type Worker } from "../../cloud-stub/index.js";
import { OrtSession } from "../../sdk/runtime/ort.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { shapeTransport, type LinkSettings, type ShapedTransport } from "../../sdk/transport/shaper.js";
import type { Transport } from "../../sdk/transport/transport.js";
import type { DeviceSample, SystemSampler } from "../../agent/monitor/types.js";

/** What the rig is started with. */
export interface RigOptions {
  manifestPath: string;
  /** Folder the worker serves splits from (default: the manifest's folder). */
  cloudModels?: string;
  /** A broker to use (default: an embedded aedes broker on a free port). */
  brokerUrl?: string;
  /** The link at the start (a partition is applied once the agent has subscribed: subscribing waits one out). */
  link: LinkSettings;
  /** The device's readings at the start. */
  sample: DeviceSample;
  policy: PolicyConfigInput | SplitPolicyLike;
  costs: CostSource;
  /** SplitRunner's localSlowdown (>= 1). */
  localSlowdown: number;
  /** The worker's segment runs take this many times as long (>= 1): the scenario's cloud speed over the stretched device. */
  cloudSlowdown: number;
  /** Per-attempt offload timeout (ms). */
  offloadTimeoutMs: number;
  /** Device id, also the MQTT client ids' stem. */
  deviceId: string;
}

/** The running parts. */
export interface Rig {
  agent: Agent;
  link: ShapedTransport;
  sampler: FakeSampler;
  worker: Worker;
  brokerUrl: string;
  /** Stops the agent, the worker, the connections and the broker (each once, errors swallowed after the first). */
  close(): Promise<void>;
}

/**
 * The scripted readings, with this process's own CPU share added to the load: the agent subtracts
 * its process's share from the machine-wide figure (its own inference is not "other work"), and
 * here the process also hosts the worker and the broker; adding it back leaves the agent seeing
 * the scenario's load, as it would on the board.
 */
class ScenarioSampler implements SystemSampler {
  private last: { micros: number; at: number } | undefined;
  constructor(private readonly fake: FakeSampler) {}

  async sample(): Promise<DeviceSample> {
    const s = await this.fake.sample();
    const cpu = process.cpuUsage();
    const at = performance.now();
    const prev = this.last;
    this.last = { micros: cpu.user + cpu.system, at };
    if (prev === undefined || at <= prev.at) return s;
    const own = (100 * (cpu.user + cpu.system - prev.micros)) / 1000 / ((at - prev.at) * s.cores);
    return { ...s, cpuLoadPercent: Math.min(100, s.cpuLoadPercent + own) };
  }
}

/** Worker sessions (one thread) whose runs are stretched `slowdown` times, as SplitRunner stretches the device's. */
function stretchedSessions(slowdown: number): SessionFactory {
  return async (file) => {
    const s = await OrtSession.create(file, { intraOpThreads: 1, allowSpinning: false });
    return {
      release: () => s.release(),
      run: async (feeds) => {
        const t0 = performance.now();
        const out = await s.run(feeds);
        if (slowdown > 1) await new Promise((r) => setTimeout(r, (slowdown - 1) * (performance.now() - t0)));
        return out;
      },
    };
  };
}

/** Starts broker, worker and agent (see the module comment). Throws what the failing part threw, after closing the others. */
export async function startRig(o: RigOptions): Promise<Rig> {
  const closers: (() => Promise<void> | void)[] = [];
  const close = async (): Promise<void> => {
    let first: unknown;
    for (const c of closers.splice(0).reverse()) {
      try {
        await c();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  };
  try {
    let brokerUrl = o.brokerUrl;
    if (brokerUrl === undefined) {
      const broker: EmbeddedBroker = await startEmbeddedBroker();
      closers.push(() => broker.close());
      brokerUrl = broker.url;
    }
    const workerLink: Transport = await connectMqtt({ url: brokerUrl, clientId: `${o.deviceId}-worker` });
    closers.push(() => workerLink.close());
    const worker = await startWorker({
      transport: workerLink, models: o.cloudModels ?? path.dirname(path.resolve(o.manifestPath)), intraOpThreads: 1,
      logger: pino({ level: "silent" }), probeTimeoutMs: 200, sessionFactory: stretchedSessions(o.cloudSlowdown),
    });
    closers.push(() => worker.stop());
    // Connection events on partition: the agent hears of an outage as MQTT keepalive would tell it.
    const link = shapeTransport(await connectMqtt({ url: brokerUrl, clientId: `${o.deviceId}-device` }), { ...o.link, partitioned: false }, { emitConnectionEvents: true });
    closers.push(() => link.close());
    const store: AgentStore = openStore(":memory:");
    closers.push(() => store.close());
    const sampler = new FakeSampler({ clock: systemClock, initial: o.sample });
    const agent = await Agent.start({
      deviceId: o.deviceId, manifestPath: o.manifestPath, store, transport: link, sampler: new ScenarioSampler(sampler), policy: o.policy, costs: o.costs,
      localSlowdown: o.localSlowdown, intraOpThreads: 1, sampleIntervalMs: 200, network: { probeIntervalMs: 250 },
      telemetry: { flushIntervalMs: 1000, publishIntervalMs: 0 }, offload: { timeoutMs: o.offloadTimeoutMs, retries: 0, backoffMs: 20 },
    });
    closers.push(() => agent.stop());
    if (o.link.partitioned) link.setLink({ partitioned: true });
    return { agent, link, sampler, worker, brokerUrl, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}
