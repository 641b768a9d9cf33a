/**
 * Events of the anchoring capability, one stream per batch (`anchor-<batch_id>`), and
 * the pure fold of a batch's events into its anchor status (contract section 5:
 * pending, submitted, confirmed, failed).
 *
 * - `AnchorSubmitted.v1`: a transaction carrying the batch root is on its way.
 * - `AnchorConfirmed.v1`: a receipt proved the anchor with enough confirmations. Terminal.
 * - `AnchorFailed.v1`: one attempt failed (or the batch cannot be anchored: `superseded`).
 *
 * These events are themselves projected into the audit chain, but they do not by
 * themselves make a checkpoint due (see AuditProjector), or every anchor would seal a
 * checkpoint that needs an anchor, forever.
 */
import { Schema } from "effect";
import type { RecordedEvent } from "../../events/EventStore.ts";

export const ANCHOR_SUBMITTED = "AnchorSubmitted.v1";
export const ANCHOR_CONFIRMED = "AnchorConfirmed.v1";
export const ANCHOR_FAILED = "AnchorFailed.v1";
export const ANCHOR_EVENT_TYPES: ReadonlySet<string> = new Set([ANCHOR_SUBMITTED, ANCHOR_CONFIRMED, ANCHOR_FAILED]);

export function anchorStream(batchId: string): string {
  return `anchor-${batchId}`;
}

const Hex32 = Schema.String.pipe(Schema.pattern(/^0x[0-9a-f]{64}$/));
const Address = Schema.String.pipe(Schema.pattern(/^0x[0-9a-fA-F]{40}$/));
const Attempt = Schema.Int.pipe(Schema.positive());

export const SubmitterKindSchema = Schema.Literal("direct", "thirdweb-engine", "cdp");

export const AnchorSubmitted = Schema.Struct({
  batch_id: Schema.String,
  /** The checkpoint root as anchored (bytes32, 0x-prefixed). */
  root: Hex32,
  tree_size: Schema.Int.pipe(Schema.positive()),
  chain_id: Schema.Int.pipe(Schema.positive()),
  contract: Address,
  tx_hash: Hex32,
  submitter: SubmitterKindSchema,
  attempt: Attempt,
  /** The provider's reference (thirdweb Engine job id), when there is one. */
  provider_id: Schema.optional(Schema.String),
  /** The idempotency key the provider got (Engine, CDP): a later attempt repeats it while this request may still complete. */
  idempotency_key: Schema.optional(Schema.String),
});
export type AnchorSubmitted = typeof AnchorSubmitted.Type;

export const AnchorConfirmed = Schema.Struct({
  batch_id: Schema.String,
  tx_hash: Hex32,
  block_number: Schema.Int.pipe(Schema.nonNegative()),
  confirmations: Schema.Int.pipe(Schema.positive()),
});
export type AnchorConfirmed = typeof AnchorConfirmed.Type;

export const ANCHOR_FAILURE_REASONS = [
  "unavailable",
  "rejected",
  "reverted",
  "timeout",
  "misconfigured",
  /** A receipt exists but does not prove the anchor (wrong `to`, log, chain). */
  "receipt_invalid",
  /** A later checkpoint is anchored already; the DAAL refuses smaller tree sizes. Terminal. */
  "superseded",
  /** The root is anchored with another tree size. Terminal. */
  "conflict",
  /** The chain's latest anchor is not this log's root at that size: the log diverged from what was anchored. Terminal; the alarm is raised. */
  "diverged",
] as const;
export type AnchorFailureReason = (typeof ANCHOR_FAILURE_REASONS)[number];

export const AnchorFailed = Schema.Struct({
  batch_id: Schema.String,
  reason: Schema.Literal(...ANCHOR_FAILURE_REASONS),
  retryable: Schema.Boolean,
  attempt: Attempt,
  /** What failed, for operators; never a key, token or RPC URL. */
  message: Schema.optional(Schema.String),
  /** The idempotency key of a request that failed with its outcome unknown (it may still complete). */
  idempotency_key: Schema.optional(Schema.String),
});
export type AnchorFailed = typeof AnchorFailed.Type;

/** Failures after which the sidecar stops trying this batch. */
export const TERMINAL_FAILURES: ReadonlySet<AnchorFailureReason> = new Set(["superseded", "conflict", "diverged"]);

