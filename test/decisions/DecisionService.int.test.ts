/**
 * The decision path on EventStoreDB when the server times out the append of a decision:
 * the answer must say what the log holds. Before, a write timeout was answered
 * `503 audit_unavailable` ("nothing is recorded") while the server committed the
 * ActionDecided a moment later, and the audit chain then held a decision whose caller was
 * told it was never recorded. The store is the real adapter on the stand-in server
 * (FakeEventStoreDB), which times writes out and commits them late, or loses them, as a
 * KurrentDB leader does; everything else is the real service.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, test } from "node:test";
import { Effect, Layer, ManagedRuntime } from "effect";
import { ApprovalBook } from "../../src/approvals/ApprovalBook.ts";
import { BudgetLedger } from "../../src/budgets/BudgetLedger.ts";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import { decisionStream } from "../../src/vocabulary/DecisionId.ts";
import { DecisionService } from "../../src/decisions/DecisionService.ts";
import { actionAnswer, type ActionAnswer } from "../../src/decisions/views.ts";
import { PermitVerifier } from "../../src/permits/PermitVerifier.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { Brokers } from "../../src/execution/Broker.ts";
import { ExecutionService } from "../../src/execution/ExecutionService.ts";
import { Identity } from "../../src/identity/Identity.ts";
import { MarketSnapshots } from "../../src/market/MarketSnapshots.ts";
import { Ids } from "../../src/platform/Ids.ts";
import { Logs, makeLogSink } from "../../src/platform/Logging.ts";
import { Metrics } from "../../src/platform/Metrics.ts";
import { ActivePolicy } from "../../src/policy/ActivePolicy.ts";
import { FakeEventStoreDB } from "../events/FakeEventStoreDB.ts";
import { EXAMPLE_POLICY_DIR, swapRequest, tempDir } from "../support/harness.ts";

// The adapter module loads the client's native addon on import (under Deno it needs --allow-ffi).
const adapter = await import("../../src/events/esdb/EsdbEventStore.ts").catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
const ADDON_MISSING = adapter instanceof Error ? `the EventStoreDB client's native addon does not load here (under Deno, run with --allow-ffi): ${adapter.message.slice(0, 120)}` : undefined;

const dirs: Array<string> = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function decisionServiceOn(server: FakeEventStoreDB) {
  const dataDir = tempDir();
  dirs.push(dataDir);
  if (adapter instanceof Error) throw adapter;
  const { esdbEventStoreOn } = adapter;
  const store = Layer.succeed(EventStore, esdbEventStoreOn(server as unknown as Parameters<typeof esdbEventStoreOn>[0], { settleRetry: { baseMs: 5, maxMs: 20 } }));
  const base = Layer.mergeAll(store, Ids.layer, Metrics.layer, Layer.succeed(Logs, makeLogSink("none")), Brokers.layer(), Identity.fromDataDir(dataDir, { production: false }), ActivePolicy.fromDirectory(EXAMPLE_POLICY_DIR));
  return ManagedRuntime.make(DecisionService.layer.pipe(Layer.provideMerge(Layer.mergeAll(MarketSnapshots.layer, ExecutionService.layer, PermitVerifier.layer, ApprovalBook.layer, BudgetLedger.layer).pipe(Layer.provideMerge(base)))));
}

const desk7 = { role: "agent", actor: "agent:desk-7" } as const;
const body = (json: unknown) => ({ bytes: new TextEncoder().encode(JSON.stringify(json)), tooLarge: false });

/** Every ActionDecided of this decision in the stand-in's log. */
const decidedInLog = (server: FakeEventStoreDB, answer: ActionAnswer) =>
  server.records.filter((record) => record.streamId === `zt.${decisionStream(String(answer.body["decision_id"]))}` && record.type === ACTION_DECIDED);

describe("a decision whose append timed out", { skip: ADDON_MISSING }, () => {
  for (const outcome of ["late", "lost"] as const) {
    test(`is answered as recorded, and is in the log exactly once (the write ${outcome === "late" ? "commits late" : "was lost"})`, async () => {
      const server = new FakeEventStoreDB();
      const runtime = decisionServiceOn(server);
      try {
        // No permit: denied permit_required, a decision that is recorded and answered 403.
        server.timeOutWrites(1, outcome, 40);
        const answer = await runtime.runPromise(Effect.flatMap(DecisionService, (service) => service.decideAction(desk7, body(swapRequest())))).then(actionAnswer);
        // Long enough for a late commit to land had the answer not waited for it.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const logged = decidedInLog(server, answer);
        assert.equal(answer.status, 403, JSON.stringify(answer.body));
        assert.equal(answer.body["reason"], "permit_required");
        assert.equal(logged.length, 1, "recorded once");
        assert.equal((logged[0]?.data as { decision_id?: string }).decision_id, answer.body["decision_id"]);
        assert.equal((logged[0]?.data as { receipt_hash?: string }).receipt_hash, answer.body["receipt_hash"]);
      } finally {
        await runtime.dispose();
      }
    });
  }

  test("with the server unreachable from the start, is answered 503 audit_unavailable and never appears in the log", async () => {
    const server = new FakeEventStoreDB();
    const runtime = decisionServiceOn(server);
    try {
      await runtime.runPromise(Effect.flatMap(DecisionService, () => Effect.void));
      server.down = true;
      const answer = await runtime.runPromise(Effect.flatMap(DecisionService, (service) => service.decideAction(desk7, body(swapRequest())))).then(actionAnswer);
      server.down = false;
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(answer.status, 503);
      assert.equal(answer.body["reason"], "audit_unavailable");
      assert.deepEqual(decidedInLog(server, answer), []);
    } finally {
      await runtime.dispose();
    }
  });
});
