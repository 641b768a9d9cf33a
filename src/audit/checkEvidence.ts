/**
 * Checks of audit evidence that anyone can run with public keys only: an inclusion proof
 * (contract section 5) and a decision's whole chain of evidence (its stored event, the
 * audit record committing to it, and the record's inclusion proof under a signed
 * checkpoint). `zt audit check-proof` runs them, and so does the console in a browser,
 * which is served these very sources with their types stripped: this file imports the
 * kernel and AuditRecord only (no Effect, no Node API), and Ed25519 verification is a
 * parameter (WebCrypto's in a browser).
 *
 * Everything here is attacker-controlled (a proof file, a server's answer): checks never
 * throw, each names what it found wrong.
 */
import { decodeBase64Url } from "../kernel/base64url.ts";
import { verifyCheckpointWith } from "../kernel/checkpoint.ts";
import { decodeSignature, keyIdOf, type Ed25519Verifier } from "../kernel/ed25519.ts";
import { bytesToHex, hexToBytes, sha256Hex } from "../kernel/hashing.ts";
import { isRecord } from "../kernel/isRecord.ts";
import { canonicalJson } from "../kernel/jcs.ts";
import { leafHash, verifyInclusion } from "../kernel/merkle.ts";
import { receiptHash } from "../vocabulary/receipt.ts";
import { hashedEventHash, recordHash, signedBytes, type AuditRecordFields, type HashedEvent } from "./AuditRecord.ts";

export interface EvidenceCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/** Audit public keys by key_id. */
export type AuditKeys = ReadonlyMap<string, Uint8Array>;

/** The checkpoint a proof was checked against and the key that signed it, for a person to compare with what they trust. */
export interface CheckedCheckpoint {
  readonly batch_id: string | null;
  readonly tree_size: number;
  readonly root: string;
  readonly origin: string;
  /** The audit key whose signature on the note verified; null when no key was given or none verified. */
  readonly key_id: string | null;
}

export interface EvidenceReport {
  readonly ok: boolean;
  readonly checks: ReadonlyArray<EvidenceCheck>;
  readonly checkpoint: CheckedCheckpoint | null;
}

const HEX32 = /^[0-9a-f]{64}$/;

const isHex32 = (value: unknown): value is string => typeof value === "string" && HEX32.test(value);
const isCount = (value: unknown, min: number): value is number => Number.isSafeInteger(value) && (value as number) >= min;
const check = (name: string, ok: boolean, detail: string): EvidenceCheck => (ok ? { name, ok } : { name, ok, detail });
const bytes = (hex: string): Uint8Array => hexToBytes(hex) ?? new Uint8Array(0);

/**
 * The audit keys of a `GET /keys` document (`{"keys": [{"key_id", "use", "public_key"}]}`):
 * entries with use "audit" whose key_id is the id of their 32-byte public key; anything
 * else is left out.
 */
export function auditKeysFrom(document: unknown): Map<string, Uint8Array> {
  const keys = new Map<string, Uint8Array>();
  const listed = isRecord(document) ? document["keys"] : undefined;
  if (!Array.isArray(listed)) return keys;
  for (const entry of listed) {
    if (!isRecord(entry) || entry["use"] !== "audit" || typeof entry["public_key"] !== "string") continue;
    const publicKey = decodeBase64Url(entry["public_key"]);
    if (publicKey?.length === 32 && keyIdOf(publicKey) === entry["key_id"]) keys.set(entry["key_id"], publicKey);
  }
  return keys;
}

interface InclusionProofShape {
  readonly leaf_hash: string;
  readonly leaf_index: number;
  readonly tree_size: number;
  readonly audit_path: ReadonlyArray<string>;
  readonly root: string;
  readonly record_hash?: string;
  readonly checkpoint?: string;
  readonly batch_id?: string;
}

