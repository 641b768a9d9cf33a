/**
 * `POST /permits` as a service: checks the request against the active policy, signs
 * the permit with the issuer key and records `PermitIssued.v1` (everything but the
 * signature, which is a bearer credential and is never stored or logged).
 */
import { Clock, Context, Effect, Either, Layer, Schema } from "effect";
import { EventStore, type EventStoreError, type JsonObject } from "../events/EventStore.ts";
import { Identity } from "../identity/Identity.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import { Ids } from "../platform/Ids.ts";
import { unsignedPart, type Permit } from "../vocabulary/Permit.ts";
import { PERMIT_ISSUED, PermitIssued, permitStream } from "./events.ts";
import { checkPermitRequest, signPermit, type PermitRejection } from "./issuePermit.ts";


export interface PermitServiceShape {
  /** Issues and records a permit, or rejects a request the policy could never honour. */
  readonly issue: (request: unknown) => Effect.Effect<Either.Either<Permit, PermitRejection>, EventStoreError>;
}

export class PermitService extends Context.Tag("zt/PermitService")<PermitService, PermitServiceShape>() {
  static readonly layer = Layer.effect(
    PermitService,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const active = yield* ActivePolicy;
      const identity = yield* Identity;
      const ids = yield* Ids;
      return {
        issue: (input) =>
          Effect.gen(function* () {
            // One bundle for the whole issue, even across a reload.
            const policy = active.current();
            const checked = checkPermitRequest(policy.manifest, input);
            if (Either.isLeft(checked)) return Either.left(checked.left);
            const now = yield* Clock.currentTimeMillis;
            const permit = signPermit({
              ...checked.right,
              policyId: policy.policyId,
              now,
              permitId: `permit_${yield* ids.ulid(now)}`,
              nonce: yield* ids.uuid,
              key: identity.issuerKey,
            });
            const eventId = yield* ids.uuid;
            yield* store.append(permitStream(permit.permit_id), [{ id: eventId, type: PERMIT_ISSUED, data: Schema.encodeSync(PermitIssued)(unsignedPart(permit)) as unknown as JsonObject }], "no_stream");
            yield* Effect.logInfo("permit issued").pipe(Effect.annotateLogs({ permit_id: permit.permit_id, subject: permit.subject, scope: permit.scope }));
            return Either.right(permit);
          }),
      };
    }),
  );
}
