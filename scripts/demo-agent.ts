/**
 * The second half of `npm run demo`: the device agent choosing the split while it runs. The agent
 * core runs here against the demo's broker and worker, with the link shaper in its transport and
 * its local compute stretched as on a board 20x slower than this machine. On a fast link it
 * offloads; when the link drops to 1 Mbit/s it moves the split to the device; when it recovers it
 * offloads again. Prints one line per change.
 */
import { Agent } from "../agent/core/agent.js";
import { systemClock } from "../agent/clock.js";
import { FakeSampler } from "../agent/monitor/index.js";
import { openStore } from "../agent/store/index.js";
import type { TensorMap } from "../sdk/runtime/tensor.js";
import { connectMqtt } from "../sdk/transport/mqtt.js";
import { shapeTransport } from "../sdk/transport/shaper.js";

const MBIT = 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs the agent part of the demo; resolves when the three link phases are done. */
export async function agentDemo(brokerUrl: string, manifestPath: string, inputs: TensorMap): Promise<void> {
  const store = openStore(":memory:");
  const link = shapeTransport(await connectMqtt({ url: brokerUrl }), { upBitsPerSec: 100 * MBIT, downBitsPerSec: 100 * MBIT, delayMs: 1 });
  // The board's readings are scripted (an idle Pi 4); its slowness is real time, waited out per segment.
  const agent = await Agent.start({
    deviceId: "demo-agent", manifestPath, store, transport: link, sampler: new FakeSampler({ clock: systemClock }),
    localSlowdown: 20, intraOpThreads: 1, sampleIntervalMs: 100, network: { probeIntervalMs: 250 },
    telemetry: { flushIntervalMs: 1000, publishIntervalMs: 0 }, planner: { ramMarginBytes: 0 },
    // A demo of seconds: a switch is confirmed over 0.3 s (the service's default is 5 s).
    policy: { confirmMs: 300 },
  });
  const n = agent.manifest.segments.length;
  const where = (k: number): string => (k === 0 ? "all in the cloud" : k === n ? "all on the device" : `${k} of ${n} segments on the device`);
  let count = 0;
  /** Requests for `ms`, then where the last ones ran, the switches and the fallbacks so far. */
  const phase = async (label: string, ms: number): Promise<void> => {
    const seen: number[] = [];
    const until = performance.now() + ms;
    while (performance.now() < until) {
      const r = await agent.infer(inputs);
      count++;
      seen.push(r.split);
      await sleep(20);
    }
    const last = seen.slice(-5);
    const k = last[last.length - 1]!;
    console.log(`  ${label.padEnd(26)} ${String(seen.length).padStart(3)} requests, the last at split ${last.join(",")} (${where(k)}); ${agent.status().switches} switch(es), ${agent.fallbacks} offload(s) timed out and ran here`);
  };
  try {
    console.log(`\nagent: a board 20x slower than this machine, the same worker, the link shaped in its transport`);
    await phase("link 100 Mbit/s, 1 ms:", 1500);
    link.setLink({ upBitsPerSec: 1 * MBIT, downBitsPerSec: 1 * MBIT, delayMs: 20 });
    await phase("link drops to 1 Mbit/s:", 2500);
    link.setLink({ upBitsPerSec: 100 * MBIT, downBitsPerSec: 100 * MBIT, delayMs: 1 });
    await phase("link back at 100 Mbit/s:", 2500);
    console.log(`  ${count} requests; the live plan table: edgecut status (against a running edgecut agent)`);
  } finally {
    await agent.stop();
    await link.close();
    store.close();
  }
}
