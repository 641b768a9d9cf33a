/**
 * The facts a presented permit's checks need that pure code cannot establish: whether its
 * `key_id` names a trusted issuer, whether its signature verifies (WebCrypto Ed25519,
 * strict RFC 8032) over the JCS of the permit without `signature`, and whether its nonce
 * was already consumed. The nonce read only names a replay early: the decision's
 * no-stream append of `NonceConsumed.v1` is what guarantees single use, however requests
 * interleave.
 */
import { Context, Effect, Layer } from "effect";
import { EventStore, type EventStoreError } from "../events/EventStore.ts";
import { Identity } from "../identity/Identity.ts";
import { decodeSignature, makeWebCryptoVerifier } from "../kernel/ed25519.ts";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { unsignedPart, type Permit } from "../vocabulary/Permit.ts";
import { nonceStream } from "./events.ts";
import type { PermitFacts } from "./verifyPermit.ts";

export interface PermitVerifierShape {
  /** The permit's facts; fails only when the store cannot be read. */
  readonly factsOf: (permit: Permit) => Effect.Effect<PermitFacts, EventStoreError>;
}

export class PermitVerifier extends Context.Tag("zt/PermitVerifier")<PermitVerifier, PermitVerifierShape>() {
  static readonly layer = Layer.effect(
    PermitVerifier,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const identity = yield* Identity;
      const verifySignature = makeWebCryptoVerifier();
      return {
        factsOf: (permit) =>
          Effect.gen(function* () {
            const consumed = yield* store.readStream(nonceStream(permit.nonce), { limit: 1 });
            const issuer = identity.trustedIssuers.get(permit.key_id);
            const signature = decodeSignature(permit.signature);
            const message = new TextEncoder().encode(canonicalJsonTrusted(unsignedPart(permit)));
            const signatureValid = issuer !== undefined && signature !== undefined ? yield* Effect.promise(() => verifySignature(signature, message, issuer.publicKey)) : false;
            return { issuerTrusted: issuer !== undefined, signatureValid, nonceSeen: consumed.length > 0 };
          }),
      };
    }),
  );
}
