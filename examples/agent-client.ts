/**
 * agent-client: an app that calls the edgecut agent running on this device, over its local HTTP
 * API (connectAgent). It prints the agent's status, runs one request — directly, or queued under
 * an Idempotency-Key and waited for (--queue) — and prints the outputs and where the time went.
 *
 * The app is written against the AgentClient interface only, so with --manifest the very same
 * code runs the agent core inside this process instead (createInference): one line differs.
 *
 *   npx tsx examples/agent-client.ts --url http://127.0.0.1:8787
 *   npx tsx examples/agent-client.ts --socket /run/edgecut/agent.sock --queue order-42 --out outputs.json
 *   npx tsx examples/agent-client.ts --manifest cnn-split/manifest.json
 */
import { Command, InvalidArgumentError } from "commander";
import { EdgecutError, ERRORS, fail, type ErrorCode } from "../sdk/errors.js";
import { connectAgent, createInference, type AgentClient, type InferResult } from "../sdk/infer/index.js";
import { readTensorFile, writeTensorFile } from "../sdk/runtime/tensor-file.js";
import type { HostTensor } from "../sdk/runtime/tensor.js";
import { syntheticInputs } from "./synthetic-inputs.js";

interface Flags {
  url?: string;
  socket?: string;
  manifest?: string;
  inputs?: string;
  seed: number;
  split?: number;
  queue?: string;
  timeout: number;
  out?: string;
  json?: boolean;
}

function integer(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

const out = (line = ""): void => { process.stdout.write(`${line}\n`); };

/** The first few values of a tensor, for a glance. */
function preview(t: HostTensor, n = 6): string {
  const vals = Array.from(t.data as ArrayLike<unknown>).slice(0, n).map((v) => (typeof v === "number" ? Number(v.toPrecision(6)) : String(v)));
  return `[${vals.join(", ")}${t.data.length > n ? ", ..." : ""}]`;
}

/** The one line that picks the implementation; everything after it is the same for both. */
async function connect(flags: Flags): Promise<AgentClient> {
  if (flags.manifest !== undefined) return createInference({ manifest: flags.manifest });
  return connectAgent({
    ...(flags.socket !== undefined ? { socketPath: flags.socket } : { url: flags.url ?? "http://127.0.0.1:8787" }),
    timeoutMs: flags.timeout,
  });
}

async function run(flags: Flags): Promise<void> {
  if ([flags.url, flags.socket, flags.manifest].filter((v) => v !== undefined).length > 1) {
    throw fail("E_USAGE", "give one of --url, --socket or --manifest");
  }
  if (flags.queue !== undefined && flags.split !== undefined) throw fail("E_USAGE", "--split applies to direct requests; a queued one (--queue) runs at the agent's split");
  const agent = await connect(flags);
  try {
    const status = await agent.status();
    const sig = await agent.signature();
    const inputs = flags.inputs !== undefined ? readTensorFile(flags.inputs) : syntheticInputs(sig.inputs, flags.seed);
    let result: InferResult;
    let queued: { id: string; created: boolean } | undefined;
    if (flags.queue !== undefined) {
      const s = await agent.submit(flags.queue, inputs);
      queued = { id: s.id, created: s.created };
      const final = await agent.waitFor(s.id, { timeoutMs: flags.timeout });
      if (final.status === "failed") {
        const code = Object.hasOwn(ERRORS, final.error.code) ? (final.error.code as ErrorCode) : "E_INTERNAL";
        throw new EdgecutError(code, `queued request ${s.id} failed: ${final.error.message}`);
      }
      if (final.status !== "done") throw fail("E_INTERNAL", `waitFor returned request ${s.id} still ${final.status}`);
      result = final.result;
    } else {
      result = await agent.infer(inputs, { timeoutMs: flags.timeout, ...(flags.split !== undefined ? { split: flags.split } : {}) });
    }
    if (flags.out !== undefined) writeTensorFile(flags.out, result.outputs);

    const outputs = Object.entries(result.outputs).map(([name, t]) => ({ name, type: t.type, dims: t.dims }));
    if (flags.json) {
      out(JSON.stringify({
        agent: { deviceId: status.deviceId, version: status.version, split: status.split, action: status.action, ready: status.ready, segments: status.model.segments },
        request: { id: result.requestId, ...(queued !== undefined ? { queued: true, created: queued.created } : { queued: false }), split: result.split, breakdown: result.breakdown },
        outputs,
      }, null, 2));
      return;
    }
    out(`agent ${status.deviceId} (edgecut ${status.version}): ${status.model.segments} segments, split ${status.split ?? "none"} (${status.action}: ${status.reason})`);
    const b = result.breakdown;
    const how = queued === undefined ? "ran" : queued.created ? "queued and ran" : "was queued before under this key; its result";
    out(`request ${result.requestId} ${how} at split ${result.split}: ${b.totalMs.toFixed(1)} ms (local ${b.localMs.toFixed(1)}, round trip ${b.roundTripMs.toFixed(1)}), ${b.bytesUp} B up, ${b.bytesDown} B down`);
    for (const o of outputs) out(`  ${o.name}: ${o.type} [${o.dims.join(", ")}] ${preview(result.outputs[o.name]!)}`);
    if (flags.out !== undefined) out(`outputs written to ${flags.out}`);
  } finally {
    await agent.close();
  }
}

const program = new Command("agent-client")
  .description("call the edgecut agent on this device over its local API (or, with --manifest, the same calls in-process)")
  .option("--url <url>", "the agent API's address (default http://127.0.0.1:8787)")
  .option("--socket <path>", "the agent API's unix socket, e.g. /run/edgecut/agent.sock")
  .option("--manifest <file>", "no agent service: embed the agent core in this process on this split (createInference)")
  .option("--inputs <file>", "a tensor file (JSON) with every model input (default: synthetic inputs from the model's signature)")
  .option("--seed <n>", "seed of the synthetic inputs", integer(0), 1)
  .option("--split <k>", "run at split point k instead of the agent's choice", integer(0))
  .option("--queue <key>", "submit as a queued request under this Idempotency-Key and wait for it (the same key never runs twice)")
  .option("--timeout <ms>", "deadline of each call, and of waiting for a queued request", integer(1), 30_000)
  .option("--out <file>", "write the outputs as a tensor file (exact values)")
  .option("--json", "print one JSON document: the agent, the request, the outputs' shapes")
  .addHelpText("after", [
    "",
    "Examples:",
    "  npx tsx examples/agent-client.ts --url http://127.0.0.1:8787",
    "  npx tsx examples/agent-client.ts --socket /run/edgecut/agent.sock --queue order-42 --out outputs.json",
    "  npx tsx examples/agent-client.ts --manifest cnn-split/manifest.json --json",
  ].join("\n"))
  .action((flags: Flags) => run(flags));

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof EdgecutError) {
    process.stderr.write(`agent-client: ${e.code}: ${e.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`agent-client: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 3;
  }
});
