/**
 * The audit hash chain (contract section 5), pure. Record `seq` (from 1, one per event in
 * the store's global order) commits to its event and to the record before it:
 *
 *   event_hash = sha256(JCS({id, type, stream, revision, data, metadata, recorded_at}))
 *   hash       = sha256(JCS({seq, event_id, event_type, event_hash, prev_hash}))
 *   prev_hash  = hash of record seq-1, or 64 zeros for seq 1
 *   signature  = "ed25519:" + base64url(Ed25519(audit key, the 32 raw bytes of hash))
 *
 * The global position is left out of event_hash on purpose: it is an artefact of the
 * store (EventStoreDB positions are log offsets), while stream and revision are part of
 * what the event says. Ed25519 signatures are deterministic, so projecting the same
 * events with the same key always yields byte-identical records.
 *
 * Hashing is total: a stored event whose JCS cannot be computed (nested deeper than the
 * JCS bound, a number JSON cannot carry: only writes that bypassed this service's store
 * port can hold one) still gets a record, whose event_hash is the sha256 of
 *   JSON.stringify(["zt-infra/unhashable-event/v1", id, type, stream, revision, recorded_at])
 * so the chain goes on past it, and `zt audit verify` fails there with `unhashable_event`.
 */
import { canonicalJson, canonicalJsonTrusted } from "../kernel/jcs.ts";
import { encodeSignature, sign } from "../kernel/ed25519.ts";
import { hexToBytes, sha256Hex } from "../kernel/hashing.ts";
import type { RecordedEvent } from "../events/EventStore.ts";

export const GENESIS_PREV_HASH = "0".repeat(64);

export interface AuditRecord {
  readonly seq: number;
  /** Global position of the event in the store this record was projected from. */
  readonly position: number;
  readonly event_id: string;
  readonly event_type: string;
  readonly event_hash: string;
  readonly prev_hash: string;
  readonly hash: string;
  readonly key_id: string;
  readonly signature: string;
}

/** A record as it travels (audit bundles, the console's evidence): everything but the store position, which no hash covers. */
export type AuditRecordFields = Omit<AuditRecord, "position">;

/** The stored event as it is hashed: everything but the store's global position. */
export interface HashedEvent {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly revision: number;
  readonly data: RecordedEvent["data"];
  readonly metadata: RecordedEvent["metadata"];
  readonly recorded_at: string;
}

/** The stored event as it is hashed: everything but the store's global position. */
export function hashedEventFields(event: RecordedEvent): HashedEvent {
  return {
    id: event.id,
    type: event.type,
    stream: event.stream,
    revision: event.revision,
    data: event.data,
    metadata: event.metadata,
    recorded_at: event.recordedAt,
  };
}

export const UNHASHABLE_EVENT_TAG = "zt-infra/unhashable-event/v1";

export type EventHash =
  | { readonly ok: true; readonly hex: string }
  /** `hex` is the stand-in that keeps the chain going; `reason` says why the event has no JCS (a path and what is wrong there). */
  | { readonly ok: false; readonly hex: string; readonly reason: string };

/** The event's hash, or, for an event that cannot be canonicalised, the documented stand-in and why. Never throws. */
export function eventHash(event: RecordedEvent): EventHash {
  return hashedEventHash(hashedEventFields(event));
}

/** eventHash of an event in its hashed form (as audit bundles and the console's evidence carry it). Never throws. */
export function hashedEventHash(event: HashedEvent): EventHash {
  const canonical = canonicalJson(event);
  if (canonical.ok) return { ok: true, hex: sha256Hex(canonical.text) };
  // JSON.stringify escapes lone surrogates (well-formed JSON.stringify), so this cannot fail.
  const standIn = sha256Hex(JSON.stringify([UNHASHABLE_EVENT_TAG, event.id, event.type, event.stream, event.revision, event.recorded_at]));
  return { ok: false, hex: standIn, reason: canonical.reason };
}

export function recordHash(fields: Pick<AuditRecord, "seq" | "event_id" | "event_type" | "event_hash" | "prev_hash">): string {
  return sha256Hex(
    canonicalJsonTrusted({
      seq: fields.seq,
      event_id: fields.event_id,
      event_type: fields.event_type,
      event_hash: fields.event_hash,
      prev_hash: fields.prev_hash,
    }),
  );
}

export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export const EMPTY_CHAIN: ChainHead = { seq: 0, hash: GENESIS_PREV_HASH };

export interface AuditSigner {
  readonly keyId: string;
  readonly seed: Uint8Array;
}

export type UnsignedRecord = Omit<AuditRecord, "signature">;

/** The next link of the chain for `event`, before its signature (with its event hash, which says whether it is the stand-in). */
export function chainRecord(head: ChainHead, event: RecordedEvent, keyId: string): UnsignedRecord & { readonly eventHash: EventHash } {
  const seq = head.seq + 1;
  const hashed = eventHash(event);
  const fields = { seq, event_id: event.id, event_type: event.type, event_hash: hashed.hex, prev_hash: head.hash };
  return { ...fields, position: event.position, hash: recordHash(fields), key_id: keyId, eventHash: hashed };
}

/** The 32 raw bytes of a record hash: what the audit key signs. */
export function signedBytes(record: Pick<AuditRecord, "hash">): Uint8Array {
  // hexToBytes cannot fail on a sha256Hex output.
  return hexToBytes(record.hash) ?? new Uint8Array(32);
}

/** The next record of the chain for `event`, signed by the audit key (synchronously, pure JS). */
export function nextRecord(head: ChainHead, event: RecordedEvent, signer: AuditSigner): AuditRecord {
  const { eventHash: _hashed, ...unsigned } = chainRecord(head, event, signer.keyId);
  return { ...unsigned, signature: encodeSignature(sign(signedBytes(unsigned), signer.seed)) };
}
