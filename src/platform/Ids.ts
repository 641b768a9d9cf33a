/**
 * Identifier generation as a service, so pure code receives ids as inputs and tests can
 * pin them. Decision and permit ids are ULIDs (time-ordered); event ids and nonces are
 * UUID v4. Randomness comes from the platform CSPRNG.
 */
import { Context, Effect, Layer } from "effect";
import { ulid, uuidV4, ULID_RANDOM_LENGTH, UUID_RANDOM_LENGTH } from "../kernel/ids.ts";

export interface IdsShape {
  readonly ulid: (timeMs: number) => Effect.Effect<string>;
  readonly uuid: Effect.Effect<string>;
}

// CSPRNG bytes are drawn a block at a time and each handed out once: one
// getRandomValues call per 256 ids instead of one per id, on the request path.
const POOL_BYTES = 4096;
let pool = new Uint8Array(0);
let taken = 0;
function randomBytes(length: number): Uint8Array {
  if (taken + length > pool.length) {
    pool = crypto.getRandomValues(new Uint8Array(POOL_BYTES));
    taken = 0;
  }
  const bytes = pool.slice(taken, taken + length);
  taken += length;
  return bytes;
}

export class Ids extends Context.Tag("zt/Ids")<Ids, IdsShape>() {
  static readonly layer: Layer.Layer<Ids> = Layer.succeed(Ids, {
    ulid: (timeMs) => Effect.sync(() => ulid(timeMs, randomBytes(ULID_RANDOM_LENGTH))),
    uuid: Effect.sync(() => uuidV4(randomBytes(UUID_RANDOM_LENGTH))),
  });
}
