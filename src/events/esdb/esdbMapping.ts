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
import { EventStoreError, type ExpectedState, type JsonObject, type RecordedEvent } from "../EventStore.ts";
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
  UNKNOWN: "unknown" satisfies `${Client.ErrorType.UNKNOWN}`,
} as const;

// --- connection string -------------------------------------------------------------------

/**
 * Schemes the client parses, single node, seed list (`a:2113,b:2113,c:2113`) or DNS
 * discovery (`+discover`); `esdb` is rewritten to `kurrentdb`, which it no longer warns about.
 */
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

/** Whether `url` has one of the client's schemes (what it holds may still be refused). */
export function isEventStoreDbUrl(url: string): boolean {
  return SCHEME.test(url);
}

/** The connection string to hand the client, or why it is refused; never echoes the string. */
export function clientConnectionString(url: string): { readonly connectionString: string } | { readonly problem: string } {
  const scheme = SCHEME.exec(url);
  if (scheme === null) return { problem: "it must start with esdb://, kurrentdb:// or their +discover forms" };
  const query = url.indexOf("?");
  if (query !== -1) {
    for (const pair of url.slice(query + 1).split("&")) {
      if (pair.length === 0) continue;
      const [key = "", value = ""] = pair.split("=", 2);
      if (!CLIENT_OPTION_KEYS.has(flatKey(key))) {
        // A key is named only when it looks like one: a malformed string may put a secret there.
        return { problem: /^[A-Za-z_-]{1,40}$/.test(key) ? `unknown option "${key}"` : "an option key that does not parse" };
      }
      // With throwOnAppendFailure=false the client's batch append reports a wrong-expected-version
      // as success: false with nextExpectedRevision = BigInt(hasCurrentStreamRevision()), a boolean
      // (@kurrent/kurrentdb-client 1.3.1, dist/streams/appendToStream/batchAppend.js).
      if (flatKey(key) === "throwonappendfailure" && value.trim().toLowerCase() !== "true") {
        return { problem: "throwOnAppendFailure=false is not supported (the client then misreports the stream's revision)" };
      }
    }
  }
  const protocol = (scheme[1] ?? "").toLowerCase() === "esdb" ? "kurrentdb" : (scheme[1] ?? "").toLowerCase();
  return { connectionString: `${protocol}${(scheme[2] ?? "").toLowerCase()}://${url.slice(scheme[0].length)}` };
}

// --- stream prefix -------------------------------------------------------------------------

/**
 * This store's streams on the server are the port's stream names behind a prefix, so that
 * `$all` reads and subscriptions can ask the server for this application's events only
 * (a stream-name prefix filter): other applications' events in the same database are
 * never read, decoded or chained. Dot-separated by default (`zt.decision-…`), which keeps
 * the server's `$by_category` categories meaningful (`zt.decision`).
 */
export const DEFAULT_STREAM_PREFIX = "zt.";

/** Why a stream prefix cannot be used, or undefined. */
export function streamPrefixProblem(prefix: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(prefix)) {
    return "the stream prefix must be 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit";
  }
  return undefined;
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
const GRPC_ABORTED = 10;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

/**
 * Texts of failures that prove the request never reached a node that could write it:
 * grpc-js could not pick a connection ("No connection established", load-balancer-pick-first.js
 * and picker.js), or the node refused it before writing (ClientMessage.NotHandled: NotReady,
 * TooBusy; KurrentDB RpcExceptions.ServerNotReady/ServerBusy and the batch append's
 * "Server Is Busy"). Read to classify only; never repeated.
 */
const NOT_SENT = /No connection established|Server Is Not Ready|Server Is (Too )?Busy/;
/**
 * KurrentDB refuses an event over its maximum event size with InvalidArgument and the
 * exception key `maximum-append-event-size-exceeded` (RpcExceptions.MaxAppendEventSizeExceeded),
 * which the client does not know: it arrives as an UnknownError with code 3, or, from a
 * batch append, with the server's text in the message.
 */
const EVENT_TOO_LARGE = /exceeds Maximum Append Event Size/;

const UNAVAILABLE_TEXT = "the server is unavailable";
const NOT_SENT_TEXT = "the server could not be reached or refused the request before writing (not ready, busy)";
const DEADLINE_TEXT = "the deadline was exceeded";
const CANCELLED_TEXT = "the call was cancelled (is the server shutting down?)";
const WRITE_TIMEOUT_TEXT = "the server did not confirm the write in time; it may still commit";
const WRITE_LOST_TEXT = "the connection was lost during the write; it may still commit";

function accessDeniedText(operation: Operation): string {
  switch (operation) {
    case "readAll":
    case "subscribeAll":
      return "access denied: the user may not read $all (grant it read on $all; see docs/operators.md, EventStoreDB / KurrentDB)";
    case "append":
      return "access denied: the user may not write this stream (check the credentials and the stream ACL)";
    default:
      return "access denied (check the connection string's credentials and the stream ACL)";
  }
}

