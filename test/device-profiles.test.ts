// The shipped device profiles and shared network presets as data: every file parses, every number
// is a sourced figure, ids equal file names, every board has every preset, the README lists them;
// and networks.json's own checks (missing presets, aliases, sources) and the preset API.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  listNetworkPresets, listProfiles, loadNetworkPreset, loadProfile, NETWORKS_FILE, parseNetworks, PROFILES_DIR, SHARED_PRESETS,
  type NetworksFile,
} from "../device-profiles/index.js";
import { throwsCode } from "./support/throws.js";

const SHIPPED = ["jetson-orin-nano-8gb", "pi-zero-2w", "pi3b-plus", "pi4-2gb", "pi4-4gb", "pi4-8gb", "pi5-4gb", "pi5-8gb", "x86-n100"];
const read = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(PROFILES_DIR, file), "utf8"));
const networks = (): NetworksFile => read(NETWORKS_FILE) as NetworksFile;


/**
 * Every number in a shipped file other than `format` must be the `value` of a figure with a source
 * (an http(s) URL, or "assumption" with a note): returns the paths that are not.
 */
function unsourced(node: unknown, at: string, out: string[]): string[] {
  if (Array.isArray(node)) node.forEach((v, i) => unsourced(v, `${at}[${i}]`, out));
  else if (node !== null && typeof node === "object") {
    const o = node as Record<string, unknown>;
    if ("value" in o) {
      const ok = typeof o.source === "string" && (/^https?:\/\/\S+$/.test(o.source) || (o.source === "assumption" && typeof o.note === "string" && o.note.length > 0));
      if (!ok) out.push(at);
      return out;
    }
    for (const [k, v] of Object.entries(o)) if (!(at === "" && k === "format")) unsourced(v, at ? `${at}.${k}` : k, out);
  } else if (typeof node === "number") out.push(at);
  return out;
}

test("the shipped boards: every file parses, its id is its file name, every number is a sourced figure", () => {
  assert.deepEqual(listProfiles(), SHIPPED);
  for (const id of SHIPPED) {
    const p = loadProfile(id);
    assert.equal(p.id, id);
    assert.deepEqual(unsourced(read(`${id}.json`), "", []), [], `${id}.json: figures without a source`);
  }
  assert.deepEqual(unsourced(read(NETWORKS_FILE), "", []), [], `${NETWORKS_FILE}: figures without a source`);
  // The audit itself catches a bare number and an assumption without a note.
  assert.deepEqual(unsourced({ format: 1, a: { b: 3 }, c: { value: 1, source: "assumption" }, d: { value: 2, source: "https://x.y/z" } }, "", []), ["a.b", "c"]);
});

test("the shipped boards: datasheet figures and the relative-speed ladder", () => {
  const p = Object.fromEntries(SHIPPED.map((id) => [id, loadProfile(id)]));
  const gib = 2 ** 30;
  const ram = Object.fromEntries(SHIPPED.map((id) => [id, p[id]!.ramBytes.value / gib]));
  assert.deepEqual(ram, { "jetson-orin-nano-8gb": 8, "pi-zero-2w": 0.5, "pi3b-plus": 1, "pi4-2gb": 2, "pi4-4gb": 4, "pi4-8gb": 8, "pi5-4gb": 4, "pi5-8gb": 8, "x86-n100": 16 });
  assert.equal(p["jetson-orin-nano-8gb"]!.cpu.cores.value, 6);
  assert.match(p["jetson-orin-nano-8gb"]!.cpu.relativeSpeed.note ?? "", /GPU is not used/);
  assert.equal(p["x86-n100"]!.cpu.arch, "x64");
  for (const id of ["pi4-2gb", "pi4-4gb", "pi4-8gb"]) assert.equal(p[id]!.cpu.relativeSpeed.value, 1, id);
  for (const id of ["pi5-4gb", "pi5-8gb"]) assert.equal(p[id]!.cpu.relativeSpeed.value, 2.5, id);
  const speed = (id: string): number => p[id]!.cpu.relativeSpeed.value;
  const ladder = ["pi-zero-2w", "pi3b-plus", "pi4-4gb", "jetson-orin-nano-8gb", "pi5-8gb", "x86-n100"];
  for (let i = 1; i < ladder.length; i++) assert.ok(speed(ladder[i - 1]!) < speed(ladder[i]!), `${ladder[i - 1]} slower than ${ladder[i]}`);
});

