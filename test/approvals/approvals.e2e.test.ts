/**
 * Human approval end to end (contract section 9), in process on a real SQLite store with
 * the example bundle (desk-7 swaps over 10,000 USD notional need one approval) and the
 * development operators operator:alice and operator:bob: the whole flow, a quorum of
 * two, each refusal reason, a changed amount, 50 concurrent repeats, and what an agent
 * token may not do. The digest is recomputed here with `canonicalize` and node:crypto.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import canonicalize from "canonicalize";
import { Effect } from "effect";
import { EventStore, type RecordedEvent } from "../../src/events/EventStore.ts";
import { examplePolicyWith, makeHarness, SEED_CONSTRAINTS, swapRequest, type Harness } from "../support/harness.ts";

const BIG = { max_notional_usd: 50_000, max_slippage_bps: SEED_CONSTRAINTS.max_slippage_bps, protocol_allowlist: SEED_CONSTRAINTS.protocol_allowlist };
// 100 SOL x 142.1 = 14210 USD.
const BIG_INTENT = { protocol: "jupiter", asset: "SOL", amount: "100", slippage_bps: 30 };

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Every event of the store, in global order. */
async function allEvents(h: Harness): Promise<ReadonlyArray<RecordedEvent>> {
  return h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readAll({ after: 0, limit: 100_000 })));
}

