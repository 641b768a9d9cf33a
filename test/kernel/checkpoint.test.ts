import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeBase64, encodeBase64 } from "../../src/kernel/base64.ts";
import {
  checkpointBody,
  noteKeyHash,
  parseCheckpointBody,
  SIGNED_NOTE_ED25519_TYPE,
  SIGNED_NOTE_MAX_SIGNATURES,
  signNote,
  verifyCheckpoint,
  verifyCheckpointWith,
  verifyNote,
  verifyNoteWith,
} from "../../src/kernel/checkpoint.ts";
import { makeWebCryptoVerifier, publicKeyFromSeed, sign } from "../../src/kernel/ed25519.ts";
import { bytesToHex, hexToBytes, sha256 } from "../../src/kernel/hashing.ts";

const utf8 = new TextEncoder();

function b64(text: string): Uint8Array {
  const bytes = decodeBase64(text);
  assert.ok(bytes !== undefined, `bad base64: ${text}`);
  return bytes;
}

// Known answers from golang.org/x/mod/sumdb/note, the reference implementation of signed
// notes (its package documentation): the key pair PeterNeumann+c74f20a3, stored as
// base64(0x01 || key), a text, and the exact signed note. Ed25519 is deterministic, so
// signing must reproduce it byte for byte.
const PETER = {
  name: "PeterNeumann",
  keyHash: "c74f20a3",
  seed: b64("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").subarray(1),
  publicKey: b64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").subarray(1),
  text: "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n",
  signatureLine: "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
};

// The example verifier key and note of the C2SP signed-note reference tests.
const C2SP_EXAMPLE = {
  name: "example.com/foo",
  keyHash: "530d903a",
  publicKey: b64("AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").subarray(1),
  note: "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n",
};

// A production checkpoint of the Go checksum database (sum.golang.org), signed by its
// published key sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8.
const GO_SUMDB = {
  name: "sum.golang.org",
  keyHash: "033de0ae",
  publicKey: b64("Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8").subarray(1),
  note: "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n" +
    "\u2014 sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n",
};

// This project's own shape: 8 leaves, the root of the RFC 6962 reference tree.
const ROOT8 = hexToBytes("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")!;
const ORIGIN = "zt-infra.example/audit";
const SEED = new Uint8Array(32).map((_, i) => i + 1);
const PUBLIC_KEY = publicKeyFromSeed(SEED);
const BODY = checkpointBody({ origin: ORIGIN, treeSize: 8, root: ROOT8 });
const NOTE = signNote(BODY, ORIGIN, SEED);

test("checkpointBody is origin, decimal size and padded base64 root, each on its own line", () => {
  assert.equal(BODY, "zt-infra.example/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
  assert.equal(checkpointBody({ origin: "o", treeSize: 0, root: new Uint8Array(32) }), `o\n0\n${"A".repeat(43)}=\n`);
});

test("checkpointBody throws on a defect of the caller", () => {
  const ok = { origin: ORIGIN, treeSize: 8, root: ROOT8 };
  assert.throws(() => checkpointBody({ ...ok, origin: "" }), RangeError);
  assert.throws(() => checkpointBody({ ...ok, origin: "a\nb" }), RangeError);
  assert.throws(() => checkpointBody({ ...ok, origin: "a\rb" }), RangeError);
  assert.throws(() => checkpointBody({ ...ok, treeSize: -1 }), RangeError);
  assert.throws(() => checkpointBody({ ...ok, treeSize: 1.5 }), RangeError);
  assert.throws(() => checkpointBody({ ...ok, treeSize: 2 ** 53 }), RangeError);
  assert.throws(() => checkpointBody({ ...ok, root: ROOT8.subarray(1) }), RangeError);
});

test("parseCheckpointBody reads what checkpointBody writes, and extension lines", () => {
  assert.deepEqual(parseCheckpointBody(BODY), { ok: true, origin: ORIGIN, treeSize: 8, root: ROOT8, extensions: [] });
  const extended = parseCheckpointBody(`${BODY}ext one\n— not a signature\n`);
  assert.ok(extended.ok);
  assert.deepEqual(extended.extensions, ["ext one", "— not a signature"]);
  const empty = parseCheckpointBody(checkpointBody({ origin: "o", treeSize: 0, root: new Uint8Array(32) }));
  assert.ok(empty.ok);
  assert.equal(empty.treeSize, 0);
  const largest = parseCheckpointBody(`o\n${Number.MAX_SAFE_INTEGER}\n${encodeBase64(ROOT8)}\n`);
  assert.ok(largest.ok);
  assert.equal(largest.treeSize, Number.MAX_SAFE_INTEGER);
});

test("property: checkpoint bodies round-trip", () => {
  const origin = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\u0000-\u001f]/.test(s) && s.isWellFormed());
  fc.assert(
    fc.property(origin, fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (o, n, r) => {
      assert.deepEqual(parseCheckpointBody(checkpointBody({ origin: o, treeSize: n, root: r })), {
        ok: true,
        origin: o,
        treeSize: n,
        root: r,
        extensions: [],
      });
    }),
  );
});