/**
 * Failures that leave the provider's request open: it may still be sent or mined. The next
 * attempt repeats its idempotency key, so the provider answers with that request instead
 * of starting a second one; any other failure ends it, and the next key is new.
 */
export const OUTCOME_OPEN_FAILURES: ReadonlySet<AnchorFailureReason> = new Set(["timeout", "unavailable"]);

export type AnchorStatus = "pending" | "submitted" | "confirmed" | "failed";

/** A request to the provider that may still be sent or mined: the next attempt asks after it or repeats it. */
export interface OpenRequest {
  /** Its idempotency key, to repeat it (null for events recorded before keys were). */
  readonly idempotencyKey: string | null;
  /** The provider's reference (Engine job id) and the transaction hash, once the request got that far. */
  readonly providerId: string | null;
  readonly txHash: string | null;
}

/** A batch's anchoring as its events tell it. */
export interface AnchorState {
  readonly status: AnchorStatus;
  /** Revision of the last event in the batch's stream (undefined: no stream yet). */
  readonly revision: number | undefined;
  /** Failed attempts so far; the next attempt is `failures + 1`. */
  readonly failures: number;
  /** The last transaction submitted or confirmed. */
  readonly txHash: string | null;
  /** The last request to the provider, while it may still complete (see OUTCOME_OPEN_FAILURES). */
  readonly openRequest: OpenRequest | null;
  readonly blockNumber: number | null;
  readonly lastFailure: { readonly reason: AnchorFailureReason; readonly retryable: boolean } | null;
  /** No further attempts: confirmed, or failed with a terminal reason. */
  readonly settled: boolean;
}

export const INITIAL_ANCHOR_STATE: AnchorState = {
  status: "pending",
  revision: undefined,
  failures: 0,
  txHash: null,
  openRequest: null,
  blockNumber: null,
  lastFailure: null,
  settled: false,
};

/**
 * Folds one event into the state. Confirmed is terminal: later events (another
 * instance's late failure) do not undo it. Events that do not decode count for the
 * revision only.
 */
export function evolveAnchor(state: AnchorState, event: Pick<RecordedEvent, "type" | "data" | "revision">): AnchorState {
  const next = { ...state, revision: event.revision };
  if (state.status === "confirmed") return next;
  switch (event.type) {
    case ANCHOR_SUBMITTED: {
      const data = Schema.decodeUnknownOption(AnchorSubmitted)(event.data);
      if (data._tag === "None") return next;
      const { tx_hash: txHash, provider_id: providerId = null, idempotency_key: idempotencyKey = null } = data.value;
      return { ...next, status: "submitted", txHash, openRequest: { idempotencyKey, providerId, txHash } };
    }
    case ANCHOR_CONFIRMED: {
      const data = Schema.decodeUnknownOption(AnchorConfirmed)(event.data);
      if (data._tag === "None") return next;
      return { ...next, status: "confirmed", txHash: data.value.tx_hash, blockNumber: data.value.block_number, openRequest: null, settled: true };
    }
    case ANCHOR_FAILED: {
      const data = Schema.decodeUnknownOption(AnchorFailed)(event.data);
      if (data._tag === "None") return next;
      return {
        ...next,
        status: "failed",
        failures: state.failures + 1,
        lastFailure: { reason: data.value.reason, retryable: data.value.retryable },
        // A failed submission that names its key never got a hash; one that does not name
        // it failed while waiting on the request already open.
        openRequest: !OUTCOME_OPEN_FAILURES.has(data.value.reason)
          ? null
          : data.value.idempotency_key === undefined
            ? state.openRequest
            : { idempotencyKey: data.value.idempotency_key, providerId: null, txHash: null },
        settled: TERMINAL_FAILURES.has(data.value.reason),
      };
    }
    default:
      return next;
  }
}

export function foldAnchor(events: ReadonlyArray<Pick<RecordedEvent, "type" | "data" | "revision">>): AnchorState {
  return events.reduce(evolveAnchor, INITIAL_ANCHOR_STATE);
}

/** The anchor status of one batch from its events: pending until the first is recorded. */
export function anchorStatus(events: ReadonlyArray<Pick<RecordedEvent, "type" | "data" | "revision">>): AnchorStatus {
  return foldAnchor(events).status;
}