function inclusionProofShape(proof: unknown): InclusionProofShape | undefined {
  if (!isRecord(proof)) return undefined;
  const { leaf_hash, leaf_index, tree_size, audit_path, root, record_hash, checkpoint, batch_id } = proof;
  const ok =
    isHex32(leaf_hash) && isCount(leaf_index, 0) && isCount(tree_size, 1) && Array.isArray(audit_path) && audit_path.every(isHex32) && isHex32(root) &&
    (record_hash === undefined || isHex32(record_hash)) && (checkpoint === undefined || typeof checkpoint === "string") && (batch_id === undefined || typeof batch_id === "string");
  return ok ? (proof as unknown as InclusionProofShape) : undefined;
}

/**
 * An inclusion proof `{leaf_hash, leaf_index, tree_size, audit_path, root, record_hash?,
 * checkpoint?}`: the leaf is sha256(0x00 || record_hash), the path leads to the root by
 * the RFC 9162 section 2.1.3.2 algorithm alone, and the checkpoint note is signed by one
 * of `keys` for that tree size and root. With `keys` null the signature check is
 * reported as skipped.
 */
export async function checkInclusionProof(proof: unknown, keys: AuditKeys | null, verifier: Ed25519Verifier): Promise<EvidenceReport> {
  const p = inclusionProofShape(proof);
  if (p === undefined) {
    return { ok: false, checks: [check("proof_format", false, "not an inclusion proof {leaf_hash, leaf_index, tree_size, audit_path, root} with lowercase hex hashes")], checkpoint: null };
  }
  const checks: EvidenceCheck[] = [];
  if (p.record_hash !== undefined) {
    checks.push(check("leaf_hash", bytesToHex(leafHash(bytes(p.record_hash))) === p.leaf_hash, "leaf_hash is not sha256(0x00 || record_hash)"));
  }
  const inclusion = verifyInclusion(p.leaf_index, p.tree_size, bytes(p.leaf_hash), p.audit_path.map(bytes), bytes(p.root));
  checks.push(inclusion.ok ? { name: "inclusion", ok: true } : { name: "inclusion", ok: false, detail: inclusion.reason });

  const note = p.checkpoint ?? "";
  const origin = note.split("\n", 1)[0] ?? "";
  let signedBy: string | null = null;
  if (keys === null) {
    checks.push({ name: "checkpoint_signature", ok: true, detail: "skipped: no audit key given" });
  } else {
    for (const [keyId, publicKey] of keys) {
      const signed = await verifyCheckpointWith(note, origin, publicKey, verifier);
      if (signed.ok && signed.treeSize === p.tree_size && bytesToHex(signed.root) === p.root) {
        signedBy = keyId;
        break;
      }
    }
    checks.push(check("checkpoint_signature", signedBy !== null, "the checkpoint note is not signed by a given audit key for this tree size and root"));
  }
  return {
    ok: checks.every((c) => c.ok),
    checks,
    checkpoint: { batch_id: p.batch_id ?? null, tree_size: p.tree_size, root: p.root, origin, key_id: signedBy },
  };
}

/**
 * Whether a decision event's `intent_hash` and `receipt_hash` are those of its recorded
 * fields (contract section 4): null when they are, else what is wrong.
 */
export function decisionHashProblem(data: unknown): string | null {
  if (!isRecord(data)) return "the decision is not an object";
  const request = data["request"];
  const intent = isRecord(request) ? request["intent"] : undefined;
  if (intent !== undefined) {
    const canonical = canonicalJson(intent);
    if (!canonical.ok || sha256Hex(canonical.text) !== data["intent_hash"]) return "intent_hash does not match the recorded intent";
  }
  const { policy_id, permit_id, intent_hash, status, invariant_checks, decided_at } = data;
  const wellFormed =
    typeof policy_id === "string" && (permit_id === null || typeof permit_id === "string") && (intent_hash === null || typeof intent_hash === "string") &&
    typeof status === "string" && typeof decided_at === "string" && Array.isArray(invariant_checks) &&
    invariant_checks.every((c) => isRecord(c) && typeof c["name"] === "string" && typeof c["ok"] === "boolean");
  if (!wellFormed) return "the receipt fields (policy_id, permit_id, intent_hash, status, invariant_checks, decided_at) are not all there";
  const recomputed = receiptHash({
    policy_id,
    permit_id,
    intent_hash,
    // The recorded status, whatever the schema of the day allows: the hash commits to it as recorded.
    decision: status as "allowed" | "denied",
    invariant_checks: invariant_checks as ReadonlyArray<{ name: string; ok: boolean }>,
    timestamp: decided_at,
  });
  return recomputed === data["receipt_hash"] ? null : "receipt_hash does not match its recorded fields";
}

