/**
 * An in-memory stand-in for the KurrentDB client, for exercising EsdbEventStore's own logic
 * (paging, position handling, replay detection, subscription cleanup) where no server runs.
 * It mimics the server behaviours the adapter depends on, as the adapter's header states
 * them, so it checks the adapter against those assumptions, not the assumptions themselves:
 * - commit positions are byte offsets: strictly increasing, not consecutive, starting at 0
 *   with system events; a read of `$all` from a position includes the event there, and one
 *   from inside a record is refused (the server fails it);
 * - an append whose ids are already the stream's events is an idempotent replay (success,
 *   the original revision and position, nothing written); ids are not unique across streams;
 * - errors have the client's shapes (`type` for CommandErrors, numeric `code` for raw gRPC);
 *   subscriptions emit errors without destroying themselves, as the client's do.
 * Subscriptions deliver the event at their start position too (the server may not); the
 * adapter must drop it either way.
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
}
interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: unknown;
  readonly metadata?: unknown;
}

const commandError = (type: string, extra: object = {}): Error => Object.assign(new Error(`fake ${type}`), { type, ...extra });
const grpcUnavailable = (): Error => Object.assign(new Error("14 UNAVAILABLE: fake"), { code: 14 });
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const decoder = new TextDecoder();

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
  /** When set, every call fails as an unreachable server does. */
  down = false;
  /** Calls seen, by method, for assertions on round trips. */
  readonly calls: Array<string> = [];

  constructor() {
    // A fresh server's log starts with its own events, and other clients may write there.
    this.write("$stats-127.0.0.1:2113", "$statsCollected", true, { cpu: 1 }, {});
    this.write("legacy-binary", "Blob", false, new Uint8Array([1, 2, 3]), undefined);
    this.write("legacy-json", "Listed", true, [1, 2, 3], undefined);
  }

  /** Appends one record as another writer would; returns it. */
  write(streamId: string, type: string, isJson: boolean, data: unknown, metadata: unknown): Recorded {
    const revision = BigInt(this.records.filter((record) => record.streamId === streamId).length);
    const position = { commit: this.nextPosition, prepare: this.nextPosition };
    const record: Recorded = { streamId, id: crypto.randomUUID(), type, revision, created: new Date(), isJson, data, metadata, position };
    return this.commit(record);
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
    if (filter?.regex === undefined) return true;
    return new RegExp(filter.regex).test(filter.filterOn === "eventType" ? record.type : record.streamId);
  }

  readAll(options: { direction?: string; fromPosition?: ReadFrom; maxCount?: number | bigint; filter?: Filter } = {}): AsyncIterableIterator<{ event: Recorded }> {
    const { direction = "forwards", fromPosition = "start", maxCount = Number.MAX_SAFE_INTEGER, filter } = options;
    const fake = this;
    fake.calls.push("readAll");
    return (async function* () {
      await tick();
      if (fake.down) throw commandError("unavailable");
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

  readStream(stream: string, options: { fromRevision?: "start" | bigint; maxCount?: number | bigint } = {}): AsyncIterableIterator<{ event: Recorded }> {
    const { fromRevision = "start", maxCount = Number.MAX_SAFE_INTEGER } = options;
    const fake = this;
    fake.calls.push("readStream");
    return (async function* () {
      await tick();
      if (fake.down) throw commandError("unavailable");
      const events = fake.records.filter((record) => record.streamId === stream);
      if (events.length === 0) throw commandError("stream-not-found", { streamName: stream });
      const from = fromRevision === "start" ? 0n : fromRevision;
      for (const record of events.filter((event) => event.revision >= from).slice(0, Number(maxCount))) yield { event: record };
    })();
  }

  async appendToStream(
    stream: string,
    events: ReadonlyArray<ProposedEvent>,
    options: { streamState?: "any" | "no_stream" | "stream_exists" | bigint } = {},
  ): Promise<{ success: boolean; nextExpectedRevision: bigint; position?: Position }> {
    const state = options.streamState ?? "any";
    this.calls.push("appendToStream");
    await tick();
    if (this.down) throw grpcUnavailable();
    const existing = this.records.filter((record) => record.streamId === stream);
    const current = existing.length === 0 ? undefined : BigInt(existing.length - 1);
    // Idempotent replay: the events are already where this append would put them
    // (numbered states) or anywhere in the stream (any, stream_exists).
    const first = state === "no_stream" ? 0 : typeof state === "bigint" ? Number(state) + 1 : existing.findIndex((record) => record.id === events[0]?.id);
    const replayed = first >= 0 && events.every((event, index) => existing[first + index]?.id === event.id);
    if (replayed) {
      const last = existing[first + events.length - 1];
      if (last !== undefined) return { success: true, nextExpectedRevision: last.revision, position: last.position };
    }
    const ok =
      state === "any" ||
      (state === "no_stream" && current === undefined) ||
      (state === "stream_exists" && current !== undefined) ||
      (typeof state === "bigint" && current === state);
    if (!ok) throw commandError("wrong-expected-version", { streamName: stream, expectedState: state, actualState: current ?? "no_stream" });
    let last: Recorded | undefined;
    for (const event of events) {
      const data = event.contentType === "application/json" ? JSON.parse(JSON.stringify(event.data)) : event.data;
      const metadata = event.metadata instanceof Uint8Array ? JSON.parse(decoder.decode(event.metadata)) : event.metadata;
      const revision = BigInt(this.records.filter((record) => record.streamId === stream).length);
      const position = { commit: this.nextPosition, prepare: this.nextPosition };
      last = this.commit({ streamId: stream, id: event.id, type: event.type, revision, created: new Date(), isJson: true, data, metadata, position });
    }
    if (last === undefined) throw commandError("invalid-argument");
    return { success: true, nextExpectedRevision: last.revision, position: last.position };
  }

  subscribeToAll(options: { fromPosition?: ReadFrom; filter?: Filter } = {}): FakeSubscription {
    const { fromPosition = "start", filter } = options;
    this.calls.push("subscribeToAll");
    const entry = {
      subscription: new FakeSubscription(() => this.live.delete(entry)),
      push: (record: Recorded) => {
        if (FakeEventStoreDB.matches(record, filter)) entry.subscription.push({ event: record });
      },
    };
    setImmediate(() => {
      if (entry.subscription.destroyed) return;
      if (this.down) return void entry.subscription.emit("error", grpcUnavailable());
      try {
        this.refuseInvalid(fromPosition);
      } catch (error) {
        return void entry.subscription.emit("error", error);
      }
      const from = fromPosition === "start" ? -1n : fromPosition === "end" ? this.nextPosition : fromPosition.commit;
      for (const record of this.records) if (record.position.commit >= from) entry.push(record);
      this.live.add(entry);
    });
    return entry.subscription;
  }
}
