import assert from "node:assert/strict";
import { test } from "node:test";
import { makeHarness, SEED_CONSTRAINTS, swapRequest } from "../support/harness.ts";

test("an allowed swap with a permit through the in-process app", async () => {
  const h = await makeHarness();
  try {
    assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 60 });
    const reply = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.status, "allowed");
    assert.equal(reply.json.notional_usd, "1776.25");
    assert.equal((await h.decisionEvents()).length, 1);
  } finally {
    await h.close();
  }
});
