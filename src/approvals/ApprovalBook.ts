/**
 * Approvals as a projection of the event log (contract section 9). `read` folds one
 * approval from its two streams, as fresh as the store; the book folds every approval
 * event of the global order into summaries, catching up with the log before it answers
 * (so whatever was appended before a call is in its answer), and indexes them by request
 * digest for repeats that name no approval. It keeps no request body: a summary holds
 * the actor, action and resource of its call; `read` has the rest.
 */
import { Context, Effect, Layer } from "effect";
import { EventStore, type EventStoreError, type RecordedEvent } from "../events/EventStore.ts";
import { evolveApproval, foldApproval, type Approval } from "./Approval.ts";
import { APPROVAL_EVENT_TYPES, APPROVAL_REQUESTED, approvalConsumedStream, approvalStream } from "./events.ts";

export interface ApprovalBookShape {
  /** One approval from its own streams, or undefined when it does not exist; fails only when the store cannot be read. */
  readonly read: (approvalId: string) => Effect.Effect<Approval | undefined, EventStoreError>;
  /** After catching up with the log: the approvals of the request with this digest, oldest first. */
  readonly forDigest: (digest: string) => Effect.Effect<ReadonlyArray<Approval>, EventStoreError>;
  /** After catching up with the log: every approval (summaries), oldest first. */
  readonly all: Effect.Effect<ReadonlyArray<Approval>, EventStoreError>;
}

const PAGE = 1000;
/** Events an approval's own stream can hold: its request, grants, a rejection, an expiry and the odd damaged event. */
const STREAM_LIMIT = 256;

/** An approval as the book keeps it: its call named by actor, action and resource only. */
function summary(approval: Approval): Approval {
  const { actor, action, resource } = approval.requested.request;
  return { ...approval, requested: { ...approval.requested, request: { actor, action, resource } } };
}

export class ApprovalBook extends Context.Tag("zt/ApprovalBook")<ApprovalBook, ApprovalBookShape>() {
  static readonly layer: Layer.Layer<ApprovalBook, never, EventStore> = Layer.effect(
    ApprovalBook,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const approvals = new Map<string, Approval>();
      const byDigest = new Map<string, string[]>();
      let position = 0;
      const lock = yield* Effect.makeSemaphore(1);

      const apply = (event: RecordedEvent) => {
        const id = (event.data as { readonly approval_id?: unknown }).approval_id;
        if (typeof id !== "string") return;
        const before = approvals.get(id);
        const after = evolveApproval(before, event);
        if (after === undefined) return;
        approvals.set(id, summary(after));
        if (before === undefined && event.type === APPROVAL_REQUESTED) {
          const digest = after.requested.request_digest;
          byDigest.set(digest, [...(byDigest.get(digest) ?? []), id]);
        }
      };

      const catchUp = lock.withPermits(1)(
        Effect.gen(function* () {
          for (;;) {
            const page = yield* store.readAll({ after: position, limit: PAGE });
            for (const event of page) if (APPROVAL_EVENT_TYPES.has(event.type)) apply(event);
            const last = page.at(-1);
            if (last !== undefined) position = last.position;
            if (page.length < PAGE) return;
          }
        }),
      );

      return {
        read: (approvalId) =>
          Effect.gen(function* () {
            const own = yield* store.readStream(approvalStream(approvalId), { limit: STREAM_LIMIT });
            if (own.length === 0) return undefined;
            const consumed = yield* store.readStream(approvalConsumedStream(approvalId), { limit: 1 });
            return foldApproval([...own, ...consumed]);
          }),
        forDigest: (digest) => Effect.map(catchUp, () => (byDigest.get(digest) ?? []).flatMap((id) => approvals.get(id) ?? [])),
        all: Effect.map(catchUp, () => [...approvals.values()]),
      };
    }),
  );
}
