/**
 * The package's public entry points: package.json's exports name compiled files whose sources
 * exist, and the API they export covers the graph library, the runtime and the error catalogue.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as api from "../sdk/index.js";
import * as graphApi from "../sdk/graph/index.js";

const root = path.resolve(import.meta.dirname, "..");

test("package.json's main, types, bin and exports point at files the build makes from existing sources", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
    main: string; types: string; bin: Record<string, string>; exports: Record<string, { types: string; default: string }>;
  };
  const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin), ...Object.values(pkg.exports).flatMap((e) => [e.types, e.default])];
  for (const t of targets) {
    const source = t.replace(/^\.?\/?dist\//, "").replace(/\.d\.ts$|\.js$/, ".ts");
    assert.ok(fs.existsSync(path.join(root, source)), `${t} is built from ${source}, which does not exist`);
  }
});

test("the API exports the pieces a caller needs to split and verify a model", () => {
  for (const name of ["Graph", "analyze", "candidateCuts", "partition", "assignmentFromFronts", "writeSplit", "loadManifest", "buildModel", "optimalCut", "segmentByBalance"]) {
    assert.equal(typeof (graphApi as Record<string, unknown>)[name], "function", `sdk/graph exports ${name}`);
  }
  for (const name of ["OrtSession", "verifySplit", "readTensorFile", "EdgecutError", "Graph"]) {
    assert.equal(typeof (api as Record<string, unknown>)[name], "function", `sdk exports ${name}`);
  }
});

test("the graph library never loads onnxruntime, mqtt or SQLite, and one module each loads them", () => {
  const files = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []);
  const importers = (pkg: string): string[] => ["sdk", "agent", "cloud-stub"].flatMap((d) => fs.existsSync(path.join(root, d)) ? files(path.join(root, d)) : [])
    .filter((f) => new RegExp(`from "${pkg}"|import\\("${pkg}"\\)`).test(fs.readFileSync(f, "utf8")))
    .map((f) => path.relative(root, f));
  assert.deepEqual(importers("onnxruntime-node"), ["sdk/runtime/ort.ts"]);
  assert.ok(importers("mqtt").length <= 1, `mqtt imported by ${importers("mqtt").join(", ")}`);
  assert.ok(importers("better-sqlite3").length <= 1);
  for (const f of files(path.join(root, "sdk", "graph"))) {
    const text = fs.readFileSync(f, "utf8");
    assert.doesNotMatch(text, /from "(onnxruntime-node|mqtt|better-sqlite3|aedes)"|from "\.\.\/(runtime|transport|cli)\//, `${path.relative(root, f)} must stay dependency-free`);
  }
});
