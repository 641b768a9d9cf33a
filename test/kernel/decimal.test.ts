import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { addDecimals, compareDecimals, decimalFromNumber, formatDecimal, multiplyDecimals, parseDecimal, subtractDecimals } from "../../src/kernel/decimal.ts";
import { formatRfc3339Seconds, parseRfc3339Utc } from "../../src/kernel/timestamp.ts";

test("decimal: exact products where binary floating point is not", () => {
  const product = (a: string, b: number) => formatDecimal(multiplyDecimals(parseDecimal(a)!, decimalFromNumber(b)!));
  assert.equal(product("12.5", 142.1), "1776.25");
  assert.equal(product("0.1", 0.2), "0.02"); // 0.1 * 0.2 = 0.020000000000000004 in floats
  assert.equal(product("3", 1e21), "3000000000000000000000");
  assert.equal(product("0.000001", 1e-7), "0.0000000000001");
});

test("decimal: parsing refuses what is not a plain non-negative decimal", () => {
  for (const text of ["", "-1", "1.", ".5", "1e", "0x10", "1,5", " 1", "NaN", "Infinity", "1".repeat(65)]) {
    assert.equal(parseDecimal(text), undefined, text);
  }
  assert.equal(decimalFromNumber(Number.NaN), undefined);
  assert.equal(decimalFromNumber(-1), undefined);
  assert.equal(decimalFromNumber(Number.POSITIVE_INFINITY), undefined);
});

test("decimal: comparison agrees with exact rational order", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.nat(12), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.nat(12), (a, sa, b, sb) => {
      const expected = a * 10n ** BigInt(sb) < b * 10n ** BigInt(sa) ? -1 : a * 10n ** BigInt(sb) > b * 10n ** BigInt(sa) ? 1 : 0;
      assert.equal(compareDecimals({ coefficient: a, scale: sa }, { coefficient: b, scale: sb }), expected);
    }),
  );
});

test("decimal: format then parse round-trips", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 40n }), fc.nat(20), (coefficient, scale) => {
      const value = { coefficient, scale };
      assert.equal(compareDecimals(parseDecimal(formatDecimal(value))!, value), 0);
    }),
  );
});

test("timestamps: strict RFC 3339 UTC", () => {
  assert.equal(parseRfc3339Utc("2026-02-23T18:40:00Z"), Date.UTC(2026, 1, 23, 18, 40, 0));
  assert.equal(parseRfc3339Utc("2026-02-23T18:40:00.123Z"), Date.UTC(2026, 1, 23, 18, 40, 0, 123));
  for (const text of ["2026-02-30T00:00:00Z", "2026-02-23T24:00:00Z", "2026-02-23 18:40:00Z", "2026-02-23T18:40:00+00:00", "2026-02-23T18:40:00", "x"]) {
    assert.equal(parseRfc3339Utc(text), undefined, text);
  }
  assert.equal(formatRfc3339Seconds(Date.UTC(2026, 1, 23, 18, 40, 0, 999)), "2026-02-23T18:40:00Z");
});

test("decimal: sums and differences are exact, and a difference never goes below zero", () => {
  const sum = (a: string, b: string) => formatDecimal(addDecimals(parseDecimal(a)!, parseDecimal(b)!));
  const difference = (a: string, b: string) => formatDecimal(subtractDecimals(parseDecimal(a)!, parseDecimal(b)!));
  assert.equal(sum("0.1", "0.2"), "0.3");
  assert.equal(sum("1776.25", "1e3"), "2776.25");
  assert.equal(difference("1000000", "1776.25"), "998223.75");
  assert.equal(difference("0.3", "0.1"), "0.2");
  assert.equal(difference("1", "2.5"), "0");
});
