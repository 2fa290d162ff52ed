// Rates in tc's decimal bit units, durations in ms, sizes in binary bytes, and the E_USAGE
// errors that list the accepted forms.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EdgecutError } from "../sdk/errors.js";
import { parseDuration, parseRate, parseSize } from "../sdk/units.js";

function usage(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof EdgecutError && e.code === "E_USAGE" && pattern.test(e.message);
}

describe("parseRate", () => {
  test("tc's decimal units: 1kbit = 10^3, 1mbit = 10^6, 1gbit = 10^9 bit/s", () => {
    assert.equal(parseRate("100bit"), 100);
    assert.equal(parseRate("512kbit"), 512_000);
    assert.equal(parseRate("10mbit"), 10_000_000);
    assert.equal(parseRate("1gbit"), 1_000_000_000);
  });

  test("fractions are exact, units case-insensitive, surrounding blanks ignored", () => {
    assert.equal(parseRate("1.5mbit"), 1_500_000);
    assert.equal(parseRate("1.1mbit"), 1_100_000);
    assert.equal(parseRate(".5kbit"), 500);
    assert.equal(parseRate("10Mbit"), 10_000_000);
    assert.equal(parseRate(" 2GBIT "), 2_000_000_000);
  });

  test("anything but tc's bit forms is refused with the accepted forms, naming the flag", () => {
    for (const bad of ["10mbps", "10", "mbit", "10 mbit", "10mb", "1e3kbit", "-1mbit", "10tbit", "10bps", "", "0mbit", "0bit"]) {
      assert.throws(() => parseRate(bad, "--up"), usage(/^--up .* is not a rate: .*bit, kbit, mbit, gbit/), bad);
    }
    assert.throws(() => parseRate(10 as unknown as string), usage(/rate 10 is not a rate/));
  });
});

describe("parseDuration", () => {
  test("us, ms and s to milliseconds", () => {
    assert.equal(parseDuration("40ms"), 40);
    assert.equal(parseDuration("1s"), 1000);
    assert.equal(parseDuration("250us"), 0.25);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("0ms"), 0);
    assert.equal(parseDuration("40MS"), 40);
  });

  test("other forms are refused with the accepted ones", () => {
    for (const bad of ["40", "40 ms", "1m", "1min", "-5ms", "ms", "1h", "40msec"]) {
      assert.throws(() => parseDuration(bad, "--delay"), usage(/^--delay .* is not a duration: .*us, ms, s/), bad);
    }
  });
});

describe("parseSize", () => {
  test("binary units: 1kb = 1024 b, 1mb = 1 MiB, 1gb = 1 GiB", () => {
    assert.equal(parseSize("100b"), 100);
    assert.equal(parseSize("64kb"), 64 * 1024);
    assert.equal(parseSize("512mb"), 512 * 2 ** 20);
    assert.equal(parseSize("1gb"), 2 ** 30);
    assert.equal(parseSize("1.5kb"), 1536);
    assert.equal(parseSize("2GB"), 2 * 2 ** 30);
  });

  test("a size that is no whole number of bytes says so", () => {
    assert.throws(() => parseSize("1.1kb"), usage(/is 1126\.4 bytes, not a whole number/));
    assert.throws(() => parseSize("0.5b"), usage(/not a whole number/));
  });

  test("other forms are refused with the accepted ones", () => {
    for (const bad of ["512", "512mib", "512m", "1tb", "-1kb", "kb", "1 kb", "10mbit"]) {
      assert.throws(() => parseSize(bad, "--memory"), usage(/^--memory .* is not a size: .*b, kb, mb, gb/), bad);
    }
  });
});
