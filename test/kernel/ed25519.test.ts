import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  ED25519_SIGNATURE_PREFIX,
  decodeSignature,
  encodeSignature,
  keyIdOf,
  makeWebCryptoSigner,
  makeWebCryptoVerifier,
  publicKeyFromSeed,
  sign,
  verify,
} from "../../src/kernel/ed25519.ts";
import { bytesToHex, hexToBytes, sha256Hex } from "../../src/kernel/hashing.ts";
import { vectorPath } from "../support/vectors.ts";

function hex(text: string): Uint8Array {
  const bytes = hexToBytes(text);
  assert.ok(bytes !== undefined, `bad hex in vector: ${text}`);
  return bytes;
}

// RFC 8032 section 7.1, TEST 1.
const RFC8032_TEST1 = {
  secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
  public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  message: "",
  signature:
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
};

test("RFC 8032 section 7.1 TEST 1: key derivation, signing and verification", async () => {
  const seed = hex(RFC8032_TEST1.secret);
  const publicKey = publicKeyFromSeed(seed);
  assert.equal(bytesToHex(publicKey), RFC8032_TEST1.public);
  const signature = sign(hex(RFC8032_TEST1.message), seed);
  assert.equal(bytesToHex(signature), RFC8032_TEST1.signature);
  assert.equal(verify(signature, new Uint8Array(), publicKey), true);
  assert.equal(await makeWebCryptoVerifier()(signature, new Uint8Array(), publicKey), true);
});

test("the WebCrypto signer gives the RFC 8032 signature and the same bytes as the pure-JS signer", async () => {
  const signer = makeWebCryptoSigner(hex(RFC8032_TEST1.secret));
  assert.equal(bytesToHex(await signer(new Uint8Array(0))), RFC8032_TEST1.signature);
  for (let i = 0; i < 20; i++) {
    const seed = crypto.getRandomValues(new Uint8Array(32));
    const message = crypto.getRandomValues(new Uint8Array(i * 7));
    assert.equal(bytesToHex(await makeWebCryptoSigner(seed)(message)), bytesToHex(sign(message, seed)));
  }
  assert.throws(() => makeWebCryptoSigner(new Uint8Array(31)), RangeError);
});

test("a signature does not verify for another message or key", async () => {
  const seed = hex(RFC8032_TEST1.secret);
  const signature = hex(RFC8032_TEST1.signature);
  const otherKey = publicKeyFromSeed(new Uint8Array(32).fill(7));
  const webcrypto = makeWebCryptoVerifier();
  assert.equal(verify(signature, new Uint8Array([0]), publicKeyFromSeed(seed)), false);
  assert.equal(verify(signature, new Uint8Array(), otherKey), false);
  assert.equal(await webcrypto(signature, new Uint8Array([0]), publicKeyFromSeed(seed)), false);
  assert.equal(await webcrypto(signature, new Uint8Array(), otherKey), false);
});

test("signing with a wrong-length seed is a defect", () => {
  assert.throws(() => sign(new Uint8Array(), new Uint8Array(31)), RangeError);
  assert.throws(() => publicKeyFromSeed(new Uint8Array(64)), RangeError);
});

type WycheproofFile = {
  readonly numberOfTests: number;
  readonly testGroups: ReadonlyArray<{
    readonly publicKey: { readonly pk: string };
    readonly tests: ReadonlyArray<{
      readonly tcId: number;
      readonly comment: string;
      readonly msg: string;
      readonly sig: string;
      readonly result: "valid" | "invalid" | "acceptable";
    }>;
  }>;
};

