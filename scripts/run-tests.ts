/**
 * Runs the test suite: every test/**\/*.test.ts file through node's test runner with tsx.
 * Node 20 does not expand globs and passes with 0 tests when given none, so the files are
 * listed here and the run fails when fewer than the committed minimum are found.
 * Usage: tsx scripts/run-tests.ts [substring filter...]
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const MIN_FILES = Number(fs.readFileSync(path.join(root, "test", "MIN_TEST_FILES"), "utf8").trim());

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "fixtures" && e.name !== "node_modules") out.push(...walk(p));
    } else if (e.name.endsWith(".test.ts")) out.push(path.relative(root, p));
  }
  return out.sort();
}

const filters = process.argv.slice(2);
const all = walk(path.join(root, "test"));
if (filters.length === 0 && all.length < MIN_FILES) {
  console.error(`run-tests: found ${all.length} test files, fewer than the committed minimum ${MIN_FILES} (test/MIN_TEST_FILES)`);
  process.exit(1);
}
const files = filters.length ? all.filter((f) => filters.some((x) => f.includes(x))) : all;
if (files.length === 0) {
  console.error(`run-tests: no test file matches ${filters.join(", ")}`);
  process.exit(1);
}
console.log(`run-tests: ${files.length} files`);
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
