import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isUuidV4, ulid, uuidV4 } from "../../src/kernel/ids.ts";

const ULID_TEXT = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

test("ULID of time 0 and zero randomness is all zeros", () => {
  assert.equal(ulid(0, new Uint8Array(10)), "00000000000000000000000000");
});

test("ULID encodes the spec's example time", () => {
  // ulid/spec README: 1469918176385 ms -> "01ARYZ6S41".
  assert.equal(ulid(1469918176385, new Uint8Array(10)).slice(0, 10), "01ARYZ6S41");
});

test("ULID extremes: maximum time and all-ones randomness", () => {
  assert.equal(ulid(2 ** 48 - 1, new Uint8Array(10).fill(0xff)), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
});

test("ULID randomness is the 80 bits, big-endian, after the time", () => {
  const random = new Uint8Array(10);
  random[9] = 1;
  assert.equal(ulid(0, random), "00000000000000000000000001");
  random[9] = 0;
  random[0] = 0x80;
  assert.equal(ulid(0, random), "0000000000G000000000000000");
});

test("property: ULID text order follows time order", () => {
  const time = fc.integer({ min: 0, max: 2 ** 48 - 1 });
  const random = fc.uint8Array({ minLength: 10, maxLength: 10 });
  fc.assert(
    fc.property(time, time, random, random, (t1, t2, r1, r2) => {
      const a = ulid(t1, r1);
      const b = ulid(t2, r2);
      assert.match(a, ULID_TEXT);
      if (t1 < t2) assert.ok(a < b, `${a} < ${b}`);
      if (t1 > t2) assert.ok(a > b, `${a} > ${b}`);
    }),
  );
});

test("ULID inputs of the wrong shape are defects", () => {
  assert.throws(() => ulid(-1, new Uint8Array(10)), RangeError);
  assert.throws(() => ulid(2 ** 48, new Uint8Array(10)), RangeError);
  assert.throws(() => ulid(1.5, new Uint8Array(10)), RangeError);
  assert.throws(() => ulid(0, new Uint8Array(9)), RangeError);
});

test("uuidV4 sets the version and variant bits and keeps the rest", () => {
  assert.equal(uuidV4(new Uint8Array(16)), "00000000-0000-4000-8000-000000000000");
  assert.equal(uuidV4(new Uint8Array(16).fill(0xff)), "ffffffff-ffff-4fff-bfff-ffffffffffff");
  assert.throws(() => uuidV4(new Uint8Array(15)), RangeError);
});

test("property: uuidV4 output is always accepted by isUuidV4", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (random) => {
      assert.ok(isUuidV4(uuidV4(random)));
    }),
  );
});

test("isUuidV4 accepts only lowercase canonical v4", () => {
  assert.ok(isUuidV4("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
  for (const bad of [
    "F47AC10B-58CC-4372-A567-0E02B2C3D479", // uppercase
    "f47ac10b58cc4372a5670e02b2c3d479", // no hyphens
    "{f47ac10b-58cc-4372-a567-0e02b2c3d479}", // braces
    "f47ac10b-58cc-1372-a567-0e02b2c3d479", // version 1
    "f47ac10b-58cc-7372-a567-0e02b2c3d479", // version 7
    "f47ac10b-58cc-4372-c567-0e02b2c3d479", // variant 110x
    "f47ac10b-58cc-4372-a567-0e02b2c3d47", // short
    "f47ac10b-58cc-4372-a567-0e02b2c3d479\n", // trailing newline
    "",
  ]) {
    assert.equal(isUuidV4(bad), false, bad);
  }
});
