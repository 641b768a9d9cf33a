// RFC 8032 section 5.1 Ed25519 (pure Ed25519, no prehash, no context). Verification is
// the strict RFC 8032 kind: non-canonical S, non-canonical or undecodable R and A are
// refused (section 5.1.7 with the decoding rules of 5.1.3), which is what Wycheproof
// expects. Signatures, messages and public keys reaching verify are attacker-controlled.
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { decodeBase64Url, encodeBase64Url } from "./base64url.ts";
import { bytesToHex, sha256 } from "./hashing.ts";

// @noble/ed25519 v3 needs a synchronous SHA-512 before its sync API works. Idempotent,
// so it does not matter which module sets it first.
ed.hashes.sha512 = sha512;

export const ED25519_SIGNATURE_PREFIX = "ed25519:";
export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

/** Asynchronous verifier with the same contract as verify: resolves false, never rejects. */
export type Ed25519Verifier = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => Promise<boolean>;

// Seeds are the program's own secrets, so a wrong length is a defect and throws; the
// message never echoes the seed.
function assertSeed(seed: Uint8Array): void {
  if (seed.length !== ED25519_SEED_LENGTH) {
    throw new RangeError(`Ed25519 seed must be ${ED25519_SEED_LENGTH} bytes, got ${seed.length}`);
  }
}

/** The public key A of an RFC 8032 32-byte private key (the "seed"). Throws on a wrong-length seed. */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  assertSeed(seed);
  return ed.getPublicKey(seed);
}

/** The 64-byte signature R || S of `message`. Deterministic. Throws on a wrong-length seed. */
export function sign(message: Uint8Array, seed: Uint8Array): Uint8Array {
  assertSeed(seed);
  return ed.sign(message, seed);
}

/** Strict RFC 8032 verification of hostile input: false for anything but a valid signature; never throws. */
export function verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  // noble throws on wrong lengths; check first so the common hostile case is cheap.
  if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  try {
    // zip215: false selects RFC 8032 decoding; noble's default (ZIP 215) accepts
    // non-canonical point encodings, e.g. Wycheproof tcId 151 (y = 1 with x's sign bit set).
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

export type WebCryptoVerifierOptions = {
  /** Imported keys kept, oldest evicted first. Default 1024. */
  readonly maxCachedKeys?: number;
};

/**
 * A verifier backed by WebCrypto's Ed25519 (Node, Deno and browsers), which is faster
 * than pure JS for bulk checks. Imported CryptoKeys are cached per public key because
 * importKey dominates the cost of one verify. Each call makes an independent cache.
 */
export function makeWebCryptoVerifier(options: WebCryptoVerifierOptions = {}): Ed25519Verifier {
  const maxCachedKeys = Math.max(1, options.maxCachedKeys ?? 1024);
  // The promise is cached, not the key, so concurrent first uses import once.
  const keys = new Map<string, Promise<CryptoKey>>();

  const keyFor = (publicKey: Uint8Array<ArrayBuffer>): Promise<CryptoKey> => {
    const id = bytesToHex(publicKey);
    const cached = keys.get(id);
    if (cached !== undefined) {
      // Re-insert to mark as recently used: Map iterates in insertion order.
      keys.delete(id);
      keys.set(id, cached);
      return cached;
    }
    const imported = globalThis.crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    // A key that fails to import is not cached, so garbage cannot evict good keys for long.
    imported.catch(() => {
      if (keys.get(id) === imported) keys.delete(id);
    });
    keys.set(id, imported);
    while (keys.size > maxCachedKeys) {
      const oldest = keys.keys().next();
      if (oldest.done === true) break;
      keys.delete(oldest.value);
    }
    return imported;
  };

  return async (signature, message, publicKey) => {
    if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
    try {
      // Copies: WebCrypto wants ArrayBuffer-backed views, and the caller may reuse its
      // buffers while we await.
      const key = await keyFor(new Uint8Array(publicKey));
      return await globalThis.crypto.subtle.verify("Ed25519", key, new Uint8Array(signature), new Uint8Array(message));
    } catch {
      return false;
    }
  };
}

/** RFC 8410 section 7: the PKCS #8 prefix of an Ed25519 private key, followed by the 32-byte seed. */
const ED25519_PKCS8_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export type Ed25519Signer = (message: Uint8Array) => Promise<Uint8Array>;

/**
 * A signer backed by WebCrypto's Ed25519, about ten times faster than pure JS for bulk
 * signing (the audit projection signs every record). Ed25519 is deterministic, so it
 * yields exactly the signatures `sign` does. Throws a RangeError on a seed that is not
 * 32 bytes: seeds are the program's own values.
 */
export function makeWebCryptoSigner(seed: Uint8Array): Ed25519Signer {
  if (seed.length !== ED25519_SEED_LENGTH) throw new RangeError(`Ed25519 seed must be ${ED25519_SEED_LENGTH} bytes`);
  const pkcs8 = new Uint8Array(ED25519_PKCS8_PREFIX.length + ED25519_SEED_LENGTH);
  pkcs8.set(ED25519_PKCS8_PREFIX);
  pkcs8.set(seed, ED25519_PKCS8_PREFIX.length);
  const key = globalThis.crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  return async (message) => new Uint8Array(await globalThis.crypto.subtle.sign("Ed25519", await key, new Uint8Array(message)));
}

/** The project's key id: "zt-" and the first 16 lowercase hex digits (64 bits) of SHA-256(publicKey). */
export function keyIdOf(publicKey: Uint8Array): string {
  return `zt-${bytesToHex(sha256(publicKey)).slice(0, 16)}`;
}

/** "ed25519:" followed by the unpadded base64url of the 64-byte signature. */
export function encodeSignature(signature: Uint8Array): string {
  return ED25519_SIGNATURE_PREFIX + encodeBase64Url(signature);
}

/** Decodes hostile text: undefined unless the exact prefix and a canonical encoding of 64 bytes. */
export function decodeSignature(text: string): Uint8Array | undefined {
  if (!text.startsWith(ED25519_SIGNATURE_PREFIX)) return undefined;
  const bytes = decodeBase64Url(text.slice(ED25519_SIGNATURE_PREFIX.length));
  return bytes !== undefined && bytes.length === ED25519_SIGNATURE_LENGTH ? bytes : undefined;
}
