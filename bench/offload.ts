/**
 * `npm run bench offload`: the offload round trip against a plain MQTT publish/echo, and the codec
 * on its own. Each part runs in a fresh process (bench/offload-codec.ts, bench/offload-rtt.ts;
 * the latter forks bench/offload-cloud.ts for the cloud side).
 *
 * Round trip: a private mosquitto on loopback (set_tcp_nodelay on, see offload-rtt.ts), activations
 * of 1 KiB, 100 KiB, 1 MiB and 10 MiB; edgecut offloads an identity segment (k = 1 of
 * `x -> Identity -> a -> Identity -> y`: `a` goes up, `y` of the same size comes back) and the
 * baseline publishes the same bytes to an echo over the same two MQTT connections, interleaved.
 * Target per size: edgecut p50 <= 1.2x the echo's p50. For information: p99s, the hops of each
 * round trip, GC pauses, an echo that copies the bytes once per side, and whether any message was
 * fragmented (10 MiB fits mosquitto's default limits and the client's default 128 MiB cap).
 *
 * Codec: encodeFrame/decodeFrame of a 64 MiB float32 tensor, best of 5. Targets: fp32 encode and
 * decode >= 1 GB/s; fp16 and int8-row for information.
 */
import * as path from "node:path";
import { runScript, target, type BenchResult, type Target } from "./harness.js";
import type { PathName } from "./offload-common.js";
import type { SizeResult } from "./offload-rtt.js";

const here = import.meta.dirname;

interface RttOutput {
  results: SizeResult[];
  brokerConfig: string[];
  brokerMaxPacketSize: number | null;
  protocolVersion: 4 | 5;
  workerShared: boolean;
  workerComputed: number;
  workerErrors: Record<string, number>;
  clientFailed: number;
}

/** 1024 -> "1KiB", 10485760 -> "10MiB". */
function label(bytes: number): string {
  return bytes >= 2 ** 20 && bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20}MiB` : bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024}KiB` : `${bytes}B`;
}

const r3 = (v: number): number => +v.toFixed(3);

export async function run(): Promise<BenchResult> {
  const codec = await runScript<Record<string, number | boolean>>(path.join(here, "offload-codec.ts"), ["5"]);
  const rtt = await runScript<RttOutput>(path.join(here, "offload-rtt.ts"), []);
  if (rtt.clientFailed > 0 || Object.keys(rtt.workerErrors).length > 0) {
    throw new Error(`offload bench: ${rtt.clientFailed} requests failed; worker errors ${JSON.stringify(rtt.workerErrors)}`);
  }
  const metrics: BenchResult["metrics"] = {
    brokerConfig: rtt.brokerConfig.join("; "),
    brokerMaxPacketSize: rtt.brokerMaxPacketSize,
    mqttProtocolVersion: rtt.protocolVersion,
    workerSharedSubscription: String(rtt.workerShared),
    workerRequestsComputed: rtt.workerComputed,
  };
  const targets: Record<string, Target> = {};
  let fragmented = false;
  for (const r of rtt.results) {
    const l = label(r.bytes);
    const p = (name: PathName): SizeResult["paths"][PathName] => r.paths[name];
    fragmented ||= r.messagesUpPerRequest !== 1 || r.messagesDownPerRequest !== 1;
    Object.assign(metrics, {
      [`${l}Iterations`]: r.iterations,
      [`${l}EdgecutP50Ms`]: r3(p("edgecut").p50), [`${l}EdgecutP99Ms`]: r3(p("edgecut").p99),
      [`${l}EchoP50Ms`]: r3(p("echo").p50), [`${l}EchoP99Ms`]: r3(p("echo").p99),
      [`${l}RatioP50`]: r3(r.ratioP50),
      [`${l}CopyingEchoP50Ms`]: r3(p("echoCopy").p50), [`${l}RatioP50VsCopyingEcho`]: r3(r.ratioP50VsCopyingEcho),
      [`${l}EdgecutSendP50Ms`]: r3(p("edgecut").hopsP50.send), [`${l}EdgecutWireP50Ms`]: r3(p("edgecut").hopsP50.wire),
      [`${l}EdgecutRemoteP50Ms`]: r3(p("edgecut").hopsP50.remote), [`${l}EdgecutFinishP50Ms`]: r3(p("edgecut").hopsP50.finish),
      [`${l}EchoWireP50Ms`]: r3(p("echo").hopsP50.wire), [`${l}CopyingEchoWireP50Ms`]: r3(p("echoCopy").hopsP50.wire),
      [`${l}ClientEncodeP50Ms`]: r3(r.client.encodeMs), [`${l}ClientDecodeP50Ms`]: r3(r.client.decodeMs),
      [`${l}WorkerComputeP50Ms`]: r3(r.client.computeMs), [`${l}WorkerQueueP50Ms`]: r3(r.client.queueMs),
      [`${l}EdgecutGcMsPerTrip`]: r3(p("edgecut").gcDeviceMs + p("edgecut").gcCloudMs),
      [`${l}EchoGcMsPerTrip`]: r3(p("echo").gcDeviceMs + p("echo").gcCloudMs),
      [`${l}MessagesUpPerRequest`]: r.messagesUpPerRequest, [`${l}MessagesDownPerRequest`]: r.messagesDownPerRequest,
    });
    targets[`roundTrip${l}`] = target(`edgecut offload / plain MQTT echo, p50 round trip, ${l}`, r.ratioP50, "<=", 1.2);
  }
  metrics.fragmented = String(fragmented);
  for (const [k, v] of Object.entries(codec)) metrics[`codec${k[0]!.toUpperCase()}${k.slice(1)}`] = typeof v === "number" ? r3(v) : String(v);
  targets.codecFp32Encode = target("encodeFrame fp32, 64 MiB tensor, GB/s", codec.fp32EncodeGBps as number, ">=", 1);
  targets.codecFp32Decode = target("decodeFrame fp32, 64 MiB tensor, GB/s", codec.fp32DecodeGBps as number, ">=", 1);
  return { metrics, targets };
}
