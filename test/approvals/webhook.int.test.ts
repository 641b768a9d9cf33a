/**
 * The pending-approval webhook against a real local HTTP receiver (node:http on
 * loopback): delivered off the decision path, retried with backoff through a 500 and a
 * dropped connection, the same `webhook-id` and body on every attempt, signed per
 * Standard Webhooks' `v1a` scheme by the audit key, and verified here with node:crypto
 * against the key GET /keys publishes. The notice carries the call's names and digest,
 * never its intent or context.
 */
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import { ApprovalWebhook } from "../../src/approvals/ApprovalWebhook.ts";
import { actionAnswer } from "../../src/decisions/views.ts";
import { Identity } from "../../src/identity/Identity.ts";
import { examplePolicyWith, SEED_CONSTRAINTS, swapRequest } from "../support/harness.ts";
import { waitFor } from "../support/waitFor.ts";
import { approvalRuntime } from "./approvalRuntime.ts";

interface Delivery {
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

const BIG_INTENT = { protocol: "jupiter", asset: "SOL", amount: "100", slippage_bps: 30, memo: "secret-intent-value" };

describe("the approval webhook", () => {
  const deliveries: Delivery[] = [];
  /** What the receiver does with the n-th request (0-based); the default answers 200. */
  let behaviour: (n: number, response: ServerResponse) => void = (_n, response) => response.end();
  let server: Server;
  let policyDir: string;
  let rt: ReturnType<typeof approvalRuntime<ApprovalWebhook>>;

  before(async () => {
    server = createServer((request, response) => {
      let body = "";
      request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      request.on("end", () => {
        deliveries.push({ headers: request.headers, body });
        behaviour(deliveries.length - 1, response);
      });
    });
    await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
    const { port } = server.address() as AddressInfo;
    policyDir = examplePolicyWith((manifest) => {
      manifest.approvals.webhook = { url: `http://127.0.0.1:${port}/hook?token=in-the-url`, console_url: "http://127.0.0.1:8787/console" };
    });
    rt = approvalRuntime({ policyDir, extra: ApprovalWebhook.layer({ intervalMs: 20, retryBaseMs: 20, retryMaxMs: 100, maxAttempts: 5, timeoutMs: 2000 }) });
    await rt.putSnapshot({ SOL: 142.1 }, new Date().toISOString());
  });
  after(async () => {
    await rt.close();
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
    rmSync(policyDir, { recursive: true, force: true });
  });

  const bigSwap = async (amount: string) => {
    const permit = await rt.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: { ...SEED_CONSTRAINTS, max_notional_usd: 50_000 }, ttl_seconds: 300 });
    return actionAnswer(await rt.decide(swapRequest({ intent: { ...BIG_INTENT, amount }, permit })));
  };

  test("a pending approval is announced, retried through a 500 and a dropped connection, and verifies with the audit key", async () => {
    behaviour = (n, response) => {
      if (n === 0) response.writeHead(500).end();
      else if (n === 1) response.socket?.destroy();
      else response.end();
    };
    const pending = await bigSwap("100");
    assert.equal(pending.status, 202);
    const id = String(pending.body["approval_id"]);
    await waitFor("three attempts", () => (deliveries.length >= 3 ? true : undefined));

    const attempts = deliveries.slice(0, 3);
    assert.ok(attempts.every((d) => d.headers["webhook-id"] === id), "one webhook-id, the approval's, on every attempt");
    assert.ok(attempts.every((d) => d.body === attempts[0]!.body), "the same body on every attempt");
    const notice = JSON.parse(attempts[0]!.body);
    assert.deepEqual(notice, {
      type: "approval.requested",
      approval_id: id,
      decision_id: pending.body["decision_id"],
      request_digest: pending.body["request_digest"],
      actor: "agent:desk-7",
      action: "swap.execute",
      resource: "solana:mainnet/jupiter",
      notional_usd: "14210",
      rule_id: "desk-7-large-swaps",
      quorum: 1,
      requested_at: pending.body["decided_at"],
      expires_at: pending.body["expires_at"],
      policy_id: "policy_mainnet_v1",
      console_url: `http://127.0.0.1:8787/console?approval=${id}`,
    });
    assert.ok(!attempts[0]!.body.includes("secret-intent-value"), "no intent value");

    const identity = await rt.run(Identity);
    const audit = identity.publicKeys.find((key) => key.use === "audit")!;
    const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: audit.public_key }, format: "jwk" });
    for (const delivery of attempts) {
      assert.equal(delivery.headers["zt-key-id"], audit.key_id);
      assert.equal(delivery.headers["content-type"], "application/json");
      const timestamp = String(delivery.headers["webhook-timestamp"]);
      assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 300, "a fresh timestamp");
      const [version, signature] = String(delivery.headers["webhook-signature"]).split(",");
      assert.equal(version, "v1a");
      const signed = Buffer.from(`${id}.${timestamp}.${delivery.body}`);
      assert.ok(verify(null, signed, publicKey, Buffer.from(signature!, "base64")), "the signature verifies");
      assert.ok(!verify(null, Buffer.from(`${id}.${timestamp}.${delivery.body.replace("14210", "14211")}`), publicKey, Buffer.from(signature!, "base64")), "and a changed body does not");
    }
    // Delivered: no fourth attempt follows.
    await new Promise((settle) => setTimeout(settle, 200));
    assert.equal(deliveries.filter((d) => d.headers["webhook-id"] === id).length, 3);
  });

  test("never on the decision path: decisions are answered while the receiver holds a delivery unanswered", async () => {
    const held: ServerResponse[] = [];
    behaviour = (_n, response) => void held.push(response);
    const before = deliveries.length;
    const first = await bigSwap("110");
    await waitFor("the first notice to be held", () => (deliveries.length > before ? true : undefined));
    const second = await bigSwap("111");
    assert.equal(first.status, 202);
    assert.equal(second.status, 202, "answered while the receiver still holds the first notice");
    assert.ok(held.length >= 1 && held.every((response) => !response.writableEnded));
    for (const response of held) response.end();
  });
});
