/**
 * A stdio upstream in the docker sandbox: the everything server runs in a container the
 * gateway starts with `docker run -i` (no network, read-only root, no capabilities, its
 * own directory the only writable path, its code bound read-only, the limits), and
 * answers a real client through the gateway; the container is gone with the session.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { EXAMPLE_POLICY_DIR, tempDir } from "../support/harness.ts";
import { httpClient, startGateway, type Gateway } from "../support/mcpGateway.ts";
import { buildMcpNodeImage } from "../support/mcpNodeImage.ts";
import { waitFor } from "../support/waitFor.ts";
import { requireDocker, skipWithoutDocker } from "../execution/brokerSupport.ts";

const policyDir = tempDir("zt-mcp-docker-policy-");
let gateway: Gateway | undefined;
after(async () => {
  await gateway?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

const containers = () => execFileSync("docker", ["ps", "-q", "--filter", "label=zt.mcp_server=boxed"], { encoding: "utf8" }).trim();

test("the everything server in the docker sandbox answers through the gateway, with no network and nothing of the host", { skip: skipWithoutDocker, timeout: 120_000 }, async () => {
  requireDocker();
  const image = buildMcpNodeImage();
  cpSync(EXAMPLE_POLICY_DIR, policyDir, { recursive: true });
  writeFileSync(
    join(policyDir, "mcp.json"),
    JSON.stringify({ servers: { boxed: { transport: "stdio", command: "node_modules/.bin/mcp-server-everything", args: ["stdio"], sandbox: "docker", image, read: ["node_modules"], limits: { memory_mb: 512 } } } }),
  );
  writeFileSync(join(policyDir, "mcp.cedar"), '@id("ops1-boxed")\npermit (principal == Agent::"agent:ops-1", action == Action::"mcp.tools_call", resource) when { resource.path like "mcp:boxed/*" };\n');
  gateway = await startGateway({ policyDir });
  const client = await httpClient(`${gateway.url}/mcp/boxed`, gateway.tokens.ops1);
  try {
    assert.equal(client.getServerVersion()?.name, "mcp-servers/everything");
    const echoed = await client.callTool({ name: "echo", arguments: { message: "from a container" } });
    assert.deepEqual(echoed.content, [{ type: "text", text: "Echo: from a container" }]);
    const env = JSON.parse((((await client.callTool({ name: "get-env", arguments: {} })).content as Array<{ text: string }>)[0]!).text) as Record<string, string>;
    assert.equal(env["HOME"], join(gateway.dataDir, "mcp", "boxed"));
    assert.ok(!Object.keys(env).some((name) => name.startsWith("ZT_")), Object.keys(env).join(", "));
    const id = containers();
    assert.ok(id !== "", "the upstream runs in a container labelled with its server id");
    const inspected = JSON.parse(execFileSync("docker", ["inspect", id.split("\n")[0]!], { encoding: "utf8" }))[0];
    assert.equal(inspected.HostConfig.NetworkMode, "none");
    assert.equal(inspected.HostConfig.ReadonlyRootfs, true);
    assert.deepEqual(inspected.HostConfig.CapDrop, ["ALL"]);
    assert.equal(inspected.HostConfig.Memory, 512 * 1024 * 1024);
    assert.ok(inspected.Config.Env.every((entry: string) => !entry.startsWith("ZT_")));
  } finally {
    // DELETE ends the gateway's session, and with it the upstream session and its container.
    await (client.transport as StreamableHTTPClientTransport).terminateSession();
    await client.close();
  }
  await waitFor("the container to be gone with the session", () => (containers() === "" ? true : undefined), { timeoutMs: 20_000 });
});
