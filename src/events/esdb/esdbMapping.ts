/**
 * The pure half of the EventStoreDB / KurrentDB adapter: how the port's values and the
 * client's values map onto each other, and how the client's errors become EventStoreError
 * reasons. It imports the client for types only, so it loads (and its tests run) where the
 * client's native addon does not, e.g. under Deno without `--allow-ffi`. The client's
 * constant values are restated here as literals typed against the client's declarations,
 * so a client that changed them would fail to typecheck.
 */
import type * as Client from "@kurrent/kurrentdb-client";
import type { AppendStreamState, Position, ReadPosition } from "@kurrent/kurrentdb-client";
import { EventStoreError, type AppendResult, type ExpectedState, type JsonObject, type RecordedEvent } from "../EventStore.ts";
import { isPlainObject, type EncodedEvent } from "../encodeEventBatch.ts";

export type Operation = "open" | "append" | "readStream" | "readAll" | "subscribeAll" | "ping";

const ANY: typeof Client.ANY = "any";
const NO_STREAM: typeof Client.NO_STREAM = "no_stream";
const STREAM_EXISTS: typeof Client.STREAM_EXISTS = "stream_exists";
const START: typeof Client.START = "start";

/** The client's `ErrorType` values this adapter tells apart (`CommandError.type`). */
const ErrorType = {
  WRONG_EXPECTED_VERSION: "wrong-expected-version" satisfies `${Client.ErrorType.WRONG_EXPECTED_VERSION}`,
  STREAM_NOT_FOUND: "stream-not-found" satisfies `${Client.ErrorType.STREAM_NOT_FOUND}`,
  UNAVAILABLE: "unavailable" satisfies `${Client.ErrorType.UNAVAILABLE}`,
  DEADLINE_EXCEEDED: "deadline-exceeded" satisfies `${Client.ErrorType.DEADLINE_EXCEEDED}`,
  TIMEOUT: "timeout" satisfies `${Client.ErrorType.TIMEOUT}`,
  CANCELLED: "cancelled" satisfies `${Client.ErrorType.CANCELLED}`,
  NOT_LEADER: "not-leader" satisfies `${Client.ErrorType.NOT_LEADER}`,
  ACCESS_DENIED: "access-denied" satisfies `${Client.ErrorType.ACCESS_DENIED}`,
  STREAM_DELETED: "stream-deleted" satisfies `${Client.ErrorType.STREAM_DELETED}`,
  STREAM_TOMBSTONED: "stream-tombstoned" satisfies `${Client.ErrorType.STREAM_TOMBSTONED}`,
  MAXIMUM_APPEND_SIZE_EXCEEDED: "maximum-append-size-exceeded" satisfies `${Client.ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED}`,
  APPEND_RECORD_SIZE_EXCEEDED: "append-record-size-exceeded" satisfies `${Client.ErrorType.APPEND_RECORD_SIZE_EXCEEDED}`,
  TRANSACTION_MAX_SIZE_EXCEEDED: "transaction-max-size-exceeded" satisfies `${Client.ErrorType.TRANSACTION_MAX_SIZE_EXCEEDED}`,
  INVALID_ARGUMENT: "invalid-argument" satisfies `${Client.ErrorType.INVALID_ARGUMENT}`,
} as const;

// --- connection string -------------------------------------------------------------------

/** Schemes the client parses; `esdb` is rewritten to `kurrentdb`, which it no longer warns about. */
const SCHEME = /^(esdb|kurrentdb|kurrent|kdb)(\+discover)?:\/\//i;

/**
 * Query keys the client knows (compared as it does: case-insensitive, `-` and `_`
 * ignored). The client prints a connection string with an unknown key to stderr,
 * credentials included, so such strings are refused here instead.
 */
const CLIENT_OPTION_KEYS: ReadonlySet<string> = new Set(
  [
    "connectionName",
    "defaultDeadline",
    "discoveryInterval",
    "gossipTimeout",
    "keepAliveInterval",
    "keepAliveTimeout",
    "maxDiscoverAttempts",
    "nodePreference",
    "throwOnAppendFailure",
    "tls",
    "tlsCAFile",
    "tlsVerifyCert",
    "userCertFile",
    "userKeyFile",
  ].map(flatKey),
);