test("presets: networks.json holds the six shared presets in order, every board has all of them", () => {
  assert.deepEqual(listNetworkPresets(), [...SHARED_PRESETS]);
  for (const id of SHIPPED) {
    const net = loadProfile(id).network;
    assert.deepEqual(Object.keys(net), [...SHARED_PRESETS], id);
    for (const preset of Object.values(net)) assert.ok(preset.description, `${id}: every preset says what link it is`);
  }
  // Within each family a later preset is a worse link: less throughput both ways, a longer round trip.
  for (const family of [["ethernet", "wifi-good", "wifi-poor"], ["lte", "3g", "lte-m"]]) {
    for (let i = 1; i < family.length; i++) {
      const [a, b] = [loadNetworkPreset(family[i - 1]!), loadNetworkPreset(family[i]!)];
      assert.ok(b.upMbit.value < a.upMbit.value && b.downMbit.value < a.downMbit.value && b.rttMs.value >= a.rttMs.value, `${family[i]} worse than ${family[i - 1]}`);
    }
  }
});

test("loadNetworkPreset: a shared preset, an alias, an unknown name", () => {
  assert.equal(loadNetworkPreset("lte-m").upMbit.value, 0.375);
  assert.equal(loadNetworkPreset("wifi"), loadNetworkPreset("wifi-good"));
  assert.ok(!listNetworkPresets().includes("wifi"));
  throwsCode(() => loadNetworkPreset("5g"), "E_USAGE", /no network preset "5g"; the presets are ethernet, wifi-good, wifi-poor, lte, 3g, lte-m/);
  // A board's override is the board's business: the shared ethernet stays gigabit.
  assert.equal(loadNetworkPreset("ethernet").upMbit.value, 940);
  assert.equal(loadProfile("pi-zero-2w").network.ethernet!.upMbit.value, 94);
});

test("bad networks.json files give E_PROFILE naming the field", () => {
  const cases: [(n: NetworksFile & Record<string, unknown>) => void, RegExp][] = [
    [(n) => delete (n.presets as Record<string, unknown>)["lte-m"], /presets: is missing preset\(s\) lte-m/],
    [(n) => delete (n.presets.lte!.rttMs as { source?: string }).source, /presets\.lte\.rttMs\.source: is missing/],
    [(n) => (n.presets["3g"]!.downMbit.source = "opensignal"), /presets\.3g\.downMbit\.source: must be an http\(s\) URL/],
    [(n) => delete n.presets.ethernet!.jitterMs.note, /presets\.ethernet\.jitterMs\.note: is missing: an "assumption" needs a note/],
    [(n) => ((n.presets.lte as Record<string, unknown>).bandwidth = 5), /presets\.lte: unknown key\(s\) "bandwidth"/],
    [(n) => (n.extra = true), /\(top level\): unknown key\(s\) "extra"/],
    [(n) => (n.aliases = { wlan: "wifi-best" }), /aliases\.wlan: points to "wifi-best", which is not a preset/],
    [(n) => (n.aliases = { lte: "3g" }), /aliases\.lte: is also a preset name/],
    [(n) => (n.presets["4G"] = n.presets.lte!), /presets\.4G: is not a valid name/],
    [(n) => (n.format = 2 as 1), /format:/],
  ];
  for (const [breakIt, msg] of cases) {
    const n = networks() as NetworksFile & Record<string, unknown>;
    breakIt(n);
    throwsCode(() => parseNetworks(JSON.stringify(n), "nets.json"), "E_PROFILE", /network presets nets\.json: /, msg);
  }
  throwsCode(() => parseNetworks("[", "nets.json"), "E_PROFILE", /nets\.json is not valid JSON/);
  assert.deepEqual(parseNetworks(JSON.stringify(networks()), "ok.json"), networks());
});

test("the README table lists every board and every preset with its key figures", () => {
  const readme = fs.readFileSync(path.join(PROFILES_DIR, "README.md"), "utf8");
  for (const id of SHIPPED) {
    const p = loadProfile(id);
    const row = readme.split("\n").find((l) => l.startsWith(`| \`${id}\` |`));
    assert.ok(row, `README has a row for ${id}`);
    assert.ok(row.includes(` ${p.cpu.relativeSpeed.value} `) || row.includes(` ${p.cpu.relativeSpeed.value.toFixed(1)} `), `${id}: relative speed ${p.cpu.relativeSpeed.value} in ${row}`);
  }
  for (const name of listNetworkPresets()) {
    const n = loadNetworkPreset(name);
    const row = readme.split("\n").find((l) => l.startsWith(`| \`${name}\` |`));
    assert.ok(row, `README has a row for preset ${name}`);
    for (const v of [n.upMbit.value, n.downMbit.value, n.rttMs.value]) assert.ok(row.includes(` ${v} `), `${name}: ${v} in ${row}`);
  }
});
