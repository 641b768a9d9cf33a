/**
 * An in-memory stand-in for the KurrentDB client, at the client's boundary, for exercising
 * EsdbEventStore where no server runs. Each behaviour is the server's or the client's as
 * their sources have it (KurrentDB `src/KurrentDB.Core`, `@kurrent/kurrentdb-client` 1.3.1
 * `dist/`), so the adapter is checked against them rather than against its own assumptions:
 * - Commit positions are byte offsets: strictly increasing, not consecutive, starting at 0
 *   with the server's own events. A read of `$all` from a position includes the event
 *   there; one from inside a record is refused. A subscription starts after its position
 *   (catch-up positions are exclusive).
 * - Filters run on the server: stream-name prefixes (`streamNameFilter({ prefixes })`) and
 *   regexes.
 * - Idempotent replay (IndexWriter.CheckCommit): with `no_stream` or a revision, an append
 *   whose ids are already the stream's events at the place it names succeeds with the
 *   original revision and position and writes nothing; with `any`/`stream_exists` the
 *   server looks among recently written ids, here the whole stream. A batch that only
 *   partly matches is a wrong expected version (CorruptedIdempotency). Ids are not unique
 *   across streams.
 * - Write timeouts (`timeOutWrites`): the server writes the events but does not confirm
 *   them in time; the client's batch append reports the server's Timeout status as a
 *   DeadlineExceededError (appendToStream/unpackError.js). The events then commit late, or
 *   never (a leader deposed before replicating them). A repeat of a write still in flight
 *   is dropped by the server ("just drop the write and wait for the client to retry",
 *   StorageWriterService, CommitDecision.IdempotentNotReady): it times out too.
 * - Leadership (`role = "follower"`): a `requiresLeader` read is refused with NotLeader,
 *   naming the leader; the client then reconnects to that leader (Client.handleError,
 *   `nextEndpoint`), modelled by becoming the leader. Appends are forwarded by a
 *   follower, so they succeed.
 * - `$all` needs rights (`allReadsDenied`): its default ACL is `$admins`, so a plain user's
 *   `$all` reads and subscriptions are AccessDenied while its stream reads and appends work.
 * - Event size (`maxEventSize`): KurrentDB refuses a larger event with InvalidArgument and
 *   the exception key `maximum-append-event-size-exceeded` (RpcExceptions), which the
 *   client does not know: an UnknownError keeping code 3.
 * - Unreachable (`down`): appends reject with grpc-js's raw "14 UNAVAILABLE: No connection
 *   established" (nothing sent), reads with the bridge's UnavailableError. Hung (`hung`):
 *   no call ever answers, as a dead node before keep-alive notices.
 * - Errors have the client's shapes (`type` for CommandErrors, numeric `code` for raw
 *   gRPC); subscriptions emit errors without destroying themselves, as the client's do.
 */
import { Readable } from "node:stream";

interface Recorded {
  readonly streamId: string;
  readonly id: string;
  readonly type: string;
  readonly revision: bigint;
  readonly created: Date;
  readonly isJson: boolean;
  readonly data: unknown;
  readonly metadata: unknown;
  readonly position: { readonly commit: bigint; readonly prepare: bigint };
}

type Position = { readonly commit: bigint; readonly prepare: bigint };
type ReadFrom = "start" | "end" | Position;
interface Filter {
  readonly filterOn: string;
  readonly regex?: string;
  readonly prefixes?: ReadonlyArray<string>;
}
interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: unknown;
  readonly metadata?: unknown;
}
type StreamState = "any" | "no_stream" | "stream_exists" | bigint;

/** A write the server holds but has not confirmed. */
interface InFlight {
  readonly stream: string;
  readonly first: number;
  readonly events: ReadonlyArray<ProposedEvent>;
}

/** What one client call asked for, for assertions on round trips and leader use. */
export interface FakeCall {
  readonly method: "readAll" | "readStream" | "appendToStream" | "subscribeToAll";
  readonly stream?: string;
  readonly requiresLeader?: boolean;
}

const commandError = (type: string, extra: object = {}): Error => Object.assign(new Error(`fake ${type}`), { type, ...extra });
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const never = (): Promise<never> => new Promise<never>(() => undefined);
const decoder = new TextDecoder();

export const FAKE_LEADER = { address: "10.0.0.2", port: 2113 };

class FakeSubscription extends Readable {
  private readonly onClose: () => void;
  constructor(onClose: () => void) {
    super({ objectMode: true, read: () => undefined });
    this.onClose = onClose;
  }
  async unsubscribe(): Promise<void> {
    this.onClose();
    this.destroy();
  }
}

export class FakeEventStoreDB {
  readonly records: Array<Recorded> = [];
  private readonly boundaries = new Set<bigint>();
  private nextPosition = 0n;
  private readonly live = new Set<{ readonly push: (record: Recorded) => void; readonly subscription: FakeSubscription }>();
  private readonly inFlight: Array<InFlight> = [];
  private timeouts: { count: number; outcome: "late" | "lost"; afterMs: number } = { count: 0, outcome: "late", afterMs: 0 };
  /** When set, every call fails as an unreachable server does. */
  down = false;
  /** When set, no call answers. */
  hung = false;
  /** The node the client is connected to. */
  role: "leader" | "follower" = "leader";
  /** The user may not read `$all`. */
  allReadsDenied = false;
  /** The server's largest event, in bytes of data (unset: no limit). */
  maxEventSize: number | undefined;
  /** Calls seen, in order. */
  readonly calls: Array<FakeCall> = [];