test("parseCheckpointBody refuses anything but the strict form", () => {
  const root = encodeBase64(ROOT8);
  const refusals: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["no final newline", `o\n8\n${root}`, /does not end with a newline/],
    ["two lines", `o\n8\n`, /needs origin, tree size and root/],
    ["empty origin", `\n8\n${root}\n`, /line 1 is empty/],
    ["empty extension line", `o\n8\n${root}\n\n`, /line 4 is empty/],
    ["blank line then signature", `o\n8\n${root}\n\n— o abc\n`, /line 4 is empty/],
    ["CRLF", `o\r\n8\r\n${root}\r\n`, /control character/],
    ["tab", `o\t\n8\n${root}\n`, /control character/],
    ["lone surrogate", `o\uD800\n8\n${root}\n`, /lone surrogate/],
    ["leading zero", `o\n08\n${root}\n`, /canonical decimal/],
    ["plus sign", `o\n+8\n${root}\n`, /canonical decimal/],
    ["negative", `o\n-8\n${root}\n`, /canonical decimal/],
    ["space", `o\n 8\n${root}\n`, /canonical decimal/],
    ["exponent", `o\n8e0\n${root}\n`, /canonical decimal/],
    ["hex", `o\n0x8\n${root}\n`, /canonical decimal/],
    ["fullwidth digit", `o\n\uff18\n${root}\n`, /canonical decimal/],
    ["2^53", `o\n9007199254740992\n${root}\n`, /larger than/],
    ["unpadded root", `o\n8\n${root.slice(0, -1)}\n`, /canonical padded base64/],
    ["base64url root", `o\n8\n${encodeBase64(new Uint8Array(32).fill(0xfb))}\n`.replaceAll("+", "-"), /canonical padded base64/],
    ["non-zero unused bits", `o\n8\n${root.slice(0, -2)}h=\n`, /canonical padded base64/],
    ["31-byte root", `o\n8\n${encodeBase64(ROOT8.subarray(1))}\n`, /31 bytes/],
    ["33-byte root", `o\n8\n${encodeBase64(new Uint8Array(33))}\n`, /33 bytes/],
    ["hex root", `o\n8\n${bytesToHex(ROOT8)}\n`, /not canonical padded base64|bytes/],
  ];
  for (const [name, text, reason] of refusals) {
    const result = parseCheckpointBody(text);
    assert.equal(result.ok, false, name);
    assert.match(result.ok ? "" : result.reason, reason, name);
  }
  assert.equal(parseCheckpointBody(undefined as unknown as string).ok, false);
});

test("noteKeyHash is SHA-256(name || 0x0A || 0x01 || public key)[:4]", () => {
  const name = utf8.encode(ORIGIN);
  const input = new Uint8Array([...name, 0x0a, SIGNED_NOTE_ED25519_TYPE, ...PUBLIC_KEY]);
  assert.deepEqual(noteKeyHash(ORIGIN, PUBLIC_KEY), sha256(input).subarray(0, 4));
  assert.equal(SIGNED_NOTE_ED25519_TYPE, 0x01);
  // Published key IDs, as they appear in the verifier keys name+<key ID>+<key>.
  assert.equal(bytesToHex(noteKeyHash(PETER.name, PETER.publicKey)), PETER.keyHash);
  assert.equal(bytesToHex(noteKeyHash(C2SP_EXAMPLE.name, C2SP_EXAMPLE.publicKey)), C2SP_EXAMPLE.keyHash);
  assert.equal(bytesToHex(noteKeyHash(GO_SUMDB.name, GO_SUMDB.publicKey)), GO_SUMDB.keyHash);
});

