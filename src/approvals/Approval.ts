/**
 * An approval's state as a fold over its events (emmett's `evolve`), and its status at a
 * time. Status, in precedence: `consumed` (used by an allowed decision), `rejected` (by
 * any one operator, before use), `expired` (recorded, or past `expires_at`), `granted`
 * (by `quorum` distinct operators), else `pending`. An event of an approval that does
 * not decode makes it unusable (read as rejected): an approval fails closed.
 */
import { Option, Schema } from "effect";
import type { RecordedEvent } from "../events/EventStore.ts";
import { parseRfc3339Utc } from "../kernel/timestamp.ts";
import {
  APPROVAL_CONSUMED,
  APPROVAL_EXPIRED,
  APPROVAL_GRANTED,
  APPROVAL_REJECTED,
  APPROVAL_REQUESTED,
  ApprovalConsumed,
  ApprovalExpired,
  ApprovalGranted,
  ApprovalRejected,
  ApprovalRequested,
} from "./events.ts";

export const APPROVAL_STATUSES = ["pending", "granted", "rejected", "expired", "consumed"] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

export interface Approval {
  readonly requested: ApprovalRequested;
  readonly expiresAtMs: number;
  readonly grants: ReadonlyArray<ApprovalGranted>;
  readonly rejection: ApprovalRejected | null;
  readonly expiry: ApprovalExpired | null;
  readonly consumption: ApprovalConsumed | null;
  /** An event of this approval did not decode. */
  readonly damaged: boolean;
  /** Revision of the last event of `approval-<id>`: what the next vote or expiry expects. */
  readonly revision: number;
}

/** What the fold reads of an event. */
export type ApprovalEvent = Pick<RecordedEvent, "type" | "data" | "stream" | "revision">;

const decodeRequested = Schema.decodeUnknownOption(ApprovalRequested);
const decodeGranted = Schema.decodeUnknownOption(ApprovalGranted);
const decodeRejected = Schema.decodeUnknownOption(ApprovalRejected);
const decodeExpired = Schema.decodeUnknownOption(ApprovalExpired);
const decodeConsumed = Schema.decodeUnknownOption(ApprovalConsumed);

/** The approval after one more of its events; an event of another type leaves it as it was. */
export function evolveApproval(state: Approval | undefined, event: ApprovalEvent): Approval | undefined {
  if (event.type === APPROVAL_REQUESTED) {
    if (state !== undefined) return { ...state, damaged: true };
    const requested = decodeRequested(event.data);
    if (Option.isNone(requested)) return undefined;
    const expiresAtMs = parseRfc3339Utc(requested.value.expires_at) ?? Number.NEGATIVE_INFINITY;
    return { requested: requested.value, expiresAtMs, grants: [], rejection: null, expiry: null, consumption: null, damaged: false, revision: event.revision };
  }
  if (state === undefined) return state;
  const id = state.requested.approval_id;
  const mine = <A extends { readonly approval_id: string }>(decoded: Option.Option<A>) => Option.filter(decoded, (value) => value.approval_id === id);
  const damaged = { ...state, damaged: true, revision: event.revision };
  switch (event.type) {
    case APPROVAL_GRANTED:
      return Option.match(mine(decodeGranted(event.data)), { onNone: () => damaged, onSome: (grant) => ({ ...state, grants: [...state.grants, grant], revision: event.revision }) });
    case APPROVAL_REJECTED:
      return Option.match(mine(decodeRejected(event.data)), { onNone: () => damaged, onSome: (rejection) => ({ ...state, rejection, revision: event.revision }) });
    case APPROVAL_EXPIRED:
      return Option.match(mine(decodeExpired(event.data)), { onNone: () => damaged, onSome: (expiry) => ({ ...state, expiry, revision: event.revision }) });
    case APPROVAL_CONSUMED:
      // The consumption is in a stream of its own: the approval's revision stays.
      return Option.match(mine(decodeConsumed(event.data)), { onNone: () => ({ ...state, damaged: true }), onSome: (consumption) => ({ ...state, consumption }) });
    default:
      return state;
  }
}

/** Folds events in order. */
export function foldApproval(events: ReadonlyArray<ApprovalEvent>): Approval | undefined {
  return events.reduce<Approval | undefined>(evolveApproval, undefined);
}

/** The distinct operators who granted it, in order. */
export function grantingOperators(approval: Approval): ReadonlyArray<string> {
  return [...new Set(approval.grants.map((grant) => grant.operator))];
}

export function approvalStatus(approval: Approval, now: number): ApprovalStatus {
  if (approval.consumption !== null) return "consumed";
  if (approval.rejection !== null || approval.damaged) return "rejected";
  if (approval.expiry !== null || now >= approval.expiresAtMs) return "expired";
  return grantingOperators(approval).length >= approval.requested.quorum ? "granted" : "pending";
}