  constructor() {
    // A fresh server's log starts with its own events, and other applications may write there.
    this.write("$stats-127.0.0.1:2113", "$statsCollected", true, { cpu: 1 }, {});
    this.write("legacy-binary", "Blob", false, new Uint8Array([1, 2, 3]), undefined);
    this.write("legacy-json", "Listed", true, [1, 2, 3], undefined);
    this.write("orders-7", "OrderPlaced", true, { amount: "10.00" }, {});
  }

  /** Appends one record as another writer would; returns it. */
  write(streamId: string, type: string, isJson: boolean, data: unknown, metadata: unknown): Recorded {
    const revision = BigInt(this.records.filter((record) => record.streamId === streamId).length);
    const position = { commit: this.nextPosition, prepare: this.nextPosition };
    const record: Recorded = { streamId, id: crypto.randomUUID(), type, revision, created: new Date(), isJson, data, metadata, position };
    return this.commit(record);
  }

  /** The next `count` appends are written but time out; they commit `afterMs` later (`late`) or never (`lost`). */
  timeOutWrites(count: number, outcome: "late" | "lost", afterMs = 0): void {
    this.timeouts = { count, outcome, afterMs };
  }

  get subscriptions(): number {
    return this.live.size;
  }

  /** Ends every live subscription as a server closing it would. */
  endSubscriptions(): void {
    for (const entry of this.live) entry.subscription.push(null);
  }

  /** Fails every live subscription as a dropped connection would (emitted, not destroyed, as the client does). */
  failSubscriptions(): void {
    for (const entry of this.live) entry.subscription.emit("error", commandError("unavailable"));
  }

  private commit(record: Recorded): Recorded {
    const size = 80n + BigInt(JSON.stringify(record.data instanceof Uint8Array ? [...record.data] : record.data).length);
    this.records.push(record);
    this.boundaries.add(record.position.commit);
    this.nextPosition = record.position.commit + size;
    for (const entry of this.live) entry.push(record);
    return record;
  }

  private refuseInvalid(from: ReadFrom): void {
    if (typeof from === "object" && from.commit < this.nextPosition && !this.boundaries.has(from.commit)) {
      throw commandError("unknown");
    }
  }

  private static matches(record: Recorded, filter: Filter | undefined): boolean {
    if (filter === undefined) return true;
    const subject = filter.filterOn === "eventType" ? record.type : record.streamId;
    if (filter.prefixes !== undefined) return filter.prefixes.some((prefix) => subject.startsWith(prefix));
    return filter.regex === undefined || new RegExp(filter.regex).test(subject);
  }

  /** What a read of the leader-only kind meets on a follower: NotLeader, after which the client talks to the leader. */
  private leaderCheck(requiresLeader: boolean | undefined): void {
    if (requiresLeader === true && this.role === "follower") {
      this.role = "leader";
      throw commandError("not-leader", { leader: FAKE_LEADER });
    }
  }

  private async answer(): Promise<void> {
    if (this.hung) await never();
    await tick();
  }

  readAll(options: { direction?: string; fromPosition?: ReadFrom; maxCount?: number | bigint; filter?: Filter; requiresLeader?: boolean } = {}): AsyncIterableIterator<{ event: Recorded }> {
    const { direction = "forwards", fromPosition = "start", maxCount = Number.MAX_SAFE_INTEGER, filter } = options;
    const fake = this;
    fake.calls.push({ method: "readAll", requiresLeader: options.requiresLeader === true });
    return (async function* () {
      await fake.answer();
      if (fake.down) throw commandError("unavailable");
      if (fake.allReadsDenied) throw commandError("access-denied");
      fake.leaderCheck(options.requiresLeader);
      fake.refuseInvalid(fromPosition);
      const forwards = direction === "forwards";
      let list = forwards ? [...fake.records] : [...fake.records].reverse();
      if (fromPosition === "end") list = forwards ? [] : list;
      else if (typeof fromPosition === "object") {
        list = list.filter((record) => (forwards ? record.position.commit >= fromPosition.commit : record.position.commit < fromPosition.commit));
      }
      list = list.filter((record) => FakeEventStoreDB.matches(record, filter)).slice(0, Number(maxCount));
      for (const record of list) yield { event: record };
    })();
  }

  readStream(stream: string, options: { fromRevision?: "start" | bigint; maxCount?: number | bigint; requiresLeader?: boolean } = {}): AsyncIterableIterator<{ event: Recorded }> {
    const { fromRevision = "start", maxCount = Number.MAX_SAFE_INTEGER } = options;
    const fake = this;
    fake.calls.push({ method: "readStream", stream, requiresLeader: options.requiresLeader === true });
    return (async function* () {
      await fake.answer();
      if (fake.down) throw commandError("unavailable");
      fake.leaderCheck(options.requiresLeader);
      const events = fake.records.filter((record) => record.streamId === stream);
      if (events.length === 0) throw commandError("stream-not-found", { streamName: stream });
      const from = fromRevision === "start" ? 0n : fromRevision;
      for (const record of events.filter((event) => event.revision >= from).slice(0, Number(maxCount))) yield { event: record };
    })();
  }

