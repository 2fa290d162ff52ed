import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pino } from "pino";
import { FakeClock } from "../../agent/clock.js";
import {
  createSystemSampler, decodeThrottled, FakeSampler, GET_THROTTLED, parseThrottledText, THERMAL_ZONE0,
  type MonitorLog, type SystemInfoSource,
} from "../../agent/monitor/index.js";
import { EdgecutError } from "../../sdk/errors.js";

// A pino Logger must be usable as the monitor's log (compile-time check).
const _pinoFits: MonitorLog = pino({ level: "silent" });

/** A temp dir laid out like a Pi's /sys with the given files (paths relative to the root). */
const roots: string[] = [];
after(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));
function fakeRoot(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-sys-"));
  roots.push(root);
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  return root;
}

/** Collects debug notes. */
function recorder(): MonitorLog & { msgs: string[] } {
  const msgs: string[] = [];
  return { msgs, debug: (_f, msg) => void msgs.push(msg) };
}

/** Scripted RAM and load, counting currentLoad calls. */
function fakeInfo(loads: number[], mem = { total: 4 * 2 ** 30, available: 2 ** 30 }): SystemInfoSource & { loadCalls: number } {
  const src = {
    loadCalls: 0,
    mem: () => Promise.resolve(mem),
    currentLoad: () => Promise.resolve({ currentLoad: loads[Math.min(src.loadCalls++, loads.length - 1)]! }),
  };
  return src;
}

/** Drives the sampler's one wait (200 ms after the baseline) on a fake clock. */
async function sampleOn(clock: FakeClock, sampler: { sample(): Promise<unknown> }): Promise<unknown> {
  const p = sampler.sample();
  p.catch(() => undefined); // a rejection is the caller's to check, after the clock has moved
  await clock.advanceAsync(250);
  return p;
}

test("decodeThrottled: 0x50005 = under-voltage and throttled now, both also since boot", () => {
  assert.deepEqual(decodeThrottled(0x50005), {
    raw: 0x50005,
    underVoltage: true, armFrequencyCapped: false, throttled: true, softTempLimit: false,
    underVoltageOccurred: true, armFrequencyCappedOccurred: false, throttledOccurred: true, softTempLimitOccurred: false,
  });
  const all = decodeThrottled(0xf000f);
  assert.ok(Object.entries(all).every(([k, v]) => k === "raw" || v === true));
  const none = decodeThrottled(0);
  assert.ok(Object.entries(none).every(([k, v]) => k === "raw" || v === false));
  assert.equal(decodeThrottled(0x80000).softTempLimitOccurred, true);
  assert.equal(decodeThrottled(0x2).armFrequencyCapped, true);
});

test("parseThrottledText: sysfs bare hex and vcgencmd output; garbage is undefined", () => {
  assert.equal(parseThrottledText("50005\n"), 0x50005);
  assert.equal(parseThrottledText("throttled=0x50005\n"), 0x50005);
  assert.equal(parseThrottledText("0"), 0);
  for (const bad of ["", "  \n", "zz", "0x", "throttled=", "123456789", "-5", "5 5"]) assert.equal(parseThrottledText(bad), undefined, bad);
});

test("system sampler on a Pi-like fake /sys: temperature and throttling flags", async () => {
  const root = fakeRoot({ [THERMAL_ZONE0]: "48312\n", [GET_THROTTLED]: "50005\n" });
  const clock = new FakeClock();
  const info = fakeInfo([99, 42.5]);
  const s = createSystemSampler({ sysRoot: root, systemInfo: info, clock, cores: 4 });
  const sample = await sampleOn(clock, s);
  assert.deepEqual(sample, {
    ramAvailableBytes: 2 ** 30, ramTotalBytes: 4 * 2 ** 30, cpuLoadPercent: 42.5, cores: 4,
    temperatureC: 48.312, throttled: decodeThrottled(0x50005),
  });
  // The baseline reading (99, "since boot") was taken at creation and thrown away.
  assert.equal(info.loadCalls, 2);
});

