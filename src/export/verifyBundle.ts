/**
 * `zt audit verify --bundle`: verifies an audit bundle (AuditBundle.ts) offline, with no
 * store, no network and no trust in the service that exported it. In order:
 *
 *   archive      exactly the ustar archive of the six parts that the exporter writes
 *   manifest     format, range, and a tree prefix of the right shape for from_seq
 *   keys         each key's key_id is its public key's; with `trustedKeys`, each is one of them
 *   checkpoints  each line is a CheckpointSealed event with its signed audit record; the
 *                checkpoint's signed note verifies with the audit key; batches are
 *                consecutive and the last one seals to_seq
 *   records      each record's hash is its fields', its signature verifies, each links
 *                to the one before, seqs run from_seq..to_seq
 *   events       each event is the one its record commits to (event_hash, id, type);
 *                decisions' intent and receipt hashes recompute
 *   (roots)      the tree prefix plus the records give each checkpoint's root
 *   anchors      each line is an anchoring event with its signed audit record, for an
 *                exported checkpoint, naming that checkpoint's root and tree size
 *
 * Each line must be the JCS text of its value, so every byte is checked. The first
 * failure is reported with the part it is in, the line and the record seq; the part is
 * named by which check failed: a record whose hash or signature fails blames `records`,
 * a record that holds but whose event does not blames `events`.
 */
import { Option, Schema } from "effect";
import { ANCHOR_CONFIRMED, ANCHOR_FAILED, ANCHOR_SUBMITTED, AnchorConfirmed, AnchorFailed, AnchorSubmitted, anchorStream, foldAnchor } from "../anchoring/core/events.ts";
import { hashedEventHash, recordHash, signedBytes, type HashedEvent } from "../audit/AuditRecord.ts";
import { decisionHashProblem, type AuditKeys } from "../audit/checkEvidence.ts";
import { auditOrigin, batchId, CHECKPOINT_SEALED, CheckpointSealed } from "../audit/Checkpoint.ts";
import { recordLeaf } from "../audit/AuditTrail.ts";
import { ACTION_DECIDED } from "../decisions/events.ts";
import { decodeBase64Url } from "../kernel/base64url.ts";
import { verifyCheckpointWith } from "../kernel/checkpoint.ts";
import { decodeSignature, keyIdOf, makeWebCryptoVerifier, type Ed25519Verifier } from "../kernel/ed25519.ts";
import { bytesToHex, hexToBytes } from "../kernel/hashing.ts";
import { isRecord } from "../kernel/isRecord.ts";
import { canonicalJson } from "../kernel/jcs.ts";
import { MerkleFrontier } from "../kernel/merkle.ts";
import { AUDIT_BUNDLE_FORMAT, BUNDLE_PART_NAMES, BUNDLE_PARTS, type BundlePart, type BundleRecord } from "./AuditBundle.ts";
import { readTar } from "./tarArchive.ts";

export type BundleFailureKind =
  | "archive_invalid"
  | "line_not_canonical"
  | "part_invalid"
  | "key_invalid"
  | "untrusted_key"
  | "unknown_audit_key"
  | "record_altered"
  | "record_signature_invalid"
  | "record_chain_broken"
  | "event_altered"
  | "unhashable_event"
  | "receipt_mismatch"
  | "checkpoint_invalid"
  | "checkpoint_missing"
  | "checkpoint_root_mismatch"
  | "attestation_mismatch"
  | "anchor_invalid";

export interface BundleFailure {
  /** The part the failure is in (`archive` for the container itself). */
  readonly part: BundlePart | "archive";
  readonly kind: BundleFailureKind;
  /** Line of the part (from 1), when it is a line. */
  readonly line: number | null;
  /** Audit record seq, when there is one. */
  readonly seq: number | null;
  readonly message: string;
}

export interface BundleAnchor {
  readonly batch_id: string;
  readonly status: string;
  readonly chain_id: number | null;
  readonly contract: string | null;
  readonly tx_hash: string | null;
  readonly block_number: number | null;
}