function messageOf(error: object): string {
  return "message" in error && typeof error.message === "string" ? error.message : "";
}

/**
 * The error boundary: what the client throws or emits becomes an EventStoreError reason,
 * as the server means it. The client throws its CommandError classes (told apart by
 * `type`, with the gRPC `code` when it converted one) and, from some calls (appends), raw
 * gRPC errors (numeric `code` only). An append that may have reached the server and got no
 * definite answer (a write timeout: the client's DeadlineExceeded/Timeout, or the unary
 * append's ABORTED "Operation timed out", RpcExceptions.Timeout; a connection lost in
 * flight; a cancelled call) is `unknown_outcome`; the same failure on a read is `unavailable`.
 */
export function translateClientError(operation: Operation, stream: string | undefined, error: unknown): EventStoreError {
  const withStream = stream === undefined ? {} : { stream };
  const failure = (reason: EventStoreError["reason"], detail: string) =>
    new EventStoreError({ reason, message: `EventStoreDB ${operation} failed: ${detail}`, ...withStream });
  const writing = operation === "append";
  const inFlight = (detail: string, readDetail: string) => (writing ? failure("unknown_outcome", detail) : failure("unavailable", readDetail));
  if (typeof error === "string") return failure("corrupt", "the client could not decode a recorded event");
  if (typeof error !== "object" || error === null) return failure("unavailable", "unexpected client failure");
  const type = "type" in error && typeof error.type === "string" ? error.type : undefined;
  const code = "code" in error && typeof error.code === "number" ? error.code : undefined;
  const notSent = NOT_SENT.test(messageOf(error));
  switch (type) {
    case undefined:
      break;
    case ErrorType.WRONG_EXPECTED_VERSION: {
      const expected = "expectedState" in error ? describeExpected(error.expectedState) : "another state";
      const current = "actualState" in error ? describeCurrent(error.actualState) : "the stream is in another state";
      return new EventStoreError({ reason: "wrong_expected_version", message: `expected ${expected} but ${current}`, ...withStream });
    }
    case ErrorType.UNAVAILABLE:
      return notSent ? failure("unavailable", NOT_SENT_TEXT) : inFlight(WRITE_LOST_TEXT, UNAVAILABLE_TEXT);
    case ErrorType.DEADLINE_EXCEEDED:
    case ErrorType.TIMEOUT:
      return inFlight(WRITE_TIMEOUT_TEXT, DEADLINE_TEXT);
    case ErrorType.CANCELLED:
      return inFlight(WRITE_LOST_TEXT, CANCELLED_TEXT);
    case ErrorType.NOT_LEADER:
      // The node refused the call before doing anything; the client now points at the leader.
      return failure("unavailable", "the node is not the leader");
    case ErrorType.ACCESS_DENIED:
      return failure("unavailable", accessDeniedText(operation));
    case ErrorType.STREAM_DELETED:
    case ErrorType.STREAM_TOMBSTONED:
      // The port has no deletion: an operator deleted the stream in the server.
      return writing
        ? new EventStoreError({ reason: "wrong_expected_version", message: "the stream was deleted in EventStoreDB", ...withStream })
        : failure("corrupt", "the stream was deleted in EventStoreDB");
    case ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED:
    case ErrorType.APPEND_RECORD_SIZE_EXCEEDED:
    case ErrorType.TRANSACTION_MAX_SIZE_EXCEEDED:
      return failure("invalid_event", "the batch exceeds the server's maximum append size");
    case ErrorType.INVALID_ARGUMENT:
      return writing ? failure("invalid_event", "the server refused the events") : failure("unavailable", "the server refused the request");
    case ErrorType.UNKNOWN:
      // The client's catch-all keeps the gRPC code it could not place.
      if (writing && (code === GRPC_INVALID_ARGUMENT || EVENT_TOO_LARGE.test(messageOf(error)))) {
        return failure("invalid_event", "an event exceeds the server's maximum event size");
      }
      if (code === GRPC_ABORTED) return inFlight(WRITE_TIMEOUT_TEXT, DEADLINE_TEXT);
      if (notSent) return failure("unavailable", NOT_SENT_TEXT);
      return failure("unavailable", "unexpected EventStoreDB error (unknown)");
    default:
      return failure("unavailable", `unexpected EventStoreDB error (${type})`);
  }
  switch (code) {
    case GRPC_UNAVAILABLE:
      return notSent ? failure("unavailable", NOT_SENT_TEXT) : inFlight(WRITE_LOST_TEXT, UNAVAILABLE_TEXT);
    case GRPC_DEADLINE_EXCEEDED:
    case GRPC_ABORTED:
      return inFlight(WRITE_TIMEOUT_TEXT, DEADLINE_TEXT);
    case GRPC_CANCELLED:
      return inFlight(WRITE_LOST_TEXT, CANCELLED_TEXT);
    case GRPC_PERMISSION_DENIED:
    case GRPC_UNAUTHENTICATED:
      return failure("unavailable", accessDeniedText(operation));
    case GRPC_RESOURCE_EXHAUSTED:
      return failure("unavailable", "the server is out of resources");
    case GRPC_INVALID_ARGUMENT:
      return writing ? failure("invalid_event", "the server refused the events") : failure("unavailable", "the server refused the request");
    case undefined:
      return failure("unavailable", "unexpected client error");
    default:
      return failure("unavailable", `unexpected gRPC status ${code}`);
  }
}