test("system sampler waits 200 ms after the baseline before its first load reading", async () => {
  const clock = new FakeClock();
  const info = fakeInfo([0, 10]);
  const s = createSystemSampler({ sysRoot: fakeRoot({}), systemInfo: info, clock, cores: 1 });
  let done = false;
  const p = s.sample().then((v) => ((done = true), v));
  await clock.advanceAsync(150);
  assert.equal(done, false);
  assert.equal(info.loadCalls, 1);
  await clock.advanceAsync(100);
  assert.equal((await p).cpuLoadPercent, 10);
  // Later samples do not wait.
  assert.equal((await s.sample()).cpuLoadPercent, 10);
});

test("system sampler finds get_throttled under another platform device (Pi 5 naming)", async () => {
  const root = fakeRoot({ "sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled": "4\n" });
  const clock = new FakeClock();
  const s = createSystemSampler({ sysRoot: root, systemInfo: fakeInfo([0, 1]), clock, cores: 4 });
  const sample = (await sampleOn(clock, s)) as { throttled?: { throttled: boolean; raw: number } };
  assert.equal(sample.throttled?.raw, 4);
  assert.equal(sample.throttled?.throttled, true);
});

test("system sampler off a Pi: no files, no temperature, no flags, no notes, no vcgencmd", async () => {
  const log = recorder();
  const clock = new FakeClock();
  const s = createSystemSampler({ sysRoot: fakeRoot({}), systemInfo: fakeInfo([0, 1]), clock, cores: 2, log });
  const sample = await sampleOn(clock, s);
  assert.deepEqual(sample, { ramAvailableBytes: 2 ** 30, ramTotalBytes: 4 * 2 ** 30, cpuLoadPercent: 1, cores: 2 });
  assert.deepEqual(log.msgs, []);
});

test("system sampler ignores garbage in /sys with one debug note each, and recovers", async () => {
  const root = fakeRoot({ [THERMAL_ZONE0]: "hot\n", [GET_THROTTLED]: "not hex\n" });
  const log = recorder();
  const clock = new FakeClock();
  const s = createSystemSampler({ sysRoot: root, systemInfo: fakeInfo([0, 1]), clock, cores: 4, log });
  const first = (await sampleOn(clock, s)) as Record<string, unknown>;
  assert.equal(first.temperatureC, undefined);
  assert.equal(first.throttled, undefined);
  assert.equal(log.msgs.length, 2);
  assert.match(log.msgs.join("\n"), /thermal zone 0/);
  assert.match(log.msgs.join("\n"), /get_throttled is not a hex word/);
  await s.sample();
  assert.equal(log.msgs.length, 2, "the same problem is noted once, not at every sample");
  // Implausible values are garbage too.
  fs.writeFileSync(path.join(root, THERMAL_ZONE0), "900000\n");
  assert.equal((await s.sample()).temperatureC, undefined);
  fs.writeFileSync(path.join(root, THERMAL_ZONE0), "51000\n");
  fs.writeFileSync(path.join(root, GET_THROTTLED), "0\n");
  const ok = await s.sample();
  assert.equal(ok.temperatureC, 51);
  assert.equal(ok.throttled?.raw, 0);
});

test("system sampler falls back to vcgencmd, and stops calling it when it is not installed", async () => {
  const clock = new FakeClock();
  const out = await sampleOn(clock, createSystemSampler({
    sysRoot: fakeRoot({}), systemInfo: fakeInfo([0, 1]), clock, cores: 4, vcgencmd: () => Promise.resolve("throttled=0x50000\n"),
  })) as { throttled?: { raw: number; underVoltage: boolean; underVoltageOccurred: boolean } };
  assert.equal(out.throttled?.raw, 0x50000);
  assert.equal(out.throttled?.underVoltage, false);
  assert.equal(out.throttled?.underVoltageOccurred, true);

  let calls = 0;
  const missing = (): Promise<string> => {
    calls++;
    return Promise.reject(Object.assign(new Error("spawn vcgencmd ENOENT"), { code: "ENOENT" }));
  };
  const log = recorder();
  const c2 = new FakeClock();
  const s = createSystemSampler({ sysRoot: fakeRoot({}), systemInfo: fakeInfo([0, 1]), clock: c2, cores: 4, vcgencmd: missing, log });
  await sampleOn(c2, s);
  await s.sample();
  assert.equal(calls, 1);
  assert.match(log.msgs.join("\n"), /no vcgencmd/);
});

