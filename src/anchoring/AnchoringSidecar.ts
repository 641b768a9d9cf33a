/**
 * The anchoring sidecar (life of a request, steps 9-10): a background fiber, scoped to
 * the service, that follows the sealed checkpoints (`audit-checkpoints`, via AuditTrail)
 * and puts each batch root on the DAAL, in tree-size order, recording its progress as
 * events in `anchor-<batch_id>`. Decisions never wait for it: it only reads the
 * checkpoints and appends to its own streams, and every chain call is bounded.
 *
 * One attempt for a batch, in order:
 * 1. Ask the DAAL (`checkpointOf(root)`). Already anchored (a restart after the
 *    transaction landed, another instance, an Engine job that completed late): find the
 *    transaction from the DAAL's log, verify its receipt, record AnchorConfirmed. Nothing
 *    is resubmitted, so a restart is idempotent.
 * 2. Ask the DAAL's latest anchor (`latestTreeSize()`, `latestRoot()`) and check it
 *    against the local tree: the tree must have that size and that root at it. If not,
 *    the log diverged from what was anchored (the store was rewritten, truncated or
 *    replaced, or this is another log's DAAL): record AnchorFailed `diverged`, raise the
 *    alarm (logged, on `/readyz` as degraded, `zt_anchor_diverged` 1) and anchor nothing
 *    more until a restart finds them consistent again; decisions go on. If they agree and
 *    the latest size already reaches this batch's, the DAAL refuses this root for good
 *    (tree sizes must grow): record AnchorFailed `superseded` and move on. Decision: such
 *    a batch is not anchored itself; it is covered by the later anchored checkpoint,
 *    which is proven consistent with it. This only happens when something else anchored
 *    a later root of this same log first.
 * 3. If our last transaction for the batch is still in flight (pending, mined or queued
 *    at the provider), wait for it instead of sending another.
 * 4. Otherwise submit through the AnchorSubmitter port, record AnchorSubmitted, wait for
 *    the receipt and `confirmations`, verify it (checkAnchorReceipt: status, `to`, the
 *    DAAL's CheckpointAnchored log with this root and size, chain id), record
 *    AnchorConfirmed. While waiting, a provider that re-sends a stuck transaction under a
 *    new hash (Engine) is asked for the hash it holds now, and that one is followed.
 *
 * Idempotency keys: a request whose outcome is unknown (a timeout, the provider
 * unreachable) may still be sent, so the next attempt repeats its key and the provider
 * answers with that request; a new key is made only once the previous request is known
 * to be over (it failed, or the provider and the chain no longer know it).
 *
 * Any failure records AnchorFailed (reason, retryable, attempt) and the batch is tried
 * again after an exponential backoff capped at `retry.maxMs`, forever; later batches
 * wait (status `pending`) because the DAAL only accepts growing tree sizes. Even when a
 * stale attempt's transaction lands late, the DAAL's duplicate-root refusal means one
 * CheckpointAnchored per root.
 *
 * One sidecar per store: appends use the stream's expected revision, so a second
 * instance cannot interleave events, but it would send its own transactions (which the
 * DAAL then refuses as duplicates).
 */
import { Context, Data, Duration, Effect, Fiber, Layer, Schema } from "effect";
import { AuditTrail, type AuditTrailShape } from "../audit/AuditTrail.ts";
import type { CheckpointSealed } from "../audit/Checkpoint.ts";
import { EventStore, type EventStoreError, type JsonObject } from "../events/EventStore.ts";
import { bytesToHex } from "../kernel/hashing.ts";
import { Ids } from "../platform/Ids.ts";
import { Metrics } from "../platform/Metrics.ts";
import { divergenceFromLatest, type VerifiedLog } from "./core/anchoredHistory.ts";
import { anchorIdempotencyKey } from "./core/anchorIdempotencyKey.ts";
import { anchorRetryDelayMs, type RetryPolicy } from "./core/anchorRetryDelay.ts";
import { AnchorSubmitter, rootToHex32, type AnchorError, type Hex32, type SubmitterKind } from "./ports/AnchorSubmitter.ts";
import { DaalLedger } from "./ports/DaalLedger.ts";
import {
  ANCHOR_CONFIRMED,
  ANCHOR_FAILED,
  ANCHOR_SUBMITTED,
  AnchorConfirmed,
  AnchorFailed,
  AnchorSubmitted,
  anchorStream,
  evolveAnchor,
  INITIAL_ANCHOR_STATE,
  OUTCOME_OPEN_FAILURES,
  type AnchorFailureReason,
  type AnchorState,
  type AnchorStatus,
} from "./core/events.ts";

