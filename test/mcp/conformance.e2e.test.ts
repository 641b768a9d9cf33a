/**
 * Transparency (contract section 8): the MCP conformance suite's server scenarios
 * (`@modelcontextprotocol/conformance`) give the same results against the reference
 * "everything" server run directly (its own streamable-HTTP transport) and through the
 * gateway's `/mcp/everything` (the same server over stdio in its sandbox), with a policy
 * that allows the caller everything on it (the example bundle's ops-1). The suite sends
 * no token, so a loopback proxy adds ops-1's.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { authorizingProxy } from "../support/authorizingProxy.ts";
import { REPO_ROOT } from "../support/harness.ts";
import { everythingOverHttp, startGateway, type Gateway } from "../support/mcpGateway.ts";

const CONFORMANCE = join(REPO_ROOT, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
/** What the suite's active server scenarios give the everything server run directly (checked below, not assumed). */
const KNOWN_PASSING = ["server-initialize", "logging-set-level", "ping", "tools-list", "tools-call-simple-text", "tools-call-error", "server-sse-multiple-streams", "resources-list", "resources-subscribe", "resources-unsubscribe", "prompts-list"];

const outputs = mkdtempSync(join(tmpdir(), "zt-conformance-"));
const cleanups: Array<() => Promise<void> | void> = [() => rmSync(outputs, { recursive: true, force: true })];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Runs the suite's server scenarios against `url`; each scenario's passed and failed check counts, from its summary. */
async function conformance(url: string, label: string): Promise<Record<string, [number, number]>> {
  const child = spawn(process.execPath, [CONFORMANCE, "server", "--url", url, "-o", join(outputs, label)], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  await new Promise((exited) => child.once("exit", exited));
  const results: Record<string, [number, number]> = {};
  for (const match of out.matchAll(/^[✓✗] ([a-z0-9-]+): (\d+) passed, (\d+) failed$/gm)) results[match[1]!] = [Number(match[2]), Number(match[3])];
  assert.ok(Object.keys(results).length >= 20, `the suite's summary for ${label}:\n${out.slice(-3000)}`);
  return results;
}

const passing = (results: Record<string, [number, number]>) =>
  Object.entries(results)
    .filter(([, [passed, failed]]) => passed > 0 && failed === 0)
    .map(([name]) => name)
    .sort();

test("the conformance suite gives the same results directly and through /mcp/everything", { timeout: 180_000 }, async () => {
  const direct = await everythingOverHttp();
  cleanups.push(() => void direct.child.kill("SIGKILL"));

  const gateway: Gateway = await startGateway();
  cleanups.push(() => gateway.close());
  const proxy = await authorizingProxy(gateway.url, gateway.tokens.ops1);
  cleanups.push(() => proxy.close());

  const directly = await conformance(direct.url, "direct");
  const through = await conformance(`${proxy.url}/mcp/everything`, "gateway");

  assert.deepEqual(passing(directly), [...KNOWN_PASSING].sort(), "the everything server passes what it is known to pass");
  assert.deepEqual(passing(through), passing(directly), "the same scenarios pass through the gateway");
  assert.deepEqual(through, directly, "every scenario has the same passed and failed checks both ways");
  const decided = gateway.events().filter((event) => event.type === "ActionDecided.v1").length;
  assert.ok(decided > 0, "the suite's calls through the gateway were decided");
});