test("known answer: signNote reproduces the Go reference note byte for byte", () => {
  assert.deepEqual(publicKeyFromSeed(PETER.seed), PETER.publicKey);
  const note = signNote(PETER.text, PETER.name, PETER.seed);
  assert.equal(note, `${PETER.text}\n${PETER.signatureLine}`);
  assert.deepEqual(verifyNote(note, PETER.name, PETER.publicKey), { ok: true, body: PETER.text });
});

test("known answer: the C2SP example note verifies", () => {
  assert.deepEqual(verifyNote(C2SP_EXAMPLE.note, C2SP_EXAMPLE.name, C2SP_EXAMPLE.publicKey), {
    ok: true,
    body: "This is an example message.\n",
  });
});

test("known answer: a sum.golang.org checkpoint verifies and parses", () => {
  const result = verifyCheckpoint(GO_SUMDB.note, GO_SUMDB.name, GO_SUMDB.publicKey);
  assert.ok(result.ok, result.ok ? "" : result.reason);
  assert.equal(result.origin, "go.sum database tree");
  assert.equal(result.treeSize, 31700353);
  assert.equal(encodeBase64(result.root), "qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=");
  const altered = GO_SUMDB.note.replace("31700353", "31700354");
  assert.equal(verifyCheckpoint(altered, GO_SUMDB.name, GO_SUMDB.publicKey).ok, false);
});

test("round trip: signNote then verifyNote and verifyCheckpoint", () => {
  assert.equal(NOTE, `${BODY}\n— ${ORIGIN} ${encodeBase64(new Uint8Array([...noteKeyHash(ORIGIN, PUBLIC_KEY), ...sign(utf8.encode(BODY), SEED)]))}\n`);
  assert.deepEqual(verifyNote(NOTE, ORIGIN, PUBLIC_KEY), { ok: true, body: BODY });
  assert.deepEqual(verifyCheckpoint(NOTE, ORIGIN, PUBLIC_KEY), { ok: true, origin: ORIGIN, treeSize: 8, root: ROOT8, extensions: [] });
});

test("property: any note text signs and verifies to itself", () => {
  const line = fc.string({ maxLength: 30 }).filter((s) => !/[\u0000-\u001f]/.test(s) && s.isWellFormed());
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), (lines) => {
      const body = `${lines.join("\n")}\n`;
      assert.deepEqual(verifyNote(signNote(body, ORIGIN, SEED), ORIGIN, PUBLIC_KEY), { ok: true, body });
    }),
    { numRuns: 50 },
  );
});

test("other keys' signatures are ignored; a second signature by a known key must verify too", () => {
  const otherSeed = new Uint8Array(32).fill(9);
  const cosigned = signNote(BODY, "witness.example/w1", otherSeed);
  const both = `${NOTE}${cosigned.slice(BODY.length + 1)}`;
  assert.deepEqual(verifyNote(both, ORIGIN, PUBLIC_KEY), { ok: true, body: BODY });
  assert.deepEqual(verifyNote(both, "witness.example/w1", publicKeyFromSeed(otherSeed)), { ok: true, body: BODY });
  // Same name, other key: a different key ID, so it is someone else's line and ignored.
  const impostor = signNote(BODY, ORIGIN, otherSeed);
  assert.deepEqual(verifyNote(`${NOTE}${impostor.slice(BODY.length + 1)}`, ORIGIN, PUBLIC_KEY), { ok: true, body: BODY });
  // A line with our name and key ID whose signature is bad sinks the whole note.
  const forged = `${NOTE}— ${ORIGIN} ${encodeBase64(new Uint8Array([...noteKeyHash(ORIGIN, PUBLIC_KEY), ...new Uint8Array(64)]))}\n`;
  assert.match(reasonOf(verifyNote(forged, ORIGIN, PUBLIC_KEY)), /does not verify/);
});

