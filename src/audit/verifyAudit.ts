/**
 * The auditor's replay (`zt audit verify`): walks every event of the store in global
 * order beside the audit records and recomputes, independently of any running service,
 *   - each event's hash, each record's hash and its link to the previous record;
 *   - each record's ed25519 signature with the audit public key (public keys only);
 *   - each sealed checkpoint: its signed note, its root against the recomputed Merkle
 *     tree, and consistency with the previous checkpoint (RFC 9162 2.1.4);
 *   - each decision's intent_hash and receipt_hash from its recorded fields;
 *   - each decision that names an approval against the approval's events before it: an
 *     allow used an approval of its exact call, granted by its quorum, unrejected, in time.
 * It covers every event in the store (contract section 7): an event that cannot be
 * canonicalised fails as `unhashable_event`, and events the projection has not reached
 * fail as `projection_stalled` once the oldest of them was recorded more than `maxLagMs`
 * ago. It stops at the first bad position and says what is wrong there.
 */
import { Effect, Option, Schema } from "effect";
import type { EventStoreError, RecordedEvent } from "../events/EventStore.ts";
import { EventStore } from "../events/EventStore.ts";
import { decodeSignature, makeWebCryptoVerifier } from "../kernel/ed25519.ts";
import { bytesToHex, hexToBytes } from "../kernel/hashing.ts";
import { verifyCheckpoint } from "../kernel/checkpoint.ts";
import { MerkleTree, verifyConsistency } from "../kernel/merkle.ts";
import { evolveApproval, type Approval } from "../approvals/Approval.ts";
import { approvalBackingProblem } from "../approvals/approvalBacking.ts";
import { APPROVAL_EVENT_TYPES } from "../approvals/events.ts";
import { ACTION_DECIDED, ActionDecided } from "../decisions/events.ts";
import { decisionHashProblem } from "./checkEvidence.ts";
import { eventHash, EMPTY_CHAIN, recordHash, signedBytes, type AuditRecord, type ChainHead } from "./AuditRecord.ts";
import { AuditLog, type AuditLogError } from "./AuditLog.ts";
import { recordLeaf } from "./AuditTrail.ts";
import { auditOrigin, batchId, CHECKPOINT_SEALED, CheckpointSealed } from "./Checkpoint.ts";

export type FailureKind =
  | "event_altered"
  | "event_missing_or_reordered"
  | "record_altered"
  | "record_chain_broken"
  | "record_signature_invalid"
  | "unknown_audit_key"
  | "checkpoint_invalid"
  | "checkpoint_root_mismatch"
  | "checkpoint_inconsistent"
  | "receipt_mismatch"
  | "approval_unbacked"
  | "record_without_event"
  | "unhashable_event"
  | "projection_stalled";

export interface VerifyFailure {
  readonly kind: FailureKind;
  /** Global store position of the event where the problem is, when there is one. */
  readonly position: number | null;
  /** Audit record seq where the problem is, when there is one. */
  readonly seq: number | null;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly events: number;
  readonly records: number;
  readonly checkpoints: number;
  readonly decisions: number;
  /** Events after the last audit record: not yet projected, so not yet covered by the chain. */
  readonly unprojected: number;
  readonly lastCheckpoint: { readonly tree_size: number; readonly root: string } | null;
  readonly failure: VerifyFailure | null;
}

const PAGE = 5000;

export interface VerifyOptions {
  /** Audit public keys by key_id. */
  readonly auditKeys: ReadonlyMap<string, Uint8Array>;
  /** How long an event may wait for its record before the projection counts as stalled (default 60 s). */
  readonly maxLagMs?: number;
  /** The auditor's clock (default Date.now), against which events' recorded_at are judged. */
  readonly now?: number;
  /**
   * An empty tree the replay fills with the leaves it recomputed and verified (the
   * on-chain check compares it with the chain's anchors); meaningful when the report is ok.
   */
  readonly tree?: MerkleTree;
  /** Called with every stored event in global order, for checks that read events of other capabilities (anchor targets). */
  readonly onEvent?: (event: RecordedEvent) => void;
}