function flatKey(key: string): string {
  return key.trim().toLowerCase().replace(/[_-]/g, "");
}

/** The connection string to hand the client, or why it is refused; never echoes the string. */
export function clientConnectionString(url: string): { readonly connectionString: string } | { readonly problem: string } {
  const scheme = SCHEME.exec(url);
  if (scheme === null) return { problem: "it must start with esdb:// or kurrentdb://" };
  const query = url.indexOf("?");
  if (query !== -1) {
    for (const pair of url.slice(query + 1).split("&")) {
      if (pair.length === 0) continue;
      const key = pair.split("=", 1)[0] ?? "";
      if (CLIENT_OPTION_KEYS.has(flatKey(key))) continue;
      // A key is named only when it looks like one: a malformed string may put a secret there.
      return { problem: /^[A-Za-z_-]{1,40}$/.test(key) ? `unknown option "${key}"` : "an option key that does not parse" };
    }
  }
  const protocol = (scheme[1] ?? "").toLowerCase() === "esdb" ? "kurrentdb" : (scheme[1] ?? "").toLowerCase();
  return { connectionString: `${protocol}${scheme[2] ?? ""}://${url.slice(scheme[0].length)}` };
}

// --- expected state ---------------------------------------------------------------------

/** The client's stream state for a port expected state; undefined for one no stream can be in. */
export function toStreamState(expected: ExpectedState): AppendStreamState | undefined {
  if (expected === "any") return ANY;
  if (expected === "no_stream") return NO_STREAM;
  if (expected === "stream_exists") return STREAM_EXISTS;
  if (typeof expected === "object" && expected !== null) {
    const { revision } = expected;
    if (Number.isSafeInteger(revision) && revision >= 0) return BigInt(revision);
  }
  return undefined;
}

export function describeExpected(expected: unknown): string {
  if (typeof expected === "bigint") return `revision ${expected}`;
  if (typeof expected === "object" && expected !== null && "revision" in expected) return `revision ${String(expected.revision)}`;
  return String(expected);
}

function describeCurrent(current: unknown): string {
  return typeof current === "bigint" && current >= 0n ? `the stream is at revision ${current}` : "the stream does not exist";
}

// --- positions ----------------------------------------------------------------------------

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A `$all` commit position (unsigned 64-bit) as the port's position; undefined when it is not one. */
export function toPortPosition(commit: bigint): number | undefined {
  return commit >= 1n && commit <= MAX_SAFE ? Number(commit) : undefined;
}

/** Where a forward `$all` read for "after `after`" starts: the start, or `after` itself (inclusive). */
export function readPositionFor(after: number): ReadPosition {
  return after === 0 ? START : { commit: BigInt(after), prepare: BigInt(after) };
}

/** Total order of `$all` positions: by commit, then prepare. */
export function isBeyond(position: Position, cursor: Position): boolean {
  return position.commit > cursor.commit || (position.commit === cursor.commit && position.prepare > cursor.prepare);
}

// --- client errors --------------------------------------------------------------------------

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) the client can reject with unconverted. */
const GRPC_CANCELLED = 1;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

const UNAVAILABLE_TEXT = "the server is unavailable";
const DEADLINE_TEXT = "the deadline was exceeded";
const CANCELLED_TEXT = "the call was cancelled (is the server shutting down?)";
const ACCESS_DENIED_TEXT = "access denied (check the connection string's credentials)";

/**
 * The error boundary: what the client throws or emits becomes an EventStoreError reason.
 * The client throws its CommandError classes (told apart by `type`) and, from some
 * calls (appends), raw gRPC errors (told apart by numeric `code`).
 */