function hashedEventShape(event: unknown): HashedEvent | undefined {
  if (!isRecord(event)) return undefined;
  const { id, type, stream, revision, data, metadata, recorded_at } = event;
  const ok = typeof id === "string" && typeof type === "string" && typeof stream === "string" && isCount(revision, 0) && isRecord(data) && isRecord(metadata) && typeof recorded_at === "string";
  return ok ? { id, type, stream, revision, data: data as HashedEvent["data"], metadata: metadata as HashedEvent["metadata"], recorded_at } : undefined;
}

function recordShape(record: unknown): AuditRecordFields | undefined {
  if (!isRecord(record)) return undefined;
  const { seq, event_id, event_type, event_hash, prev_hash, hash, key_id, signature } = record;
  const ok = isCount(seq, 1) && typeof event_id === "string" && typeof event_type === "string" && isHex32(event_hash) && isHex32(prev_hash) && isHex32(hash) && typeof key_id === "string" && typeof signature === "string";
  return ok ? (record as unknown as AuditRecordFields) : undefined;
}

/**
 * A decision's evidence `{event, record, proof}`: the event (in its hashed form) is the
 * decision `decisionId` and its receipt recomputes; it hashes to the record's
 * `event_hash`; the record's hash is its fields' and is signed by an audit key; the proof
 * is this record's, and checkInclusionProof holds for it.
 */
export async function checkDecisionEvidence(decisionId: string, evidence: unknown, keys: AuditKeys, verifier: Ed25519Verifier): Promise<EvidenceReport> {
  const event = isRecord(evidence) ? hashedEventShape(evidence["event"]) : undefined;
  const record = isRecord(evidence) ? recordShape(evidence["record"]) : undefined;
  const proof = isRecord(evidence) ? evidence["proof"] : undefined;
  if (event === undefined || record === undefined || !isRecord(proof)) {
    return { ok: false, checks: [check("evidence_format", false, "not decision evidence {event, record, proof}")], checkpoint: null };
  }
  const checks: EvidenceCheck[] = [];
  checks.push(check("decision", event.data["decision_id"] === decisionId, `the event is not decision ${decisionId}'s`));
  const receipt = decisionHashProblem(event.data);
  checks.push(check("receipt_hash", receipt === null, receipt ?? ""));
  const hashed = hashedEventHash(event);
  const eventMatches = hashed.ok && hashed.hex === record.event_hash && record.event_id === event.id && record.event_type === event.type;
  checks.push(check("event_hash", eventMatches, "the event does not hash to the event_hash its audit record commits to"));
  checks.push(check("record_hash", recordHash(record) === record.hash, "the audit record's hash is not the hash of its fields"));
  const publicKey = keys.get(record.key_id);
  const signature = decodeSignature(record.signature);
  const signed = publicKey !== undefined && signature !== undefined && (await verifier(signature, signedBytes(record), publicKey));
  checks.push(check("record_signature", signed, publicKey === undefined ? `the record is signed by key ${record.key_id}, which is not a given audit key` : "the record's signature does not verify with its audit key"));
  checks.push(check("proof_record", proof["record_hash"] === record.hash && proof["record_seq"] === record.seq, "the proof is not this record's (record_hash or record_seq differ)"));
  const inclusion = await checkInclusionProof(proof, keys, verifier);
  checks.push(...inclusion.checks);
  return { ok: checks.every((c) => c.ok), checks, checkpoint: inclusion.checkpoint };
}
