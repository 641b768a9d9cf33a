/**
 * Regression guard on the cost of a decision (issue 11), not a timing test: what one
 * decision asks of the event store (appends, reads, group commits) and of Effect's
 * logger, counted on the real service over a real SQLite store. The figures are the
 * floor the decision path's guarantees allow (one durable append per decision, the
 * spent nonce committed with it, plus a budget's charge when a budget applies; the nonce
 * and snapshot reads for a permit); a change that adds a round trip, or logs through
 * Effect's logger (about 10 us a line), on the request path fails here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Effect, Layer, Logger, ManagedRuntime } from "effect";
import { ApprovalBook } from "../../src/approvals/ApprovalBook.ts";
import { BudgetLedger } from "../../src/budgets/BudgetLedger.ts";
import { DecisionService } from "../../src/decisions/DecisionService.ts";
import { actionAnswer } from "../../src/decisions/views.ts";
import { EventStore, type EventStoreShape } from "../../src/events/EventStore.ts";
import { makeSqliteEventStore } from "../../src/events/sqlite/SqliteEventStore.ts";
import { Brokers } from "../../src/execution/Broker.ts";
import { ExecutionService } from "../../src/execution/ExecutionService.ts";
import { Identity } from "../../src/identity/Identity.ts";
import { readSigningKey } from "../../src/identity/KeyFile.ts";
import { uuidV4 } from "../../src/kernel/ids.ts";
import { MarketSnapshots } from "../../src/market/MarketSnapshots.ts";
import { signPermit } from "../../src/permits/issuePermit.ts";
import { PermitVerifier } from "../../src/permits/PermitVerifier.ts";
import { Ids } from "../../src/platform/Ids.ts";
import { Logs, makeLogSink } from "../../src/platform/Logging.ts";
import { Metrics } from "../../src/platform/Metrics.ts";
import { ActivePolicy } from "../../src/policy/ActivePolicy.ts";
import { EXAMPLE_POLICY_DIR, SEED_CONSTRAINTS, swapRequest, tempDir } from "../support/harness.ts";

interface Counts {
  appends: number;
  reads: number;
  effectLogs: number;
}

const counts: Counts = { appends: 0, reads: 0, effectLogs: 0 };
const reset = () => Object.assign(counts, { appends: 0, reads: 0, effectLogs: 0 });

/** The real SQLite store, each call counted. */
const countedStore = (path: string) =>
  Layer.scoped(
    EventStore,
    Effect.map(
      makeSqliteEventStore({ path }),
      (store): EventStoreShape => ({
        ...store,
        append: (stream, events, expected) => Effect.suspend(() => ((counts.appends += 1), store.append(stream, events, expected))),
        appendMany: (appends) => Effect.suspend(() => ((counts.appends += 1), store.appendMany(appends))),
        readStream: (stream, options) => Effect.suspend(() => ((counts.reads += 1), store.readStream(stream, options))),
        readAll: (options) => Effect.suspend(() => ((counts.reads += 1), store.readAll(options))),
      }),
    ),
  );

const countingLogger = Logger.replace(
  Logger.defaultLogger,
  Logger.make(() => void (counts.effectLogs += 1)),
);

describe("what one decision costs the store and the logger", () => {
  const dataDir = tempDir("zt-cost-");
  const base = Layer.mergeAll(
    countedStore(join(dataDir, "events.db")),
    Ids.layer,
    Metrics.layer,
    Layer.succeed(Logs, makeLogSink("none")),
    Brokers.layer(),
    Identity.fromDataDir(dataDir, { production: false }),
    ActivePolicy.fromDirectory(EXAMPLE_POLICY_DIR),
  );
  const runtime = ManagedRuntime.make(
    DecisionService.layer.pipe(Layer.provideMerge(Layer.mergeAll(MarketSnapshots.layer, ExecutionService.layer, PermitVerifier.layer, ApprovalBook.layer, BudgetLedger.layer).pipe(Layer.provideMerge(base))), Layer.provide(countingLogger)),
  );
  const desk7 = { role: "agent", actor: "agent:desk-7" } as const;
  const decide = async (json: unknown) => {
    reset();
    const answer = actionAnswer(await runtime.runPromise(Effect.flatMap(DecisionService, (service) => service.decideAction(desk7, { bytes: new TextEncoder().encode(JSON.stringify(json)), tooLarge: false }))));
    return { answer, counts: { ...counts } };
  };

  before(async () => {
    await runtime.runPromise(
      Effect.flatMap(MarketSnapshots, (markets) => markets.replace({ as_of: new Date().toISOString(), prices: { SOL: 142.1 } }, "operator")),
    );
  });
  after(() => runtime.dispose());

  test("policy only: one append, no read, no Effect log line", async () => {
    const { answer, counts } = await decide({ actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(counts, { appends: 1, reads: 0, effectLogs: 0 });
  });

  test("a permit spent under a budget: the nonce and snapshot reads, the budget's append, then the nonce's and the decision's together, no Effect log line", async () => {
    const issuer = readSigningKey(join(dataDir, "keys", "issuer.key.json"));
    const permit = signPermit({
      subject: "agent:desk-7",
      scope: "swap.execute",
      policyId: "policy_mainnet_v1",
      constraints: SEED_CONSTRAINTS,
      now: Date.now(),
      ttlSeconds: 120,
      permitId: "permit_cost_1",
      nonce: uuidV4(crypto.getRandomValues(new Uint8Array(16))),
      key: issuer,
    });
    const { answer, counts } = await decide(swapRequest({ permit }));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    // The example bundle's desk-7 swap budget (contract section 11) costs one append, the
    // charge: concurrent instances must not overspend it, so the charge is an append
    // expecting the budget stream's revision (BudgetLedger); its window is read from
    // memory, and the store only when another writer moved the stream.
    assert.deepEqual(counts, { appends: 2, reads: 2, effectLogs: 0 });
  });

  test("a malformed body: one append, no read", async () => {
    const { answer, counts } = await decide({ actor: "agent:desk-7" });
    assert.equal(answer.status, 400);
    assert.deepEqual(counts, { appends: 1, reads: 0, effectLogs: 0 });
  });
});