export function translateClientError(operation: Operation, stream: string | undefined, error: unknown): EventStoreError {
  const withStream = stream === undefined ? {} : { stream };
  const failure = (reason: EventStoreError["reason"], detail: string) =>
    new EventStoreError({ reason, message: `EventStoreDB ${operation} failed: ${detail}`, ...withStream });
  if (typeof error === "string") return failure("corrupt", "the client could not decode a recorded event");
  if (typeof error !== "object" || error === null) return failure("unavailable", "unexpected client failure");
  const type = "type" in error && typeof error.type === "string" ? error.type : undefined;
  switch (type) {
    case undefined:
      break;
    case ErrorType.WRONG_EXPECTED_VERSION: {
      const expected = "expectedState" in error ? describeExpected(error.expectedState) : "another state";
      const current = "actualState" in error ? describeCurrent(error.actualState) : "the stream is in another state";
      return new EventStoreError({ reason: "wrong_expected_version", message: `expected ${expected} but ${current}`, ...withStream });
    }
    case ErrorType.UNAVAILABLE:
      return failure("unavailable", UNAVAILABLE_TEXT);
    case ErrorType.DEADLINE_EXCEEDED:
    case ErrorType.TIMEOUT:
      return failure("unavailable", DEADLINE_TEXT);
    case ErrorType.CANCELLED:
      return failure("unavailable", CANCELLED_TEXT);
    case ErrorType.NOT_LEADER:
      return failure("unavailable", "the node is not the leader");
    case ErrorType.ACCESS_DENIED:
      return failure("unavailable", ACCESS_DENIED_TEXT);
    case ErrorType.STREAM_DELETED:
    case ErrorType.STREAM_TOMBSTONED:
      // The port has no deletion: an operator deleted the stream in the server.
      return operation === "append"
        ? new EventStoreError({ reason: "wrong_expected_version", message: "the stream was deleted in EventStoreDB", ...withStream })
        : failure("corrupt", "the stream was deleted in EventStoreDB");
    case ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED:
    case ErrorType.APPEND_RECORD_SIZE_EXCEEDED:
    case ErrorType.TRANSACTION_MAX_SIZE_EXCEEDED:
      return failure("invalid_event", "the batch exceeds the server's maximum append size");
    case ErrorType.INVALID_ARGUMENT:
      return operation === "append" ? failure("invalid_event", "the server refused the events") : failure("unavailable", "the server refused the request");
    default:
      return failure("unavailable", `unexpected EventStoreDB error (${type})`);
  }
  const code = "code" in error && typeof error.code === "number" ? error.code : undefined;
  switch (code) {
    case GRPC_UNAVAILABLE:
      return failure("unavailable", UNAVAILABLE_TEXT);
    case GRPC_DEADLINE_EXCEEDED:
      return failure("unavailable", DEADLINE_TEXT);
    case GRPC_CANCELLED:
      return failure("unavailable", CANCELLED_TEXT);
    case GRPC_PERMISSION_DENIED:
    case GRPC_UNAUTHENTICATED:
      return failure("unavailable", ACCESS_DENIED_TEXT);
    case GRPC_RESOURCE_EXHAUSTED:
      return failure("unavailable", "the server is out of resources");
    case GRPC_INVALID_ARGUMENT:
      return operation === "append" ? failure("invalid_event", "the server refused the events") : failure("unavailable", "the server refused the request");
    case undefined:
      return failure("unavailable", "unexpected client error");
    default:
      return failure("unavailable", `unexpected gRPC status ${code}`);
  }
}

export function isStreamNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && "type" in error && error.type === ErrorType.STREAM_NOT_FOUND;
}

// --- event validation (beyond encodeEventBatch) --------------------------------------------

const LOWERCASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/** What this server cannot store as the port means it, for a batch `encodeEventBatch` accepted. */
export function esdbBatchProblem(stream: string, events: ReadonlyArray<Pick<EncodedEvent, "id" | "type">>): string | undefined {
  if (stream.startsWith("$")) return "stream names starting with $ are reserved for EventStoreDB system streams";
  for (const [index, event] of events.entries()) {
    const at = `event ${index + 1} of ${events.length}`;
    if (!LOWERCASE_UUID.test(event.id) || event.id === NIL_UUID) return `${at}: id must be a lowercase UUID other than the nil UUID`;
    if (event.type.startsWith("$")) return `${at}: types starting with $ are reserved for EventStoreDB system events`;
  }
  return undefined;
}

