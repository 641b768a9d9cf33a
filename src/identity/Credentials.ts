/**
 * Bearer credentials (contract section 2). Only sha256 hashes of tokens are stored, in
 * `$ZT_DATA_DIR/tokens.json`: `{"operator": [hash...], "agents": {"agent:desk-7": [hash...]}}`.
 * An agent token is bound to exactly one actor; the operator token to no actor.
 */
import { readFileSync } from "node:fs";
import { Either, Schema } from "effect";
import { encodeBase64Url } from "../kernel/base64url.ts";
import { sha256Hex } from "../kernel/hashing.ts";

export type Principal = { readonly role: "operator" } | { readonly role: "agent"; readonly actor: string };

const Hash = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));
export const TokensFile = Schema.Struct({
  operator: Schema.Array(Hash),
  agents: Schema.Record({ key: Schema.String.pipe(Schema.minLength(1)), value: Schema.Array(Hash) }),
});
export type TokensFile = typeof TokensFile.Type;

export const TOKENS_FILE = "tokens.json";

export function tokenHash(token: string): string {
  return sha256Hex(token);
}

export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `zt_${encodeBase64Url(bytes)}`;
}

export interface Credentials {
  /** The principal a bearer token authenticates, or undefined. */
  readonly authenticate: (token: string) => Principal | undefined;
  readonly agents: ReadonlyArray<string>;
}

export function credentialsFrom(file: TokensFile): Credentials {
  const byHash = new Map<string, Principal>();
  for (const hash of file.operator) byHash.set(hash, { role: "operator" });
  for (const [actor, hashes] of Object.entries(file.agents)) {
    for (const hash of hashes) {
      if (byHash.has(hash)) throw new Error(`${TOKENS_FILE}: one token hash is bound to two principals`);
      byHash.set(hash, { role: "agent", actor });
    }
  }
  return {
    authenticate: (token) => (token.length === 0 || token.length > 512 ? undefined : byHash.get(tokenHash(token))),
    agents: Object.keys(file.agents),
  };
}

export function readTokensFile(path: string): TokensFile {
  const decoded = Schema.decodeUnknownEither(Schema.parseJson(TokensFile))(readFileSync(path, "utf8"));
  if (Either.isLeft(decoded)) throw new Error(`${path}: not a tokens file ({"operator": [sha256...], "agents": {actor: [sha256...]}})`);
  return decoded.right;
}
