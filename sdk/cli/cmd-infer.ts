/**
 * `edgecut infer <manifest.json> --split k`: runs a split with segments 0..k-1 on this machine
 * and k..n-1 on a cloud worker reached over MQTT, and prints where the time and bytes went.
 * Every flag is checked before the broker is contacted; --split n runs everything locally and
 * needs no broker.
 */
import type { Command } from "commander";
import { fail } from "../errors.js";
import { loadManifest } from "../graph/manifest.js";
import { OffloadClient } from "../offload/client.js";
import { SplitRunner, type RunBreakdown } from "../offload/split-runner.js";
import { readTensorFile, writeTensorFile } from "../runtime/tensor-file.js";
import type { TensorMap } from "../runtime/tensor.js";
import { connectMqtt } from "../transport/mqtt.js";
import { assertId, DEFAULT_PREFIX, defaultDeviceId, topics } from "../transport/topics.js";
import type { Transport } from "../transport/transport.js";
import type { Encoding } from "../wire/types.js";
import { parseByteSize, parseDuration, parseNumber } from "./flags.js";
import { fmtBytes, printJson, table } from "./output.js";

interface InferFlags {
  split?: string; broker?: string; inputs?: string; out?: string; encoding: string; deviceId?: string;
  timeout: string; retries: string; prefix: string; maxMessageBytes?: string; json?: boolean;
}

/** --encoding names; `int8` is short for int8-row, the better choice when rows differ in scale (docs/wire-format.md §5.3). */
const ENCODING_FLAGS: Readonly<Record<string, Encoding>> = { fp32: "fp32", fp16: "fp16", "int8-tensor": "int8-tensor", "int8-row": "int8-row", int8: "int8-row" };

/** Registers `edgecut infer`. */
export function registerInfer(program: Command): void {
  program.command("infer")
    .description("run a split: segments 0..k-1 here, k..n-1 on a cloud worker over MQTT")
    .argument("<manifest>", "manifest.json of a split (the worker must serve the same split)")
    .option("--split <k>", "split point: 0 (all cloud) .. n (all local, no broker needed)")
    .option("--broker <url>", "MQTT broker URL, e.g. mqtt://127.0.0.1:1883 (needed unless k = n)")
    .option("--inputs <file>", "model inputs as a tensor file (JSON)")
    .option("--out <file>", "write the model outputs as a tensor file (JSON)")
    .option("--encoding <name>", "float32 tensors on the wire: fp32, fp16, int8-tensor, int8-row (int8 = int8-row)", "fp32")
    .option("--device-id <id>", "this device's id on the topics (default: from the hostname)")
    .option("--timeout <duration>", "per-attempt timeout, e.g. 10s, 500ms", "10s")
    .option("--retries <n>", "retries after a timeout, a busy worker, lost fragments or a request that expired in the queue", "2")
    .option("--prefix <prefix>", "topic prefix", DEFAULT_PREFIX)
    .option("--max-message-bytes <size>", "largest MQTT payload, e.g. 65536, 64kib, 1mb; larger frames are fragmented (default: the broker's limit, else 128 MiB; with both, the smaller)")
    .option("--json", "print { outputs, breakdown } as JSON")
    .addHelpText("after", [
      "",
      "Example:",
      "  edgecut infer out/manifest.json --split 1 --broker mqtt://127.0.0.1:1883 --inputs in.json --out out.json",
      "  edgecut infer out/manifest.json --split 3 --inputs in.json      # all local (3 segments): no broker",
    ].join("\n"))
    .action(async (manifestPath: string, flags: InferFlags) => {
      const split = parseSplitFlag(flags.split);
      const encoding = parseEncodingFlag(flags.encoding);
      const timeoutMs = parseDuration("--timeout", flags.timeout) * 1000;
      if (!(timeoutMs > 0)) throw fail("E_USAGE", `--timeout ${flags.timeout}: must be longer than 0`);
      const retries = parseNumber("--retries", flags.retries, { integer: true, min: 0 });
      const maxMessageBytes = flags.maxMessageBytes === undefined ? undefined : parseByteSize("--max-message-bytes", flags.maxMessageBytes);
      topics(flags.prefix);
      const deviceId = flags.deviceId ?? defaultDeviceId();
      assertId("deviceId", deviceId);
      if (flags.inputs === undefined) throw fail("E_USAGE", "--inputs <file> is required: the model inputs as a tensor file (see edgecut infer --help)");

      const loaded = loadManifest(manifestPath);
      const n = loaded.manifest.segments.length;
      if (split > n) throw fail("E_USAGE", `--split ${split}: this split has ${n} segments, so k is 0 (all cloud) to ${n} (all local)`);
      if (split < n && flags.broker === undefined) throw fail("E_USAGE", `--split ${split} runs segments ${split}..${n - 1} in the cloud: give --broker <url> (or --split ${n} to run everything here)`);
      const inputs = readTensorFile(flags.inputs);
      // Checked before the broker is contacted: an unreachable broker must not hide a bad file.
      SplitRunner.fromLoaded(loaded).checkInputs(inputs);

      let transport: Transport | undefined;
      let client: OffloadClient | undefined;
      let runner: SplitRunner | undefined;
      try {
        if (split < n) {
          transport = await connectMqtt({ url: flags.broker! });
          client = new OffloadClient({ transport, deviceId, prefix: flags.prefix, timeoutMs, retries, ...(maxMessageBytes !== undefined ? { maxMessageBytes } : {}) });
          await client.start();
        }
        runner = SplitRunner.fromLoaded(loaded, client ? { client } : {});
        const r = await runner.run(inputs, split, { encoding });
        if (flags.out !== undefined) writeTensorFile(flags.out, r.outputs);
        if (flags.json) printJson({ outputs: describe(r.outputs), breakdown: r.breakdown });
        else printText(r.outputs, r.breakdown, { encoding, deviceId, out: flags.out });
      } finally {
        await runner?.close();
        await client?.close();
        await transport?.close();
      }
    });
}

