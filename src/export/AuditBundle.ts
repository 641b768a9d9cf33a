/**
 * The audit bundle (contract section 10): a self-contained, offline-verifiable copy of a
 * range of the audit log, as a ustar archive of six parts, in this order:
 *
 *   manifest.json      {format, from_seq, to_seq, tree_prefix: {size, compact_range}}
 *   keys.json          {keys: [{key_id, use: "audit", alg: "Ed25519", public_key}]}  (GET /keys' shape)
 *   records.jsonl      audit records from_seq..to_seq: {seq, event_id, event_type, event_hash, prev_hash, hash, key_id, signature}
 *   events.jsonl       the stored event of each record, in its hashed form: {id, type, stream, revision, data, metadata, recorded_at}
 *   checkpoints.jsonl  every checkpoint sealing a tree size in the range, as {event, record}: its CheckpointSealed event and that event's own audit record
 *   anchors.jsonl      the anchoring events of those checkpoints (AnchorSubmitted, AnchorConfirmed, AnchorFailed), as {event, record}
 *
 * The range ends at a checkpoint's tree size, so every record is under a signed root the
 * verifier recomputes; `tree_prefix` is the compact range of the records before
 * `from_seq` (MerkleFrontier), which those roots bind. Every line is the RFC 8785 (JCS)
 * text of its value, so every byte of the bundle is either checked by a hash or a
 * signature or is refused as not canonical; the global store position is left out, as
 * event hashes leave it out. Nothing in a bundle is taken on trust but the audit keys,
 * which an auditor pins with `--keys`.
 */
import type { AuditRecord, AuditRecordFields, HashedEvent } from "../audit/AuditRecord.ts";
import { canonicalJson, canonicalJsonTrusted } from "../kernel/jcs.ts";

export const AUDIT_BUNDLE_FORMAT = "zt-infra/audit-bundle/v1";

/** The parts, in archive order, with their file names. */
export const BUNDLE_PARTS = {
  manifest: "manifest.json",
  keys: "keys.json",
  records: "records.jsonl",
  events: "events.jsonl",
  checkpoints: "checkpoints.jsonl",
  anchors: "anchors.jsonl",
} as const;
export type BundlePart = keyof typeof BUNDLE_PARTS;
export const BUNDLE_PART_NAMES = Object.keys(BUNDLE_PARTS) as ReadonlyArray<BundlePart>;

export interface BundleManifest {
  readonly format: typeof AUDIT_BUNDLE_FORMAT;
  readonly from_seq: number;
  readonly to_seq: number;
  readonly tree_prefix: { readonly size: number; readonly compact_range: ReadonlyArray<string> };
}

export interface BundleKey {
  readonly key_id: string;
  readonly use: "audit";
  readonly alg: "Ed25519";
  readonly public_key: string;
}

/** An audit record without the store position it was projected from (which no hash covers). */
export type BundleRecord = AuditRecordFields;

/** An event with the audit record that commits to it: how checkpoints and anchors travel. */
export interface AttestedEvent {
  readonly event: HashedEvent;
  readonly record: BundleRecord;
}

export function bundleRecord(record: AuditRecord): BundleRecord {
  const { position: _position, ...rest } = record;
  return rest;
}

const utf8 = new TextEncoder();

/** A part holding one JSON value: its JCS text and a newline. */
export function jsonPart(value: unknown): Uint8Array {
  return utf8.encode(`${canonicalJsonTrusted(value)}\n`);
}

/**
 * A part holding one JSON value per line, each its JCS text. A stored value with no JCS
 * (an unhashable event, which only a write behind the store port can make) is written as
 * JSON.stringify gives it, so the bundle carries it and verification fails there.
 */
export function jsonLinesPart(values: Iterable<unknown>): Uint8Array {
  const lines: string[] = [];
  for (const value of values) {
    const canonical = canonicalJson(value);
    lines.push(`${canonical.ok ? canonical.text : JSON.stringify(value)}\n`);
  }
  return utf8.encode(lines.join(""));
}