export const DEFAULT_MAX_LAG_MS = 60_000;

export function verifyAudit(options: VerifyOptions): Effect.Effect<VerifyReport, EventStoreError | AuditLogError, EventStore | AuditLog> {
  return Effect.gen(function* () {
    const store = yield* EventStore;
    const log = yield* AuditLog;
    const verifySignature = makeWebCryptoVerifier();
    const tree = options.tree ?? new MerkleTree();
    let chain: ChainHead = EMPTY_CHAIN;
    let events = 0;
    let checkpoints = 0;
    let decisions = 0;
    let unprojected = 0;
    /** Approvals as their events so far fold, for the decisions that name them. */
    const approvals = new Map<string, Approval>();
    let previousCheckpoint: { tree_size: number; root: Uint8Array } | null = null;
    let lastCheckpoint: VerifyReport["lastCheckpoint"] = null;
    let after = 0;
    let pendingRecords: AuditRecord[] = [];
    let recordsAfterSeq = 0;
    let recordsExhausted = false;

    const report = (failure: VerifyFailure | null): VerifyReport => ({
      ok: failure === null,
      events,
      // Signatures are checked a page at a time, so the chain may have run past a bad one.
      records: failure?.seq != null ? Math.min(chain.seq, failure.seq - 1) : chain.seq,
      checkpoints,
      decisions,
      unprojected,
      lastCheckpoint,
      failure,
    });

    const nextRecord = Effect.gen(function* () {
      if (pendingRecords.length === 0 && !recordsExhausted) {
        pendingRecords = [...(yield* log.read({ afterSeq: recordsAfterSeq, limit: PAGE }))];
        if (pendingRecords.length === 0) recordsExhausted = true;
        const last = pendingRecords.at(-1);
        if (last) recordsAfterSeq = last.seq;
      }
      return pendingRecords.shift();
    });

    /** Record checks that need no signature, in order; the signature check is left to `signatureChecks`. */
    const checkEvent = (event: RecordedEvent, record: AuditRecord): VerifyFailure | null => {
      const seq = chain.seq + 1;
      const at = { position: event.position, seq };
      if (record.seq !== seq) return { kind: "record_chain_broken", ...at, message: `record seq ${record.seq} found where seq ${seq} was expected` };
      if (record.event_id !== event.id || record.position !== event.position) {
        return {
          kind: "event_missing_or_reordered",
          // The first position where store and chain disagree: a deleted event's own
          // position, not that of the event the store now has in its place.
          position: Math.min(record.position, event.position),
          seq,
          message: `record seq ${seq} is for event ${record.event_id} at position ${record.position}, but the store has event ${event.id} at position ${event.position}: an event was deleted, inserted or reordered`,
        };
      }
      const hashed = eventHash(event);
      if (!hashed.ok) {
        return { kind: "unhashable_event", ...at, message: `event ${event.id} (${event.type}) cannot be canonicalised (${hashed.reason}): the store holds an event no audit record can commit to` };
      }
      if (record.event_hash !== hashed.hex || record.event_type !== event.type) {
        return { kind: "event_altered", ...at, message: `event ${event.id} (${event.type}) no longer hashes to the event_hash its record committed to: the stored event was altered` };
      }
      if (record.prev_hash !== chain.hash) {
        return { kind: "record_chain_broken", ...at, message: `record seq ${seq} links to prev_hash ${record.prev_hash.slice(0, 16)}…, not to record seq ${chain.seq}` };
      }
      if (record.hash !== recordHash(record)) return { kind: "record_altered", ...at, message: `record seq ${seq}'s hash does not match its fields` };
      if (!options.auditKeys.has(record.key_id)) {
        return { kind: "unknown_audit_key", ...at, message: `record seq ${seq} is signed by key ${record.key_id}, which is not a given audit key` };
      }
      return null;
    };

    /**
     * Signature checks run concurrently (WebCrypto), a page at a time; the first failure
     * in seq order is then weighed against the first failure of the in-order checks.
     */
    let signatureChecks: Array<{ readonly record: AuditRecord; readonly valid: Promise<boolean> }> = [];
    const startSignatureCheck = (record: AuditRecord) => {
      const signature = decodeSignature(record.signature);
      const publicKey = options.auditKeys.get(record.key_id);
      const valid = signature === undefined || publicKey === undefined ? Promise.resolve(false) : verifySignature(signature, signedBytes(record), publicKey);
      signatureChecks.push({ record, valid });
    };
    const firstBadSignature = Effect.gen(function* () {
      const checks = signatureChecks;
      signatureChecks = [];
      const results = yield* Effect.promise(() => Promise.all(checks.map((check) => check.valid)));
      const bad = checks.find((_, index) => !results[index]);
      if (bad === undefined) return null;
      const { record } = bad;
      return { kind: "record_signature_invalid", position: record.position, seq: record.seq, message: `record seq ${record.seq}'s signature does not verify with audit key ${record.key_id}` } as VerifyFailure;
    });
    /** The failure to report: a bad signature up to `failure`'s record (a forged record before what it says) wins. */
    const firstOf = (failure: VerifyFailure | null) =>
      Effect.map(firstBadSignature, (bad) => (bad !== null && (failure === null || (bad.seq ?? 0) <= (failure.seq ?? Infinity)) ? bad : failure));

    const checkDecision = (event: RecordedEvent, seq: number): VerifyFailure | null => {
      const decoded = Schema.decodeUnknownOption(ActionDecided)(event.data);
      const at = { position: event.position, seq };
      if (Option.isNone(decoded)) return { kind: "receipt_mismatch", ...at, message: `decision event ${event.id} does not decode as ${ACTION_DECIDED}` };
      const decision = decoded.value;
      const problem = decisionHashProblem(event.data);
      if (problem !== null) return { kind: "receipt_mismatch", ...at, message: `decision ${decision.decision_id}: ${problem}` };
      const approvalId = decision.approval_id;
      if (approvalId != null) {
        const unbacked = approvalBackingProblem({ ...decision, approval_id: approvalId, request: decision.request as Parameters<typeof approvalBackingProblem>[0]["request"] }, approvals.get(approvalId));
        if (unbacked !== null) return { kind: "approval_unbacked", ...at, message: unbacked };
      }
      return null;
    };

    const foldApprovalEvent = (event: RecordedEvent) => {
      const id = (event.data as { readonly approval_id?: unknown }).approval_id;
      if (typeof id !== "string") return;
      const folded = evolveApproval(approvals.get(id), event);
      if (folded !== undefined) approvals.set(id, folded);
    };

    const checkCheckpoint = (event: RecordedEvent, seq: number): VerifyFailure | null => {
      const at = { position: event.position, seq };
      const decoded = Schema.decodeUnknownOption(CheckpointSealed)(event.data);
      if (Option.isNone(decoded)) return { kind: "checkpoint_invalid", ...at, message: `checkpoint event ${event.id} does not decode` };
      const checkpoint = decoded.value;
      const publicKey = options.auditKeys.get(checkpoint.key_id);
      if (publicKey === undefined) return { kind: "unknown_audit_key", ...at, message: `${checkpoint.batch_id} is signed by key ${checkpoint.key_id}, which is not a given audit key` };
      if (checkpoint.origin !== auditOrigin(checkpoint.key_id)) {
        return { kind: "checkpoint_invalid", ...at, message: `${checkpoint.batch_id}: origin ${checkpoint.origin} is not this log's origin for key ${checkpoint.key_id}` };
      }
      if (checkpoint.batch_id !== batchId(checkpoints + 1)) {
        return { kind: "checkpoint_invalid", ...at, message: `${checkpoint.batch_id} found where ${batchId(checkpoints + 1)} was expected` };
      }
      const signed = verifyCheckpoint(checkpoint.note, checkpoint.origin, publicKey);
      if (!signed.ok) return { kind: "checkpoint_invalid", ...at, message: `${checkpoint.batch_id}: signed note does not verify (${signed.reason})` };
      const claimedRoot = hexToBytes(checkpoint.root);
      if (signed.treeSize !== checkpoint.tree_size || claimedRoot === undefined || bytesToHex(signed.root) !== checkpoint.root) {
        return { kind: "checkpoint_invalid", ...at, message: `${checkpoint.batch_id}: its fields do not match its signed note` };
      }
      if (checkpoint.tree_size > tree.size) {
        return { kind: "checkpoint_invalid", ...at, message: `${checkpoint.batch_id} seals tree size ${checkpoint.tree_size}, beyond the ${tree.size} records before it` };
      }
      const root = tree.root(checkpoint.tree_size);
      if (root === undefined || bytesToHex(root) !== checkpoint.root) {
        return { kind: "checkpoint_root_mismatch", ...at, message: `${checkpoint.batch_id}: root ${checkpoint.root.slice(0, 16)}… is not the Merkle root of the first ${checkpoint.tree_size} records` };
      }
      if (previousCheckpoint !== null) {
        const proof = tree.consistencyProof(previousCheckpoint.tree_size, checkpoint.tree_size) ?? [];
        const consistent = verifyConsistency(previousCheckpoint.tree_size, checkpoint.tree_size, previousCheckpoint.root, claimedRoot, proof);
        if (!consistent.ok) return { kind: "checkpoint_inconsistent", ...at, message: `${checkpoint.batch_id} is not an extension of the previous checkpoint (${consistent.reason})` };
      }
      previousCheckpoint = { tree_size: checkpoint.tree_size, root: claimedRoot };
      lastCheckpoint = { tree_size: checkpoint.tree_size, root: checkpoint.root };
      checkpoints += 1;
      return null;
    };

    const maxLagMs = options.maxLagMs ?? DEFAULT_MAX_LAG_MS;
    const now = options.now ?? Date.now();
    for (;;) {
      const page = yield* store.readAll({ after, limit: PAGE });
      for (const event of page) {
        events += 1;
        after = event.position;
        options.onEvent?.(event);
        const record = yield* nextRecord;
        if (record === undefined) {
          // Not projected yet: fine while the projection is catching up, a failure once the
          // first such event has waited longer than maxLagMs, or if it could never be chained.
          if (unprojected === 0) {
            const recordedAt = Date.parse(event.recordedAt);
            if (!(now - recordedAt <= maxLagMs)) {
              return report(
                yield* firstOf({
                  kind: "projection_stalled",
                  position: event.position,
                  seq: chain.seq + 1,
                  message: `event ${event.id} (${event.type}), recorded at ${event.recordedAt}, has no audit record after ${Math.round(maxLagMs / 1000)} s: the audit projection is stalled`,
                }),
              );
            }
          }
          const hashed = eventHash(event);
          if (!hashed.ok) {
            return report(yield* firstOf({ kind: "unhashable_event", position: event.position, seq: null, message: `event ${event.id} (${event.type}) cannot be canonicalised (${hashed.reason})` }));
          }
          unprojected += 1;
          continue;
        }
        if (unprojected > 0) {
          return report({ kind: "record_chain_broken", position: event.position, seq: record.seq, message: `record seq ${record.seq} follows ${unprojected} events that have no record` });
        }
        const seq = chain.seq + 1;
        const recordFailure = checkEvent(event, record);
        if (recordFailure) return report(yield* firstOf(recordFailure));
        startSignatureCheck(record);
        const contentFailure =
          (event.type === ACTION_DECIDED ? checkDecision(event, seq) : null) ?? (event.type === CHECKPOINT_SEALED ? checkCheckpoint(event, seq) : null);
        if (contentFailure) return report(yield* firstOf(contentFailure));
        if (event.type === ACTION_DECIDED) decisions += 1;
        if (APPROVAL_EVENT_TYPES.has(event.type)) foldApprovalEvent(event);
        tree.append(recordLeaf(record.hash));
        chain = record;
      }
      const badSignature = yield* firstOf(null);
      if (badSignature) return report(badSignature);
      if (page.length < PAGE) break;
    }
    const orphan = yield* nextRecord;
    if (orphan !== undefined) {
      return report({ kind: "record_without_event", position: orphan.position, seq: orphan.seq, message: `record seq ${orphan.seq} is for event ${orphan.event_id}, which the store does not hold: events were deleted` });
    }
    return report(null);
  });
}