async function permitFor(h: Harness) {
  return h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", resource: "solana:mainnet/*", constraints: BIG, ttl_seconds: 300 });
}

async function bigSwap(h: Harness, extra: Record<string, unknown> = {}, permit?: unknown) {
  return h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ intent: BIG_INTENT, permit: permit ?? (await permitFor(h)), ...extra }) });
}

const approve = (h: Harness, id: string, token = h.tokens.alice, body: unknown = { note: "checked the desk's limits" }) => h.request("POST", `/approvals/${id}/approve`, { token, json: body });
const reject = (h: Harness, id: string, token = h.tokens.bob) => h.request("POST", `/approvals/${id}/reject`, { token, json: { note: "not today" } });

describe("approvals over HTTP, example bundle", () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness();
    assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
  });
  after(() => h.close());

  test("the whole flow: 202 pending, listed, approved by an operator, the identical repeat allowed and the approval consumed", async () => {
    const permit = await permitFor(h);
    const request = swapRequest({ intent: BIG_INTENT, permit });
    const pending = await h.request("POST", "/actions", { token: h.tokens.desk7, json: request });
    assert.equal(pending.status, 202, pending.text);
    const body = pending.json;
    assert.equal(body.status, "pending_approval");
    assert.equal(body.reason, "approval_required");
    assert.match(body.decision_id, /^dec_[0-9A-Z]{26}$/);
    assert.equal(body.approval_id, `apr_${body.decision_id.slice(4)}`);
    const { permit: _permit, ...call } = request;
    assert.equal(body.request_digest, sha256(canonicalize(call)!));
    assert.ok(Date.parse(body.expires_at) - Date.parse(body.decided_at) === 3600_000, "the rule's ttl");
    assert.equal(body.quorum, 1);
    assert.equal(body.notional_usd, "14210");

    const queue = await h.request("GET", "/approvals?status=pending", { token: h.tokens.operator });
    assert.equal(queue.status, 200);
    const listed = queue.json.approvals.find((a: { approval_id: string }) => a.approval_id === body.approval_id);
    assert.deepEqual(
      { status: listed.status, actor: listed.actor, action: listed.action, resource: listed.resource, digest: listed.request_digest, decision: listed.decision_id },
      { status: "pending", actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", digest: body.request_digest, decision: body.decision_id },
    );
    const own = await h.request("GET", `/approvals/${body.approval_id}`, { token: h.tokens.desk7 });
    assert.equal(own.status, 200, "the requesting agent sees its own");
    assert.deepEqual(own.json.request.intent, BIG_INTENT);

    const granted = await approve(h, body.approval_id);
    assert.equal(granted.status, 200, granted.text);
    assert.equal(granted.json.status, "granted");
    assert.deepEqual(granted.json.granted_by, ["operator:alice"]);
    assert.equal(granted.json.grants[0].note, "checked the desk's limits");

    // The same permit: the pending answer consumed nothing.
    const allowed = await h.request("POST", "/actions", { token: h.tokens.desk7, json: { ...request, approval_id: body.approval_id } });
    assert.equal(allowed.status, 200, allowed.text);
    assert.equal(allowed.json.status, "allowed");
    assert.equal(allowed.json.approval_id, body.approval_id);
    assert.deepEqual(allowed.json.invariant_checks.slice(-4).map((c: { name: string }) => c.name), ["approval_match", "approval_status", "approval_consumed", "nonce_consumed"]);

    const used = await h.request("GET", `/approvals/${body.approval_id}`, { token: h.tokens.operator });
    assert.equal(used.json.status, "consumed");
    assert.equal(used.json.consumed_by, allowed.json.decision_id);

    const events = (await allEvents(h)).filter((e) => e.stream === `approval-${body.approval_id}` || e.stream === `approval-consumed-${body.approval_id}`);
    assert.deepEqual(events.map((e) => e.type), ["ApprovalRequested.v1", "ApprovalGranted.v1", "ApprovalConsumed.v1"]);
    assert.equal((events[1]!.data as { operator: string }).operator, "operator:alice", "the approver is the authenticated operator");
  });

  test("an operator named in the body is ignored: the approver is whoever authenticated", async () => {
    const pending = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "101" } });
    const refused = await approve(h, pending.json.approval_id, h.tokens.bob, { note: "x", operator: "operator:alice" });
    assert.equal(refused.status, 400, "unknown fields are refused");
    const granted = await approve(h, pending.json.approval_id, h.tokens.bob, {});
    assert.deepEqual(granted.json.granted_by, ["operator:bob"]);
  });

  test("each refusal reason of the repeat: mismatch (changed amount, unknown id), pending, rejected, consumed", async () => {
    const permit = await permitFor(h);
    const pending = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "102" } }, permit);
    const id = pending.json.approval_id;

    const notYet = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "102" }, approval_id: id }, permit);
    assert.equal(notYet.status, 403);
    assert.equal(notYet.json.reason, "approval_pending");

    await approve(h, id);
    const changed = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "103" }, approval_id: id }, permit);
    assert.equal(changed.status, 403);
    assert.equal(changed.json.reason, "approval_mismatch");
    const unknown = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "102" }, approval_id: "apr_01J9QJ00000000000000000000" }, permit);
    assert.equal(unknown.json.reason, "approval_mismatch");

    const allowed = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "102" }, approval_id: id }, permit);
    assert.equal(allowed.status, 200, allowed.text);
    const again = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "102" }, approval_id: id });
    assert.equal(again.status, 403);
    assert.equal(again.json.reason, "approval_consumed");
    assert.equal((await approve(h, id, h.tokens.bob)).status, 409, "a used approval takes no more votes");

    const toReject = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "104" } });
    const rejected = await reject(h, toReject.json.approval_id);
    assert.equal(rejected.status, 200);
    assert.equal(rejected.json.status, "rejected");
    assert.equal(rejected.json.rejection.operator, "operator:bob");
    const refused = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "104" }, approval_id: toReject.json.approval_id });
    assert.equal(refused.json.reason, "approval_rejected");
    const late = await approve(h, toReject.json.approval_id);
    assert.equal(late.status, 409);
    assert.equal(late.json.reason, "approval_closed");
    // The identical request without approval_id is refused too, not queued again.
    const repeat = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "104" } });
    assert.equal(repeat.json.reason, "approval_rejected");
  });

  test("a repeat without approval_id while pending answers the same approval; after the grant it is allowed (the MCP path)", async () => {
    const first = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "105" } });
    const second = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "105" } });
    assert.equal(second.status, 202);
    assert.equal(second.json.approval_id, first.json.approval_id, "one approval per waiting request");
    await approve(h, first.json.approval_id);
    const allowed = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "105" } });
    assert.equal(allowed.status, 200, allowed.text);
    assert.equal(allowed.json.approval_id, first.json.approval_id);
  });

  test("50 concurrent repeats of one approved request: exactly one allowed, the rest approval_consumed", async () => {
    const permit = await permitFor(h);
    const intent = { ...BIG_INTENT, amount: "106" };
    const pending = await bigSwap(h, { intent }, permit);
    await approve(h, pending.json.approval_id);
    const replies = await Promise.all(Array.from({ length: 50 }, () => bigSwap(h, { intent, approval_id: pending.json.approval_id }, permit)));
    const allowed = replies.filter((r) => r.status === 200);
    assert.equal(allowed.length, 1, JSON.stringify(replies.map((r) => r.json.reason)));
    for (const reply of replies.filter((r) => r.status !== 200)) {
      assert.equal(reply.status, 403);
      assert.equal(reply.json.reason, "approval_consumed");
    }
    const events = await allEvents(h);
    assert.equal(events.filter((e) => e.stream === `approval-consumed-${pending.json.approval_id}`).length, 1);
    assert.equal(events.filter((e) => e.stream === `permit-nonce-${permit.nonce}`).length, 1);
    const decided = events.filter((e) => e.type === "ActionDecided.v1" && (e.data as { approval_id?: string }).approval_id === pending.json.approval_id);
    assert.equal(decided.length, 51, "the pending decision and the 50 repeats: every call recorded");
  });

  test("an agent token cannot approve or reject, cannot list or read another agent's approvals, and so cannot approve its own request", async () => {
    const pending = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "107" } });
    const id = pending.json.approval_id;
    for (const token of [h.tokens.desk7, h.tokens.ops1]) {
      for (const path of [`/approvals/${id}/approve`, `/approvals/${id}/reject`]) {
        const reply = await h.request("POST", path, { token, json: {} });
        assert.equal(reply.status, 403, `${path}: ${reply.text}`);
        assert.equal(reply.json.reason, "forbidden");
      }
    }
    const others = await h.request("GET", "/approvals", { token: h.tokens.ops1 });
    assert.equal(others.status, 200);
    assert.deepEqual(others.json.approvals, [], "ops-1 sees no approvals of desk-7");
    assert.equal((await h.request("GET", `/approvals/${id}`, { token: h.tokens.ops1 })).status, 404);
    const own = await h.request("GET", "/approvals?status=pending", { token: h.tokens.desk7 });
    assert.ok(own.json.approvals.every((a: { actor: string }) => a.actor === "agent:desk-7"));
    assert.ok(own.json.approvals.some((a: { approval_id: string }) => a.approval_id === id));
    assert.equal((await h.request("GET", `/approvals/${id}`)).status, 401, "no token: 401");
    const still = await h.request("GET", `/approvals/${id}`, { token: h.tokens.operator });
    assert.equal(still.json.status, "pending", "nothing an agent sent moved it");
  });

  test("bad input: unknown status or limit, a malformed id, a note over 1024 characters or not text, duplicate keys", async () => {
    assert.equal((await h.request("GET", "/approvals?status=open", { token: h.tokens.operator })).status, 400);
    assert.equal((await h.request("GET", "/approvals?limit=0", { token: h.tokens.operator })).status, 400);
    assert.equal((await h.request("GET", "/approvals/../decisions", { token: h.tokens.operator })).status, 404);
    assert.equal((await h.request("POST", "/approvals/apr_nope/approve", { token: h.tokens.operator, json: {} })).status, 404);
    assert.equal((await h.request("POST", "/approvals/apr_01J9QJ00000000000000000000/approve", { token: h.tokens.operator, json: {} })).status, 404);
    const pending = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "108" } });
    const id = pending.json.approval_id;
    const long = await approve(h, id, h.tokens.alice, { note: "x".repeat(1025) });
    assert.equal(long.status, 400);
    assert.ok(!long.text.includes("x".repeat(100)), "the note is not echoed");
    assert.equal((await h.request("POST", `/approvals/${id}/approve`, { token: h.tokens.alice, body: '{"note":"a","note":"b"}', headers: { "content-type": "application/json" } })).status, 400);
    assert.equal((await h.request("POST", `/approvals/${id}/approve`, { token: h.tokens.alice, body: "" })).status, 200, "an empty body is no note");
    assert.equal((await h.request("POST", `/approvals/${id}/approve`, { token: h.tokens.alice, json: {} })).json.reason, "approval_duplicate_grant");
    assert.equal((await h.request("POST", `/approvals/${id}/approve`, { token: h.tokens.bob, json: {} })).json.reason, "approval_already_granted");
  });
});

describe("approvals with a quorum of two", () => {
  let h: Harness;
  let policyDir: string;
  before(async () => {
    policyDir = examplePolicyWith((manifest) => {
      manifest.approvals.rules[0].quorum = 2;
    });
    h = await makeHarness({ policyDir });
    await h.putSnapshot({ SOL: 142.1 });
  });
  after(() => h.close());

  test("two distinct operators must grant; the same operator twice counts once", async () => {
    const permit = await permitFor(h);
    const pending = await bigSwap(h, {}, permit);
    assert.equal(pending.json.quorum, 2);
    const id = pending.json.approval_id;
    const one = await approve(h, id);
    assert.equal(one.json.status, "pending");
    assert.deepEqual(one.json.granted_by, ["operator:alice"]);
    const twice = await approve(h, id);
    assert.equal(twice.status, 409);
    assert.equal(twice.json.reason, "approval_duplicate_grant");
    const early = await bigSwap(h, { approval_id: id }, permit);
    assert.equal(early.json.reason, "approval_pending");
    const two = await approve(h, id, h.tokens.bob);
    assert.equal(two.json.status, "granted");
    assert.deepEqual(two.json.granted_by, ["operator:alice", "operator:bob"]);
    const allowed = await bigSwap(h, { approval_id: id }, permit);
    assert.equal(allowed.status, 200, allowed.text);
  });

  test("two operators granting at the same moment both count", async () => {
    const pending = await bigSwap(h, { intent: { ...BIG_INTENT, amount: "110" } });
    const [a, b] = await Promise.all([approve(h, pending.json.approval_id), approve(h, pending.json.approval_id, h.tokens.bob)]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    const read = await h.request("GET", `/approvals/${pending.json.approval_id}`, { token: h.tokens.operator });
    assert.equal(read.json.status, "granted");
    assert.deepEqual([...read.json.granted_by].sort(), ["operator:alice", "operator:bob"]);
  });
});
