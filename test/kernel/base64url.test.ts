import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeBase64Url, encodeBase64Url } from "../../src/kernel/base64url.ts";

const utf8 = new TextEncoder();

// RFC 4648 section 10; none of these inputs reach the characters that differ between
// base64 and base64url, so only the padding is dropped.
const RFC4648_SECTION_10: ReadonlyArray<readonly [string, string]> = [
  ["", ""],
  ["f", "Zg"],
  ["fo", "Zm8"],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg"],
  ["fooba", "Zm9vYmE"],
  ["foobar", "Zm9vYmFy"],
];

test("RFC 4648 section 10 vectors, unpadded", () => {
  for (const [plain, encoded] of RFC4648_SECTION_10) {
    assert.equal(encodeBase64Url(utf8.encode(plain)), encoded);
    assert.deepEqual(decodeBase64Url(encoded), utf8.encode(plain));
  }
});

test("uses '-' and '_' where base64 uses '+' and '/'", () => {
  assert.equal(encodeBase64Url(new Uint8Array([0xfb, 0xff, 0xbf])), "-_-_");
  assert.deepEqual(decodeBase64Url("-_-_"), new Uint8Array([0xfb, 0xff, 0xbf]));
});

test("property: decode inverts encode", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      assert.deepEqual(decodeBase64Url(encodeBase64Url(bytes)), bytes);
    }),
  );
});

test("property: every accepted text is the one encoding of its bytes", () => {
  const text = fc.string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="), maxLength: 12 });
  fc.assert(
    fc.property(text, (candidate) => {
      const bytes = decodeBase64Url(candidate);
      if (bytes !== undefined) assert.equal(encodeBase64Url(bytes), candidate);
    }),
  );
});

test("refuses non-canonical and non-URL-safe text", () => {
  const refusals: ReadonlyArray<readonly [string, string]> = [
    ["padding", "Zg=="],
    ["single padding", "Zm8="],
    ["'+' from standard base64", "-_+_"],
    ["'/' from standard base64", "-_/_"],
    ["space", "Zm9v Yg"],
    ["newline", "Zm9v\nYmFy"],
    ["leading whitespace", " Zm9v"],
    ["length 1 mod 4", "Zm9vY"],
    ["length 1", "Z"],
    ["non-zero trailing bits, 2 chars", "Zh"],
    ["non-zero trailing bits, 3 chars", "Zm9"],
    ["non-ASCII", "Zm9\u00e9"],
    ["fullwidth letter", "Zm9\uff56"],
  ];
  for (const [name, text] of refusals) assert.equal(decodeBase64Url(text), undefined, name);
  assert.deepEqual(decodeBase64Url("Zg"), utf8.encode("f"));
});
