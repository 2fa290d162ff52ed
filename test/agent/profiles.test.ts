import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listProfiles, loadProfile, parseProfile, PROFILES_DIR, ProfileSchema, SHARED_PRESETS, type ProfileFile } from "../../device-profiles/index.js";
import { throwsCode } from "../support/throws.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-profiles-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A deep copy of a shipped profile file to break (as written: its own presets only). */
function raw(id: string): ProfileFile {
  return JSON.parse(fs.readFileSync(path.join(PROFILES_DIR, `${id}.json`), "utf8")) as ProfileFile;
}
/** The Pi 3 B+ file: it has a board preset of its own (network.ethernet) to break. */
const board = (): ProfileFile & { network: NonNullable<ProfileFile["network"]> } => raw("pi3b-plus") as ProfileFile & { network: NonNullable<ProfileFile["network"]> };


test("pi4-4gb and pi5-8gb keep their ids and figures; loading by path equals loading by id", () => {
  for (const id of ["pi4-4gb", "pi5-8gb"]) {
    const p = loadProfile(id);
    assert.equal(p.id, id);
    assert.ok(ProfileSchema.safeParse(raw(id)).success);
    for (const name of SHARED_PRESETS) assert.ok(Object.hasOwn(p.network, name), `${id} has the shared preset ${name}`);
  }
  const pi4p = loadProfile("pi4-4gb");
  const pi5p = loadProfile("pi5-8gb");
  assert.equal(pi4p.cpu.cores.value, 4);
  assert.equal(pi4p.cpu.clockMHz.value, 1500);
  assert.equal(pi4p.ramBytes.value, 4 * 2 ** 30);
  assert.equal(pi4p.cpu.relativeSpeed.value, 1, "the Pi 4 is the reference board");
  assert.equal(pi5p.ramBytes.value, 8 * 2 ** 30);
  assert.equal(pi5p.cpu.relativeSpeed.value, 2.5, "Raspberry Pi's 2-3x statement, midpoint");
  // The presets the CLI's --preset reads: ethernet first (the default), "wifi" still resolves.
  assert.equal(Object.keys(pi5p.network)[0], "ethernet");
  assert.equal(pi5p.network.ethernet!.upMbit.value, 940);
  assert.equal(pi5p.network.wifi?.upMbit.value, 80);
  assert.deepEqual(loadProfile(path.join(PROFILES_DIR, "pi5-8gb.json")), pi5p);
});

test("a profile without a source is rejected, naming the file and the field path", () => {
  const p = board() as unknown as { network: { ethernet: { rttMs: Record<string, unknown> } } };
  delete p.network.ethernet.rttMs.source;
  throwsCode(() => parseProfile(JSON.stringify(p), "broken.json"), "E_PROFILE", /broken\.json/, /network\.ethernet\.rttMs\.source: is missing/);
});

test("a source that is neither a URL nor \"assumption\" is rejected", () => {
  for (const bad of ["some blog", "ftp://example.com/x.pdf", "https://", "https://a b"]) {
    const p = board();
    p.cpu.cores.source = bad;
    throwsCode(() => parseProfile(JSON.stringify(p), "x.json"), "E_PROFILE", /cpu\.cores\.source: must be an http\(s\) URL/);
  }
});

test("an \"assumption\" without a note saying how the value was derived is rejected", () => {
  const p = board();
  delete p.network.ethernet!.rttMs.note;
  throwsCode(() => parseProfile(JSON.stringify(p), "x.json"), "E_PROFILE", /network\.ethernet\.rttMs\.note: is missing: an "assumption" needs a note/);
  const q = raw("pi4-4gb");
  delete q.cpu.relativeSpeed.note;
  throwsCode(() => parseProfile(JSON.stringify(q), "x.json"), "E_PROFILE", /cpu\.relativeSpeed\.note: is missing/);
});

test("negative and out-of-range numbers are rejected with their path", () => {
  const cases: [(p: ReturnType<typeof board>) => void, RegExp][] = [
    [(p) => (p.ramBytes.value = -1), /ramBytes\.value:/],
    [(p) => (p.cpu.cores.value = 2.5), /cpu\.cores\.value:/],
    [(p) => (p.cpu.relativeSpeed.value = 0), /cpu\.relativeSpeed\.value:/],
    [(p) => (p.network.ethernet!.upMbit.value = -100), /network\.ethernet\.upMbit\.value:/],
    [(p) => (p.network.ethernet!.jitterMs.value = -0.5), /network\.ethernet\.jitterMs\.value:/],
    [(p) => (p.network.ethernet!.lossPct.value = 101), /network\.ethernet\.lossPct\.value:/],
  ];
  for (const [breakIt, where] of cases) {
    const p = board();
    breakIt(p);
    throwsCode(() => parseProfile(JSON.stringify(p), "x.json"), "E_PROFILE", where);
  }
});