// --- recorded events -------------------------------------------------------------------------

/** The fields of the client's recorded event (from a stream read, a `$all` read or a subscription) this adapter reads. */
export interface ClientEvent {
  readonly streamId: string;
  readonly id: string;
  readonly type: string;
  readonly revision: bigint;
  readonly created: Date;
  readonly isJson: boolean;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly position?: Position | undefined;
}

export type Decoded =
  | { readonly event: RecordedEvent }
  /** Not an event this port wrote (system, binary or non-object JSON): skipped in `$all`. */
  | { readonly foreign: string }
  | { readonly corrupt: string };

/** Decodes one recorded event; messages name it by stream and revision, never its content. */
export function decodeClientEvent(recorded: ClientEvent): Decoded {
  const revision = typeof recorded.revision === "bigint" && recorded.revision <= MAX_SAFE ? Number(recorded.revision) : undefined;
  if (revision === undefined || revision < 0) return { corrupt: "an event has no valid revision" };
  const at = `event at revision ${revision}`;
  const position = recorded.position === undefined ? undefined : toPortPosition(recorded.position.commit);
  if (position === undefined) return { corrupt: `${at} has no usable $all position (EventStoreDB before 22.6 reports none on stream reads)` };
  if (typeof recorded.streamId !== "string" || recorded.streamId.startsWith("$")) return { foreign: `${at} is in a system stream` };
  if (typeof recorded.type !== "string" || recorded.type.length === 0 || recorded.type.startsWith("$")) return { foreign: `${at} is a system event` };
  if (recorded.isJson !== true) return { foreign: `${at} is not JSON` };
  if (!isPlainObject(recorded.data)) return { foreign: `${at} has data that is not a JSON object` };
  const metadata = recorded.metadata === undefined ? {} : recorded.metadata;
  if (!isPlainObject(metadata)) return { foreign: `${at} has metadata that is not a JSON object` };
  if (typeof recorded.id !== "string" || recorded.id.length === 0) return { corrupt: `${at} has no id` };
  if (!(recorded.created instanceof Date) || Number.isNaN(recorded.created.getTime())) return { corrupt: `${at} has no valid timestamp` };
  return {
    event: {
      id: recorded.id,
      type: recorded.type,
      stream: recorded.streamId,
      revision,
      position,
      data: recorded.data as JsonObject,
      metadata: metadata as JsonObject,
      recordedAt: recorded.created.toISOString(),
    },
  };
}

// --- appends ----------------------------------------------------------------------------------

/** What the client reports for an append (`success: false` only with `throwOnAppendFailure=false`). */
export interface ClientAppendResult {
  readonly success: boolean;
  readonly nextExpectedRevision: bigint;
  readonly position?: Position | undefined;
}

/**
 * The port's result for a reported append. `endBefore` is the commit position of the last
 * event in `$all` read just before the append: a fresh append lands beyond it, while an
 * idempotent replay reports the position its events were first written at (or, from
 * servers that predate that, no position at all).
 */
export function appendOutcome(
  stream: string,
  expected: ExpectedState,
  result: ClientAppendResult,
  endBefore: bigint,
): AppendResult | EventStoreError {
  if (!result.success) {
    return new EventStoreError({
      reason: "wrong_expected_version",
      message: `expected ${describeExpected(expected)} but ${describeCurrent(result.nextExpectedRevision)}`,
      stream,
    });
  }
  const commit = result.position?.commit;
  if (commit === undefined || commit <= endBefore) {
    return new EventStoreError({
      reason: "invalid_event",
      message: "an event id is already in the stream: EventStoreDB took the append as an idempotent replay and wrote nothing",
      stream,
    });
  }
  const position = toPortPosition(commit);
  const revision = result.nextExpectedRevision >= 0n && result.nextExpectedRevision <= MAX_SAFE ? Number(result.nextExpectedRevision) : undefined;
  if (position === undefined || revision === undefined) {
    return new EventStoreError({ reason: "corrupt", message: "EventStoreDB append succeeded without a usable revision and position", stream });
  }
  return { revision, position };
}
