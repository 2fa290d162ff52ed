/**
 * The cloud side of `npm run bench offload`, forked by bench/offload-rtt.ts: its own process, as
 * a worker runs on its own machine, so the device's and the worker's garbage collections do not
 * land in each other's round trips. On one MQTT connection it runs
 *
 * - the edgecut worker (startWorker with default options; info-level JSON logs, written to /dev/null);
 * - the echo of the baseline: every message on ECHO_TOPICS.echo.req is published again, unchanged,
 *   on ECHO_TOPICS.echo.rep;
 * - the copying echo: the same with the bytes copied into a fresh buffer first.
 *
 * For each path it measures the time from the (last) request message's arrival to the first
 * publish call of its reply ("remote"), and the GC pauses that followed the path's messages (each
 * pause is charged to the path whose message arrived last before it), and hands them to the device
 * process when asked.
 * Usage: tsx bench/offload-cloud.ts <brokerUrl> <modelsDir> [workerOptionsJson], forked with IPC.
 */
import { pino } from "pino";
import { startWorker } from "../cloud-stub/index.js";
import { createLogger } from "../cloud-stub/log.js";
import { connectMqtt, topics } from "../sdk/transport/index.js";
import { ECHO_TOPICS, PATHS, traced, watchGc, type FromCloud, type PathName, type ToCloud } from "./offload-common.js";

function send(m: FromCloud): void {
  process.send!(m);
}

const perPath = <T>(f: () => T): Record<PathName, T> => Object.fromEntries(PATHS.map((p) => [p, f()])) as Record<PathName, T>;

async function main(): Promise<void> {
  const [url, models, extra] = process.argv.slice(2);
  if (url === undefined || models === undefined || process.send === undefined) throw new Error("usage: offload-cloud.ts <brokerUrl> <modelsDir> [workerOptionsJson], forked with IPC");
  const t = topics();
  const reqPrefix = t.requestTopic("d", "s").slice(0, -"d/s".length);
  const replyPrefix = t.replyTopic("d").slice(0, -1);
  const requestPath = (topic: string): PathName | undefined =>
    topic === ECHO_TOPICS.echo.req ? "echo" : topic === ECHO_TOPICS.echoCopy.req ? "echoCopy" : topic.startsWith(reqPrefix) ? "edgecut" : undefined;
  const replyPath = (topic: string): PathName | undefined =>
    topic === ECHO_TOPICS.echo.rep ? "echo" : topic === ECHO_TOPICS.echoCopy.rep ? "echoCopy" : topic.startsWith(replyPrefix) ? "edgecut" : undefined;

  let remoteMs = perPath((): number[] => []);
  const arrived = perPath((): number | undefined => undefined);
  /** Arrivals in order, to charge each GC pause to the path whose message arrived last before it. */
  let arrivals: Array<{ t: number; path: PathName }> = [];
  const gc = watchGc();
  const conn = await connectMqtt({ url, clientId: "bench-cloud" });
  const transport = traced(conn, (topic, now) => {
    const p = replyPath(topic);
    const at = p === undefined ? undefined : arrived[p];
    if (p === undefined || at === undefined) return;
    remoteMs[p].push(now - at);
    arrived[p] = undefined;
  }, (topic, now) => {
    const p = requestPath(topic);
    if (p === undefined) return;
    arrived[p] = now; // the last fragment's arrival, when fragmented
    arrivals.push({ t: now, path: p });
  });
  const logger = createLogger({ json: true, destination: pino.destination({ dest: "/dev/null", sync: true }) });
  const worker = await startWorker({ transport, models, logger, ...(JSON.parse(extra ?? "{}") as Record<string, unknown>) });
  const echo = (topics: { req: string; rep: string }, copy: boolean): Promise<void> => transport.subscribe(topics.req, (_topic, payload) => {
    transport.publish(topics.rep, copy ? new Uint8Array(payload) : payload).catch((e: unknown) => send({ type: "error", message: `echo publish failed: ${String(e)}` }));
  });
  await echo(ECHO_TOPICS.echo, false);
  await echo(ECHO_TOPICS.echoCopy, true);

  process.on("message", (m: ToCloud) => {
    switch (m.type) {
      case "reset":
        remoteMs = perPath((): number[] => []);
        arrivals = [];
        gc.clear();
        send({ type: "reset" });
        return;
      case "collect":
        void gc.pauses().then((pauses) => {
          const gcMs = perPath(() => 0);
          for (const p of pauses) {
            let last: PathName | undefined;
            for (const a of arrivals) if (a.t <= p.start) last = a.path;
            if (last !== undefined) gcMs[last] += p.ms;
          }
          send({ type: "collected", remoteMs, gcMs });
        });
        return;
      case "stop":
        void (async () => {
          gc.stop();
          await worker.stop();
          await conn.close();
          const wm = worker.metrics();
          send({ type: "stopped", computed: wm.computed, errors: wm.errors });
          process.disconnect();
        })();
    }
  });
  send({ type: "ready", shared: worker.shared, protocolVersion: conn.protocolVersion, maxPacketSize: conn.maxPacketSize ?? null });
}

main().catch((e: unknown) => {
  process.send?.({ type: "error", message: (e as Error).stack ?? String(e) } satisfies FromCloud);
  process.exitCode = 1;
});
