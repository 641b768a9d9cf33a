/**
 * Expiry of approvals on Effect's TestClock (no sleeping): a pending approval past its
 * `expires_at` refuses the repeat (`approval_expired`) and every vote
 * (`approval_closed`), a granted one unused past its time refuses the repeat too, and the
 * background sweep records `ApprovalExpired.v1` for each, once, in the log.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Effect, TestClock } from "effect";
import { ApprovalExpiry } from "../../src/approvals/ApprovalExpiry.ts";
import { actionAnswer } from "../../src/decisions/views.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { SEED_CONSTRAINTS, swapRequest } from "../support/harness.ts";
import { waitFor } from "../support/waitFor.ts";
import { approvalRuntime } from "./approvalRuntime.ts";

const BIG_INTENT = { protocol: "jupiter", asset: "SOL", amount: "100", slippage_bps: 30 };
const TTL_MS = 3600_000;

describe("approval expiry on the test clock", () => {
  const rt = approvalRuntime({ testClock: true, extra: ApprovalExpiry.layer({ intervalMs: 1000 }) });
  after(() => rt.close());

  const now = () => rt.run(Effect.flatMap(TestClock.currentTimeMillis, (ms) => Effect.succeed(ms)));
  const adjust = (ms: number) => rt.run(TestClock.adjust(`${ms} millis`));
  /** A fresh permit and snapshot at the clock's time, then the big swap (with `extra`). */
  const bigSwap = async (extra: Record<string, unknown> = {}) => {
    await rt.putSnapshot({ SOL: 142.1 }, new Date(await now()).toISOString());
    const permit = await rt.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: { ...SEED_CONSTRAINTS, max_notional_usd: 50_000 }, ttl_seconds: 300 });
    return actionAnswer(await rt.decide(swapRequest({ intent: BIG_INTENT, permit, ...extra })));
  };
  const expiredEvents = async (id: string) =>
    (await rt.run(Effect.flatMap(EventStore, (store) => store.readStream(`approval-${id}`)))).filter((event) => event.type === "ApprovalExpired.v1");

  let pendingId: string;
  let grantedId: string;
  let requestedAt: number;
  before(async () => {
    // The test clock starts at the epoch; every step below moves it (a sweep runs each second of it).
    const pending = await bigSwap();
    assert.equal(pending.status, 202, JSON.stringify(pending.body));
    pendingId = String(pending.body["approval_id"]);
    requestedAt = await now();
    assert.equal(Date.parse(String(pending.body["expires_at"])) - (await now()), TTL_MS);
    const toGrant = await bigSwap({ intent: { ...BIG_INTENT, amount: "101" } });
    grantedId = String(toGrant.body["approval_id"]);
    assert.equal((await rt.vote(grantedId, "grant")).kind, "recorded");
  });

  test("one millisecond before expires_at nothing has expired; at expires_at both are expired and refused", async () => {
    await adjust(TTL_MS - 1);
    assert.deepEqual(await expiredEvents(pendingId), [], "not yet");
    const stillGranted = await bigSwap({ intent: { ...BIG_INTENT, amount: "101" }, approval_id: grantedId });
    assert.equal(stillGranted.status, 200, "a granted approval is usable up to its expires_at");
    await adjust(1);
    const repeat = await bigSwap({ approval_id: pendingId });
    assert.equal(repeat.status, 403);
    assert.equal(repeat.body["reason"], "approval_expired");
    const vote = await rt.vote(pendingId, "grant", "operator:bob");
    assert.equal(vote.kind, "refused");
    assert.equal(vote.kind === "refused" ? vote.reason : undefined, "approval_closed");
  });

  test("the sweep records ApprovalExpired.v1 once for an expired approval, never for a used one", async () => {
    // The vote above may already have recorded it; the sweep records what is left, once.
    await adjust(1000);
    await adjust(1000);
    // The sweep the clock woke appends on its own fiber: wait for it (bounded), then check it wrote one.
    const events = await waitFor("the pending approval's expiry", async () => ((await expiredEvents(pendingId)).length > 0 ? expiredEvents(pendingId) : undefined));
    assert.equal(events.length, 1);
    assert.equal((events[0]!.data as { expired_at: string }).expired_at, new Date(requestedAt + TTL_MS).toISOString());
    assert.deepEqual(await expiredEvents(grantedId), [], "a used approval does not expire");
  });

  test("a granted approval left unused past its time is refused approval_expired, and its expiry is recorded", async () => {
    const fresh = await bigSwap({ intent: { ...BIG_INTENT, amount: "102" } });
    const id = String(fresh.body["approval_id"]);
    await rt.vote(id, "grant");
    await adjust(TTL_MS + 1000);
    const repeat = await bigSwap({ intent: { ...BIG_INTENT, amount: "102" }, approval_id: id });
    assert.equal(repeat.body["reason"], "approval_expired");
    // Neither the repeat nor a vote recorded this one: the sweep did.
    await waitFor("the granted approval's expiry", async () => ((await expiredEvents(id)).length > 0 ? true : undefined));
    await adjust(2000);
    assert.equal((await expiredEvents(id)).length, 1, "once");
    // Expired, the identical request asks anew instead of reusing it.
    const again = await bigSwap({ intent: { ...BIG_INTENT, amount: "102" } });
    assert.equal(again.status, 202);
    assert.notEqual(again.body["approval_id"], id);
  });
});
