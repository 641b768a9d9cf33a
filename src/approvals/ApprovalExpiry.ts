/**
 * Records `ApprovalExpired.v1` for approvals whose `expires_at` passed while they were
 * pending or granted and unused, so the audit chain says when each ended. Decisions never
 * wait for it: the decider reads expiry from the time itself, and a vote on an approval
 * past its time records the expiry too. Runs in the background, every `intervalMs` on the
 * Effect clock; a store that cannot be read is logged and tried again next round.
 */
import { Clock, Context, Effect, Layer } from "effect";
import { approvalStatus } from "./Approval.ts";
import { ApprovalBook } from "./ApprovalBook.ts";
import { ApprovalService } from "./ApprovalService.ts";

export interface ApprovalExpiryOptions {
  /** How often expiries are looked for (default 1000 ms). */
  readonly intervalMs?: number;
}

export class ApprovalExpiry extends Context.Tag("zt/ApprovalExpiry")<ApprovalExpiry, { readonly sweep: Effect.Effect<number> }>() {
  static readonly layer = (options: ApprovalExpiryOptions = {}): Layer.Layer<ApprovalExpiry, never, ApprovalBook | ApprovalService> =>
    Layer.scoped(
      ApprovalExpiry,
      Effect.gen(function* () {
        const book = yield* ApprovalBook;
        const service = yield* ApprovalService;
        /** Records every expiry due now; answers how many it recorded. */
        const sweep = Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis;
          const due = (yield* book.all).filter((approval) => approval.expiry === null && approvalStatus(approval, now) === "expired");
          let recorded = 0;
          for (const approval of due) if (yield* service.expire(approval.requested.approval_id)) recorded += 1;
          return recorded;
        }).pipe(
          Effect.catchAll((error) => Effect.as(Effect.logWarning("approval expiries not recorded this round").pipe(Effect.annotateLogs({ reason: error.reason })), 0)),
        );
        yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(options.intervalMs ?? 1000), sweep)));
        return { sweep };
      }),
    );
}