/** The `anchor` member of `GET /audit/batches` entries and inclusion proofs (contract section 5). */
export interface AnchorView {
  readonly chain_id: number;
  readonly contract: string;
  readonly tx_hash: string | null;
  readonly status: AnchorStatus;
}

export interface AnchoringInfo {
  readonly chainId: number;
  readonly contract: string;
  readonly submitter: SubmitterKind;
}

/** The sidecar found the local log inconsistent with the chain's latest anchor and stopped anchoring. */
export interface AnchoringAlarm {
  readonly since: string;
  readonly message: string;
}

export interface AnchoringSidecarShape {
  /** Where anchors go, or null when anchoring is off. */
  readonly info: AnchoringInfo | null;
  /** The divergence alarm, or null while the log agrees with the chain. */
  readonly alarm: () => AnchoringAlarm | null;
  /** The anchor of one sealed batch (pending until its first event), or null when anchoring is off. */
  readonly statusOf: (batchId: string) => Effect.Effect<AnchorView | null>;
  /** The anchor of every sealed batch known to the audit trail, by batch id. */
  readonly statuses: () => Effect.Effect<ReadonlyMap<string, AnchorView>>;
}

export class AnchoringSidecar extends Context.Tag("zt/AnchoringSidecar")<AnchoringSidecar, AnchoringSidecarShape>() {
  /** ZT_CHAIN=off: no sidecar; every anchor reads as null. */
  static readonly disabled: Layer.Layer<AnchoringSidecar> = Layer.succeed(AnchoringSidecar, {
    info: null,
    alarm: () => null,
    statusOf: () => Effect.succeed(null),
    statuses: () => Effect.succeed(new Map()),
  });
}

export interface AnchoringSidecarOptions {
  /** Confirmations a receipt needs before AnchorConfirmed (1 = mined). */
  readonly confirmations: number;
  /** How often to look for new checkpoints and to poll receipts. */
  readonly pollMs: number;
  /** How long one attempt waits for its receipt and confirmations. */
  readonly receiptTimeoutMs: number;
  readonly retry: RetryPolicy;
}

/** One attempt did not anchor the batch; recorded as AnchorFailed. */
class AttemptFailed extends Data.TaggedError("AttemptFailed")<{
  readonly reason: AnchorFailureReason;
  readonly retryable: boolean;
  readonly message: string;
  /** The key of the provider request this attempt made, recorded when its outcome is open. */
  readonly idempotencyKey?: string;
}> {}

const fromAnchorError = (error: AnchorError, idempotencyKey?: string) =>
  new AttemptFailed({ reason: error.reason, retryable: error.isRetryable, message: error.message, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) });

const PAGE = 1000;

/** The audit trail's tree as the view the divergence check reads. */
function treeView(trail: AuditTrailShape): VerifiedLog {
  const tree = trail.tree();
  return {
    size: tree.size,
    rootAt: (size) => {
      const root = tree.root(size);
      return root === undefined ? undefined : bytesToHex(root);
    },
  };
}

