/**
 * BudgetLedger: what each budget's rolling window holds, folded from the budget's stream
 * (`budget-<id>-<actor>`), and the charges of allowed calls appended to it atomically with
 * what was folded (contract section 11: concurrent requests never overspend a budget, on
 * one instance or on many sharing a store).
 *
 * How: an account per stream holds the charges this instance has folded, up to the
 * stream revision it last saw. The decision path reads a view of the window from memory
 * (no store read), decides, and reserves its charges in the same synchronous step, so
 * requests of one instance see each other's charges at once. Reserved charges go out as
 * one append per stream at a time, expecting the revision the account holds: if another
 * instance appended first the append is refused, every charge that counted on it learns
 * `conflict`, the account is refreshed from the store and those calls are decided again.
 * So whatever a view misses can only make a call look cheaper, never dearer; an allow is
 * confirmed by its append, and a denial is made only after a refresh (DecisionService).
 * An account that was never read assumes an empty stream: its first append expects no
 * stream and is refused if there is one, which reads it.
 *
 * A charge is made before its decision is recorded and counts until its decision is known:
 * a charge whose decision is never recorded (the process died between the appends) is
 * reclaimed once it is RECLAIM_AFTER_MS old (see events.ts). Settled charges are summed
 * in buckets of at least a second (1,024 a window), and a bucket leaves the window only
 * when its last moment does, so a charge may count up to a bucket's width longer than its
 * window, never shorter. Memory per account is bounded: the buckets, plus at most
 * MAX_OPEN_CHARGES charges whose decision is not yet known (past that, the oldest are
 * taken as recorded and are no longer reclaimed by this instance).
 */
import { Context, Deferred, Effect, FiberId, Layer, Schema } from "effect";
import { EventStore, type EventStoreError, type JsonObject, type RecordedEvent } from "../events/EventStore.ts";
import { addDecimals, parseDecimal, subtractDecimals, ZERO_DECIMAL, type Decimal } from "../kernel/decimal.ts";
import { parseRfc3339Utc, formatRfc3339Millis } from "../kernel/timestamp.ts";
import { Ids } from "../platform/Ids.ts";
import type { BudgetRule } from "../policy/PolicyManifest.ts";
import { decisionStream } from "../vocabulary/DecisionId.ts";
import type { BudgetCharge, BudgetFacts, BudgetSpent } from "./budgetStage.ts";
import { BUDGET_CHARGE_VOIDED, BUDGET_CHARGED, budgetStream, BudgetCharged, BudgetChargeVoided, DECISION_ABANDONED, type DecisionAbandoned } from "./events.ts";

/** How old a charge whose decision is not recorded must be before it is reclaimed. */
export const RECLAIM_AFTER_MS = 10_000;
/** Charges with no known decision an account keeps one by one. */
export const MAX_OPEN_CHARGES = 10_000;
/** Buckets a window is summed in (each at least a second wide). */
const BUCKETS_PER_WINDOW = 1024;
const PAGE = 1000;
/** Unverified charges looked at by one reclaim, and how many decision streams it reads at once. */
const RECLAIM_BATCH = 64;
const RECLAIM_CONCURRENCY = 8;
const VOID_ATTEMPTS = 8;

interface Amount {
  usd: Decimal;
  calls: number;
}

interface OpenCharge {
  readonly decisionId: string;
  readonly at: number;
  readonly chargedAt: string;
  readonly usd: Decimal | undefined;
  readonly notionalUsd: string | null;
  readonly budgetId: string;
  readonly actor: string;
}

interface Reserved extends OpenCharge {
  readonly data: BudgetCharged;
  readonly done: Deferred.Deferred<"charged" | "conflict", EventStoreError>;
}

interface Account {
  readonly stream: string;
  readonly windowMs: number;
  readonly bucketMs: number;
  /** The last stream revision folded here (-1: none, and the stream is assumed absent). */
  revision: number;
  readonly buckets: Map<number, Amount>;
  /** The sum of the buckets. */
  settled: Amount;
  /** Charges whose decision is not known to be recorded, by decision id, oldest first. */
  readonly open: Map<string, OpenCharge>;
  /** The sum of the open charges. */
  opened: Amount;
  /** When the first bucket or open charge leaves the window: a view before then forgets nothing. */
  pruneAt: number;
  queued: Reserved[];
  sending: ReadonlyArray<Reserved>;
  flushing: boolean;
  /** Bumped by each read of the stream: a refresh that finds it moved since it was asked skips its own read. */
  reads: number;
  readonly lock: Effect.Semaphore;
}

