/**
 * `zt audit export`: reads a range of the audit log from the store (never the running
 * service) into an audit bundle (AuditBundle.ts). It checks nothing: a store that was
 * tampered with exports as it is, and the bundle's verification says where. It refuses
 * only what could not make a bundle: a range no sealed checkpoint covers yet, and records
 * signed by a key it was not given.
 */
import { Effect, Either } from "effect";
import { ANCHOR_EVENT_TYPES, anchorStream } from "../anchoring/core/events.ts";
import { AuditLog, type AuditLogError } from "../audit/AuditLog.ts";
import { hashedEventFields, type AuditRecord } from "../audit/AuditRecord.ts";
import { AuditTrail } from "../audit/AuditTrail.ts";
import { CHECKPOINT_STREAM } from "../audit/Checkpoint.ts";
import { EventStore, type EventStoreError, type RecordedEvent } from "../events/EventStore.ts";
import { encodeBase64Url } from "../kernel/base64url.ts";
import { bytesToHex } from "../kernel/hashing.ts";
import { AUDIT_BUNDLE_FORMAT, BUNDLE_PARTS, bundleRecord, jsonLinesPart, jsonPart, type AttestedEvent, type BundleKey, type BundleManifest } from "./AuditBundle.ts";
import { writeTar } from "./tarArchive.ts";

export interface ExportOptions {
  /** First record (default 1). */
  readonly fromSeq?: number;
  /** Last record wanted; the range is widened to the first checkpoint that seals it (default: the last sealed checkpoint). */
  readonly toSeq?: number;
  /** Audit public keys by key_id; every key that signed something exported must be here. */
  readonly auditKeys: ReadonlyMap<string, Uint8Array>;
}

export interface ExportedBundle {
  readonly bytes: Uint8Array;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly events: number;
  readonly checkpoints: number;
  readonly anchorEvents: number;
}

/** Why no bundle was written (the CLI's usage errors). */
export interface ExportRefusal {
  readonly message: string;
}

const PAGE = 5000;

export function exportBundle(options: ExportOptions): Effect.Effect<Either.Either<ExportedBundle, ExportRefusal>, EventStoreError | AuditLogError, EventStore | AuditLog | AuditTrail> {
  return Effect.gen(function* () {
    const store = yield* EventStore;
    const log = yield* AuditLog;
    const trail = yield* AuditTrail;
    yield* trail.sync;
    const sealed = trail.checkpoints().map((c) => c.checkpoint);
    const refuse = (message: string) => Either.left({ message });

    const last = sealed.at(-1);
    if (last === undefined) return refuse("no checkpoint is sealed yet: there is nothing a bundle could prove");
    const fromSeq = options.fromSeq ?? 1;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) return refuse("--from-seq must be a record seq (1 or more)");
    const wanted = options.toSeq ?? last.tree_size;
    if (!Number.isSafeInteger(wanted) || wanted < fromSeq) return refuse("--to-seq must be a record seq at or after --from-seq");
    const end = sealed.find((c) => c.tree_size >= wanted);
    if (end === undefined) return refuse(`no sealed checkpoint covers record ${wanted} yet: the last one seals records up to ${last.tree_size}`);
    const toSeq = end.tree_size;

    const compactRange = trail.tree().compactRange(fromSeq - 1);
    if (compactRange === undefined) return refuse(`the audit trail does not hold record ${fromSeq - 1}`);

    const records: AuditRecord[] = [];
    while (records.length < toSeq - fromSeq + 1) {
      const page = yield* log.read({ afterSeq: fromSeq - 1 + records.length, limit: Math.min(PAGE, toSeq - fromSeq + 1 - records.length) });
      if (page.length === 0) break;
      records.push(...page);
    }
    const first = records[0];
    const final = records.at(-1);
    if (first === undefined || final === undefined) return refuse(`the audit log holds no record from ${fromSeq}`);

    // Every event the records cover, in the store's order, as the store holds them now.
    const events: RecordedEvent[] = [];
    for (let after = first.position - 1; after < final.position; ) {
      const page = yield* store.readAll({ after, limit: PAGE });
      for (const event of page) if (event.position <= final.position) events.push(event);
      const next = page.at(-1);
      if (next === undefined) break;
      after = next.position;
    }

    const attested = (event: RecordedEvent) =>
      Effect.map(log.byEventId(event.id), (record): AttestedEvent | undefined => (record === undefined ? undefined : { event: hashedEventFields(event), record: bundleRecord(record) }));

    const exportedCheckpoints = trail.checkpoints().filter(({ checkpoint }) => checkpoint.tree_size >= fromSeq && checkpoint.tree_size <= toSeq);
    const checkpointLines: AttestedEvent[] = [];
    for (const { checkpoint, revision } of exportedCheckpoints) {
      const [event] = yield* store.readStream(CHECKPOINT_STREAM, { fromRevision: revision, limit: 1 });
      const line = event === undefined ? undefined : yield* attested(event);
      if (line === undefined) return refuse(`${checkpoint.batch_id}'s CheckpointSealed event has no audit record yet; export again in a moment`);
      checkpointLines.push(line);
    }

    // An anchoring event travels once its own audit record exists.
    const anchorLines: AttestedEvent[] = [];
    for (const { checkpoint } of exportedCheckpoints) {
      for (const event of yield* store.readStream(anchorStream(checkpoint.batch_id), { limit: 1000 })) {
        if (!ANCHOR_EVENT_TYPES.has(event.type)) continue;
        const line = yield* attested(event);
        if (line !== undefined) anchorLines.push(line);
      }
    }

    const signers = new Set([...records, ...checkpointLines.map((l) => l.record), ...anchorLines.map((l) => l.record)].map((r) => r.key_id));
    const keys: BundleKey[] = [];
    for (const keyId of [...signers].sort()) {
      const publicKey = options.auditKeys.get(keyId);
      if (publicKey === undefined) return refuse(`records are signed by audit key ${keyId}, which is not among the keys given (--keys)`);
      keys.push({ key_id: keyId, use: "audit", alg: "Ed25519", public_key: encodeBase64Url(publicKey) });
    }

    const manifest: BundleManifest = {
      format: AUDIT_BUNDLE_FORMAT,
      from_seq: fromSeq,
      to_seq: toSeq,
      tree_prefix: { size: fromSeq - 1, compact_range: compactRange.map(bytesToHex) },
    };
    const bytes = writeTar([
      { name: BUNDLE_PARTS.manifest, content: jsonPart(manifest) },
      { name: BUNDLE_PARTS.keys, content: jsonPart({ keys }) },
      { name: BUNDLE_PARTS.records, content: jsonLinesPart(records.map(bundleRecord)) },
      { name: BUNDLE_PARTS.events, content: jsonLinesPart(events.map(hashedEventFields)) },
      { name: BUNDLE_PARTS.checkpoints, content: jsonLinesPart(checkpointLines) },
      { name: BUNDLE_PARTS.anchors, content: jsonLinesPart(anchorLines) },
    ]);
    return Either.right({ bytes, fromSeq, toSeq, events: events.length, checkpoints: checkpointLines.length, anchorEvents: anchorLines.length });
  });
}
