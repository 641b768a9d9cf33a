// FIPS 180-4 SHA-256 over bytes, and over the RFC 8785 (JCS) bytes of a JSON value,
// which is how the project hashes anything structured. Hex is lowercase (RFC 4648
// section 8 alphabet, lowercased) on output; input hex may be either case.
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { bytesToHex as nobleBytesToHex } from "@noble/hashes/utils.js";
import { canonicalJson } from "./jcs.ts";

const utf8 = new TextEncoder();

interface NativeHash {
  update(data: Uint8Array | string): NativeHash;
  digest(): Uint8Array;
  digest(encoding: "hex"): string;
}

/**
 * Node and Deno hash natively (node:crypto, reached without an import so that this file
 * also runs in a browser): about five times faster than pure JS on a kilobyte, and the
 * decision path, the audit chain and the verifier hash several per record. Browsers use
 * @noble/hashes. Both give the same digests (tested on the same vectors, strings as
 * UTF-8 with U+FFFD for a lone surrogate, as TextEncoder does).
 */
const native = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.("node:crypto") as
  | { createHash(algorithm: "sha256"): NativeHash }
  | undefined;

/** Which SHA-256 this runtime uses. */
export const SHA256_IMPLEMENTATION: "native" | "noble" = native === undefined ? "noble" : "native";

export function sha256(bytes: Uint8Array): Uint8Array {
  return native === undefined ? nobleSha256(bytes) : new Uint8Array(native.createHash("sha256").update(bytes).digest());
}

/**
 * Lowercase hex SHA-256. A string is hashed as UTF-8; note that TextEncoder replaces a
 * lone surrogate with U+FFFD, so hash hostile strings through jcsSha256Hex, which
 * refuses them.
 */
export function sha256Hex(input: Uint8Array | string): string {
  if (native !== undefined) return native.createHash("sha256").update(input).digest("hex");
  return nobleBytesToHex(nobleSha256(typeof input === "string" ? utf8.encode(input) : input));
}

export type JcsHashResult =
  | { readonly ok: true; readonly hex: string }
  | { readonly ok: false; readonly reason: string };

/** SHA-256 of the UTF-8 bytes of the JCS text of `value`; refuses what canonicalJson refuses. */
export function jcsSha256Hex(value: unknown): JcsHashResult {
  const canonical = canonicalJson(value);
  if (!canonical.ok) return canonical;
  return { ok: true, hex: sha256Hex(canonical.text) };
}

export function bytesToHex(bytes: Uint8Array): string {
  return nobleBytesToHex(bytes);
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict hex decoding of hostile text: undefined unless even length and only [0-9a-fA-F]. */
export function hexToBytes(hex: string): Uint8Array | undefined {
  if (!HEX.test(hex)) return undefined;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}
