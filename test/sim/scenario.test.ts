// Scenario files: every shipped one loads, bad ones fail with the field and the reason, and the
// timeline applies events (windows, repeats, file order, scales) over the preset.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EdgecutError } from "../../sdk/errors.js";
import { loadProfile } from "../../device-profiles/index.js";
import { resolveLink, simDevice } from "../../device-profiles/sim/network.js";
import { listScenarios, loadScenario, parseScenario, SCENARIOS_DIR } from "../../device-profiles/sim/scenario.js";
import { Timeline } from "../../device-profiles/sim/timeline.js";
import { scenario } from "./support.js";

function rejects(doc: Record<string, unknown>, message: RegExp): void {
  const base = { format: 1, name: "x", description: "d", preset: "wifi-good", durationMs: 1000, interArrivalMs: 100 };
  assert.throws(() => parseScenario({ ...base, ...doc }, "x.json"), (e: unknown) => {
    assert.ok(e instanceof EdgecutError);
    assert.equal(e.code, "E_USAGE");
    assert.match(e.message, /^scenario x\.json: /);
    assert.match(e.message, message);
    return true;
  });
}

describe("scenario files", () => {
  test("the shipped scenarios are there, load, and name their files", () => {
    const names = listScenarios();
    for (const must of ["steady", "bandwidth-drop", "flaky-lte", "cloud-outage", "memory-pressure"]) assert.ok(names.includes(must), must);
    for (const n of names) {
      const s = loadScenario(n);
      assert.equal(s.name, n);
      assert.ok(s.durationMs >= 60_000 && s.interArrivalMs > 0);
      // Every scenario's preset exists on every board.
      assert.doesNotThrow(() => resolveLink(loadProfile("pi4-4gb"), s.preset));
    }
    assert.equal(fs.existsSync(path.join(SCENARIOS_DIR, "steady.json")), true);
  });

  test("an unknown name lists the shipped ones; a file path loads that file", () => {
    assert.throws(() => loadScenario("no-such"), /no scenario "no-such"; shipped: .*bandwidth-drop.*trace:<file>/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-scenario-"));
    try {
      const file = path.join(dir, "mine.json");
      fs.writeFileSync(file, JSON.stringify({ format: 1, name: "mine", description: "d", preset: "lte", durationMs: "10s", interArrivalMs: "2s" }));
      assert.equal(loadScenario(file).durationMs, 10_000);
      fs.writeFileSync(file, "{ not json");
      assert.throws(() => loadScenario(file), /scenario .*mine\.json is not valid JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bad files fail naming the field and what is wrong", () => {
    rejects({ events: [{ from: 0, upMbit: 1, rttMS: 4 }] }, /events\[0\]: unknown key\(s\) "rttMS"/);
    rejects({ events: [{ from: "10s", to: "5s", upMbit: 1 }] }, /events\[0\]\.to: to must be after from/);
    rejects({ events: [{ from: 0, to: 10 }] }, /events\[0\]: an event must set at least one of upMbit/);
    rejects({ durationMs: "ten seconds" }, /durationMs: "ten seconds" is not a duration/);
    rejects({ events: [{ from: 0, to: 10, ramAvailableBytes: "lots" }] }, /ramAvailableBytes: "lots" is not a size/);
    rejects({ events: [{ from: 0, to: 10, cpuLoadPercent: 120 }] }, /events\[0\]\.cpuLoadPercent:/);
    rejects({ events: [{ from: 0, to: 10, repeat: { every: 5 }, rttAddMs: 9 }] }, /repeat\.every: repeat\.every must be at least/);
    rejects({ interArrivalMs: 5000 }, /interArrivalMs: interArrivalMs must not exceed durationMs/);
    rejects({ format: 2 }, /format:/);
    rejects({ description: undefined }, /description: is missing/);
  });

  test("the timeline: events over the preset in file order, scales multiply, repeats recur, steps merge", () => {
    const profile = loadProfile("pi4-4gb");
    const sc = scenario({
      durationMs: "100s",
      events: [
        { from: "10s", to: "30s", upMbit: 2, downMbit: 4 },
        { from: "20s", to: "40s", bandwidthScale: 0.5 },
        { from: "5s", to: "6s", repeat: { every: "20s", until: "50s" }, rttAddMs: 100 },
        { from: "60s", cloudUp: false },
        { from: "70s", to: "80s", cpuLoadPercent: 50, ramAvailableBytes: "1gb" },
      ],
    });
    const tl = new Timeline(sc, simDevice(profile), resolveLink(profile, "wifi-good"));
    const at = (s: number): ReturnType<typeof tl.at> => tl.at(s * 1000);
    assert.deepEqual([at(0).upMbit, at(0).downMbit, at(0).rttMs], [80, 100, 3]);
    assert.equal(at(0).ramAvailableBytes, Math.floor(4 * 2 ** 30 * 0.8));
    assert.deepEqual([at(15).upMbit, at(15).downMbit], [2, 4]);
    assert.deepEqual([at(25).upMbit, at(25).downMbit], [1, 2], "set, then scaled (file order)");
    assert.deepEqual([at(35).upMbit, at(35).downMbit], [40, 50]);
    assert.deepEqual([at(5.5).rttMs, at(25.5).rttMs, at(45.5).rttMs, at(65.5).rttMs], [103, 103, 103, 3], "repeats until 50 s");
    assert.equal(at(6).rttMs, 3, "a window ends exclusive");
    assert.deepEqual([at(59.9).cloudUp, at(60).cloudUp, at(500).cloudUp], [true, false, false], "open-ended, and holds after the end");
    assert.deepEqual([at(75).cpuLoadPercent, at(75).ramAvailableBytes], [50, 2 ** 30]);
    assert.equal(tl.firstTimeFrom(61_000, (c) => c.cloudUp), null);
    assert.equal(tl.firstTimeFrom(12_000, (c) => c.upMbit > 10), 30_000);
    const ts = tl.stepList().map((s) => s.t);
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
    assert.equal(new Set(ts).size, ts.length);
  });
});