test("Wycheproof Ed25519: both verifiers accept exactly the valid cases", async () => {
  const file = JSON.parse(readFileSync(vectorPath("ed25519/ed25519_test.json"), "utf8")) as WycheproofFile;
  const webcrypto = makeWebCryptoVerifier();
  let cases = 0;
  const disagreements: string[] = [];
  for (const group of file.testGroups) {
    const publicKey = hex(group.publicKey.pk);
    for (const vector of group.tests) {
      cases++;
      // "acceptable" would leave the expected answer open; this file has none.
      assert.notEqual(vector.result, "acceptable", `tcId ${vector.tcId} is "acceptable"`);
      const expected = vector.result === "valid";
      const signature = hex(vector.sig);
      const message = hex(vector.msg);
      const pure = verify(signature, message, publicKey);
      const web = await webcrypto(signature, message, publicKey);
      if (pure !== expected || web !== expected) {
        disagreements.push(`tcId ${vector.tcId} (${vector.result}, ${vector.comment}): verify=${pure} webcrypto=${web}`);
      }
    }
  }
  assert.deepEqual(disagreements, []);
  assert.equal(cases, file.numberOfTests);
  assert.equal(cases, 151);
});

test("wrong lengths are refused, not thrown", async () => {
  const publicKey = hex(RFC8032_TEST1.public);
  const signature = hex(RFC8032_TEST1.signature);
  const webcrypto = makeWebCryptoVerifier();
  for (const [sig, pub] of [
    [signature.subarray(0, 63), publicKey],
    [new Uint8Array([...signature, 0]), publicKey],
    [new Uint8Array(), publicKey],
    [signature, publicKey.subarray(0, 31)],
    [signature, new Uint8Array(33)],
  ] as const) {
    assert.equal(verify(sig, new Uint8Array(), pub), false);
    assert.equal(await webcrypto(sig, new Uint8Array(), pub), false);
  }
});

test("the WebCrypto key cache stays correct while evicting", async () => {
  const webcrypto = makeWebCryptoVerifier({ maxCachedKeys: 2 });
  const seeds = [1, 2, 3].map((n) => new Uint8Array(32).fill(n));
  const message = new TextEncoder().encode("cache");
  for (let round = 0; round < 3; round++) {
    for (const [i, seed] of seeds.entries()) {
      const publicKey = publicKeyFromSeed(seed);
      assert.equal(await webcrypto(sign(message, seed), message, publicKey), true);
      const other = seeds[(i + 1) % seeds.length]!;
      assert.equal(await webcrypto(sign(message, other), message, publicKey), false);
    }
  }
});

test("encodeSignature and decodeSignature round-trip", () => {
  const signature = hex(RFC8032_TEST1.signature);
  const text = encodeSignature(signature);
  assert.ok(text.startsWith(ED25519_SIGNATURE_PREFIX));
  assert.equal(text.length, ED25519_SIGNATURE_PREFIX.length + 86);
  assert.match(text, /^ed25519:[A-Za-z0-9_-]{86}$/);
  assert.deepEqual(decodeSignature(text), signature);
});

test("decodeSignature refuses malformed text", () => {
  const signature = hex(RFC8032_TEST1.signature);
  const body = encodeSignature(signature).slice(ED25519_SIGNATURE_PREFIX.length);
  const refusals: ReadonlyArray<readonly [string, string]> = [
    ["missing prefix", body],
    ["wrong-case prefix", `Ed25519:${body}`],
    ["other algorithm", `ecdsa:${body}`],
    ["63 bytes", encodeSignature(signature.subarray(0, 63))],
    ["65 bytes", encodeSignature(new Uint8Array([...signature, 0]))],
    ["padding", `${encodeSignature(signature)}==`],
    ["standard base64 alphabet", encodeSignature(signature).replaceAll("-", "+").replaceAll("_", "/").replace(/[A-Za-z0-9]$/, "+")],
    ["trailing whitespace", `${encodeSignature(signature)} `],
    ["non-canonical last character", encodeSignature(signature).slice(0, -1) + "B"],
    ["empty", ""],
  ];
  for (const [name, text] of refusals) assert.equal(decodeSignature(text), undefined, name);
});

test("keyIdOf is zt- and the first 16 hex digits of SHA-256(publicKey)", () => {
  const publicKey = hex(RFC8032_TEST1.public);
  const id = keyIdOf(publicKey);
  assert.match(id, /^zt-[0-9a-f]{16}$/);
  assert.equal(id, `zt-${sha256Hex(publicKey).slice(0, 16)}`);
  assert.notEqual(keyIdOf(publicKeyFromSeed(new Uint8Array(32))), id);
});
