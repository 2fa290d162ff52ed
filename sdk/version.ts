/**
 * edgecut's version, read once from its package.json (the nearest one named "edgecut" above this
 * module: sdk/ in the sources, dist/sdk/ when compiled), so the API header, the fleet telemetry and
 * `--version` say what is installed after an upgrade.
 */
import * as fs from "node:fs";
import * as path from "node:path";

function find(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, "package.json");
    try {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "edgecut" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: look one folder up
    }
    dir = path.dirname(dir);
  }
  return "0.0.0-unknown";
}

/** The installed edgecut version, e.g. "0.1.0". */
export const VERSION: string = find();
