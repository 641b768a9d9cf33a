/**
 * The AuditLog port: where the audit projection keeps its signed records, and the lease
 * that lets only one projection writer run when several service instances share a
 * store. Records are a projection of the event log: they can be dropped and rebuilt
 * from the events and the audit key, byte for byte.
 */
import { Context, Data, type Effect } from "effect";
import type { AuditRecord } from "./AuditRecord.ts";

export type AuditLogErrorReason =
  /** The storage cannot be reached or cannot commit; nothing is known to be written. */
  | "unavailable"
  /** Another writer moved the chain head; nothing was written. */
  | "conflict"
  /** What the storage returned cannot be decoded. */
  | "corrupt";

export class AuditLogError extends Data.TaggedError("AuditLogError")<{
  readonly reason: AuditLogErrorReason;
  readonly message: string;
}> {
  get isRetryable(): boolean {
    return this.reason !== "corrupt";
  }
}

export interface AuditLogShape {
  /** The last record, or undefined when nothing has been projected yet. */
  readonly head: Effect.Effect<AuditRecord | undefined, AuditLogError>;
  /** Appends records with consecutive seqs after `expectedHeadSeq`, atomically; `conflict` if the head moved. */
  readonly append: (records: ReadonlyArray<AuditRecord>, expectedHeadSeq: number) => Effect.Effect<void, AuditLogError>;
  /** Records with seq > `afterSeq` in order, at most `limit` (default 1000, max 10000). */
  readonly read: (options: { readonly afterSeq: number; readonly limit?: number }) => Effect.Effect<ReadonlyArray<AuditRecord>, AuditLogError>;
  /** The record of one event. */
  readonly byEventId: (eventId: string) => Effect.Effect<AuditRecord | undefined, AuditLogError>;
  /**
   * Takes or renews the projection-writer lease for `ttlMs` from `now`. True when `owner`
   * holds it afterwards; false while another owner's lease is unexpired.
   */
  readonly acquireLease: (owner: string, now: number, ttlMs: number) => Effect.Effect<boolean, AuditLogError>;
  /** Gives the lease up so another instance can take over at once. */
  readonly releaseLease: (owner: string) => Effect.Effect<void, AuditLogError>;
}

export class AuditLog extends Context.Tag("zt/AuditLog")<AuditLog, AuditLogShape>() {}
