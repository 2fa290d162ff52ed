/**
 * A device process of `npm run bench load`, forked by bench/load.ts: light simulated devices, each
 * its own MQTT connection and OffloadClient with a distinct deviceId on the real topics, sending
 * the same precomputed cut tensors (no model runs here, so the cores stay with the workers).
 * Per phase it counts, per request, what was delivered (one result or one error; nothing = lost),
 * checks each result's outputs, and reports latencies and completions to the parent.
 * Usage: forked with IPC (serialization "advanced"); the parent sends a "config" message first.
 */
import { performance } from "node:perf_hooks";
import { OffloadClient } from "../sdk/offload/client.js";
import { compareOutputs } from "../sdk/runtime/compare.js";
import { connectMqtt } from "../sdk/transport/mqtt.js";
import type { Transport } from "../sdk/transport/transport.js";
import { peekHeader } from "../sdk/wire/index.js";
import type { ClientTotals, DevicesConfig, FromDevices, PhaseReport, PhaseSpec, ToDevices } from "./load-common.js";

const TOL = { atol: 1e-4, rtol: 1e-4 };

interface Device {
  id: string;
  transport: Transport;
  client: OffloadClient;
  /** Reply messages per request id. */
  replies: Map<string, number>;
}

function send(m: FromDevices): void {
  process.send!(m);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Wraps a transport to count the reply messages per request id (a duplicate delivery would show here first). */
function counting(inner: Transport, replies: Map<string, number>): Transport {
  return {
    get protocolVersion() { return inner.protocolVersion; },
    get maxPacketSize() { return inner.maxPacketSize; },
    publish: (topic, payload) => inner.publish(topic, payload),
    subscribe: (filter, handler) => inner.subscribe(filter, (topic, payload) => {
      const id = peekHeader(payload)?.header?.requestId;
      if (typeof id === "string") replies.set(id, (replies.get(id) ?? 0) + 1);
      handler(topic, payload);
    }),
    unsubscribe: (filter) => inner.unsubscribe(filter),
    close: () => inner.close(),
    on: (event, fn) => inner.on(event, fn),
  };
}

async function connectAll(cfg: DevicesConfig): Promise<Device[]> {
  const devices: Device[] = [];
  // A few at a time: 50 CONNECTs at once would only queue at the broker.
  for (let i = 0; i < cfg.deviceIds.length; i += 10) {
    devices.push(...await Promise.all(cfg.deviceIds.slice(i, i + 10).map(async (id) => {
      const inner = await connectMqtt({ url: cfg.brokerUrl, clientId: `bench-load-${id}`, keepaliveSec: 10 });
      const replies = new Map<string, number>();
      const transport = counting(inner, replies);
      const client = new OffloadClient({ transport, deviceId: id, timeoutMs: cfg.timeoutMs, retries: cfg.retries, backoffMs: 100 });
      await client.start();
      return { id, transport: inner, client, replies };
    })));
  }
  return devices;
}

/** Exponential gap (ms) for `rate` requests/s. */
const gap = (rate: number): number => (-Math.log(1 - Math.random()) * 1000) / rate;

async function runPhase(cfg: DevicesConfig, devices: Device[], spec: PhaseSpec): Promise<PhaseReport> {
  const r: PhaseReport = { name: spec.name, sent: 0, ok: 0, errors: {}, lost: 0, duplicated: 0, wrong: 0, latencies: [], completedInWindow: 0, okIds: [] };
  const end = spec.startAt + spec.durationMs;
  const measureFrom = spec.startAt + spec.warmMs;
  const runs: Promise<void>[] = [];
  let settledCount = 0;
  const one = (d: Device): Promise<void> => {
    const startedAt = Date.now();
    const t0 = performance.now();
    r.sent++;
    let settled = 0;
    const settle = (): void => {
      if (++settled > 1) r.duplicated++;
      else settledCount++;
    };
    const p = d.client.request(cfg.splitId, cfg.segments, cfg.tensors, { wantOutputs: cfg.wantOutputs }).then((res) => {
      settle();
      const ms = performance.now() - t0;
      r.ok++;
      r.okIds.push(`${d.id}/${res.requestId}`);
      if (!compareOutputs(cfg.expected, res.outputs, TOL).ok) r.wrong++;
      if (startedAt >= measureFrom) r.latencies.push(ms);
      const now = Date.now();
      if (now >= measureFrom && now <= end) r.completedInWindow++;
    }, (e: unknown) => {
      settle();
      const code = (e as { code?: string }).code ?? "no code";
      r.errors[code] = (r.errors[code] ?? 0) + 1;
    });
    runs.push(p);
    return p;
  };
  await sleep(spec.startAt - Date.now());
  await Promise.all(devices.map(async (d) => {
    if (spec.mode === "closed") {
      while (Date.now() < end) await one(d);
      return;
    }
    const rate = spec.perDeviceRate ?? 1;
    for (let next = spec.startAt + gap(rate) * Math.random(); next < end; next += gap(rate)) {
      await sleep(next - Date.now());
      void one(d);
    }
  }));
  // Every request ends within its attempts' timeouts and backoffs; whatever has not by then is lost.
  const deadline = cfg.timeoutMs * (cfg.retries + 1) + 5000;
  await Promise.race([Promise.all(runs), sleep(deadline)]);
  r.lost = r.sent - settledCount;
  return r;
}

function totals(devices: Device[]): ClientTotals {
  const t: ClientTotals = { attempts: 0, retries: 0, timeouts: 0, busyReplies: 0, duplicateReplies: 0, unknownReplies: 0, extraReplyMessages: 0 };
  for (const d of devices) {
    const m = d.client.metrics();
    t.attempts += m.attempts;
    t.retries += m.retries;
    t.timeouts += m.timeouts;
    t.busyReplies += m.busyReplies;
    t.duplicateReplies += m.duplicateReplies;
    t.unknownReplies += m.unknownReplies;
    for (const n of d.replies.values()) t.extraReplyMessages += Math.max(0, n - 1);
  }
  return t;
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error("load-devices.ts runs forked by bench/load.ts (IPC)");
  let cfg: DevicesConfig | undefined;
  let devices: Device[] = [];
  // Phases run one after another, in the order they arrive.
  let chain: Promise<void> = Promise.resolve();
  process.on("message", (m: ToDevices) => {
    chain = chain.then(async () => {
      switch (m.type) {
        case "config":
          cfg = m.config;
          devices = await connectAll(cfg);
          send({ type: "ready", devices: devices.length });
          return;
        case "phase":
          send({ type: "report", report: await runPhase(cfg!, devices, m.phase) });
          return;
        case "stop": {
          const t = totals(devices);
          for (const d of devices) await d.client.close();
          await Promise.all(devices.map((d) => d.transport.close()));
          send({ type: "stopped", totals: t });
          process.disconnect();
        }
      }
    }).catch((e: unknown) => {
      send({ type: "error", message: (e as Error).stack ?? String(e) });
      process.exitCode = 1;
    });
  });
}

main().catch((e: unknown) => {
  process.send?.({ type: "error", message: (e as Error).stack ?? String(e) } satisfies FromDevices);
  process.exitCode = 1;
});
