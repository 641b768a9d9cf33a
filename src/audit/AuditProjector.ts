/**
 * The audit projection writer. It holds the projection lease, follows the event store
 * from the last projected position, appends one signed record per event (atomically
 * with the head check, so a crash or a restart leaves no gap and no duplicate) and
 * seals a checkpoint after `checkpointRecords` new records or `checkpointMs`, whichever
 * comes first. Exactly one writer runs per store: others wait for the lease.
 *
 * Nothing an event holds can stop it (contract section 7): hashing is total (an event
 * that cannot be canonicalised is chained with a stand-in hash and logged, and `zt audit
 * verify` fails there), and the writer is supervised: any failure or defect is logged,
 * the writer is restarted after a backoff (1 s doubling to 30 s, reset by progress), and
 * its state reads `restarting` meanwhile, which `/readyz` answers with 503.
 */
import { Cause, Clock, Context, Duration, Effect, Fiber, Layer, Schedule, Stream } from "effect";
import { EventStore, type EventStoreError, type EventStoreShape, type JsonObject, type RecordedEvent } from "../events/EventStore.ts";
import { formatRfc3339Millis } from "../kernel/timestamp.ts";
import { Ids } from "../platform/Ids.ts";
import { Metrics, type MetricsShape } from "../platform/Metrics.ts";
import { chainRecord, EMPTY_CHAIN, signedBytes, type AuditRecord, type AuditSigner, type ChainHead, type UnsignedRecord } from "./AuditRecord.ts";
import { encodeSignature, makeWebCryptoSigner } from "../kernel/ed25519.ts";
import { AuditLog, type AuditLogError, type AuditLogShape } from "./AuditLog.ts";
import { AuditTrail } from "./AuditTrail.ts";
import { CHECKPOINT_SEALED, CHECKPOINT_STREAM, sealCheckpoint } from "./Checkpoint.ts";

export interface AuditProjectorOptions {
  readonly signer: AuditSigner;
  readonly checkpointRecords: number;
  readonly checkpointMs: number;
  /** Who holds the lease (host, pid, random), for operators reading the lease table. */
  readonly owner: string;
  /**
   * Event types that are chained like every event but never make a checkpoint due by
   * themselves (besides CheckpointSealed.v1): the progress of what follows checkpoints,
   * such as anchoring, which would otherwise seal a new checkpoint needing an anchor,
   * forever. The next seal covers them.
   */
  readonly nonSealingEventTypes?: ReadonlySet<string>;
  readonly leaseTtlMs?: number;
}

/**
 * What the writer is doing: `starting` (before its first lease attempt), `standby`
 * (another instance holds the lease and writes), `running` (it holds the lease and
 * projects), `restarting` (it failed and waits to start again; `reason` says why).
 */
export type WriterState =
  | { readonly state: "starting" | "standby" | "running" }
  | { readonly state: "restarting"; readonly reason: string; readonly since: string; readonly failures: number };

export interface ProjectionStatus {
  /** Global position of the last projected event (0 before the first). */
  readonly projectedPosition: number;
  readonly headSeq: number;
  /** Events in the store not yet projected (counted up to 10000). */
  readonly lag: number;
  readonly leaseHeld: boolean;
  readonly writer: WriterState;
}

/** Whether a writer in this state keeps the audit trail going (or another instance does). */
export function writerHealthy(writer: WriterState): boolean {
  return writer.state !== "restarting";
}

/** How long the writer waits before its `failures`-th restart: 1 s doubling, capped at 30 s. */
export function writerRestartDelayMs(failures: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.min(Math.max(failures - 1, 0), 5));
}

export interface AuditProjectorShape {
  readonly status: Effect.Effect<ProjectionStatus, EventStoreError | AuditLogError>;
}

export class AuditProjector extends Context.Tag("zt/AuditProjector")<AuditProjector, AuditProjectorShape>() {}

const BATCH = 500;