test("system sampler clamps load to 0..100 and available RAM to 0..total; a broken mem source is E_IO", async () => {
  const clock = new FakeClock();
  const info = fakeInfo([0, 104, -3, Number.NaN], { total: 1000, available: 2000 });
  const s = createSystemSampler({ sysRoot: fakeRoot({}), systemInfo: info, clock, cores: 1 });
  const a = (await sampleOn(clock, s)) as { cpuLoadPercent: number; ramAvailableBytes: number };
  assert.equal(a.cpuLoadPercent, 100);
  assert.equal(a.ramAvailableBytes, 1000);
  assert.equal((await s.sample()).cpuLoadPercent, 0);
  assert.equal((await s.sample()).cpuLoadPercent, 0, "NaN repeats the previous reading");

  const broken = createSystemSampler({
    sysRoot: fakeRoot({}), clock, cores: 1,
    systemInfo: { mem: () => Promise.resolve({ total: 0, available: 0 }), currentLoad: () => Promise.resolve({ currentLoad: 1 }) },
  });
  await assert.rejects(sampleOn(clock, broken), (e: unknown) => e instanceof EdgecutError && e.code === "E_IO" && /memory figures/.test(e.message));
  assert.throws(() => createSystemSampler({ cores: 0 }), EdgecutError);
});

test("FakeSampler replays its script over fake time", async () => {
  const clock = new FakeClock();
  const s = new FakeSampler({
    clock,
    steps: [
      { atMs: 1000, sample: { cpuLoadPercent: 90 } },
      { atMs: 2000, sample: { ramAvailableBytes: 300e6, temperatureC: 81 } },
    ],
  });
  assert.equal((await s.sample()).cpuLoadPercent, 5);
  clock.advance(1000);
  assert.equal((await s.sample()).cpuLoadPercent, 90);
  clock.advance(1500);
  const late = await s.sample();
  assert.deepEqual([late.cpuLoadPercent, late.ramAvailableBytes, late.temperatureC], [90, 300e6, 81]);
  s.set({ cpuLoadPercent: 10 });
  assert.equal((await s.sample()).cpuLoadPercent, 10);
  assert.equal((await s.sample()).ramAvailableBytes, 300e6);
  s.failNext();
  await assert.rejects(s.sample(), /scripted failure/);
  assert.equal((await s.sample()).cpuLoadPercent, 10);
  assert.equal(s.calls, 7);
  assert.throws(() => new FakeSampler({ clock, steps: [{ atMs: 5, sample: {} }, { atMs: 1, sample: {} }] }), EdgecutError);
});

test("the real sampler on this machine gives plausible values", async () => {
  const s = createSystemSampler();
  const a = await s.sample();
  const b = await s.sample();
  for (const x of [a, b]) {
    assert.ok(x.ramTotalBytes > 0, `ramTotalBytes ${x.ramTotalBytes}`);
    assert.ok(x.ramAvailableBytes > 0 && x.ramAvailableBytes <= x.ramTotalBytes, `ramAvailableBytes ${x.ramAvailableBytes} of ${x.ramTotalBytes}`);
    assert.ok(x.cpuLoadPercent >= 0 && x.cpuLoadPercent <= 100, `cpuLoadPercent ${x.cpuLoadPercent}`);
    assert.ok(Number.isInteger(x.cores) && x.cores >= 1 && x.cores <= os.cpus().length, `cores ${x.cores}`);
    assert.equal(x.ramTotalBytes, os.totalmem(), "total RAM matches Node's");
    if (x.temperatureC !== undefined) assert.ok(x.temperatureC > -60 && x.temperatureC < 150, `temperatureC ${x.temperatureC}`);
  }
});