function reasonOf(result: { ok: boolean; reason?: string }): string {
  assert.equal(result.ok, false, "expected a refusal");
  return result.reason ?? "";
}

test("verifyNote refuses altered, misattributed and malformed notes; verifyNoteWith (WebCrypto) answers the same", async () => {
  const webCrypto = makeWebCryptoVerifier();
  const [signatureLine] = NOTE.slice(BODY.length + 1).split("\n");
  const payload = b64(signatureLine!.split(" ")[2]!);
  const withPayload = (bytes: Uint8Array) => `${BODY}\n— ${ORIGIN} ${encodeBase64(bytes)}\n`;
  const flipped = payload.slice();
  flipped[10]! ^= 1;
  const nonCanonical = (() => {
    // The last base64 character carries 2 unused bits for a 68-byte payload; set one.
    const text = encodeBase64(payload);
    const last = text.at(-2)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    return `${BODY}\n— ${ORIGIN} ${text.slice(0, -2)}${alphabet[alphabet.indexOf(last) | 1]}=\n`;
  })();
  const manySignatures = `${BODY}\n${`— other.example/k ${encodeBase64(new Uint8Array(68))}\n`.repeat(SIGNED_NOTE_MAX_SIGNATURES)}${NOTE.slice(BODY.length + 1)}`;
  const refusals: ReadonlyArray<readonly [string, string, RegExp]> = [
    ["altered size", NOTE.replace(`\n8\n`, `\n9\n`), /does not verify/],
    ["altered root", NOTE.replace("Xcnaeac", "Xcnaead"), /does not verify/],
    ["altered origin", NOTE.replace("zt-infra.example/audit\n8", "zt-infra.example/audiT\n8"), /does not verify/],
    ["flipped signature bit", withPayload(flipped), /does not verify/],
    ["truncated signature", withPayload(payload.subarray(0, 67)), /does not verify/],
    ["signature line missing", `${BODY}\n`, /no signature lines/],
    ["no blank line", NOTE.replace(`\n\n`, `\n`), /no blank line/],
    ["body only", BODY, /no blank line/],
    ["CRLF", NOTE.replaceAll("\n", "\r\n"), /control character/],
    ["tab in body", NOTE.replace("\n8\n", "\n\t8\n"), /control character/],
    ["NUL", `${NOTE}\u0000`, /control character/],
    ["no final newline", NOTE.slice(0, -1), /does not end with a newline/],
    ["garbage after the signatures", `${NOTE}trailing`, /does not end with a newline/],
    ["non-canonical base64", nonCanonical, /malformed/],
    ["unpadded base64", NOTE.replace(/=\n$/, "\n"), /malformed/],
    ["hyphen instead of em dash", NOTE.replace("\u2014 ", "- "), /malformed/],
    ["en dash instead of em dash", NOTE.replace("\u2014 ", "\u2013 "), /malformed/],
    ["two spaces after the name", NOTE.replace(`${ORIGIN} `, `${ORIGIN}  `), /malformed/],
    ["key ID only", withPayload(payload.subarray(0, 4)), /malformed/],
    ["'+' in a key name", `${NOTE}— a+b ${encodeBase64(new Uint8Array(68))}\n`, /malformed/],
    ["no-break space in a key name", `${NOTE}— a\u00a0b ${encodeBase64(new Uint8Array(68))}\n`, /malformed/],
    // The text ends at the last blank line, so the first signature becomes signed text.
    ["blank line among signatures", `${NOTE}\n${NOTE.slice(BODY.length + 1)}`, /does not verify/],
    ["lone surrogate", NOTE.replace("audit", "aud\uDC00it"), /lone surrogate/],
    ["too many signatures", manySignatures, /more than 100/],
  ];
  for (const [name, note, reason] of refusals) {
    let result: ReturnType<typeof verifyNote> | undefined;
    assert.doesNotThrow(() => {
      result = verifyNote(note, ORIGIN, PUBLIC_KEY);
    }, name);
    assert.match(reasonOf(result!), reason, name);
    assert.deepEqual(await verifyNoteWith(note, ORIGIN, PUBLIC_KEY, webCrypto), result, `${name}, with WebCrypto`);
  }
});