export function anchoringSidecarLayer(options: AnchoringSidecarOptions): Layer.Layer<AnchoringSidecar, never, EventStore | AuditTrail | AnchorSubmitter | DaalLedger | Ids | Metrics> {
  return Layer.scoped(
    AnchoringSidecar,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const trail = yield* AuditTrail;
      const submitter = yield* AnchorSubmitter;
      const ledger = yield* DaalLedger;
      const ids = yield* Ids;
      const metrics = yield* Metrics;
      const states = new Map<string, AnchorState>();
      let alarm: AnchoringAlarm | null = null;

      /**
       * The chain's latest anchor against the local tree (synced first, so records another
       * instance projected count): the anchor, or the divergence, raised as the alarm.
       */
      const checkAgainstChain = Effect.gen(function* () {
        const latest = yield* ledger.latestAnchor.pipe(Effect.mapError(fromAnchorError));
        yield* trail.sync.pipe(Effect.mapError((error) => new AttemptFailed({ reason: "unavailable", retryable: true, message: `the audit trail cannot be read (${error.reason})` })));
        const diverged = divergenceFromLatest(treeView(trail), latest);
        if (diverged !== null) {
          if (alarm === null) {
            alarm = { since: new Date().toISOString(), message: diverged };
            metrics.anchorDiverged.set(1);
            yield* Effect.logError("ALARM: the audit log diverges from the chain's latest anchor; anchoring stops, decisions go on").pipe(Effect.annotateLogs({ detail: diverged }));
          }
          return yield* Effect.fail(new AttemptFailed({ reason: "diverged", retryable: false, message: diverged }));
        }
        return latest;
      });

      /** Keeps the newest state seen: a route's read must not overwrite what the fiber just recorded. */
      const remember = (batchId: string, state: AnchorState) => {
        const known = states.get(batchId);
        if (known === undefined || (known.revision ?? -1) <= (state.revision ?? -1)) states.set(batchId, state);
        return states.get(batchId) ?? state;
      };

      const readState = (batchId: string): Effect.Effect<AnchorState, EventStoreError> =>
        Effect.gen(function* () {
          let state = INITIAL_ANCHOR_STATE;
          for (let from = 0; ; ) {
            const events = yield* store.readStream(anchorStream(batchId), { fromRevision: from, limit: PAGE });
            state = events.reduce(evolveAnchor, state);
            if (events.length < PAGE) return remember(batchId, state);
            from = (events.at(-1)?.revision ?? from) + 1;
          }
        });

      const stateOf = (batchId: string) => {
        const known = states.get(batchId);
        return known === undefined ? readState(batchId) : Effect.succeed(known);
      };

      /** Appends one event at the state's revision and folds it in. */
      const record = <A, I>(batchId: string, state: AnchorState, type: string, schema: Schema.Schema<A, I>, value: A) =>
        Effect.gen(function* () {
          const data = Schema.encodeSync(schema)(value) as unknown as JsonObject;
          const id = yield* ids.uuid;
          const appended = yield* store.append(anchorStream(batchId), [{ id, type, data }], state.revision === undefined ? "no_stream" : { revision: state.revision });
          return remember(batchId, evolveAnchor(state, { type, data, revision: appended.revision }));
        });

      const view = (state: AnchorState): AnchorView => ({ chain_id: ledger.chainId, contract: ledger.contract, tx_hash: state.txHash, status: state.status });

      /**
       * The hash the provider now holds for its request `providerId`, when it differs from
       * `txHash` (a stuck transaction re-sent with a higher fee). A provider that failed the
       * request ends the wait; one that cannot answer leaves the current hash in place.
       */
      const providerHash = (providerId: string, txHash: Hex32): Effect.Effect<Hex32, AttemptFailed> =>
        submitter.transactionStatus(providerId).pipe(
          Effect.flatMap((status): Effect.Effect<Hex32, AttemptFailed> => {
            if (status.state === "errored") return Effect.fail(new AttemptFailed({ reason: "rejected", retryable: false, message: status.message }));
            return Effect.succeed((status.state === "pending" || status.state === "mined") && status.txHash !== txHash ? status.txHash : txHash);
          }),
          Effect.catchTag("AnchorError", () => Effect.succeed(txHash)),
        );

      /** Polls the receipt until it proves the anchor with enough confirmations, fails a check, or the wait is over. */
      const awaitReceipt = (checkpoint: CheckpointSealed, root: Hex32, sentHash: Hex32, providerId: string | undefined) => {
        const expected = { root, treeSize: checkpoint.tree_size, minConfirmations: options.confirmations };
        let txHash = sentHash;
        const poll: Effect.Effect<{ txHash: Hex32; blockNumber: number; confirmations: number }, AttemptFailed> = Effect.suspend(() => ledger.verifyReceipt(txHash, expected)).pipe(
          Effect.mapError(fromAnchorError),
          Effect.flatMap((verdict) => {
            if (verdict.ok) return Effect.succeed({ txHash, blockNumber: verdict.blockNumber, confirmations: verdict.confirmations });
            if (verdict.failed === "receipt_found" || verdict.failed === "confirmations") {
              const follow =
                verdict.failed === "receipt_found" && providerId !== undefined
                  ? providerHash(providerId, txHash).pipe(
                      Effect.tap((current) =>
                        current === txHash
                          ? Effect.void
                          : Effect.logInfo("anchor transaction replaced by the provider; following the new hash").pipe(
                              Effect.annotateLogs({ batch_id: checkpoint.batch_id, tx_hash: current, replaced: txHash }),
                              Effect.zipRight(Effect.sync(() => (txHash = current))),
                            ),
                      ),
                    )
                  : Effect.void;
              return follow.pipe(Effect.zipRight(Effect.sleep(Duration.millis(options.pollMs))), Effect.zipRight(Effect.suspend(() => poll)));
            }
            if (verdict.failed === "status") return Effect.fail(new AttemptFailed({ reason: "reverted", retryable: false, message: `transaction ${txHash} ${verdict.message}` }));
            return Effect.fail(new AttemptFailed({ reason: "receipt_invalid", retryable: false, message: `transaction ${txHash}: ${verdict.failed}: ${verdict.message}` }));
          }),
        );
        return poll.pipe(
          Effect.timeoutFail({
            duration: Duration.millis(options.receiptTimeoutMs),
            onTimeout: () => new AttemptFailed({ reason: "timeout", retryable: true, message: `no receipt with ${options.confirmations} confirmation(s) for ${txHash} within ${options.receiptTimeoutMs} ms` }),
          }),
        );
      };

      const confirm = (checkpoint: CheckpointSealed, root: Hex32, sentHash: Hex32, providerId?: string) =>
        Effect.gen(function* () {
          const receipt = yield* awaitReceipt(checkpoint, root, sentHash, providerId);
          const state = yield* stateOf(checkpoint.batch_id);
          yield* record(checkpoint.batch_id, state, ANCHOR_CONFIRMED, AnchorConfirmed, {
            batch_id: checkpoint.batch_id,
            tx_hash: receipt.txHash,
            block_number: receipt.blockNumber,
            confirmations: receipt.confirmations,
          });
          yield* Effect.logInfo("checkpoint anchored").pipe(
            Effect.annotateLogs({ batch_id: checkpoint.batch_id, tree_size: checkpoint.tree_size, tx_hash: receipt.txHash, block_number: receipt.blockNumber }),
          );
        });

      const attempt = (checkpoint: CheckpointSealed, state: AnchorState) =>
        Effect.gen(function* () {
          const root = rootToHex32(checkpoint.root);
          if (root === undefined) return yield* Effect.fail(new AttemptFailed({ reason: "conflict", retryable: false, message: "the checkpoint root is not 32 bytes of hex" }));

          const anchored = yield* ledger.anchoredCheckpoint(root).pipe(Effect.mapError(fromAnchorError));
          if (anchored !== undefined) {
            if (anchored.treeSize !== checkpoint.tree_size) {
              return yield* Effect.fail(new AttemptFailed({ reason: "conflict", retryable: false, message: `the DAAL holds this root with tree size ${anchored.treeSize}, not ${checkpoint.tree_size}` }));
            }
            const txHash = yield* ledger.findAnchorTransaction(root, anchored.blockNumber).pipe(Effect.mapError(fromAnchorError));
            if (txHash === undefined) {
              return yield* Effect.fail(new AttemptFailed({ reason: "unavailable", retryable: true, message: `the root is anchored in block ${anchored.blockNumber} but the RPC returns no CheckpointAnchored log for it` }));
            }
            return yield* confirm(checkpoint, root, txHash);
          }

          const latest = yield* checkAgainstChain;
          if (latest !== undefined && latest.treeSize >= checkpoint.tree_size) {
            return yield* Effect.fail(
              new AttemptFailed({
                reason: "superseded",
                retryable: false,
                message: `the DAAL already holds tree size ${latest.treeSize} >= ${checkpoint.tree_size}, whose root is this log's root at that size; a consistency proof to that checkpoint covers this batch`,
              }),
            );
          }

          // A request that may still complete is asked after, and its key repeated, unless it is over.
          const open = state.openRequest;
          let openKey = open?.idempotencyKey ?? null;
          const inFlight = open?.providerId ?? open?.txHash ?? null;
          if (inFlight !== null) {
            const status = yield* submitter.transactionStatus(inFlight).pipe(Effect.mapError(fromAnchorError));
            if (status.state === "pending" || status.state === "mined") return yield* confirm(checkpoint, root, status.txHash, open?.providerId ?? undefined);
            if (status.state === "queued") return yield* Effect.fail(new AttemptFailed({ reason: "timeout", retryable: true, message: `the provider still holds ${inFlight} unsent` }));
            // Errored, or unknown to the provider and the chain (pruned, dropped): a fresh request.
            openKey = null;
          }

          const attemptNumber = state.failures + 1;
          const idempotencyKey = openKey ?? anchorIdempotencyKey({ chainId: ledger.chainId, contract: ledger.contract, root, attempt: attemptNumber });
          const submission = yield* submitter
            .submit({ root, treeSize: checkpoint.tree_size, idempotencyKey })
            .pipe(Effect.mapError((error) => fromAnchorError(error, idempotencyKey)));
          yield* record(checkpoint.batch_id, state, ANCHOR_SUBMITTED, AnchorSubmitted, {
            batch_id: checkpoint.batch_id,
            root,
            tree_size: checkpoint.tree_size,
            chain_id: ledger.chainId,
            contract: ledger.contract,
            tx_hash: submission.txHash,
            submitter: submitter.kind,
            attempt: attemptNumber,
            ...(submission.providerId === undefined ? {} : { provider_id: submission.providerId }),
            idempotency_key: idempotencyKey,
          });
          yield* Effect.logInfo("checkpoint anchor submitted").pipe(
            Effect.annotateLogs({ batch_id: checkpoint.batch_id, tree_size: checkpoint.tree_size, tx_hash: submission.txHash, attempt: attemptNumber }),
          );
          yield* confirm(checkpoint, root, submission.txHash, submission.providerId);
        });

      /** Attempts until the batch is confirmed or cannot be anchored; failures are recorded and retried with backoff. */
      const anchorBatch = (checkpoint: CheckpointSealed) =>
        Effect.gen(function* () {
          let state = yield* stateOf(checkpoint.batch_id);
          while (!state.settled) {
            const outcome = yield* Effect.either(attempt(checkpoint, state));
            if (outcome._tag === "Right") {
              state = yield* stateOf(checkpoint.batch_id);
              continue;
            }
            const failure = outcome.left;
            if (failure._tag === "EventStoreError") {
              // Recording failed (the store is down, or another writer moved the stream): re-read and try again later.
              yield* Effect.logWarning("anchoring cannot record its progress; retrying").pipe(Effect.annotateLogs({ batch_id: checkpoint.batch_id, reason: failure.reason }));
              states.delete(checkpoint.batch_id);
              yield* Effect.sleep(Duration.millis(anchorRetryDelayMs(state.failures + 1, true, options.retry)));
              state = yield* stateOf(checkpoint.batch_id);
              continue;
            }
            // The attempt may have recorded AnchorSubmitted: the failure goes after it, and a
            // key made afresh after it must differ from the one it used.
            state = yield* stateOf(checkpoint.batch_id);
            const attemptNumber = state.failures + 1;
            state = yield* record(checkpoint.batch_id, state, ANCHOR_FAILED, AnchorFailed, {
              batch_id: checkpoint.batch_id,
              reason: failure.reason,
              retryable: failure.retryable,
              attempt: attemptNumber,
              message: failure.message,
              ...(failure.idempotencyKey !== undefined && OUTCOME_OPEN_FAILURES.has(failure.reason) ? { idempotency_key: failure.idempotencyKey } : {}),
            });
            yield* Effect.logWarning("checkpoint anchor attempt failed").pipe(
              Effect.annotateLogs({ batch_id: checkpoint.batch_id, reason: failure.reason, retryable: failure.retryable, attempt: attemptNumber, detail: failure.message }),
            );
            if (state.settled) return;
            yield* Effect.sleep(Duration.millis(anchorRetryDelayMs(state.failures, failure.retryable, options.retry)));
          }
        });

      // Batches before `next` are settled (confirmed or terminally failed) and stay so.
      let next = 0;
      const follow = Effect.gen(function* () {
        // Diverged: nothing more is anchored until a restart finds the log and the chain agree.
        if (alarm !== null) return yield* Effect.never;
        yield* trail.sync;
        // Sealed order is tree-size order: the projector seals only a tree that grew.
        const sealed = trail.checkpoints();
        for (; next < sealed.length && alarm === null; next++) {
          const batch = sealed[next];
          if (batch !== undefined) yield* anchorBatch(batch.checkpoint);
        }
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("anchoring cannot read or record in the audit store; retrying").pipe(Effect.annotateLogs({ reason: error.reason })),
        ),
        Effect.zipRight(Effect.sleep(Duration.millis(options.pollMs))),
        Effect.forever,
      );

      // At start too, not only at the next batch: a restart on a rewritten store alarms at once.
      metrics.anchorDiverged.set(0);
      const startupCheck = checkAgainstChain.pipe(
        Effect.catchAll((failure) =>
          failure.reason === "diverged" ? Effect.void : Effect.logWarning("the chain's latest anchor cannot be read at start; checked again before each anchor").pipe(Effect.annotateLogs({ reason: failure.reason })),
        ),
      );
      const fiber = yield* Effect.forkScoped(startupCheck.pipe(Effect.zipRight(follow)));
      yield* Effect.addFinalizer(() => Fiber.interrupt(fiber));

      const statusOf = (batchId: string) =>
        stateOf(batchId).pipe(
          Effect.orElseSucceed(() => INITIAL_ANCHOR_STATE),
          Effect.map(view),
        );

      return {
        info: { chainId: ledger.chainId, contract: ledger.contract, submitter: submitter.kind },
        alarm: () => alarm,
        statusOf,
        statuses: () =>
          Effect.forEach(trail.checkpoints(), (sealed) => Effect.map(statusOf(sealed.checkpoint.batch_id), (anchor) => [sealed.checkpoint.batch_id, anchor] as const)).pipe(
            Effect.map((entries) => new Map(entries)),
          ),
      };
    }),
  );
}

