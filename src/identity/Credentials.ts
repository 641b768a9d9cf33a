/**
 * Bearer credentials (contract sections 2 and 9). Only sha256 hashes of tokens are
 * stored, in `$ZT_DATA_DIR/tokens.json`:
 * `{"operators": {"operator:alice": [hash...]}, "agents": {"agent:desk-7": [hash...]}}`.
 * An agent token is bound to exactly one actor; an operator token to one named operator,
 * who is whoever approves or rejects with it. The v1 form, `"operator": [hash...]`, is
 * still read: its tokens authenticate as `operator:default` unless `operators` names them.
 */
import { readFileSync } from "node:fs";
import { Either, Schema } from "effect";
import { encodeBase64Url } from "../kernel/base64url.ts";
import { sha256Hex } from "../kernel/hashing.ts";

export type Principal = { readonly role: "operator"; readonly name: string } | { readonly role: "agent"; readonly actor: string };

/** The name a v1 `operator` token authenticates as. */
export const DEFAULT_OPERATOR = "operator:default";

/** `operator:<name>`: the name is what an approval records as its approver. */
export const OperatorName = Schema.String.pipe(Schema.pattern(/^operator:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: () => "must be operator:<name> (letters, digits, . _ -; at most 64)" }));

const Hash = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));
export const TokensFile = Schema.Struct({
  /** v1: unnamed operator tokens. */
  operator: Schema.optional(Schema.Array(Hash)),
  operators: Schema.optional(Schema.Record({ key: OperatorName, value: Schema.Array(Hash) })),
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
  /** The named operators, in the file's order. */
  readonly operators: ReadonlyArray<string>;
}

/** The principal of each token hash; throws when one hash is bound to two principals. */
export function credentialsFrom(file: TokensFile): Credentials {
  const byHash = new Map<string, Principal>();
  const bind = (hash: string, principal: Principal) => {
    if (byHash.has(hash)) throw new Error(`${TOKENS_FILE}: one token hash is bound to two principals`);
    byHash.set(hash, principal);
  };
  const named = new Set(Object.values(file.operators ?? {}).flat());
  for (const [name, hashes] of Object.entries(file.operators ?? {})) for (const hash of hashes) bind(hash, { role: "operator", name });
  // A v1 hash that `operators` also names is that named operator.
  for (const hash of file.operator ?? []) if (!named.has(hash)) bind(hash, { role: "operator", name: DEFAULT_OPERATOR });
  for (const [actor, hashes] of Object.entries(file.agents)) for (const hash of hashes) bind(hash, { role: "agent", actor });
  const operators = new Set([...byHash.values()].flatMap((principal) => (principal.role === "operator" ? [principal.name] : [])));
  return {
    authenticate: (token) => (token.length === 0 || token.length > 512 ? undefined : byHash.get(tokenHash(token))),
    agents: Object.keys(file.agents),
    operators: [...operators],
  };
}

export function readTokensFile(path: string): TokensFile {
  const decoded = Schema.decodeUnknownEither(Schema.parseJson(TokensFile))(readFileSync(path, "utf8"), { onExcessProperty: "error" });
  if (Either.isLeft(decoded)) {
    throw new Error(`${path}: not a tokens file ({"operators": {"operator:<name>": [sha256...]}, "agents": {actor: [sha256...]}})`);
  }
  return decoded.right;
}
