/**
 * The budget ledger against a real SQLite store, through the assembled service: what a
 * budget's stream holds decides, whoever wrote it (another instance, an earlier process);
 * a charge whose decision was never recorded is reclaimed once it is old enough (its
 * decision abandoned, then the charge voided), never sooner and never when the decision
 * was recorded after all; charges that left the rolling window no longer count.
 */
import assert from "node:assert/strict";
import { after, beforeEach, describe, test } from "node:test";
import { rmSync } from "node:fs";
import { Effect, TestClock } from "effect";
import { RECLAIM_AFTER_MS } from "../../src/budgets/BudgetLedger.ts";
import { BUDGET_CHARGE_VOIDED, BUDGET_CHARGED, budgetStream, DECISION_ABANDONED } from "../../src/budgets/events.ts";
import { EventStore, type JsonObject } from "../../src/events/EventStore.ts";
import { formatRfc3339Millis } from "../../src/kernel/timestamp.ts";
import { decisionStream } from "../../src/vocabulary/DecisionId.ts";
import { actionAnswer } from "../../src/decisions/views.ts";
import { examplePolicyWith, makeHarness, type Harness } from "../support/harness.ts";
import { approvalRuntime } from "../approvals/approvalRuntime.ts";

const policyDir = examplePolicyWith((manifest) => {
  manifest.budgets = [{ id: "quotes", actor: "agent:desk-7", action: "quote.read", window_seconds: 3600, max_calls: 2 }];
});
const STREAM = budgetStream("quotes", "agent:desk-7");
const quote = { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca" };

describe("the budget ledger", () => {
  let h: Harness;
  let serial = 0;
  beforeEach(async () => {
    await h?.close();
    h = await makeHarness({ policyDir });
  });
  after(async () => {
    await h.close();
    rmSync(policyDir, { recursive: true, force: true });
  });

  const store = <A>(use: (store: EventStore["Type"]) => Effect.Effect<A, unknown>) => h.built.runtime.runPromise(Effect.flatMap(EventStore, use) as Effect.Effect<A, never, EventStore>);
  /** A charge written behind the service's back, as another process would have, `ageMs` ago. */
  const plantCharge = (ageMs: number) => {
    const decisionId = `dec_01J9QJ${String(++serial).padStart(20, "0")}`;
    const data = { budget_id: "quotes", actor: "agent:desk-7", action: "quote.read", decision_id: decisionId, notional_usd: null, charged_at: formatRfc3339Millis(Date.now() - ageMs), policy_hash: "0".repeat(64) };
    return store((s) => s.append(STREAM, [{ id: crypto.randomUUID(), type: BUDGET_CHARGED, data }], "any")).then(() => decisionId);
  };
  const ask = () => h.request("POST", "/actions", { token: h.tokens.desk7, json: quote });
  const typesOf = (stream: string) => store((s) => s.readStream(stream)).then((events) => events.map((event) => event.type));

  test("a full window written by another process denies, naming what remains, and is charged no further", async () => {
    await plantCharge(1000);
    await plantCharge(1000);
    const reply = await ask();
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.json.reason, "budget_exceeded");
    assert.equal(reply.json.detail, "budget quotes: 0 of 2 calls remain in its rolling 3600 s window; this call needs one more");
    assert.deepEqual(await typesOf(STREAM), [BUDGET_CHARGED, BUDGET_CHARGED]);
  });

  test("charges whose decisions were never recorded are reclaimed once old enough: the decisions abandoned, the charges voided, the call allowed", async () => {
    const lost = [await plantCharge(RECLAIM_AFTER_MS + 5000), await plantCharge(RECLAIM_AFTER_MS + 5000)];
    const first = await ask();
    assert.equal(first.status, 200, first.text);
    for (const id of lost) assert.deepEqual(await typesOf(decisionStream(id)), [DECISION_ABANDONED]);
    assert.deepEqual(await typesOf(STREAM), [BUDGET_CHARGED, BUDGET_CHARGED, BUDGET_CHARGE_VOIDED, BUDGET_CHARGE_VOIDED, BUDGET_CHARGED]);
    // One call left, then none.
    assert.equal((await ask()).status, 200);
    assert.equal((await ask()).json.reason, "budget_exceeded");
    // The abandoned decisions read as absent.
    assert.equal((await h.request("GET", `/decisions/${lost[0]}`, { token: h.tokens.operator })).status, 404);
  });

  test("a charge younger than the reclaim age, or whose decision is recorded, is never voided", async () => {
    const young = await plantCharge(1000);
    const recorded = await plantCharge(RECLAIM_AFTER_MS + 5000);
    await store((s) => s.append(decisionStream(recorded), [{ id: crypto.randomUUID(), type: "ActionDecided.v1", data: { decision_id: recorded } as JsonObject }], "no_stream"));
    assert.equal((await ask()).json.reason, "budget_exceeded");
    assert.deepEqual(await typesOf(decisionStream(young)), []);
    assert.deepEqual(await typesOf(decisionStream(recorded)), ["ActionDecided.v1"]);
    assert.deepEqual(await typesOf(STREAM), [BUDGET_CHARGED, BUDGET_CHARGED]);
  });

  test("charges that left the rolling window no longer count", async () => {
    await plantCharge(3600_000 + 1000);
    await plantCharge(3600_000 + 1000);
    assert.equal((await ask()).status, 200);
    assert.equal((await ask()).status, 200);
    assert.equal((await ask()).json.reason, "budget_exceeded");
  });
});

describe("the budget ledger's rolling window, on the test clock", () => {
  const windowed = examplePolicyWith((manifest) => {
    manifest.budgets = [{ id: "quotes-10s", actor: "agent:desk-7", action: "quote.read", window_seconds: 10, max_calls: 2 }];
  });
  const rt = approvalRuntime({ policyDir: windowed, testClock: true });
  after(async () => {
    await rt.close();
    rmSync(windowed, { recursive: true, force: true });
  });
  const ask = async () => actionAnswer(await rt.decide(quote));
  const adjust = (ms: number) => rt.run(TestClock.adjust(`${ms} millis`));

  test("this instance's own charges leave the window with their bucket, never before", async () => {
    await adjust(1_000_000);
    assert.equal((await ask()).status, 200);
    await adjust(3000);
    assert.equal((await ask()).status, 200);
    assert.equal((await ask()).body["reason"], "budget_exceeded");
    // The first charge's bucket (a second wide) leaves 10 s after its end: not yet at 9.999 s.
    await adjust(7000 - 1);
    assert.equal((await ask()).body["reason"], "budget_exceeded");
    await adjust(1001);
    assert.equal((await ask()).status, 200, "the first call left the window");
    assert.equal((await ask()).body["reason"], "budget_exceeded");
    await adjust(4000);
    assert.equal((await ask()).status, 200, "the second call left the window");
  });
});