/** The charges one decision reserved. */
export interface Reservation {
  readonly decisionId: string;
  readonly entries: ReadonlyArray<{ readonly account: Account; readonly charge: Reserved }>;
}

export interface BudgetLedgerShape {
  /**
   * What the window of each budget holds now for the actor, from memory: what this
   * instance folded and has on its way, without `exclude`'s own charges. Never fails.
   */
  readonly view: (rules: ReadonlyArray<BudgetRule>, actor: string, now: number, exclude?: string) => BudgetFacts;
  /** Reserves a decision's charges (synchronously: call it in the same step as the view the decision used). */
  readonly reserve: (decisionId: string, charges: ReadonlyArray<BudgetCharge>, now: number, policyHash: string) => Reservation;
  /**
   * Waits for the reservation's appends: the streams that were charged, and whether any
   * charge met a `conflict` (another instance appended first: refresh, decide again).
   * Fails when the store cannot append.
   */
  readonly settle: (reservation: Reservation) => Effect.Effect<{ readonly charged: ReadonlyArray<string>; readonly conflict: boolean }, EventStoreError>;
  /** Folds what was appended to these budgets' streams since this instance last read them. */
  readonly refresh: (rules: ReadonlyArray<BudgetRule>, actor: string) => Effect.Effect<void, EventStoreError>;
  /** The decision of these charges is recorded: they count for good. */
  readonly recorded: (reservation: Reservation) => void;
  /** Whether these budgets hold charges old enough to reclaim whose decision is not known. */
  readonly reclaimable: (rules: ReadonlyArray<BudgetRule>, actor: string, now: number) => boolean;
  /** Reclaims the charges of these budgets whose decisions were never recorded; answers how many it voided. */
  readonly reclaim: (rules: ReadonlyArray<BudgetRule>, actor: string, now: number) => Effect.Effect<number, EventStoreError>;
}

const decodeCharge = Schema.decodeUnknownOption(BudgetCharged);
const decodeVoid = Schema.decodeUnknownOption(BudgetChargeVoided);

function amountOf(notional: string | null): Decimal | undefined {
  return notional === null ? undefined : parseDecimal(notional);
}

function makeAccount(stream: string, windowSeconds: number): Account {
  const windowMs = windowSeconds * 1000;
  return {
    stream,
    windowMs,
    bucketMs: Math.max(1000, Math.ceil(windowMs / BUCKETS_PER_WINDOW)),
    revision: -1,
    buckets: new Map(),
    settled: { usd: ZERO_DECIMAL, calls: 0 },
    open: new Map(),
    opened: { usd: ZERO_DECIMAL, calls: 0 },
    pruneAt: Number.POSITIVE_INFINITY,
    queued: [],
    sending: [],
    flushing: false,
    reads: 0,
    lock: Effect.unsafeMakeSemaphore(1),
  };
}

function add(sum: Amount, usd: Decimal | undefined, calls: number): void {
  if (usd !== undefined) sum.usd = addDecimals(sum.usd, usd);
  sum.calls += calls;
}

function subtract(sum: Amount, usd: Decimal | undefined, calls: number): void {
  if (usd !== undefined) sum.usd = subtractDecimals(sum.usd, usd);
  sum.calls = Math.max(0, sum.calls - calls);
}

/** Moves a charge into the sums of its bucket. */
function settleCharge(account: Account, charge: Pick<OpenCharge, "at" | "usd">): void {
  const index = Math.floor(charge.at / account.bucketMs);
  const bucket = account.buckets.get(index) ?? { usd: ZERO_DECIMAL, calls: 0 };
  add(bucket, charge.usd, 1);
  add(account.settled, charge.usd, 1);
  account.buckets.set(index, bucket);
  account.pruneAt = Math.min(account.pruneAt, (index + 1) * account.bucketMs + account.windowMs);
}

function openCharge(account: Account, charge: OpenCharge): void {
  const known = account.open.get(charge.decisionId);
  if (known !== undefined) subtract(account.opened, known.usd, 1);
  account.open.set(charge.decisionId, charge);
  add(account.opened, charge.usd, 1);
  account.pruneAt = Math.min(account.pruneAt, charge.at + account.windowMs);
  // Bounded: past the limit the oldest are taken as recorded (counted for good).
  for (const [id, oldest] of account.open) {
    if (account.open.size <= MAX_OPEN_CHARGES) break;
    takeOpen(account, id);
    settleCharge(account, oldest);
  }
}

