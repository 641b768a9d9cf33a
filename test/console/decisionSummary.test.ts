/**
 * The console's pure parts: what a decision summary keeps (and cuts), which filters a
 * query may carry, and the per-minute denial counts (bounded to a day, time an input).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RecordedEvent } from "../../src/events/EventStore.ts";
import { DenialCounts, MINUTE_MS } from "../../src/console/DenialCounts.ts";
import { decisionSummary, matchesFilter, parseDecisionFilter, SUMMARY_TEXT_LIMIT } from "../../src/console/decisionSummary.ts";

const decided = (data: Record<string, unknown>): RecordedEvent => ({
  id: "00000000-0000-4000-8000-000000000001",
  type: "ActionDecided.v1",
  stream: "decision-dec_01JAAAAAAAAAAAAAAAAAAAAAAA",
  revision: 0,
  position: 42,
  data: data as RecordedEvent["data"],
  metadata: {},
  recordedAt: "2026-02-23T18:40:00.200Z",
});

test("a summary keeps the public fields only, cut to a bound", () => {
  const summary = decisionSummary(
    decided({
      decision_id: "dec_01JAAAAAAAAAAAAAAAAAAAAAAA",
      status: "denied",
      reason: "permit_required",
      decided_at: "2026-02-23T18:40:00.123Z",
      actor: "agent:desk-7",
      policy_id: "policy_mainnet_v1",
      notional_usd: null,
      request: { actor: "agent:desk-7", action: "swap.execute", resource: `solana:mainnet/${"x".repeat(5000)}`, intent: { secret: "never shown" }, context: { also: "never" } },
      permit: { permit_id: "p" },
    }),
  );
  assert.ok(summary !== undefined);
  assert.deepEqual(Object.keys(summary).sort(), ["action", "actor", "decided_at", "decision_id", "notional_usd", "policy_id", "position", "reason", "resource", "status"]);
  assert.equal(summary.position, 42);
  assert.equal(summary.resource!.length, SUMMARY_TEXT_LIMIT);
  assert.ok(summary.resource!.endsWith("…"));
  assert.ok(!JSON.stringify(summary).includes("never"));
  // A malformed request has no action or resource; a decision without an id is no decision.
  assert.deepEqual([decisionSummary(decided({ decision_id: "dec_x", status: "denied", request: null }))?.action], [null]);
  assert.equal(decisionSummary(decided({ status: "denied" })), undefined);
  // A status this version does not know (one added later) still shows.
  assert.equal(decisionSummary(decided({ decision_id: "dec_x", status: "pending_approval" }))?.status, "pending_approval");
});

test("filters: known names once each, contract statuses and reasons, printable terms; details never repeat a value", () => {
  assert.deepEqual(parseDecisionFilter({ actor: ["agent:desk-7"], status: ["denied"], reason: ["permit_required"], action: ["swap.execute"] }), {
    ok: true,
    filter: { actor: "agent:desk-7", status: "denied", reason: "permit_required", action: "swap.execute" },
  });
  assert.deepEqual(parseDecisionFilter({ status: [""] }), { ok: true, filter: {} }, "an empty filter is no filter");
  assert.deepEqual(parseDecisionFilter({ backfill: ["5"] }, ["backfill"]), { ok: true, filter: {} });
  for (const query of [{ colour: ["red"] }, { status: ["maybe"] }, { reason: ["because"] }, { actor: ["a", "b"] }, { actor: ["has space"] }, { action: ["é"] }, { action: ["a".repeat(201)] }, { backfill: ["1", "2"] }]) {
    const parsed = parseDecisionFilter(query, ["backfill"]);
    assert.equal(parsed.ok, false, JSON.stringify(query));
    if (!parsed.ok) for (const value of Object.values(query).flat()) if (value.length > 3) assert.ok(!parsed.detail.includes(value), "no value echoed");
  }
  const summary = decisionSummary(decided({ decision_id: "dec_x", status: "denied", reason: "policy_denied", actor: "agent:ops-1", request: { action: "quote.read", resource: "r" } }))!;
  assert.equal(matchesFilter({ actor: "agent:ops-1", reason: "policy_denied" }, summary), true);
  assert.equal(matchesFilter({ status: "allowed" }, summary), false);
  assert.equal(matchesFilter({ action: "swap.execute" }, summary), false);
});

test("denial counts per minute and reason, per actor or all; a day kept, time an input", () => {
  const counts = new DenialCounts();
  const t0 = Date.parse("2026-02-23T18:40:10Z");
  counts.add(t0, "agent:desk-7", "permit_required");
  counts.add(t0 + 1000, "agent:desk-7", null);
  counts.add(t0 + 2000, "agent:ops-1", "policy_denied");
  counts.add(t0 + MINUTE_MS, "agent:ops-1", "policy_denied");
  counts.add(Number.NaN, "agent:ops-1", "policy_denied");
  const all = counts.series(null, 3, t0 + MINUTE_MS);
  assert.deepEqual(all.buckets.map((b) => [b.start, b.decisions, b.denied]), [
    ["2026-02-23T18:39:00.000Z", 0, {}],
    ["2026-02-23T18:40:00.000Z", 3, { permit_required: 1, policy_denied: 1 }],
    ["2026-02-23T18:41:00.000Z", 1, { policy_denied: 1 }],
  ]);
  assert.deepEqual(all.reasons, ["policy_denied", "permit_required"]);
  assert.equal(all.from, "2026-02-23T18:39:00.000Z");
  assert.equal(all.to, "2026-02-23T18:42:00.000Z");
  const desk = counts.series("agent:desk-7", 3, t0 + MINUTE_MS);
  assert.deepEqual(desk.reasons, ["permit_required"]);
  assert.deepEqual(desk.buckets.map((b) => b.decisions), [0, 2, 0]);
  // A day later, the old minutes are gone, and a decision from before the window is not counted.
  const later = t0 + 25 * 60 * MINUTE_MS;
  counts.add(later, "agent:desk-7", "permit_required");
  counts.add(t0, "agent:desk-7", "permit_required");
  const day = counts.series(null, 1440, later);
  assert.deepEqual(day.reasons, ["permit_required"]);
  assert.equal(day.buckets.reduce((n, b) => n + b.decisions, 0), 1);
});
