/**
 * Ed25519 key files. A private key file holds the 32-byte RFC 8032 seed and is written
 * with mode 0600; a public key file holds only the public half. Both are JSON:
 * `{"key_id", "use", "alg": "Ed25519", "public_key": base64url[, "private_key": base64url]}`.
 * `key_id` is derived from the public key (`zt-` + 16 hex of its sha256), so a file
 * cannot claim another key's id.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Either, ParseResult, Schema } from "effect";
import { decodeBase64Url, encodeBase64Url } from "../kernel/base64url.ts";
import { keyIdOf, publicKeyFromSeed, ED25519_SEED_LENGTH, ED25519_PUBLIC_KEY_LENGTH } from "../kernel/ed25519.ts";

export type KeyUse = "permit" | "audit";

export interface PublicKeyInfo {
  readonly key_id: string;
  readonly use: KeyUse;
  readonly alg: "Ed25519";
  readonly public_key: string;
}

export interface SigningKey {
  readonly keyId: string;
  readonly use: KeyUse;
  readonly publicKey: Uint8Array;
  /** The RFC 8032 private key (seed). Never logged, never put in an error. */
  readonly seed: Uint8Array;
}

export interface VerifyingKey {
  readonly keyId: string;
  readonly use: KeyUse;
  readonly publicKey: Uint8Array;
}

const KeyFileJson = Schema.Struct({
  key_id: Schema.String,
  use: Schema.Literal("permit", "audit"),
  alg: Schema.Literal("Ed25519"),
  public_key: Schema.String,
  private_key: Schema.optional(Schema.String),
});

export class KeyFileError extends Error {
  override readonly name = "KeyFileError";
}

export function publicKeyInfo(key: VerifyingKey): PublicKeyInfo {
  return { key_id: key.keyId, use: key.use, alg: "Ed25519", public_key: encodeBase64Url(key.publicKey) };
}

export function signingKeyFromSeed(seed: Uint8Array, use: KeyUse): SigningKey {
  const publicKey = publicKeyFromSeed(seed);
  return { keyId: keyIdOf(publicKey), use, publicKey, seed };
}

function parseKeyFile(path: string): typeof KeyFileJson.Type {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new KeyFileError(`${path}: cannot read key file (${(error as NodeJS.ErrnoException).code ?? "invalid JSON"})`);
  }
  const decoded = Schema.decodeUnknownEither(KeyFileJson)(json, { onExcessProperty: "error" });
  if (Either.isLeft(decoded)) {
    // The formatted issue names paths only; key material never reaches the message.
    const paths = ParseResult.ArrayFormatter.formatErrorSync(decoded.left).map((issue) => ["$", ...issue.path].join("."));
    throw new KeyFileError(`${path}: not an Ed25519 key file (problem at ${paths.join(", ")})`);
  }
  return decoded.right;
}

/** Reads a private key file, checking that the seed, public key and key id agree. */
export function readSigningKey(path: string): SigningKey {
  const file = parseKeyFile(path);
  const seed = file.private_key === undefined ? undefined : decodeBase64Url(file.private_key);
  if (seed === undefined || seed.length !== ED25519_SEED_LENGTH) {
    throw new KeyFileError(`${path}: private_key is missing or is not a base64url 32-byte Ed25519 seed`);
  }
  const key = signingKeyFromSeed(seed, file.use);
  if (encodeBase64Url(key.publicKey) !== file.public_key || key.keyId !== file.key_id) {
    throw new KeyFileError(`${path}: public_key or key_id does not match the private key`);
  }
  return key;
}

/** Reads a public (or private) key file as a verifying key. */
export function readVerifyingKey(path: string): VerifyingKey {
  const file = parseKeyFile(path);
  const publicKey = decodeBase64Url(file.public_key);
  if (publicKey === undefined || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) {
    throw new KeyFileError(`${path}: public_key is not a base64url 32-byte Ed25519 public key`);
  }
  if (keyIdOf(publicKey) !== file.key_id) throw new KeyFileError(`${path}: key_id does not match public_key`);
  return { keyId: file.key_id, use: file.use, publicKey };
}

function writeJson(path: string, value: unknown, mode: number): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`, { mode, flag: "wx" });
    chmodSync(path, mode);
  } catch (error) {
    // Only the path and the errno code: the value may hold a private key.
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyFileError(code === "EEXIST" ? `${path} already exists; refusing to overwrite a key file` : `${path}: cannot write key file (${code ?? "error"})`);
  }
}

/** Writes `<base>.key.json` (0600) and `<base>.pub.json`; refuses to overwrite either (KeyFileError). */
export function writeKeyPair(basePath: string, key: SigningKey): { privateFile: string; publicFile: string } {
  const info = publicKeyInfo(key);
  const privateFile = `${basePath}.key.json`;
  const publicFile = `${basePath}.pub.json`;
  // Checked up front so that a refusal never leaves half a pair behind.
  for (const file of [privateFile, publicFile]) {
    if (existsSync(file)) throw new KeyFileError(`${file} already exists; refusing to overwrite a key file`);
  }
  writeJson(privateFile, { ...info, private_key: encodeBase64Url(key.seed) }, 0o600);
  writeJson(publicFile, info, 0o644);
  return { privateFile, publicFile };
}

export function randomSeed(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(ED25519_SEED_LENGTH));
}