/** Takes a charge out of the open ones, if it is there. */
function takeOpen(account: Account, decisionId: string): OpenCharge | undefined {
  const charge = account.open.get(decisionId);
  if (charge === undefined) return undefined;
  account.open.delete(decisionId);
  subtract(account.opened, charge.usd, 1);
  return charge;
}

/** Forgets what left the window by `now` (a bucket with its last moment); runs only when something has. */
function prune(account: Account, now: number): void {
  if (now < account.pruneAt) return;
  let next = Number.POSITIVE_INFINITY;
  for (const [index, bucket] of account.buckets) {
    const leaves = (index + 1) * account.bucketMs + account.windowMs;
    if (leaves <= now) {
      account.buckets.delete(index);
      subtract(account.settled, bucket.usd, bucket.calls);
    } else next = Math.min(next, leaves);
  }
  for (const [id, charge] of account.open) {
    const leaves = charge.at + account.windowMs;
    if (leaves <= now) takeOpen(account, id);
    else next = Math.min(next, leaves);
  }
  account.pruneAt = next;
}

/** Folds one stored event of the account's stream, once: events at or below the folded revision are skipped. */
function fold(account: Account, event: Pick<RecordedEvent, "revision" | "type" | "data">): void {
  if (event.revision <= account.revision) return;
  account.revision = event.revision;
  if (event.type === BUDGET_CHARGED) {
    const charge = decodeCharge(event.data);
    if (charge._tag === "None") return;
    const at = parseRfc3339Utc(charge.value.charged_at);
    if (at === undefined) return;
    const { decision_id, charged_at, notional_usd, budget_id, actor } = charge.value;
    openCharge(account, { decisionId: decision_id, at, chargedAt: charged_at, usd: amountOf(notional_usd), notionalUsd: notional_usd, budgetId: budget_id, actor });
  } else if (event.type === BUDGET_CHARGE_VOIDED) {
    const voided = decodeVoid(event.data);
    if (voided._tag === "None") return;
    if (takeOpen(account, voided.value.decision_id) !== undefined) return;
    // Already summed: take it back out of its bucket, if the bucket is still kept.
    const at = parseRfc3339Utc(voided.value.charged_at);
    const bucket = at === undefined ? undefined : account.buckets.get(Math.floor(at / account.bucketMs));
    if (bucket === undefined || bucket.calls === 0) return;
    const usd = amountOf(voided.value.notional_usd);
    subtract(bucket, usd, 1);
    subtract(account.settled, usd, 1);
  }
}

/** What the account's window holds at `now`: the running sums, less `exclude`'s own charge, plus what is on its way. */
function spentIn(account: Account, now: number, exclude: string | undefined): BudgetSpent {
  prune(account, now);
  const spent = { usd: addDecimals(account.settled.usd, account.opened.usd), calls: account.settled.calls + account.opened.calls };
  const own = exclude === undefined ? undefined : account.open.get(exclude);
  if (own !== undefined) subtract(spent, own.usd, 1);
  // On their way: a charge whose append a refresh already folded is counted once.
  for (const batch of [account.sending, account.queued]) {
    for (const charge of batch) {
      if (charge.decisionId === exclude || account.open.has(charge.decisionId)) continue;
      add(spent, charge.usd, 1);
    }
  }
  return { notionalUsd: spent.usd, calls: spent.calls };
}