/** Where the projection stands, read from the store and the audit log; updates the lag gauge. */
export function projectionStatus(
  services: { readonly store: EventStoreShape; readonly log: AuditLogShape; readonly metrics: MetricsShape },
  writer: () => WriterState,
): Effect.Effect<ProjectionStatus, EventStoreError | AuditLogError> {
  return Effect.gen(function* () {
    const head = yield* services.log.head;
    const projectedPosition = head?.position ?? 0;
    const pending = yield* services.store.readAll({ after: projectedPosition, limit: 10_000 });
    services.metrics.auditLag.set(pending.length);
    const state = writer();
    services.metrics.auditWriterUp.set(writerHealthy(state) ? 1 : 0);
    return { projectedPosition, headSeq: head?.seq ?? 0, lag: pending.length, leaseHeld: state.state === "running", writer: state };
  });
}

/** Runs the projection writer for the layer's lifetime (a scoped background fiber). */
export function auditProjectorLayer(options: AuditProjectorOptions): Layer.Layer<AuditProjector, never, EventStore | AuditLog | AuditTrail | Ids | Metrics> {
  return Layer.scoped(
    AuditProjector,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const log = yield* AuditLog;
      const trail = yield* AuditTrail;
      const metrics = yield* Metrics;
      const signRecord = makeWebCryptoSigner(options.signer.seed);
      const leaseTtlMs = options.leaseTtlMs ?? 15_000;
      const nonSealing = options.nonSealingEventTypes ?? new Set<string>();
      /** Whether a record makes a checkpoint due. */
      const triggersSeal = (eventType: string) => eventType !== CHECKPOINT_SEALED && !nonSealing.has(eventType);
      let writerState: WriterState = { state: "starting" };
      let failures = 0;

      /** Seals a checkpoint over every record so far if any record after the last checkpoint makes one due (triggersSeal). */
      const sealIfDue = (force: boolean) =>
        Effect.gen(function* () {
          yield* trail.sync;
          const tree = trail.tree();
          const sealed = trail.checkpoints();
          const lastSize = sealed.at(-1)?.checkpoint.tree_size ?? 0;
          if (tree.size <= lastSize) return;
          // Counted page by page: records that do not trigger a seal (anchor retries while a
          // chain is down) may pile up ahead of the ones that do.
          const needed = force ? 1 : options.checkpointRecords;
          let substantive = 0;
          for (let after = lastSize; substantive < needed && after < tree.size; ) {
            const page = yield* log.read({ afterSeq: after, limit: 1000 });
            const last = page.at(-1);
            if (last === undefined) break;
            substantive += page.filter((record) => triggersSeal(record.event_type)).length;
            after = last.seq;
          }
          if (substantive < needed) return;
          const now = yield* Clock.currentTimeMillis;
          const root = tree.root(tree.size);
          if (root === undefined) return;
          const checkpoint = sealCheckpoint({ ordinal: sealed.length + 1, treeSize: tree.size, root, signer: options.signer, sealedAt: formatRfc3339Millis(now) });
          const lastRevision = sealed.at(-1)?.revision;
          const eventId = yield* Effect.flatMap(Ids, (ids) => ids.uuid);
          yield* store
            .append(CHECKPOINT_STREAM, [{ id: eventId, type: CHECKPOINT_SEALED, data: checkpoint as unknown as JsonObject }], lastRevision === undefined ? "no_stream" : { revision: lastRevision })
            .pipe(
              Effect.tap(() => Effect.sync(() => metrics.checkpoints.inc())),
              Effect.catchIf((error) => error.reason === "wrong_expected_version", () => Effect.void),
            );
          yield* trail.sync;
        });

      /** Projects one batch of events after the current head. */
      const project = (events: ReadonlyArray<RecordedEvent>) =>
        Effect.gen(function* () {
          const head = yield* log.head;
          let chain: ChainHead = head ?? EMPTY_CHAIN;
          const fresh = events.filter((event) => event.position > (head?.position ?? 0));
          if (fresh.length === 0) return;
          const unsigned: UnsignedRecord[] = [];
          for (const event of fresh) {
            const { eventHash, ...record } = chainRecord(chain, event, options.signer.keyId);
            if (!eventHash.ok) {
              metrics.unhashableEvents.inc();
              yield* Effect.logError("an event cannot be canonicalised; chained with the stand-in hash, and zt audit verify will fail here").pipe(
                Effect.annotateLogs({ position: event.position, event_id: event.id, event_type: event.type, reason: eventHash.reason }),
              );
            }
            unsigned.push(record);
            chain = record;
          }
          const records: AuditRecord[] = yield* Effect.promise(() =>
            Promise.all(unsigned.map(async (record) => ({ ...record, signature: encodeSignature(await signRecord(signedBytes(record))) }))),
          );
          yield* log.append(records, head?.seq ?? 0);
          metrics.auditRecords.inc({}, records.length);
          failures = 0;
          yield* sealIfDue(false);
          // Signing a batch is CPU-bound and Effect resumes fibers on microtasks, so a
          // catch-up over a long backlog would otherwise starve the event loop (HTTP
          // requests, the lease keeper's timer) until it is done: give it a turn per batch.
          yield* Effect.sleep(Duration.zero);
        });

      const runWhileLeased = Effect.gen(function* () {
        const head = yield* log.head;
        yield* store.subscribeAll({ after: head?.position ?? 0 }).pipe(
          Stream.groupedWithin(BATCH, Duration.millis(20)),
          Stream.runForEach((chunk) => project([...chunk])),
        );
      });

      const holdLease = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis;
        const held = yield* log.acquireLease(options.owner, now, leaseTtlMs);
        writerState = { state: held ? "running" : "standby" };
        return held;
      });

      // Lease keeper: renews at a third of the TTL; losing the lease ends the writer.
      const keepLease = holdLease.pipe(
        Effect.flatMap((held) => (held ? Effect.void : Effect.fail("lease lost" as const))),
        Effect.repeat(Schedule.spaced(Duration.millis(Math.max(100, Math.floor(leaseTtlMs / 3))))),
      );
      const status = projectionStatus({ store, log, metrics }, () => writerState);
      // The first timed seal comes checkpointMs after taking the lease, not at once: sealing
      // on every (re)start would make the chain depend on when the writer was restarted.
      const timedSeal = Effect.sleep(Duration.millis(options.checkpointMs)).pipe(
        Effect.zipRight(sealIfDue(true)),
        Effect.zipRight(status),
        Effect.forever,
      );

      const writer = Effect.gen(function* () {
        yield* holdLease.pipe(Effect.repeat({ until: (held) => held, schedule: Schedule.spaced(Duration.millis(Math.max(100, Math.floor(leaseTtlMs / 3)))) }));
        yield* Effect.logInfo("audit projection writer holds the lease").pipe(Effect.annotateLogs({ owner: options.owner }));
        // raceFirst: whichever ends first, by success or failure (a lost lease), stops the others.
        yield* runWhileLeased.pipe(Effect.raceFirst(keepLease), Effect.raceFirst(timedSeal));
      }).pipe(
        // Supervision: a lost lease hands over to the new holder; any other failure, and any
        // defect, is logged and the writer starts again after a backoff. Interruption (the
        // layer closing) is not caught.
        Effect.catchAllCause((cause) => {
          if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause);
          const failure = Cause.failureOption(cause);
          if (failure._tag === "Some" && failure.value === "lease lost") {
            writerState = { state: "standby" };
            return Effect.logWarning("audit projection writer lost its lease; waiting for it").pipe(Effect.zipRight(Effect.sleep(Duration.seconds(1))));
          }
          return Effect.gen(function* () {
            failures += 1;
            const reason = failure._tag === "Some" ? (typeof failure.value === "string" ? failure.value : failure.value.reason) : `defect: ${describeDefect(Cause.squash(cause))}`;
            writerState = { state: "restarting", reason, since: formatRfc3339Millis(yield* Clock.currentTimeMillis), failures };
            const delayMs = writerRestartDelayMs(failures);
            yield* Effect.logError("audit projection writer failed; restarting it").pipe(Effect.annotateLogs({ reason, failures, retry_in_ms: delayMs }));
            yield* log.releaseLease(options.owner).pipe(Effect.ignore);
            yield* Effect.sleep(Duration.millis(delayMs));
          });
        }),
        Effect.forever,
      );

      const fiber = yield* Effect.forkScoped(writer);
      yield* Effect.addFinalizer(() =>
        Fiber.interrupt(fiber).pipe(Effect.zipRight(log.releaseLease(options.owner).pipe(Effect.ignore))),
      );

      return { status };
    }),
  );
}

/** A defect's class and message, for the log: this project's messages name paths and reasons, never data. */
function describeDefect(defect: unknown): string {
  return defect instanceof Error ? `${defect.name}: ${defect.message}`.slice(0, 500) : "non-error thrown";
}
