/**
 * Checkpoints (contract section 5): a sealed batch is the Merkle root of the first
 * `tree_size` audit records, signed by the audit key as a C2SP signed note and recorded
 * as a `CheckpointSealed.v1` event. The checkpoint root is the batch root that gets
 * anchored. Checkpoint events are themselves events, so later records chain them too.
 */
import { Schema } from "effect";
import { checkpointBody, signNote } from "../kernel/checkpoint.ts";
import { bytesToHex } from "../kernel/hashing.ts";
import type { AuditSigner } from "./AuditRecord.ts";

export const CHECKPOINT_SEALED = "CheckpointSealed.v1";
export const CHECKPOINT_STREAM = "audit-checkpoints";

export const CheckpointSealed = Schema.Struct({
  batch_id: Schema.String,
  tree_size: Schema.Int.pipe(Schema.positive()),
  root: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)),
  origin: Schema.String,
  /** The C2SP signed note: checkpoint body plus the audit key's signature line. */
  note: Schema.String,
  key_id: Schema.String,
  sealed_at: Schema.String,
});
export type CheckpointSealed = typeof CheckpointSealed.Type;

/** The signed-note origin (and key name) of this log: one per audit key. */
export function auditOrigin(auditKeyId: string): string {
  return `zt-infra/audit/${auditKeyId}`;
}

/** Batch ids count checkpoints from 1 in the order they were sealed. */
export function batchId(ordinal: number): string {
  return `batch-${ordinal}`;
}

export function sealCheckpoint(input: {
  readonly ordinal: number;
  readonly treeSize: number;
  readonly root: Uint8Array;
  readonly signer: AuditSigner;
  readonly sealedAt: string;
}): CheckpointSealed {
  const origin = auditOrigin(input.signer.keyId);
  const body = checkpointBody({ origin, treeSize: input.treeSize, root: input.root });
  return {
    batch_id: batchId(input.ordinal),
    tree_size: input.treeSize,
    root: bytesToHex(input.root),
    origin,
    note: signNote(body, origin, input.signer.seed),
    key_id: input.signer.keyId,
    sealed_at: input.sealedAt,
  };
}
