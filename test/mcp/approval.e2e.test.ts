/**
 * An MCP call that needs human approval (contract sections 8 and 9), with a real SDK
 * client against the real everything server: the call is answered `isError` with the
 * approval id and never reaches the upstream; once an operator approves, the identical
 * call (MCP clients cannot add an `approval_id`) goes through and uses the approval; the
 * next identical call waits for a new one. A changed argument is another call.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { examplePolicyWith } from "../support/harness.ts";
import { httpClient, startGateway, type Gateway } from "../support/mcpGateway.ts";

describe("an MCP call held for approval", () => {
  let gateway: Gateway;
  let client: Client;
  before(async () => {
    // ops-1's echo calls through the gateway wait for one operator.
    const policyDir = examplePolicyWith((manifest) => {
      manifest.approvals.rules.push({ id: "ops-1-echo", actor: "agent:ops-1", action: "mcp.tools_call", resource: "mcp:everything/echo", quorum: 1, ttl_seconds: 600 });
    });
    gateway = await startGateway({ policyDir });
    client = await httpClient(`${gateway.url}/mcp/everything`, gateway.tokens.ops1);
  });
  after(async () => {
    await client?.close();
    await gateway?.close();
  });

  const echo = (message: string) => client.request({ method: "tools/call", params: { name: "echo", arguments: { message } } }, CallToolResultSchema);
  const approve = (approvalId: string) =>
    fetch(`${gateway.url}/approvals/${approvalId}/approve`, { method: "POST", headers: { authorization: `Bearer ${gateway.tokens.operator}`, "content-type": "application/json" }, body: "{}" });
  const forwardedEchoes = () => gateway.events().filter((event) => event.type === "McpCallAnswered.v1").length;

  test("pending, approved, used once, then pending again", async () => {
    const answered = forwardedEchoes();
    const held = await echo("wire 1 BTC");
    assert.equal(held.isError, true);
    const content = held.structuredContent as Record<string, unknown>;
    assert.equal(content["status"], "pending_approval");
    assert.equal(content["reason"], "approval_required");
    assert.match(String(content["approval_id"]), /^apr_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.match(JSON.stringify(held.content), new RegExp(String(content["approval_id"])));
    assert.equal(forwardedEchoes(), answered, "the upstream never saw the held call");

    // Asked again before anyone approves: the same approval, still pending.
    const again = await echo("wire 1 BTC");
    assert.equal((again.structuredContent as Record<string, unknown>)["approval_id"], content["approval_id"]);

    const vote = await approve(String(content["approval_id"]));
    assert.equal(vote.status, 200, await vote.text());

    // Another argument is another call: it waits for its own approval.
    const other = await echo("wire 2 BTC");
    assert.equal((other.structuredContent as Record<string, unknown>)["status"], "pending_approval");
    assert.notEqual((other.structuredContent as Record<string, unknown>)["approval_id"], content["approval_id"]);

    const through = await echo("wire 1 BTC");
    assert.notEqual(through.isError, true, JSON.stringify(through));
    assert.match(JSON.stringify(through.content), /wire 1 BTC/);
    assert.equal(forwardedEchoes(), answered + 1);

    const approval = await fetch(`${gateway.url}/approvals/${String(content["approval_id"])}`, { headers: { authorization: `Bearer ${gateway.tokens.operator}` } }).then((r) => r.json());
    assert.equal(approval.status, "consumed");

    // Used once: the identical call now waits for a new approval.
    const after = await echo("wire 1 BTC");
    assert.equal((after.structuredContent as Record<string, unknown>)["status"], "pending_approval");
    assert.notEqual((after.structuredContent as Record<string, unknown>)["approval_id"], content["approval_id"]);
    assert.equal(forwardedEchoes(), answered + 1);
  });
});
