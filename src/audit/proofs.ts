/**
 * Inclusion and consistency proofs (contract section 5), built from the audit trail.
 * An inclusion proof is checked against the latest sealed checkpoint that covers the
 * record, and verifies with the RFC 9162 algorithm alone; the checkpoint's signed note
 * travels with it so the root can be checked against the audit key too.
 */
import { Effect, Either } from "effect";
import { EventStore, type EventStoreError, type RecordedEvent } from "../events/EventStore.ts";
import { bytesToHex } from "../kernel/hashing.ts";
import { ACTION_DECIDED } from "../decisions/events.ts";
import { decisionStream } from "../vocabulary/DecisionId.ts";
import { AuditLog, type AuditLogError } from "./AuditLog.ts";
import type { AuditRecord } from "./AuditRecord.ts";
import { AuditTrail, recordLeaf } from "./AuditTrail.ts";
import type { BatchAnchor, BatchAnchorsShape } from "./BatchAnchors.ts";

/** Looks up a batch's anchor; null when anchoring is off. */
export type AnchorLookup = BatchAnchorsShape["statusOf"];

const NO_ANCHORING: AnchorLookup = () => Effect.succeed(null);

export interface InclusionProof {
  readonly decision_id: string;
  readonly record_seq: number;
  readonly record_hash: string;
  readonly leaf_hash: string;
  readonly leaf_index: number;
  readonly tree_size: number;
  readonly audit_path: ReadonlyArray<string>;
  readonly root: string;
  readonly batch_id: string;
  /** The checkpoint's C2SP signed note (origin, tree size, base64 root, audit key signature). */
  readonly checkpoint: string;
  readonly anchor: BatchAnchor | null;
}

export type ProofProblem =
  | { readonly kind: "not_found"; readonly message: string }
  /** `actor` is the decision's, so that access can be checked before saying the decision exists. */
  | { readonly kind: "not_yet_sealed"; readonly message: string; readonly actor: string }
  | { readonly kind: "bad_range"; readonly message: string };

/** A decision's evidence: its actor (for access checks), its stored event, the audit record of that event, and the record's inclusion proof. */
export interface ProvenDecision {
  readonly actor: string;
  readonly event: RecordedEvent;
  readonly record: AuditRecord;
  readonly proof: InclusionProof;
}

/**
 * The decision's actor (for access checks), its event and record, and its inclusion proof
 * with its batch's anchor, or why there is none yet. The proof is against the newest checkpoint with a
 * confirmed anchor that covers the record, else the newest sealed one.
 */
export function inclusionProofFor(
  decisionId: string,
  anchorOf: AnchorLookup = NO_ANCHORING,
): Effect.Effect<Either.Either<ProvenDecision, ProofProblem>, EventStoreError | AuditLogError, EventStore | AuditLog | AuditTrail> {
  return Effect.gen(function* () {
    const store = yield* EventStore;
    const log = yield* AuditLog;
    const trail = yield* AuditTrail;
    const events = yield* store.readStream(decisionStream(decisionId), { limit: 100 });
    const decided = events.find((event) => event.type === ACTION_DECIDED);
    if (decided === undefined) return Either.left({ kind: "not_found", message: `no decision ${decisionId}` } as const);
    const actor = typeof decided.data["actor"] === "string" ? decided.data["actor"] : "";
    const record = yield* log.byEventId(decided.id);
    if (record === undefined) return Either.left({ kind: "not_yet_sealed", message: `decision ${decisionId} is not projected into the audit chain yet`, actor } as const);
    yield* trail.sync;
    const sealed = trail.checkpoints();
    const latest = sealed.at(-1);
    if (latest === undefined || latest.checkpoint.tree_size < record.seq) {
      return Either.left({ kind: "not_yet_sealed", message: `audit record ${record.seq} is not covered by a sealed checkpoint yet`, actor } as const);
    }
    // Against the newest checkpoint whose anchor is confirmed, when one covers the record, so
    // the proof can be checked on-chain at once; else against the newest sealed checkpoint.
    let chosen = { checkpoint: latest.checkpoint, anchor: yield* anchorOf(latest.checkpoint.batch_id) };
    for (let index = sealed.length - 1; index >= 0 && chosen.anchor?.status !== "confirmed"; index--) {
      const candidate = sealed[index]!.checkpoint;
      if (candidate.tree_size < record.seq) break;
      const anchor = yield* anchorOf(candidate.batch_id);
      if (anchor?.status === "confirmed") chosen = { checkpoint: candidate, anchor };
    }
    const { checkpoint, anchor } = chosen;
    const path = trail.tree().inclusionProof(record.seq - 1, checkpoint.tree_size) ?? [];
    return Either.right({
      actor,
      event: decided,
      record,
      proof: {
        decision_id: decisionId,
        record_seq: record.seq,
        record_hash: record.hash,
        leaf_hash: bytesToHex(recordLeaf(record.hash)),
        leaf_index: record.seq - 1,
        tree_size: checkpoint.tree_size,
        audit_path: path.map(bytesToHex),
        root: checkpoint.root,
        batch_id: checkpoint.batch_id,
        checkpoint: checkpoint.note,
        anchor,
      },
    });
  });
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly root_from: string;
  readonly root_to: string;
  readonly proof: ReadonlyArray<string>;
  /** The checkpoints sealed at these sizes, when they are checkpoint sizes. */
  readonly from_batch_id: string | null;
  readonly to_batch_id: string | null;
}

export function consistencyProofBetween(
  from: number,
  to: number,
): Effect.Effect<Either.Either<ConsistencyProof, ProofProblem>, EventStoreError | AuditLogError, AuditTrail> {
  return Effect.gen(function* () {
    const trail = yield* AuditTrail;
    yield* trail.sync;
    const tree = trail.tree();
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || from > to || to > tree.size) {
      return Either.left({ kind: "bad_range", message: `need 1 <= from <= to <= ${tree.size} (the current tree size)` } as const);
    }
    const rootFrom = tree.root(from);
    const rootTo = tree.root(to);
    const proof = tree.consistencyProof(from, to);
    if (rootFrom === undefined || rootTo === undefined || proof === undefined) {
      return Either.left({ kind: "bad_range", message: `no proof between ${from} and ${to}` } as const);
    }
    const batchAt = (size: number) => trail.checkpoints().find((c) => c.checkpoint.tree_size === size)?.checkpoint.batch_id ?? null;
    return Either.right({
      from,
      to,
      root_from: bytesToHex(rootFrom),
      root_to: bytesToHex(rootTo),
      proof: proof.map(bytesToHex),
      from_batch_id: batchAt(from),
      to_batch_id: batchAt(to),
    });
  });
}