export interface BundleReport {
  readonly ok: boolean;
  readonly failure: BundleFailure | null;
  readonly from_seq: number | null;
  readonly to_seq: number | null;
  readonly records: number;
  readonly events: number;
  readonly decisions: number;
  /** The audit keys the bundle carries; `pinned` when it matched a trusted key given by the auditor. */
  readonly keys: ReadonlyArray<{ readonly key_id: string; readonly public_key: string; readonly pinned: boolean }>;
  readonly checkpoints: number;
  readonly last_checkpoint: { readonly batch_id: string; readonly tree_size: number; readonly root: string } | null;
  readonly anchors: ReadonlyArray<BundleAnchor>;
}

export interface VerifyBundleOptions {
  /** The auditor's own copy of the audit keys: every key in the bundle must be one of them. Without it the bundle's keys are used, and reported unpinned. */
  readonly trustedKeys?: AuditKeys;
  readonly verifier?: Ed25519Verifier;
}

class Failed extends Error {
  readonly failure: BundleFailure;
  constructor(failure: BundleFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

const fail = (part: BundleFailure["part"], kind: BundleFailureKind, message: string, at: { line?: number; seq?: number } = {}): never => {
  throw new Failed({ part, kind, line: at.line ?? null, seq: at.seq ?? null, message });
};

const utf8 = new TextDecoder("utf-8", { fatal: true });
const HEX32 = /^[0-9a-f]{64}$/;
const hasExactly = (value: Record<string, unknown>, keys: ReadonlyArray<string>) => {
  const own = Object.keys(value);
  return own.length === keys.length && keys.every((key) => Object.hasOwn(value, key));
};
const isCount = (value: unknown, min: number): value is number => Number.isSafeInteger(value) && (value as number) >= min;

interface Line {
  readonly text: string;
  readonly value: unknown;
}

/** The lines of a part, each the JCS text of its value (`single`: exactly one). */
function readLines(part: BundlePart, content: Uint8Array, single = false): Line[] {
  let text: string;
  try {
    text = utf8.decode(content);
  } catch {
    return fail(part, "part_invalid", `${BUNDLE_PARTS[part]} is not UTF-8`);
  }
  if (text === "") return single ? fail(part, "part_invalid", `${BUNDLE_PARTS[part]} is empty`) : [];
  if (!text.endsWith("\n")) fail(part, "part_invalid", `${BUNDLE_PARTS[part]} does not end with a newline`);
  const texts = text.slice(0, -1).split("\n");
  if (single && texts.length !== 1) fail(part, "part_invalid", `${BUNDLE_PARTS[part]} holds ${texts.length} lines, not one JSON value`);
  return texts.map((lineText, i) => {
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch {
      return fail(part, "line_not_canonical", `line ${i + 1} of ${BUNDLE_PARTS[part]} is not JSON`, { line: i + 1 });
    }
    const canonical = canonicalJson(value);
    if (!canonical.ok) {
      const kind = part === "events" ? "unhashable_event" : "line_not_canonical";
      return fail(part, kind, `line ${i + 1} of ${BUNDLE_PARTS[part]} has no JCS form (${canonical.reason})`, { line: i + 1 });
    }
    if (canonical.text !== lineText) fail(part, "line_not_canonical", `line ${i + 1} of ${BUNDLE_PARTS[part]} is not the JCS (RFC 8785) text of its value: altered`, { line: i + 1 });
    return { text: lineText, value };
  });
}

const RECORD_FIELDS = ["seq", "event_id", "event_type", "event_hash", "prev_hash", "hash", "key_id", "signature"] as const;
const EVENT_FIELDS = ["id", "type", "stream", "revision", "data", "metadata", "recorded_at"] as const;

function asRecord(part: BundlePart, value: unknown, line: number): BundleRecord {
  const ok =
    isRecord(value) && hasExactly(value, RECORD_FIELDS) && isCount(value["seq"], 1) && typeof value["event_id"] === "string" && typeof value["event_type"] === "string" &&
    [value["event_hash"], value["prev_hash"], value["hash"]].every((h) => typeof h === "string" && HEX32.test(h)) && typeof value["key_id"] === "string" && typeof value["signature"] === "string";
  return ok ? (value as unknown as BundleRecord) : fail(part, "part_invalid", `line ${line} of ${BUNDLE_PARTS[part]} is not an audit record {${RECORD_FIELDS.join(", ")}}`, { line });
}

function asEvent(part: BundlePart, value: unknown, line: number, seq: number): HashedEvent {
  const ok =
    isRecord(value) && hasExactly(value, EVENT_FIELDS) && typeof value["id"] === "string" && typeof value["type"] === "string" && typeof value["stream"] === "string" &&
    isCount(value["revision"], 0) && isRecord(value["data"]) && isRecord(value["metadata"]) && typeof value["recorded_at"] === "string";
  return ok ? (value as unknown as HashedEvent) : fail(part, "part_invalid", `line ${line} of ${BUNDLE_PARTS[part]} is not a stored event {${EVENT_FIELDS.join(", ")}}`, { line, seq });
}

export async function verifyBundle(bytes: Uint8Array, options: VerifyBundleOptions = {}): Promise<BundleReport> {
  const verifier = options.verifier ?? makeWebCryptoVerifier();
  const report = {
    from_seq: null as number | null,
    to_seq: null as number | null,
    records: 0,
    events: 0,
    decisions: 0,
    keys: [] as Array<BundleReport["keys"][number]>,
    checkpoints: 0,
    last_checkpoint: null as BundleReport["last_checkpoint"],
    anchors: [] as BundleAnchor[],
  };
  try {
    await verifyParts(bytes, options, verifier, report);
    return { ok: true, failure: null, ...report };
  } catch (error) {
    if (!(error instanceof Failed)) throw error;
    return { ok: false, failure: error.failure, ...report };
  }
}

type Summary = Omit<BundleReport, "ok" | "failure">;
type MutableSummary = { -readonly [K in keyof Summary]: Summary[K] extends ReadonlyArray<infer T> ? T[] : Summary[K] };

async function verifyParts(bytes: Uint8Array, options: VerifyBundleOptions, verifier: Ed25519Verifier, report: MutableSummary): Promise<void> {
  // --- archive -------------------------------------------------------------------------
  const archive = readTar(bytes);
  if (!archive.ok) return fail("archive", "archive_invalid", `not an audit bundle: ${archive.reason}`);
  const names = archive.entries.map((e) => e.name);
  const expected = BUNDLE_PART_NAMES.map((part) => BUNDLE_PARTS[part]);
  if (names.join("\n") !== expected.join("\n")) return fail("archive", "archive_invalid", `the archive holds [${names.join(", ")}], not [${expected.join(", ")}] in that order`);
  const content = (part: BundlePart) => archive.entries[BUNDLE_PART_NAMES.indexOf(part)]!.content;

  // --- manifest ------------------------------------------------------------------------
  const [manifestLine] = readLines("manifest", content("manifest"), true);
  const manifest = manifestLine!.value;
  const prefix = isRecord(manifest) ? manifest["tree_prefix"] : undefined;
  if (
    !isRecord(manifest) || !hasExactly(manifest, ["format", "from_seq", "to_seq", "tree_prefix"]) || manifest["format"] !== AUDIT_BUNDLE_FORMAT ||
    !isCount(manifest["from_seq"], 1) || !isCount(manifest["to_seq"], manifest["from_seq"] as number) || !isRecord(prefix) || !hasExactly(prefix, ["size", "compact_range"]) ||
    !Array.isArray(prefix["compact_range"]) || !prefix["compact_range"].every((h) => typeof h === "string" && HEX32.test(h))
  ) {
    return fail("manifest", "part_invalid", `manifest.json is not {format: "${AUDIT_BUNDLE_FORMAT}", from_seq, to_seq >= from_seq, tree_prefix: {size, compact_range}}`, { line: 1 });
  }
  const fromSeq = manifest["from_seq"] as number;
  const toSeq = manifest["to_seq"] as number;
  report.from_seq = fromSeq;
  report.to_seq = toSeq;
  const frontier = prefix["size"] === fromSeq - 1 ? MerkleFrontier.from(fromSeq - 1, (prefix["compact_range"] as string[]).map((h) => hexToBytes(h)!)) : undefined;
  if (frontier === undefined) return fail("manifest", "part_invalid", `tree_prefix is not the compact range of the ${fromSeq - 1} records before from_seq`, { line: 1 });

  // --- keys ----------------------------------------------------------------------------
  const [keysLine] = readLines("keys", content("keys"), true);
  const listed = isRecord(keysLine!.value) && hasExactly(keysLine!.value, ["keys"]) ? keysLine!.value["keys"] : undefined;
  if (!Array.isArray(listed) || listed.length === 0) return fail("keys", "part_invalid", "keys.json is not {keys: [...]} with at least one key", { line: 1 });
  const keys = new Map<string, Uint8Array>();
  for (const entry of listed) {
    const publicKey = isRecord(entry) && typeof entry["public_key"] === "string" ? decodeBase64Url(entry["public_key"]) : undefined;
    const valid =
      isRecord(entry) && hasExactly(entry, ["key_id", "use", "alg", "public_key"]) && entry["use"] === "audit" && entry["alg"] === "Ed25519" &&
      publicKey?.length === 32 && keyIdOf(publicKey) === entry["key_id"] && !keys.has(entry["key_id"]);
    if (!valid) return fail("keys", "key_invalid", `keys.json: entry ${keys.size + 1} is not an audit key whose key_id is its public key's (or is listed twice)`, { line: 1 });
    const keyId = entry["key_id"] as string;
    const trusted = options.trustedKeys?.get(keyId);
    if (options.trustedKeys !== undefined && (trusted === undefined || bytesToHex(trusted) !== bytesToHex(publicKey))) {
      return fail("keys", "untrusted_key", `keys.json: audit key ${keyId} is not one of the keys given (--keys)`, { line: 1 });
    }
    keys.set(keyId, publicKey);
    report.keys.push({ key_id: keyId, public_key: entry["public_key"] as string, pinned: options.trustedKeys !== undefined });
  }

  /** The checks of one record that need no other line: shape, hash, key; its signature, awaited by the caller. */
  const checkRecord = (part: BundlePart, value: unknown, line: number) => {
    const record = asRecord(part, value, line);
    const at = { line, seq: record.seq };
    if (recordHash(record) !== record.hash) fail(part, "record_altered", `record seq ${record.seq}'s hash is not the hash of its fields`, at);
    const publicKey = keys.get(record.key_id) ?? fail(part, "unknown_audit_key", `record seq ${record.seq} is signed by key ${record.key_id}, which keys.json does not hold`, at);
    const signature = decodeSignature(record.signature);
    const valid = signature === undefined ? Promise.resolve(false) : verifier(signature, signedBytes(record), publicKey);
    return { record, valid };
  };
  const checkEvent = (part: BundlePart, value: unknown, record: BundleRecord, line: number): HashedEvent => {
    const at = { line, seq: record.seq };
    const event = asEvent(part, value, line, record.seq);
    const hashed = hashedEventHash(event);
    if (!hashed.ok) fail(part, "unhashable_event", `event ${event.id} cannot be canonicalised (${hashed.reason})`, at);
    if (hashed.hex !== record.event_hash || event.id !== record.event_id || event.type !== record.event_type) {
      fail(part, "event_altered", `event ${event.id} (${event.type}) is not the event record seq ${record.seq} commits to (event_hash, id or type differ): altered`, at);
    }
    return event;
  };
  /** An {event, record} line of checkpoints.jsonl or anchors.jsonl, its signature checked. */
  const attested = async (part: BundlePart, line: Line, index: number) => {
    const n = index + 1;
    if (!isRecord(line.value) || !hasExactly(line.value, ["event", "record"])) return fail(part, "part_invalid", `line ${n} of ${BUNDLE_PARTS[part]} is not {event, record}`, { line: n });
    const { record, valid } = checkRecord(part, line.value["record"], n);
    if (!(await valid)) fail(part, "record_signature_invalid", `the audit record (seq ${record.seq}) on line ${n} does not verify with audit key ${record.key_id}`, { line: n, seq: record.seq });
    const event = checkEvent(part, line.value["event"], record, n);
    return { event, record, line: n, recordText: canonicalJson(record), eventText: canonicalJson(event) };
  };
  /** Attested lines whose record lies in the range must be that very record and event. */
  const inRange = new Map<number, { part: BundlePart; line: number; record: string; event: string }>();
  const remember = (part: BundlePart, item: Awaited<ReturnType<typeof attested>>) => {
    if (item.record.seq < fromSeq || item.record.seq > toSeq) return;
    const text = (r: { ok: boolean; text?: string }) => (r.ok ? (r.text ?? "") : "");
    inRange.set(item.record.seq, { part, line: item.line, record: text(item.recordText), event: text(item.eventText) });
  };

  // --- checkpoints ---------------------------------------------------------------------
  const checkpointLines = readLines("checkpoints", content("checkpoints"));
  const checkpointAt = new Map<number, { batch_id: string; root: string; line: number }>();
  let previous: { ordinal: number; size: number } | null = null;
  for (const [index, line] of checkpointLines.entries()) {
    const item = await attested("checkpoints", line, index);
    const at = { line: item.line, seq: item.record.seq };
    if (item.event.type !== CHECKPOINT_SEALED) fail("checkpoints", "checkpoint_invalid", `line ${item.line} is a ${item.event.type} event, not ${CHECKPOINT_SEALED}`, at);
    const decoded = Schema.decodeUnknownOption(CheckpointSealed)(item.event.data);
    if (Option.isNone(decoded)) return fail("checkpoints", "checkpoint_invalid", `line ${item.line}: the CheckpointSealed event does not decode`, at);
    const checkpoint = decoded.value;
    const publicKey = keys.get(checkpoint.key_id) ?? fail("checkpoints", "unknown_audit_key", `${checkpoint.batch_id} is signed by key ${checkpoint.key_id}, which keys.json does not hold`, at);
    if (checkpoint.origin !== auditOrigin(checkpoint.key_id)) fail("checkpoints", "checkpoint_invalid", `${checkpoint.batch_id}: origin ${checkpoint.origin} is not this log's origin for key ${checkpoint.key_id}`, at);
    const signed = await verifyCheckpointWith(checkpoint.note, checkpoint.origin, publicKey, verifier);
    if (!signed.ok) return fail("checkpoints", "checkpoint_invalid", `${checkpoint.batch_id}: signed note does not verify (${signed.reason})`, at);
    if (signed.treeSize !== checkpoint.tree_size || bytesToHex(signed.root) !== checkpoint.root) fail("checkpoints", "checkpoint_invalid", `${checkpoint.batch_id}: its fields do not match its signed note`, at);
    const ordinal = Number(checkpoint.batch_id.slice("batch-".length));
    if (checkpoint.batch_id !== batchId(ordinal) || (previous !== null && (ordinal !== previous.ordinal + 1 || checkpoint.tree_size <= previous.size))) {
      fail("checkpoints", "checkpoint_invalid", `${checkpoint.batch_id} does not follow the checkpoint before it (consecutive batches, growing tree sizes)`, at);
    }
    previous = { ordinal, size: checkpoint.tree_size };
    checkpointAt.set(checkpoint.tree_size, { batch_id: checkpoint.batch_id, root: checkpoint.root, line: item.line });
    remember("checkpoints", item);
    report.last_checkpoint = { batch_id: checkpoint.batch_id, tree_size: checkpoint.tree_size, root: checkpoint.root };
  }
  report.checkpoints = checkpointLines.length;
  // Each checkpoint line is signed; the manifest is not: where they disagree, the manifest is wrong.
  if (previous === null) return fail("checkpoints", "checkpoint_missing", "checkpoints.jsonl holds no checkpoint: the bundle's records are under no signed root");
  if (previous.size !== toSeq) fail("manifest", "part_invalid", `to_seq ${toSeq} is not the tree size ${previous.size} that the last checkpoint seals`, { line: 1 });
  const [firstSize] = checkpointAt.keys();
  if (firstSize! < fromSeq) fail("checkpoints", "checkpoint_invalid", `${checkpointAt.get(firstSize!)!.batch_id} seals tree size ${firstSize}, before the range ${fromSeq}..${toSeq}`, { line: 1 });

  // --- anchors (their lines; checked against the checkpoints after the records) ----------
  const anchorLines: Array<Awaited<ReturnType<typeof attested>>> = [];
  for (const [index, line] of readLines("anchors", content("anchors")).entries()) anchorLines.push(await attested("anchors", line, index));
  for (const item of anchorLines) remember("anchors", item);

  // --- records and events, in lockstep ---------------------------------------------------
  const recordLines = readLines("records", content("records"));
  const eventLines = readLines("events", content("events"));
  const count = toSeq - fromSeq + 1;
  if (recordLines.length !== count) fail("records", "part_invalid", `records.jsonl holds ${recordLines.length} records; the range ${fromSeq}..${toSeq} has ${count}`);
  if (eventLines.length !== count) fail("events", "part_invalid", `events.jsonl holds ${eventLines.length} events; the records commit to ${count}`);

  const SIGNATURE_BATCH = 2048;
  let pending: Array<{ record: BundleRecord; line: number; valid: Promise<boolean> }> = [];
  /** The first bad signature of the batch, reported if it comes before `then` (or alone). */
  const settle = async (then?: Failed) => {
    const batch = pending;
    pending = [];
    const results = await Promise.all(batch.map((p) => p.valid));
    const bad = batch.find((_, i) => !results[i]);
    if (bad !== undefined && (then === undefined || (then.failure.seq ?? Infinity) >= bad.record.seq)) {
      fail("records", "record_signature_invalid", `record seq ${bad.record.seq}'s signature does not verify with audit key ${bad.record.key_id}`, { line: bad.line, seq: bad.record.seq });
    }
    if (then !== undefined) throw then;
  };
  let prevHash: string | null = null;
  const sealedEvents = new Set<number>();
  try {
    for (let i = 0; i < count; i++) {
      const line = i + 1;
      const seq = fromSeq + i;
      const { record, valid } = checkRecord("records", recordLines[i]!.value, line);
      pending.push({ record, line, valid });
      if (record.seq !== seq) fail("records", "record_chain_broken", `line ${line} holds record seq ${record.seq} where seq ${seq} belongs`, { line, seq });
      if (prevHash !== null && record.prev_hash !== prevHash) fail("records", "record_chain_broken", `record seq ${seq} does not link to record seq ${seq - 1} (prev_hash)`, { line, seq });
      prevHash = record.hash;
      const event = checkEvent("events", eventLines[i]!.value, record, line);
      if (event.type === ACTION_DECIDED) {
        const problem = decisionHashProblem(event.data);
        if (problem !== null) fail("events", "receipt_mismatch", `decision ${String(event.data["decision_id"])}: ${problem}`, { line, seq });
        report.decisions += 1;
      }
      if (event.type === CHECKPOINT_SEALED) sealedEvents.add(seq);
      const attestedHere = inRange.get(seq);
      if (attestedHere !== undefined && (attestedHere.record !== recordLines[i]!.text || attestedHere.event !== eventLines[i]!.text)) {
        fail(attestedHere.part, "attestation_mismatch", `line ${attestedHere.line} of ${BUNDLE_PARTS[attestedHere.part]} is record seq ${seq}, but not the record and event records.jsonl and events.jsonl hold there`, { line: attestedHere.line, seq });
      }
      frontier.append(recordLeaf(record.hash));
      const sealed = checkpointAt.get(seq);
      if (sealed !== undefined && bytesToHex(frontier.root()) !== sealed.root) {
        // Records and checkpoints are each signed; what joins them unsigned is the tree prefix.
        const blamed: BundlePart = fromSeq > 1 ? "manifest" : "checkpoints";
        fail(blamed, "checkpoint_root_mismatch", `${sealed.batch_id}'s root is not the Merkle root of records 1..${seq}` + (fromSeq > 1 ? " from the tree prefix and these records: tree_prefix altered, or the checkpoint does not seal these records" : ""), { line: fromSeq > 1 ? 1 : sealed.line, seq });
      }
      report.records = line;
      report.events = line;
      if (pending.length >= SIGNATURE_BATCH) await settle();
    }
    await settle();
  } catch (error) {
    if (error instanceof Failed && pending.length > 0) await settle(error);
    throw error;
  }
  // A checkpoint the records' events show sealed inside the range must be in checkpoints.jsonl.
  for (const seq of sealedEvents) {
    const line = eventLines[seq - fromSeq]!.value as HashedEvent;
    const size = (line.data as { tree_size?: unknown })["tree_size"];
    if (typeof size === "number" && size >= fromSeq && size <= toSeq && !checkpointAt.has(size)) {
      fail("checkpoints", "checkpoint_missing", `the CheckpointSealed event of record seq ${seq} seals tree size ${size}, which checkpoints.jsonl leaves out`, { seq });
    }
  }

  // --- anchors -------------------------------------------------------------------------
  const byBatch = new Map<string, Array<Pick<HashedEvent, "type" | "data" | "revision">>>();
  const sizeOf = new Map([...checkpointAt].map(([size, c]) => [c.batch_id, { size, root: c.root }]));
  for (const item of anchorLines) {
    const at = { line: item.line, seq: item.record.seq };
    const { event } = item;
    const data: Option.Option<{ readonly batch_id: string }> =
      event.type === ANCHOR_SUBMITTED ? Schema.decodeUnknownOption(AnchorSubmitted)(event.data)
      : event.type === ANCHOR_CONFIRMED ? Schema.decodeUnknownOption(AnchorConfirmed)(event.data)
      : event.type === ANCHOR_FAILED ? Schema.decodeUnknownOption(AnchorFailed)(event.data)
      : Option.none();
    if (Option.isNone(data)) return fail("anchors", "anchor_invalid", `line ${item.line} is not an anchoring event that decodes`, at);
    const batch = data.value.batch_id;
    const sealed = sizeOf.get(batch);
    if (sealed === undefined || event.stream !== anchorStream(batch)) fail("anchors", "anchor_invalid", `line ${item.line} anchors ${batch}, which checkpoints.jsonl does not hold (or is in another stream)`, at);
    const events = byBatch.get(batch) ?? [];
    if (event.type === ANCHOR_SUBMITTED) {
      const submitted = data.value as unknown as AnchorSubmitted;
      if (submitted.root !== `0x${sealed!.root}` || submitted.tree_size !== sealed!.size) fail("anchors", "anchor_invalid", `line ${item.line}: the anchored root or tree size is not ${batch}'s`, at);
    }
    if (event.type === ANCHOR_CONFIRMED) {
      const txHash = (data.value as unknown as AnchorConfirmed).tx_hash;
      if (!events.some((e) => e.type === ANCHOR_SUBMITTED && e.data["tx_hash"] === txHash)) fail("anchors", "anchor_invalid", `line ${item.line} confirms transaction ${txHash}, which no AnchorSubmitted of ${batch} before it names`, at);
    }
    events.push(event);
    byBatch.set(batch, events);
  }
  for (const [batch, events] of byBatch) {
    const state = foldAnchor(events);
    const submitted = events.filter((e) => e.type === ANCHOR_SUBMITTED).at(-1)?.data;
    report.anchors.push({
      batch_id: batch,
      status: state.status,
      chain_id: typeof submitted?.["chain_id"] === "number" ? submitted["chain_id"] : null,
      contract: typeof submitted?.["contract"] === "string" ? submitted["contract"] : null,
      tx_hash: state.txHash,
      block_number: state.blockNumber,
    });
  }
}
