import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesToHex, hexToBytes, jcsSha256Hex, sha256, sha256Hex } from "../../src/kernel/hashing.ts";

// FIPS 180-4 / NIST CSVS example values.
const SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SHA256_448_BITS = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";

test("sha256Hex matches the FIPS 180-4 examples", () => {
  assert.equal(sha256Hex("abc"), SHA256_ABC);
  assert.equal(sha256Hex(""), SHA256_EMPTY);
  assert.equal(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), SHA256_448_BITS);
});

test("strings are hashed as UTF-8, the same as their bytes", () => {
  assert.equal(sha256Hex("é€😂"), sha256Hex(new TextEncoder().encode("é€😂")));
  assert.equal(sha256Hex(new Uint8Array([0x61, 0x62, 0x63])), SHA256_ABC);
});

test("sha256 returns 32 raw bytes", () => {
  const digest = sha256(new Uint8Array());
  assert.equal(digest.length, 32);
  assert.equal(bytesToHex(digest), SHA256_EMPTY);
});

test("jcsSha256Hex hashes the canonical text, not the in-memory layout", () => {
  const a = jcsSha256Hex({ b: 2, a: 1 });
  assert.deepEqual(a, { ok: true, hex: sha256Hex('{"a":1,"b":2}') });
  assert.deepEqual(jcsSha256Hex({ a: 1, b: 2 }), a);
});

test("jcsSha256Hex refuses what JCS refuses", () => {
  assert.deepEqual(jcsSha256Hex({ amount: NaN }), { ok: false, reason: "$.amount: number is not finite (NaN)" });
});

test("hexToBytes decodes either case and round-trips through lowercase", () => {
  assert.deepEqual(hexToBytes("00ff10Ab"), new Uint8Array([0x00, 0xff, 0x10, 0xab]));
  assert.deepEqual(hexToBytes(""), new Uint8Array());
  assert.equal(bytesToHex(hexToBytes(SHA256_ABC.toUpperCase())!), SHA256_ABC);
});

test("hexToBytes refuses anything but even-length hex", () => {
  for (const bad of ["0", "abc", "0g", "zz", " 00", "00 ", "0x00", "-1", "+1", "0\n", "ａａ", "\u0660\u0660"]) {
    assert.equal(hexToBytes(bad), undefined, JSON.stringify(bad));
  }
});

test("the runtime's SHA-256 gives @noble/hashes' digests, strings with lone surrogates included", async () => {
  const { sha256: noble } = await import("@noble/hashes/sha2.js");
  const { SHA256_IMPLEMENTATION } = await import("../../src/kernel/hashing.ts");
  // Node and Deno hash natively; a browser would use noble itself.
  assert.equal(SHA256_IMPLEMENTATION, "native");
  const fc = (await import("fast-check")).default;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.string({ unit: "binary", maxLength: 200 }), (bytes, text) => {
      assert.equal(bytesToHex(sha256(bytes)), bytesToHex(noble(bytes)));
      assert.equal(sha256Hex(bytes), bytesToHex(noble(bytes)));
      assert.equal(sha256Hex(text), bytesToHex(noble(new TextEncoder().encode(text))));
    }),
    { numRuns: 500 },
  );
  assert.equal(sha256Hex("\ud800"), bytesToHex(noble(new TextEncoder().encode("\ufffd"))));
});
