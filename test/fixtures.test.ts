/** The committed real-exporter fixtures are the ones their export script wrote (SHA256SUMS). */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { sha256FileSync } from "../sdk/graph/hash.js";

const dir = path.join(import.meta.dirname, "fixtures", "torch");

test("every fixture listed in SHA256SUMS exists and matches its hash, and every .onnx there is listed", () => {
  const lines = fs.readFileSync(path.join(dir, "SHA256SUMS"), "utf8").trim().split("\n");
  const listed = new Set<string>();
  for (const line of lines) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    assert.ok(m, `malformed SHA256SUMS line: ${line}`);
    listed.add(m[2]!);
    assert.equal(sha256FileSync(path.join(dir, m[2]!)), m[1], `${m[2]} differs from what export.py wrote; re-export or restore it`);
  }
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".onnx"))) assert.ok(listed.has(f), `${f} is not in SHA256SUMS`);
});