  async appendToStream(stream: string, events: ReadonlyArray<ProposedEvent>, options: { streamState?: StreamState } = {}): Promise<{ success: boolean; nextExpectedRevision: bigint; position?: Position }> {
    const state = options.streamState ?? "any";
    this.calls.push({ method: "appendToStream", stream });
    await this.answer();
    if (this.down) throw Object.assign(new Error("14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2113"), { code: 14 });
    const tooLarge = this.maxEventSize === undefined ? undefined : events.find((event) => JSON.stringify(event.data).length > (this.maxEventSize ?? 0));
    if (tooLarge !== undefined) {
      throw Object.assign(new Error(`3 INVALID_ARGUMENT: Event with Id: ${tooLarge.id}, Size: ${JSON.stringify(tooLarge.data).length}, exceeds Maximum Append Event Size of ${this.maxEventSize}.`), { type: "unknown", code: 3 });
    }
    const committed = this.records.filter((record) => record.streamId === stream);
    const pending = this.inFlight.find((write) => write.stream === stream);
    const length = committed.length + (pending?.events.length ?? 0);
    const first = state === "no_stream" ? 0 : typeof state === "bigint" ? Number(state) + 1 : Math.max(0, committed.findIndex((record) => record.id === events[0]?.id));
    // A repeat of a write the server still holds unconfirmed is dropped: the client times out.
    const placed = typeof state === "bigint" || state === "no_stream";
    if (pending !== undefined && (!placed || pending.first === first) && events.every((event, index) => pending.events[index]?.id === event.id)) {
      throw commandError("deadline-exceeded");
    }
    if (events.every((event, index) => committed[first + index]?.id === event.id)) {
      const last = committed[first + events.length - 1];
      if (last !== undefined) return { success: true, nextExpectedRevision: last.revision, position: last.position };
    }
    const current = length === 0 ? undefined : BigInt(length - 1);
    const ok =
      state === "any" ||
      (state === "no_stream" && current === undefined) ||
      (state === "stream_exists" && current !== undefined) ||
      (typeof state === "bigint" && current === state);
    if (!ok) throw commandError("wrong-expected-version", { streamName: stream, expectedState: state, actualState: current ?? "no_stream" });
    if (events.length === 0) throw commandError("invalid-argument");
    if (this.timeouts.count > 0) {
      this.timeouts.count -= 1;
      const write: InFlight = { stream, first: length, events };
      this.inFlight.push(write);
      const { outcome, afterMs } = this.timeouts;
      setTimeout(() => {
        this.inFlight.splice(this.inFlight.indexOf(write), 1);
        if (outcome === "late") this.store(stream, events);
      }, afterMs);
      throw commandError("deadline-exceeded");
    }
    const last = this.store(stream, events);
    return { success: true, nextExpectedRevision: last.revision, position: last.position };
  }

  private store(stream: string, events: ReadonlyArray<ProposedEvent>): Recorded {
    let last: Recorded | undefined;
    for (const event of events) {
      const data = event.contentType === "application/json" ? JSON.parse(JSON.stringify(event.data)) : event.data;
      const metadata = event.metadata instanceof Uint8Array ? JSON.parse(decoder.decode(event.metadata)) : event.metadata;
      const revision = BigInt(this.records.filter((record) => record.streamId === stream).length);
      const position = { commit: this.nextPosition, prepare: this.nextPosition };
      last = this.commit({ streamId: stream, id: event.id, type: event.type, revision, created: new Date(), isJson: true, data, metadata, position });
    }
    if (last === undefined) throw new Error("fake: an empty write");
    return last;
  }

  subscribeToAll(options: { fromPosition?: ReadFrom; filter?: Filter } = {}): FakeSubscription {
    const { fromPosition = "start", filter } = options;
    this.calls.push({ method: "subscribeToAll" });
    const entry = {
      subscription: new FakeSubscription(() => this.live.delete(entry)),
      push: (record: Recorded) => {
        if (FakeEventStoreDB.matches(record, filter)) entry.subscription.push({ event: record });
      },
    };
    setImmediate(() => {
      if (entry.subscription.destroyed || this.hung) return;
      if (this.down) return void entry.subscription.emit("error", commandError("unavailable"));
      if (this.allReadsDenied) return void entry.subscription.emit("error", commandError("access-denied"));
      try {
        this.refuseInvalid(fromPosition);
      } catch (error) {
        return void entry.subscription.emit("error", error);
      }
      // Catch-up: everything after the start position (exclusive), then live.
      for (const record of this.records) {
        if (fromPosition === "start" || (typeof fromPosition === "object" && record.position.commit > fromPosition.commit)) entry.push(record);
      }
      this.live.add(entry);
    });
    return entry.subscription;
  }
}