export class BudgetLedger extends Context.Tag("zt/BudgetLedger")<BudgetLedger, BudgetLedgerShape>() {
  static readonly layer: Layer.Layer<BudgetLedger, never, EventStore | Ids> = Layer.scoped(
    BudgetLedger,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const ids = yield* Ids;
      const scope = yield* Effect.scope;
      const accounts = new Map<string, Account>();

      /** The account of a stream, made anew (to be read again) when the rule's window changed. */
      const accountOf = (stream: string, windowSeconds: number): Account => {
        const known = accounts.get(stream);
        if (known !== undefined && known.windowMs === windowSeconds * 1000) return known;
        const account = makeAccount(stream, windowSeconds);
        accounts.set(stream, account);
        return account;
      };

      const readNew = (account: Account) =>
        Effect.gen(function* () {
          for (;;) {
            const page = yield* store.readStream(account.stream, { fromRevision: account.revision + 1, limit: PAGE });
            for (const event of page) fold(account, event);
            if (page.length < PAGE) break;
          }
          account.reads += 1;
        });

      /** Reads the stream past what is folded; a read that another caller finished meanwhile counts as this one's. */
      const refreshAccount = (account: Account) => {
        const asked = account.reads;
        return account.lock.withPermits(1)(Effect.suspend(() => (account.reads === asked ? readNew(account) : Effect.void)));
      };

      /** Starts sending the account's reserved charges unless that is under way. */
      const startFlush = (account: Account): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (account.flushing || account.queued.length === 0) return Effect.void;
          account.flushing = true;
          return Effect.asVoid(Effect.forkIn(flush(account), scope));
        });

      /** Sends the account's reserved charges, one append at a time, each batch expecting the revision folded before it. */
      const flush = (account: Account): Effect.Effect<void> =>
        Effect.gen(function* () {
          while (account.queued.length > 0) {
            // Charges reserved in the rest of this turn go out with this batch.
            yield* Effect.yieldNow();
            const batch = account.queued;
            account.queued = [];
            account.sending = batch;
            const events = [];
            for (const charge of batch) events.push({ id: yield* ids.uuid, type: BUDGET_CHARGED, data: charge.data as unknown as JsonObject });
            const expected = account.revision < 0 ? ("no_stream" as const) : { revision: account.revision };
            // Answered on commit: nothing answers a caller before its decision's own durable
            // append, whose sync covers this one (AppendOptions); one sync's wait saved per call.
            const appended = yield* Effect.either(store.append(account.stream, events, expected, { answerOnCommit: true }));
            account.sending = [];
            if (appended._tag === "Right") {
              const first = appended.right.revision - batch.length + 1;
              batch.forEach((charge, index) => fold(account, { revision: first + index, type: BUDGET_CHARGED, data: charge.data as unknown as JsonObject }));
              for (const charge of batch) yield* Deferred.succeed(charge.done, "charged");
              continue;
            }
            // Every charge queued meanwhile counted on this batch: they are decided again too.
            const waiting = account.queued;
            account.queued = [];
            const error = appended.left;
            for (const charge of batch) yield* error.reason === "wrong_expected_version" ? Deferred.succeed(charge.done, "conflict") : Deferred.fail(charge.done, error);
            for (const charge of waiting) yield* Deferred.succeed(charge.done, "conflict");
          }
        }).pipe(
          Effect.ensuring(
            Effect.suspend(() => {
              account.flushing = false;
              return startFlush(account);
            }),
          ),
        );

      const view: BudgetLedgerShape["view"] = (rules, actor, now, exclude) =>
        new Map(rules.map((rule) => [rule.id, spentIn(accountOf(budgetStream(rule.id, actor), rule.window_seconds), now, exclude)] as const));

      const reserve: BudgetLedgerShape["reserve"] = (decisionId, charges, now, policyHash) => {
        const chargedAt = formatRfc3339Millis(now);
        const entries = charges.map((charge) => {
          const account = accountOf(charge.stream, charge.windowSeconds);
          const data: BudgetCharged = { budget_id: charge.budgetId, actor: charge.actor, action: charge.action, decision_id: decisionId, notional_usd: charge.notionalUsd, charged_at: chargedAt, policy_hash: policyHash };
          const reserved: Reserved = {
            decisionId,
            at: now,
            chargedAt,
            usd: amountOf(charge.notionalUsd),
            notionalUsd: charge.notionalUsd,
            budgetId: charge.budgetId,
            actor: charge.actor,
            data,
            done: Deferred.unsafeMake<"charged" | "conflict", EventStoreError>(FiberId.none),
          };
          account.queued.push(reserved);
          return { account, charge: reserved };
        });
        return { decisionId, entries };
      };

      const settle: BudgetLedgerShape["settle"] = (reservation) =>
        Effect.gen(function* () {
          for (const { account } of reservation.entries) yield* startFlush(account);
          const charged: string[] = [];
          let conflict = false;
          for (const { account, charge } of reservation.entries) {
            if ((yield* Deferred.await(charge.done)) === "charged") charged.push(account.stream);
            else conflict = true;
          }
          return { charged, conflict };
        });

      const accountsOf = (rules: ReadonlyArray<BudgetRule>, actor: string) => rules.map((rule) => accountOf(budgetStream(rule.id, actor), rule.window_seconds));

      const refresh: BudgetLedgerShape["refresh"] = (rules, actor) => Effect.forEach(accountsOf(rules, actor), refreshAccount, { discard: true });

      const recorded: BudgetLedgerShape["recorded"] = (reservation) => {
        for (const { account, charge } of reservation.entries) {
          const open = takeOpen(account, charge.decisionId);
          if (open !== undefined) settleCharge(account, open);
        }
      };

      const staleCharges = (account: Account, now: number) => [...account.open.values()].filter((charge) => charge.at < now - RECLAIM_AFTER_MS);

      const reclaimable: BudgetLedgerShape["reclaimable"] = (rules, actor, now) => accountsOf(rules, actor).some((account) => staleCharges(account, now).length > 0);

      /** Voids abandoned charges in one append expecting the folded revision; a refresh shows which are still to void. */
      const voidCharges = (account: Account, charges: ReadonlyArray<OpenCharge>, now: number) =>
        Effect.gen(function* () {
          for (let attempt = 0; attempt < VOID_ATTEMPTS; attempt += 1) {
            const left = charges.filter((charge) => account.open.has(charge.decisionId));
            if (left.length === 0) return;
            const events = [];
            for (const charge of left) {
              const voided: BudgetChargeVoided = {
                budget_id: charge.budgetId,
                actor: charge.actor,
                decision_id: charge.decisionId,
                charged_at: charge.chargedAt,
                notional_usd: charge.notionalUsd,
                voided_at: formatRfc3339Millis(now),
                reason: "decision_not_recorded",
              };
              events.push({ id: yield* ids.uuid, type: BUDGET_CHARGE_VOIDED, data: voided as unknown as JsonObject });
            }
            const appended = yield* Effect.either(store.append(account.stream, events, account.revision < 0 ? "no_stream" : { revision: account.revision }));
            if (appended._tag === "Right") {
              const first = appended.right.revision - events.length + 1;
              events.forEach((event, index) => fold(account, { revision: first + index, type: BUDGET_CHARGE_VOIDED, data: event.data }));
              return;
            }
            if (appended.left.reason !== "wrong_expected_version") return yield* Effect.fail(appended.left);
            yield* readNew(account);
          }
        });

      /**
       * Whether a charge's decision was abandoned (then its charge is voided), after
       * abandoning it if it was never recorded; a recorded one settles the charge.
       */
      const abandonedDecision = (account: Account, charge: OpenCharge, now: number) =>
        Effect.gen(function* () {
          const stream = decisionStream(charge.decisionId);
          const [first] = yield* store.readStream(stream, { limit: 1 });
          let abandoned = first?.type === DECISION_ABANDONED;
          if (first === undefined) {
            const data: DecisionAbandoned = { decision_id: charge.decisionId, budget_id: charge.budgetId, abandoned_at: formatRfc3339Millis(now), reason: "budget_charge_reclaimed" };
            const claimed = yield* Effect.either(store.append(stream, [{ id: yield* ids.uuid, type: DECISION_ABANDONED, data: data as unknown as JsonObject }], "no_stream"));
            if (claimed._tag === "Left" && claimed.left.reason !== "wrong_expected_version") return yield* Effect.fail(claimed.left);
            // Lost: the decision was recorded after all, or another reclaimer abandoned it.
            abandoned = claimed._tag === "Right" || (yield* store.readStream(stream, { limit: 1 }))[0]?.type === DECISION_ABANDONED;
          }
          if (!abandoned && takeOpen(account, charge.decisionId) !== undefined) settleCharge(account, charge);
          return abandoned;
        });

      const reclaim: BudgetLedgerShape["reclaim"] = (rules, actor, now) =>
        Effect.gen(function* () {
          let voided = 0;
          for (const account of accountsOf(rules, actor)) {
            const stale = staleCharges(account, now).slice(0, RECLAIM_BATCH);
            if (stale.length === 0) continue;
            yield* account.lock.withPermits(1)(
              Effect.gen(function* () {
                const abandoned = yield* Effect.filter(stale, (charge) => abandonedDecision(account, charge, now), { concurrency: RECLAIM_CONCURRENCY });
                const before = account.open.size;
                yield* voidCharges(account, abandoned, now);
                voided += Math.max(0, before - account.open.size);
              }),
            );
          }
          return voided;
        });

      return { view, reserve, settle, refresh, recorded, reclaimable, reclaim };
    }),
  );
}