/** The node answered NotLeader: the client has switched to the leader it named, so the call can be made again at once. */
export function isNotLeader(error: unknown): boolean {
  return typeof error === "object" && error !== null && "type" in error && error.type === ErrorType.NOT_LEADER;
}

export function isStreamNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && "type" in error && error.type === ErrorType.STREAM_NOT_FOUND;
}

// --- event validation (beyond encodeEventBatch) --------------------------------------------

const LOWERCASE_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NIL_UUID = "00000000-0000-0000-0000-000000000000";

/**
 * What this server cannot store as the port means it, for a batch `encodeEventBatch`
 * accepted. The server would store an id twice in one append, and would take `$` types
 * for system events, which no `$all` read of this store returns.
 */
export function esdbBatchProblem(events: ReadonlyArray<Pick<EncodedEvent, "id" | "type">>): string | undefined {
  const seen = new Set<string>();
  for (const [index, event] of events.entries()) {
    const at = `event ${index + 1} of ${events.length}`;
    if (!LOWERCASE_UUID.test(event.id) || event.id === NIL_UUID) return `${at}: id must be a lowercase UUID other than the nil UUID`;
    if (seen.has(event.id)) return `${at}: its id is already used earlier in the batch`;
    seen.add(event.id);
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
  /** Not an event this port wrote (outside the stream prefix, system, binary or non-object JSON): skipped in `$all`. */
  | { readonly foreign: string }
  | { readonly corrupt: string };

/**
 * Decodes one recorded event of a stream behind `prefix` into the port's form (the stream
 * name without the prefix); messages name it by revision, never its content.
 */
export function decodeClientEvent(recorded: ClientEvent, prefix: string): Decoded {
  const revision = typeof recorded.revision === "bigint" && recorded.revision <= MAX_SAFE ? Number(recorded.revision) : undefined;
  if (revision === undefined || revision < 0) return { corrupt: "an event has no valid revision" };
  const at = `event at revision ${revision}`;
  const position = recorded.position === undefined ? undefined : toPortPosition(recorded.position.commit);
  if (position === undefined) return { corrupt: `${at} has no usable $all position (EventStoreDB before 22.6 reports none on stream reads)` };
  if (typeof recorded.streamId !== "string" || !recorded.streamId.startsWith(prefix)) return { foreign: `${at} is in a stream outside this store's prefix` };
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
      stream: recorded.streamId.slice(prefix.length),
      revision,
      position,
      data: recorded.data as JsonObject,
      metadata: metadata as JsonObject,
      recordedAt: recorded.created.toISOString(),
    },
  };
}

// --- appends ----------------------------------------------------------------------------------

/** What the client reports for an append (`success: false` only with `throwOnAppendFailure=false`, which is refused). */
export interface ClientAppendResult {
  readonly success: boolean;
  readonly nextExpectedRevision: bigint;
  readonly position?: Position | undefined;
}

/**
 * The port's result for a reported append: the last revision, and its commit position
 * when the server reported a usable one. A fresh append and an idempotent replay (the
 * events already at this place in the stream: the server answers with the original
 * revision and position, KurrentDB IndexWriter.CheckCommit `CommitDecision.Idempotent`)
 * look the same here, as the port wants. A replay whose original position the server did
 * not find reports none (position -1, `NoPosition`); the caller then reads it from the stream.
 */
export function appendOutcome(
  stream: string,
  expected: ExpectedState,
  result: ClientAppendResult,
): { readonly revision: number; readonly position: number | undefined } | EventStoreError {
  if (!result.success) {
    return new EventStoreError({ reason: "wrong_expected_version", message: `expected ${describeExpected(expected)} but the stream is in another state`, stream });
  }
  const revision = result.nextExpectedRevision >= 0n && result.nextExpectedRevision <= MAX_SAFE ? Number(result.nextExpectedRevision) : undefined;
  if (revision === undefined) {
    return new EventStoreError({ reason: "corrupt", message: "EventStoreDB append succeeded without a usable revision", stream });
  }
  const commit = result.position?.commit;
  return { revision, position: commit === undefined ? undefined : toPortPosition(commit) };
}
