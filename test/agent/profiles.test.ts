import { after, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listProfiles, loadProfile, parseProfile, PROFILES_DIR, ProfileSchema, type DeviceProfile } from "../../device-profiles/index.js";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "edgecut-profiles-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A deep copy of a shipped profile to break. */
function pi4(): DeviceProfile {
  return JSON.parse(fs.readFileSync(path.join(PROFILES_DIR, "pi4-4gb.json"), "utf8")) as DeviceProfile;
}

/** Asserts that `fn` throws an EdgecutError with `code` whose message matches every pattern. */
function throwsWith(fn: () => unknown, code: ErrorCode, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EdgecutError, `not an EdgecutError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test("the shipped profiles: pi4-4gb and pi5-8gb pass the schema, ids match file names", () => {
  assert.deepEqual(listProfiles(), ["pi4-4gb", "pi5-8gb"]);
  for (const id of listProfiles()) {
    const p = loadProfile(id);
    assert.equal(p.id, id);
    assert.ok(ProfileSchema.safeParse(p).success);
    assert.ok(Object.keys(p.network).includes("ethernet") && Object.keys(p.network).includes("wifi"), `${id} has ethernet and wifi presets`);
  }
  const pi4p = loadProfile("pi4-4gb");
  const pi5p = loadProfile("pi5-8gb");
  assert.equal(pi4p.cpu.cores.value, 4);
  assert.equal(pi4p.ramBytes.value, 4 * 2 ** 30);
  assert.equal(pi4p.cpu.relativeSpeed.value, 1, "the Pi 4 is the reference board");
  assert.equal(pi5p.ramBytes.value, 8 * 2 ** 30);
  assert.ok(pi5p.cpu.relativeSpeed.value >= 2 && pi5p.cpu.relativeSpeed.value <= 3, "Raspberry Pi's 2-3x statement");
  // Loading by path works the same as by id.
  assert.deepEqual(loadProfile(path.join(PROFILES_DIR, "pi5-8gb.json")), pi5p);
});

test("a profile without a source is rejected, naming the file and the field path", () => {
  const p = pi4() as unknown as { network: { wifi: { rttMs: Record<string, unknown> } } };
  delete p.network.wifi.rttMs.source;
  throwsWith(() => parseProfile(JSON.stringify(p), "broken.json"), "E_PROFILE", /broken\.json/, /network\.wifi\.rttMs\.source: is missing/);
});

test("a source that is neither a URL nor \"assumption\" is rejected", () => {
  const p = pi4();
  p.cpu.cores.source = "some blog";
  throwsWith(() => parseProfile(JSON.stringify(p), "x.json"), "E_PROFILE", /cpu\.cores\.source: must be an http\(s\) URL/);
});

test("negative and out-of-range numbers are rejected with their path", () => {
  const cases: [(p: DeviceProfile) => void, RegExp][] = [
    [(p) => (p.ramBytes.value = -1), /ramBytes\.value:/],
    [(p) => (p.cpu.cores.value = 2.5), /cpu\.cores\.value:/],
    [(p) => (p.cpu.relativeSpeed.value = 0), /cpu\.relativeSpeed\.value:/],
    [(p) => (p.network.ethernet!.upMbit.value = -100), /network\.ethernet\.upMbit\.value:/],
    [(p) => (p.network.wifi!.jitterMs.value = -0.5), /network\.wifi\.jitterMs\.value:/],
    [(p) => (p.network.wifi!.lossPct.value = 101), /network\.wifi\.lossPct\.value:/],
  ];
  for (const [breakIt, where] of cases) {
    const p = pi4();
    breakIt(p);
    throwsWith(() => parseProfile(JSON.stringify(p), "x.json"), "E_PROFILE", where);
  }
});

test("unknown keys are rejected at every level", () => {
  const cases: [(p: Record<string, unknown> & DeviceProfile) => void, RegExp][] = [
    [(p) => (p.gpu = "none"), /\(top level\): unknown key\(s\) "gpu"/],
    [(p) => ((p.cpu as Record<string, unknown>).threads = 4), /cpu: unknown key\(s\) "threads"/],
    [(p) => ((p.network.wifi as Record<string, unknown>).rttMS = 3), /network\.wifi: unknown key\(s\) "rttMS"/],
    [(p) => ((p.ramBytes as Record<string, unknown>).src = "x"), /ramBytes: unknown key\(s\) "src"/],
  ];
  for (const [breakIt, msg] of cases) {
    const p = pi4() as Record<string, unknown> & DeviceProfile;
    breakIt(p);
    throwsWith(() => parseProfile(JSON.stringify(p), "x.json"), "E_PROFILE", msg);
  }
});

test("other bad profiles: no presets, bad preset name, bad format, not JSON", () => {
  const empty = pi4();
  empty.network = {};
  throwsWith(() => parseProfile(JSON.stringify(empty), "x.json"), "E_PROFILE", /network: must hold at least one preset/);
  const badName = pi4() as unknown as { network: Record<string, unknown> };
  badName.network["Wi Fi"] = badName.network.wifi;
  throwsWith(() => parseProfile(JSON.stringify(badName), "x.json"), "E_PROFILE", /network\.Wi Fi: is not a valid name: must be lowercase/);
  throwsWith(() => parseProfile(JSON.stringify({ ...pi4(), format: 2 }), "x.json"), "E_PROFILE", /format:/);
  throwsWith(() => parseProfile("{ nope", "x.json"), "E_PROFILE", /x\.json is not valid JSON/);
});

test("loadProfile: unknown id, id/file-name mismatch, missing path", () => {
  throwsWith(() => loadProfile("pi9-1tb"), "E_USAGE", /no device profile "pi9-1tb"/, /pi4-4gb, pi5-8gb/);
  throwsWith(() => loadProfile("Pi 4"), "E_USAGE", /neither a profile id/);
  const renamed = path.join(tmp, "my-board.json");
  fs.writeFileSync(renamed, JSON.stringify(pi4()));
  throwsWith(() => loadProfile(renamed), "E_PROFILE", /my-board\.json: id: is "pi4-4gb"/);
  const ok = path.join(tmp, "my-board2.json");
  fs.writeFileSync(ok, JSON.stringify({ ...pi4(), id: "my-board2" }));
  assert.equal(loadProfile(ok).id, "my-board2");
  throwsWith(() => loadProfile(path.join(tmp, "absent.json")), "E_PROFILE", /absent\.json/);
});
