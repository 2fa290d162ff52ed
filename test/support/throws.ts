// One assertion for "this throws edgecut's error with this code", shared by the test files.
import assert from "node:assert/strict";
import { EdgecutError, type ErrorCode } from "../../sdk/errors.js";

/** Asserts that `fn` throws an EdgecutError with `code` whose message matches every pattern. */
export function throwsCode(fn: () => unknown, code: ErrorCode, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EdgecutError, `not an EdgecutError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}
