import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeBase64, encodeBase64 } from "../../src/kernel/base64.ts";

const utf8 = new TextEncoder();

// RFC 4648 section 10.
const RFC4648_SECTION_10: ReadonlyArray<readonly [string, string]> = [
  ["", ""],
  ["f", "Zg=="],
  ["fo", "Zm8="],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg=="],
  ["fooba", "Zm9vYmE="],
  ["foobar", "Zm9vYmFy"],
];

test("RFC 4648 section 10 vectors, padded", () => {
  for (const [plain, encoded] of RFC4648_SECTION_10) {
    assert.equal(encodeBase64(utf8.encode(plain)), encoded);
    assert.deepEqual(decodeBase64(encoded), utf8.encode(plain));
  }
});

test("uses '+' and '/' where base64url uses '-' and '_'", () => {
  assert.equal(encodeBase64(new Uint8Array([0xfb, 0xff, 0xbf])), "+/+/");
  assert.deepEqual(decodeBase64("+/+/"), new Uint8Array([0xfb, 0xff, 0xbf]));
});

test("property: decode inverts encode", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assert.deepEqual(decodeBase64(encodeBase64(bytes)), bytes);
    }),
  );
});

test("property: every accepted text is the one encoding of its bytes", () => {
  const text = fc.string({ unit: fc.constantFrom(..."ABCDabcd0189+/-_= "), maxLength: 12 });
  fc.assert(
    fc.property(text, (candidate) => {
      const bytes = decodeBase64(candidate);
      if (bytes !== undefined) assert.equal(encodeBase64(bytes), candidate);
    }),
  );
});

test("refuses non-canonical, unpadded and URL-safe text", () => {
  const refusals: ReadonlyArray<readonly [string, string]> = [
    ["missing padding", "Zg"],
    ["missing one '='", "Zg="],
    ["missing single padding", "Zm8"],
    ["too much padding", "Zm8=="],
    ["padding on a full group", "Zm9v===="],
    ["three '='", "Z==="],
    ["'=' inside", "Zg==Zm9v"],
    ["'=' in the middle of a group", "Z=g="],
    ["'-' from base64url", "-/+/"],
    ["'_' from base64url", "+_+/"],
    ["space", "Zm9v Yg=="],
    ["newline", "Zm9v\nYmFy"],
    ["trailing newline", "Zm9v\n"],
    ["non-zero trailing bits, one byte", "Zh=="],
    ["non-zero trailing bits, two bytes", "Zm9="],
    ["non-ASCII", "Zm9\u00e9"],
  ];
  for (const [name, text] of refusals) assert.equal(decodeBase64(text), undefined, name);
});

test("refuses a non-string without throwing", () => {
  assert.equal(decodeBase64(42 as unknown as string), undefined);
  assert.equal(decodeBase64(null as unknown as string), undefined);
});