test("known answers with an asynchronous verifier (WebCrypto): the same notes verify, the same checkpoint parses", async () => {
  const webCrypto = makeWebCryptoVerifier();
  assert.deepEqual(await verifyNoteWith(`${PETER.text}\n${PETER.signatureLine}`, PETER.name, PETER.publicKey, webCrypto), { ok: true, body: PETER.text });
  assert.deepEqual(await verifyNoteWith(C2SP_EXAMPLE.note, C2SP_EXAMPLE.name, C2SP_EXAMPLE.publicKey, webCrypto), verifyNote(C2SP_EXAMPLE.note, C2SP_EXAMPLE.name, C2SP_EXAMPLE.publicKey));
  assert.deepEqual(await verifyCheckpointWith(GO_SUMDB.note, GO_SUMDB.name, GO_SUMDB.publicKey, webCrypto), verifyCheckpoint(GO_SUMDB.note, GO_SUMDB.name, GO_SUMDB.publicKey));
  assert.deepEqual(await verifyCheckpointWith(NOTE, ORIGIN, PUBLIC_KEY, webCrypto), verifyCheckpoint(NOTE, ORIGIN, PUBLIC_KEY));
  assert.match(reasonOf(await verifyCheckpointWith(NOTE, "other.example/log", PUBLIC_KEY, webCrypto)), /not signed by/);
  // A verifier that says no is heard: the parsing is shared, the verdict is the verifier's.
  assert.match(reasonOf(await verifyNoteWith(NOTE, ORIGIN, PUBLIC_KEY, async () => false)), /does not verify/);
});

test("verifyNote refuses a note for another key name or another key", () => {
  assert.match(reasonOf(verifyNote(NOTE, "other.example/log", PUBLIC_KEY)), /not signed by other\.example\/log/);
  assert.match(reasonOf(verifyNote(NOTE, ORIGIN, publicKeyFromSeed(new Uint8Array(32).fill(7)))), /not signed by/);
  assert.match(reasonOf(verifyNote(NOTE, ORIGIN, PUBLIC_KEY.subarray(1))), /32 bytes/);
  assert.match(reasonOf(verifyNote(NOTE, "has space", PUBLIC_KEY)), /not a valid note key name/);
  assert.match(reasonOf(verifyNote(NOTE, "", PUBLIC_KEY)), /not a valid note key name/);
  assert.match(reasonOf(verifyNote(42 as unknown as string, ORIGIN, PUBLIC_KEY)), /not text/);
});

test("verifyCheckpoint refuses a validly signed note whose text is not a checkpoint", () => {
  const note = signNote("hello\n", ORIGIN, SEED);
  assert.deepEqual(verifyNote(note, ORIGIN, PUBLIC_KEY), { ok: true, body: "hello\n" });
  assert.match(reasonOf(verifyCheckpoint(note, ORIGIN, PUBLIC_KEY)), /needs origin, tree size and root/);
  assert.match(reasonOf(verifyCheckpoint(NOTE, "other.example/log", PUBLIC_KEY)), /not signed by/);
});

test("the text ends at the last blank line, so a body may contain blank lines", () => {
  const body = "first\n\nsecond\n";
  assert.deepEqual(verifyNote(signNote(body, ORIGIN, SEED), ORIGIN, PUBLIC_KEY), { ok: true, body });
});

test("signNote throws on a defect of the caller", () => {
  assert.throws(() => signNote("no newline", ORIGIN, SEED), RangeError);
  assert.throws(() => signNote("crlf\r\n", ORIGIN, SEED), RangeError);
  assert.throws(() => signNote(BODY, "", SEED), RangeError);
  assert.throws(() => signNote(BODY, "a b", SEED), RangeError);
  assert.throws(() => signNote(BODY, "a+b", SEED), RangeError);
  assert.throws(() => signNote(BODY, ORIGIN, SEED.subarray(1)), RangeError);
});