test("unknown keys are rejected at every level", () => {
  const cases: [(p: Record<string, unknown> & ReturnType<typeof board>) => void, RegExp][] = [
    [(p) => (p.gpu = "none"), /\(top level\): unknown key\(s\) "gpu"/],
    [(p) => ((p.cpu as Record<string, unknown>).threads = 4), /cpu: unknown key\(s\) "threads"/],
    [(p) => ((p.network.ethernet as Record<string, unknown>).rttMS = 3), /network\.ethernet: unknown key\(s\) "rttMS"/],
    [(p) => ((p.ramBytes as Record<string, unknown>).src = "x"), /ramBytes: unknown key\(s\) "src"/],
  ];
  for (const [breakIt, msg] of cases) {
    const p = board() as Record<string, unknown> & ReturnType<typeof board>;
    breakIt(p);
    throwsCode(() => parseProfile(JSON.stringify(p), "x.json"), "E_PROFILE", msg);
  }
});

test("other bad profiles: empty presets, bad preset name, bad format, not JSON", () => {
  const empty = board() as ProfileFile;
  empty.network = {};
  throwsCode(() => parseProfile(JSON.stringify(empty), "x.json"), "E_PROFILE", /network: must hold at least one preset/);
  const badName = board() as unknown as { network: Record<string, unknown> };
  badName.network["Wi Fi"] = badName.network.ethernet;
  throwsCode(() => parseProfile(JSON.stringify(badName), "x.json"), "E_PROFILE", /network\.Wi Fi: is not a valid name: must be lowercase/);
  throwsCode(() => parseProfile(JSON.stringify({ ...board(), format: 2 }), "x.json"), "E_PROFILE", /format:/);
  throwsCode(() => parseProfile("{ nope", "x.json"), "E_PROFILE", /x\.json is not valid JSON/);
});

test("board presets win over the shared ones of the same name; a board without presets gets the shared ones", () => {
  const pi3 = loadProfile("pi3b-plus");
  assert.equal(pi3.network.ethernet!.upMbit.value, 250, "its Ethernet sits behind USB 2.0");
  assert.equal(pi3.network.lte!.downMbit.value, loadProfile("pi4-4gb").network.lte!.downMbit.value);
  assert.deepEqual(Object.keys(pi3.network), [...SHARED_PRESETS], "an override keeps the shared order");
  // A board-only preset is appended after the shared ones.
  const extra = board();
  extra.network.satellite = { ...extra.network.ethernet!, rttMs: { value: 600, source: "assumption", note: "geostationary hop" } };
  assert.deepEqual(Object.keys(parseProfile(JSON.stringify(extra), "x.json").network), [...SHARED_PRESETS, "satellite"]);
  const bare = raw("pi4-4gb");
  assert.equal(bare.network, undefined);
  assert.deepEqual(Object.keys(parseProfile(JSON.stringify(bare), "x.json").network), [...SHARED_PRESETS]);
});

test("the old preset name \"wifi\" resolves to wifi-good without being listed, unless a board defines its own", () => {
  const pi4 = loadProfile("pi4-4gb");
  assert.equal(pi4.network.wifi, pi4.network["wifi-good"]);
  assert.ok(Object.hasOwn(pi4.network, "wifi"), "plan's --preset lookup (Object.hasOwn) finds it");
  assert.ok(!Object.keys(pi4.network).includes("wifi"));
  assert.ok(!("wifi" in (JSON.parse(JSON.stringify(pi4)) as { network: object }).network));
  // The Zero 2 W overrides wifi-good, so its "wifi" is its own radio's figures.
  assert.equal(loadProfile("pi-zero-2w").network.wifi!.upMbit.value, 25);
  // An old-style file with its own "wifi" keeps it.
  const old = board();
  old.network.wifi = { ...old.network.ethernet!, upMbit: { value: 42, source: "assumption", note: "measured at home" } };
  const p = parseProfile(JSON.stringify(old), "old.json");
  assert.equal(p.network.wifi!.upMbit.value, 42);
  assert.ok(Object.keys(p.network).includes("wifi"));
});

test("loadProfile: unknown id, the reserved name networks, id/file-name mismatch, missing path", () => {
  throwsCode(() => loadProfile("pi9-1tb"), "E_USAGE", /no device profile "pi9-1tb"/, /known ids: .*pi4-4gb, pi4-8gb, pi5-4gb, pi5-8gb/);
  throwsCode(() => loadProfile("Pi 4"), "E_USAGE", /neither a profile id/);
  throwsCode(() => loadProfile("networks"), "E_USAGE", /shared network presets \(networks\.json\), not a device profile/);
  assert.ok(!listProfiles().includes("networks"));
  const renamed = path.join(tmp, "my-board.json");
  fs.writeFileSync(renamed, JSON.stringify(raw("pi4-4gb")));
  throwsCode(() => loadProfile(renamed), "E_PROFILE", /my-board\.json: id: is "pi4-4gb"/);
  const ok = path.join(tmp, "my-board2.json");
  fs.writeFileSync(ok, JSON.stringify({ ...raw("pi4-4gb"), id: "my-board2" }));
  assert.equal(loadProfile(ok).id, "my-board2");
  assert.equal(loadProfile(ok).network.lte!.rttMs.value, 60, "a file outside the folder gets the shared presets too");
  throwsCode(() => loadProfile(path.join(tmp, "absent.json")), "E_PROFILE", /absent\.json/);
});
