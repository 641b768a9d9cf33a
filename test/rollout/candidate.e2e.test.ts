/**
 * A candidate policy beside the active one (contract section 11): a candidate that would
 * deny a class of requests (desk-7's quotes on Orca) shows every such disagreement as a
 * `PolicyCandidateDisagreed.v1` event (the check, both answers), counts it on /metrics,
 * and changes no answer; `zt policy diff` summarises them from the store.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import { EventStore } from "../../src/events/EventStore.ts";
import { candidateStream, POLICY_CANDIDATE_DISAGREED } from "../../src/rollout/events.ts";
import { examplePolicyWith, makeHarness, SEED_CONSTRAINTS, swapRequest, type Harness } from "../support/harness.ts";
import { runZt } from "../support/spawnServer.ts";
import { waitFor } from "../support/waitFor.ts";

const candidateDir = examplePolicyWith(() => undefined);
writeFileSync(join(candidateDir, "no-orca-quotes.cedar"), '@id("no-orca-quotes")\nforbid (principal, action == Action::"quote.read", resource) when { resource.path like "solana:mainnet/orca*" };\n');

describe("a candidate policy that would deny desk-7's quotes on Orca", () => {
  let h: Harness;
  let candidateHash = "";
  before(async () => {
    h = await makeHarness({ env: { ZT_POLICY_CANDIDATE_DIR: candidateDir } });
    candidateHash = (await h.request("POST", "/policy/reload", { token: h.tokens.operator })).json.candidate_policy_hash;
    assert.match(candidateHash, /^[0-9a-f]{64}$/);
    await h.putSnapshot({ SOL: 142.1 });
  });
  after(async () => {
    await h.close();
    rmSync(candidateDir, { recursive: true, force: true });
  });

  test("changes no answer, and records and counts each disagreement with its check and both answers", async () => {
    const quote = (resource: string, token = h.tokens.desk7, actor = "agent:desk-7") => h.request("POST", "/actions", { token, json: { actor, action: "quote.read", resource } });
    const orca = await Promise.all(["orca", "orca/v2", "orca", "orca-whirlpools", "orca", "orca/x"].map((path) => quote(`solana:mainnet/${path}`)));
    const others = await Promise.all(["jupiter", "raydium", "jupiter", "kamino"].map((path) => quote(`solana:mainnet/${path}`)));
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 60 });
    const swap = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) });
    const deniedUnderBoth = await quote("solana:mainnet/orca", h.tokens.ops1, "agent:ops-1");
    const malformed = await h.request("POST", "/actions", { token: h.tokens.desk7, body: "{not json", headers: { "content-type": "application/json" } });

    // The active bundle's answers, every one.
    for (const reply of [...orca, ...others, swap]) {
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.json.policy_hash, h.built.policy.policyHash);
    }
    assert.equal(deniedUnderBoth.status, 403);
    assert.equal(malformed.status, 400);

    const events = await waitFor("the six disagreements", async () => {
      const stored = await h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(candidateStream(candidateHash))));
      return stored.length >= 6 ? stored : undefined;
    });
    // Give a seventh (which must not exist) a moment to show up.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stored = await h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(candidateStream(candidateHash))));
    assert.equal(stored.length, 6);
    assert.deepEqual(new Set(events.map((event) => (event.data as { decision_id: string }).decision_id)), new Set(orca.map((reply) => reply.json.decision_id)));
    for (const event of events) {
      assert.equal(event.type, POLICY_CANDIDATE_DISAGREED);
      const { check, active, candidate, actor, action } = event.data as Record<string, any>;
      assert.equal(check, "cedar_policy");
      assert.equal(actor, "agent:desk-7");
      assert.equal(action, "quote.read");
      assert.deepEqual(active, { policy_id: "policy_mainnet_v1", policy_hash: h.built.policy.policyHash, status: "allowed", reason: null, check_ok: true });
      assert.deepEqual(candidate, { policy_id: "policy_mainnet_v1", policy_hash: candidateHash, status: "denied", reason: "policy_denied", check_ok: false });
    }
    const metrics = (await h.request("GET", "/metrics", { token: h.tokens.operator })).text;
    assert.match(metrics, /^zt_policy_candidate_disagreements_total\{check="cedar_policy",active="allowed",candidate="policy_denied"\} 6$/m);

    // zt policy diff, reading the store on its own (the candidate of the last activation).
    const store = `sqlite:${join(h.dataDir, "events.db")}`;
    const json = await runZt(["policy", "diff", "--store", store, "--json"], { env: { ZT_DATA_DIR: h.dataDir } });
    assert.equal(json.code, 0, json.stderr);
    const summary = JSON.parse(json.stdout);
    assert.equal(summary.total, 6);
    assert.equal(summary.candidate_policy_hash, candidateHash);
    assert.deepEqual(summary.groups.map((group: any) => [group.check, group.action, group.active, group.candidate, group.count, group.examples.length]), [["cedar_policy", "quote.read", "allowed", "policy_denied", 6, 5]]);
    const text = await runZt(["policy", "diff", "--store", store, "--candidate-dir", candidateDir], { env: { ZT_DATA_DIR: h.dataDir } });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^6\s+cedar_policy\s+quote\.read\s+allowed -> policy_denied\s/m);
  });
});
