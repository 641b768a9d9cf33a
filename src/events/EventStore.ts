/**
 * The EventStore port: an append-only log of immutable events, grouped in streams and
 * totally ordered by a global position. Every decision, nonce consumption, snapshot and
 * (later) execution and anchor is an event here; everything else is a projection.
 *
 * Semantics follow EventStoreDB so that its adapter can implement the same port:
 * optimistic concurrency through the expected stream state, per-stream revisions from
 * 0, a global order (`position`, strictly increasing, starting at 1 here).
 */
import { Context, Data, type Effect, type Stream } from "effect";

/** A JSON object as stored: no undefined, NaN, Infinity, bigint or lone surrogates. */
export type JsonValue = null | boolean | number | string | ReadonlyArray<JsonValue> | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

/**
 * What the writer expects of the stream before its append:
 * - `any`: no check;
 * - `no_stream`: the stream must not exist (how single-use nonces are consumed);
 * - `stream_exists`: the stream must hold at least one event;
 * - `{ revision }`: the stream's last event has exactly this revision.
 */
export type ExpectedState = "any" | "no_stream" | "stream_exists" | { readonly revision: number };

export interface NewEvent {
  /**
   * Event id (UUID), fresh for every new event. What a store does with an id it already
   * holds differs by adapter: SQLite refuses it anywhere in the store (`invalid_event`);
   * EventStoreDB answers a repeat of a stream's own events at the same place as an
   * idempotent replay (success with the original revision and position, nothing
   * written) and accepts an id already used in another stream.
   */
  readonly id: string;
  /** Versioned type name, e.g. `ActionDecided.v1`. */
  readonly type: string;
  readonly data: JsonObject;
  readonly metadata?: JsonObject;
}

export interface RecordedEvent {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  /** Position within its stream, from 0. */
  readonly revision: number;
  /** Position in the global order, from 1, strictly increasing. */
  readonly position: number;
  readonly data: JsonObject;
  readonly metadata: JsonObject;
  /** When the store committed it, RFC 3339 UTC with milliseconds. */
  readonly recordedAt: string;
}

/** How an append is answered. */
export interface AppendOptions {
  /**
   * Answer once committed, without waiting for the commit's own sync: for an append whose
   * only consequence before a later durable append of the same process is that later
   * append (a budget charge before its decision). SQLite answers right after the commit;
   * the write-ahead log is synced in order, so the later append's sync covers this one,
   * and a crash before it loses both or neither (a process crash loses neither:
   * `synchronous=NORMAL` keeps committed transactions). EventStoreDB answers when the
   * append is durable, as always.
   */
  readonly answerOnCommit?: boolean;
}

/** One stream's part of an `appendMany`. */
export interface StreamAppend {
  readonly stream: string;
  readonly events: ReadonlyArray<NewEvent>;
  readonly expected: ExpectedState;
}

export interface AppendResult {
  /** Revision of the last event appended. */
  readonly revision: number;
  /** Global position of the last event appended. */
  readonly position: number;
}

export type EventStoreErrorReason =
  /** The stream is not in the expected state; nothing was appended. */
  | "wrong_expected_version"
  /** The store cannot be reached or cannot commit durably; nothing was appended. */
  | "unavailable"
  /**
   * The store did not say whether the append committed (a write timeout, a connection
   * lost mid-call): it may still commit later. Appending the very same events again (same
   * ids, same expected state) settles it, since the store answers a replay with the
   * original result. The EventStoreDB adapter does that itself until the server answers,
   * so `append` never ends with this reason; it names what one attempt saw.
   */
  | "unknown_outcome"
  /** The events themselves are unacceptable (not JSON, duplicate id, empty batch). */
  | "invalid_event"
  /** What the store returned cannot be decoded. */
  | "corrupt";

export class EventStoreError extends Data.TaggedError("EventStoreError")<{
  readonly reason: EventStoreErrorReason;
  readonly message: string;
  readonly stream?: string;
}> {
  get isRetryable(): boolean {
    return this.reason === "unavailable" || this.reason === "unknown_outcome";
  }
}

export interface EventStoreShape {
  /**
   * Appends events atomically to one stream if it is in the expected state; durable when
   * it succeeds. An append whose outcome the store left open is settled before this
   * returns (see `unknown_outcome`), so success and failure both say what the log holds.
   */
  readonly append: (
    stream: string,
    events: ReadonlyArray<NewEvent>,
    expected: ExpectedState,
    options?: AppendOptions,
  ) => Effect.Effect<AppendResult, EventStoreError>;
  /**
   * Appends to several streams, in order, each if it is in its expected state; durable when
   * it succeeds, with each append's result in order. A refusal names the refused stream
   * (`stream` of the error). SQLite commits them together, all or none (one commit, one
   * sync: the decision path spends a nonce and records the decision this way). The
   * EventStoreDB adapter appends them one after the other and stops at the first
   * refusal: the appends before it stay.
   */
  readonly appendMany: (appends: ReadonlyArray<StreamAppend>) => Effect.Effect<ReadonlyArray<AppendResult>, EventStoreError>;
  /** Reads a stream in revision order from `fromRevision` (default 0); an absent stream reads as empty. */
  readonly readStream: (
    stream: string,
    options?: { readonly fromRevision?: number; readonly limit?: number },
  ) => Effect.Effect<ReadonlyArray<RecordedEvent>, EventStoreError>;
  /** Reads the global order after position `after` (default 0, i.e. from the start), at most `limit` events. */
  readonly readAll: (
    options?: { readonly after?: number; readonly limit?: number },
  ) => Effect.Effect<ReadonlyArray<RecordedEvent>, EventStoreError>;
  /** Every event after `after` in global order, then new ones as they are committed; never ends by itself. */
  readonly subscribeAll: (
    options?: { readonly after?: number },
  ) => Stream.Stream<RecordedEvent, EventStoreError>;
  /** Succeeds when the store can serve reads and writes (readiness). */
  readonly ping: Effect.Effect<void, EventStoreError>;
}

export class EventStore extends Context.Tag("zt/EventStore")<EventStore, EventStoreShape>() {}
