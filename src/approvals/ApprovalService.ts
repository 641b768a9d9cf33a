/**
 * Operators' grants and rejections, and recorded expiries, as a service: read the
 * approval from its streams, decide (pure, decideVote.ts), append the event expecting the
 * revision read. A concurrent vote that moved the approval first makes the append fail;
 * the vote is then decided again on the fresh approval, so two operators granting at
 * once both count and a grant after a rejection is refused.
 */
import { Clock, Context, Effect, Layer } from "effect";
import { EventStore, EventStoreError, type JsonObject } from "../events/EventStore.ts";
import { Ids } from "../platform/Ids.ts";
import type { Approval } from "./Approval.ts";
import { ApprovalBook } from "./ApprovalBook.ts";
import { decideVote, expiryOf, type Vote, type VoteEvent, type VoteRefusalReason } from "./decideVote.ts";
import { approvalStream } from "./events.ts";

export type VoteResult =
  | { readonly kind: "not_found" }
  | { readonly kind: "refused"; readonly reason: VoteRefusalReason; readonly detail: string; readonly approval: Approval }
  | { readonly kind: "recorded"; readonly approval: Approval };

export interface ApprovalServiceShape {
  /** Records an operator's grant or rejection, or says why it is refused; fails only when the store cannot be read or written. */
  readonly vote: (approvalId: string, vote: Omit<Vote, "now">) => Effect.Effect<VoteResult, EventStoreError>;
  /** Records the expiry of an approval past its `expires_at`; false when there was nothing to record. */
  readonly expire: (approvalId: string) => Effect.Effect<boolean, EventStoreError>;
}

/** Votes racing one approval are decided again at most this often before the store's refusal is answered. */
const MAX_ATTEMPTS = 16;

export class ApprovalService extends Context.Tag("zt/ApprovalService")<ApprovalService, ApprovalServiceShape>() {
  static readonly layer: Layer.Layer<ApprovalService, never, EventStore | ApprovalBook | Ids> = Layer.effect(
    ApprovalService,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const book = yield* ApprovalBook;
      const ids = yield* Ids;

      /** Appends one event expecting the approval's revision; false when another writer moved it first. */
      const append = (approval: Approval, event: VoteEvent) =>
        Effect.gen(function* () {
          const id = yield* ids.uuid;
          return yield* store.append(approvalStream(approval.requested.approval_id), [{ id, type: event.type, data: event.data as unknown as JsonObject }], { revision: approval.revision }).pipe(
            Effect.as(true),
            Effect.catchIf((error) => error.reason === "wrong_expected_version", () => Effect.succeed(false)),
          );
        });

      const vote: ApprovalServiceShape["vote"] = (approvalId, command) =>
        Effect.gen(function* () {
          for (let attempt = 1; ; attempt++) {
            const approval = yield* book.read(approvalId);
            if (approval === undefined) return { kind: "not_found" } as const;
            const now = yield* Clock.currentTimeMillis;
            const decided = decideVote(approval, { ...command, now });
            const event = decided.ok ? decided.event : decided.record;
            const written = event === null ? true : yield* append(approval, event);
            if (written || attempt >= MAX_ATTEMPTS) {
              const after = (yield* book.read(approvalId)) ?? approval;
              if (!decided.ok) return { kind: "refused", reason: decided.reason, detail: decided.detail, approval: after } as const;
              if (!written) {
                return yield* Effect.fail(new EventStoreError({ reason: "wrong_expected_version", message: `the approval changed under ${MAX_ATTEMPTS} votes in a row`, stream: approvalStream(approvalId) }));
              }
              yield* Effect.logInfo(decided.event.type === "ApprovalGranted.v1" ? "approval granted" : "approval rejected").pipe(
                Effect.annotateLogs({ approval_id: approvalId, operator: command.operator }),
              );
              return { kind: "recorded", approval: after } as const;
            }
          }
        });

      const expire: ApprovalServiceShape["expire"] = (approvalId) =>
        Effect.gen(function* () {
          const approval = yield* book.read(approvalId);
          if (approval === undefined) return false;
          const expiry = expiryOf(approval, yield* Clock.currentTimeMillis);
          if (expiry === null) return false;
          const written = yield* append(approval, expiry);
          if (written) yield* Effect.logInfo("approval expired").pipe(Effect.annotateLogs({ approval_id: approvalId }));
          return written;
        });

      return { vote, expire };
    }),
  );
}