function parseSplitFlag(v: string | undefined): number {
  if (v === undefined) throw fail("E_USAGE", "--split <k> is required: segments 0..k-1 run here, k..n-1 in the cloud");
  if (!/^\d+$/.test(v.trim())) throw fail("E_USAGE", `--split ${v}: expected an integer k >= 0 (segments 0..k-1 run here)`);
  return Number(v);
}

function parseEncodingFlag(v: string): Encoding {
  const e = Object.hasOwn(ENCODING_FLAGS, v) ? ENCODING_FLAGS[v] : undefined;
  if (e === undefined) throw fail("E_USAGE", `--encoding ${v}: expected one of ${Object.keys(ENCODING_FLAGS).join(", ")}`);
  return e;
}

function describe(outputs: TensorMap): { name: string; type: string; dims: number[] }[] {
  return Object.entries(outputs).map(([name, t]) => ({ name, type: t.type, dims: [...t.dims] }));
}

function ms(v: number): string {
  return `${v.toFixed(1)} ms`;
}

function printText(outputs: TensorMap, b: RunBreakdown, ctx: { encoding: Encoding; deviceId: string; out: string | undefined }): void {
  const where = b.k === b.segments ? `all ${b.segments} segments here, no network`
    : b.k === 0 ? `all ${b.segments} segments in the cloud`
    : `segments 0..${b.k - 1} here, ${b.k}..${b.segments - 1} in the cloud`;
  console.log(`split ${b.k}/${b.segments}: ${where}${b.k < b.segments ? ` (device ${ctx.deviceId}, ${ctx.encoding})` : ""}`);
  console.log(table([["output", "type", "dims"], ...describe(outputs).map((o) => [o.name, o.type, `[${o.dims.join(", ")}]`])]));
  const rows = [["local", ms(b.localMs), b.loadMs > 0 ? `(+ ${ms(b.loadMs)} loading sessions)` : ""]];
  if (b.attempts > 0) {
    const network = Math.max(0, b.roundTripMs - b.cloudComputeMs - b.cloudQueueMs);
    rows.push(
      ["encode", ms(b.encodeMs), `up ${fmtBytes(b.bytesUp)}`],
      ["round trip", ms(b.roundTripMs), `cloud compute ${ms(b.cloudComputeMs)}, queue ${ms(b.cloudQueueMs)}, network and broker ${ms(network)}; ${b.attempts} attempt(s)`],
      ["decode", ms(b.decodeMs), `down ${fmtBytes(b.bytesDown)}`],
    );
  }
  rows.push(["total", ms(b.totalMs), ""]);
  console.log(table(rows));
  if (ctx.out !== undefined) console.log(`outputs written to ${ctx.out}`);
}
