// The embedded aedes broker and `edgecut broker`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { main } from "../../sdk/cli/main.js";
import { EdgecutError } from "../../sdk/errors.js";
import { startEmbeddedBroker } from "../../sdk/transport/embedded-broker.js";
import { connectMqtt } from "../../sdk/transport/mqtt.js";
import { freePort } from "../support/brokers.js";
import { Inbox } from "../support/inbox.js";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const MAIN_TS = path.join(ROOT, "sdk", "cli", "main.ts");

test("port 0 picks a free port; clients talk through it; close() frees the port", async () => {
  const broker = await startEmbeddedBroker();
  assert.ok(broker.port > 0);
  assert.equal(broker.url, `mqtt://127.0.0.1:${broker.port}`);
  const t = await connectMqtt({ url: broker.url, reconnectPeriodMs: 50 });
  const inbox = new Inbox();
  await t.subscribe("e/x", inbox.handler);
  await t.publish("e/x", new Uint8Array([42]));
  await inbox.waitFor(1);
  const down = new Promise<void>((resolve) => t.on("disconnected", resolve));
  await broker.close();
  await broker.close();
  await down;
  await t.close();
  // The port is free again: a new broker can take it at once.
  const again = await startEmbeddedBroker({ port: broker.port });
  await again.close();
});

test("a port in use is E_BROKER naming the url; a bad port is E_USAGE", async () => {
  const first = await startEmbeddedBroker();
  try {
    await assert.rejects(startEmbeddedBroker({ port: first.port }), (e: unknown) =>
      e instanceof EdgecutError && e.code === "E_BROKER" && e.message.includes(first.url) && /in use/.test(e.message));
  } finally {
    await first.close();
  }
  await assert.rejects(startEmbeddedBroker({ port: 70000 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE");
  await assert.rejects(startEmbeddedBroker({ port: 1.5 }), (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE");
});

/** Runs `edgecut broker <args>` as a process; resolves with the first stdout line and the child. */
function runBroker(args: string[]): Promise<{ line: string; child: ReturnType<typeof spawn>; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN_TS, "broker", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (b: Buffer) => { err += b.toString(); });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) resolve({ line: out.slice(0, nl), child, output: () => out });
    });
    child.once("exit", (code) => reject(new Error(`edgecut broker exited with ${code} before printing: ${out}${err}`)));
  });
}

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

test("edgecut broker prints its url, serves clients and stops cleanly on SIGTERM", async () => {
  const port = await freePort();
  const { line, child, output } = await runBroker(["--port", String(port)]);
  assert.match(line, new RegExp(`listening on mqtt://127\\.0\\.0\\.1:${port}`));
  const t = await connectMqtt({ url: `mqtt://127.0.0.1:${port}` });
  assert.equal(t.protocolVersion, 4);
  await t.close();
  const exited = exitOf(child);
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.match(output(), /SIGTERM, stopped/);
});

test("edgecut broker --json --port 0 prints { url, port } and stops cleanly on SIGINT", async () => {
  const { child, output } = await runBroker(["--json", "--port", "0"]);
  const exited = exitOf(child);
  // The JSON document spans several lines; wait for its end.
  while (!output().includes("}")) await new Promise((r) => setTimeout(r, 10));
  const doc = JSON.parse(output()) as { url: string; port: number };
  assert.ok(doc.port > 0);
  assert.equal(doc.url, `mqtt://127.0.0.1:${doc.port}`);
  const t = await connectMqtt({ url: doc.url });
  await t.close();
  child.kill("SIGINT");
  assert.equal(await exited, 0);
});

/** Runs main(argv) in-process with stdout/stderr text captured (binary chunks of the test runner pass through). */
async function runMain(argv: string[]): Promise<{ code: number; text: string }> {
  let text = "";
  const streams = [process.stdout, process.stderr] as const;
  const saved = streams.map((s) => s.write);
  streams.forEach((stream, i) => {
    const original = saved[i]!;
    stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      if (typeof chunk !== "string") return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
      text += chunk;
      return true;
    }) as typeof stream.write;
  });
  try {
    return { code: await main(argv), text };
  } finally {
    streams.forEach((stream, i) => { stream.write = saved[i]!; });
  }
}

test("edgecut broker: bad --port is a usage error (exit 2), a port in use E_BROKER; --help has an example", async () => {
  const badPort = await runMain(["broker", "--port", "abc"]);
  assert.equal(badPort.code, 2);
  assert.match(badPort.text, /E_USAGE: --port abc/);
  const busy = await startEmbeddedBroker();
  try {
    const inUse = await runMain(["broker", "--port", String(busy.port)]);
    assert.equal(inUse.code, 2);
    assert.match(inUse.text, /E_BROKER: cannot listen on .* in use/);
  } finally {
    await busy.close();
  }
  const help = await runMain(["broker", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.text, /Example:\n\s+edgecut broker --port 1883/);
});
