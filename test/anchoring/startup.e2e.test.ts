/**
 * Anchoring configuration at the process level: `node src/main.ts` with an RPC URL but
 * incomplete submitter settings exits 2 naming what is missing (never echoing the URL,
 * which embeds a provider key); with `ZT_CHAIN=local` it starts its anvil, logs where
 * anchors go, and a graceful stop takes the anvil down too.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { tempDir } from "../support/harness.ts";
import { killAllChildren, runMain, spawnServer } from "../support/spawnServer.ts";
import { waitFor } from "./anchoringFixtures.ts";

describe("anchoring settings at startup", () => {
  const dirs: string[] = [];
  after(async () => {
    await killAllChildren();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("an RPC URL without a DAAL address or submitter settings exits 2 naming them", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const rpc = "https://base-sepolia.example/v2/PROVIDER-KEY-123";
    const direct = await runMain({ ZT_DATA_DIR: dataDir, ZT_CHAIN: rpc });
    assert.equal(direct.code, 2, direct.stderr);
    assert.match(direct.stderr, /zt-infra: ZT_CHAIN is an RPC URL, so anchoring needs ZT_DAAL_ADDRESS, ZT_SUBMITTER_PRIVATE_KEY, ZT_CHAIN_ID \(ZT_SUBMITTER=direct\)/);
    const engine = await runMain({ ZT_DATA_DIR: dataDir, ZT_CHAIN: rpc, ZT_SUBMITTER: "thirdweb-engine", ZT_DAAL_ADDRESS: "0x5FbDB2315678afecb367f032d93F642f64180aa3", ZT_CHAIN_ID: "84532", ZT_ENGINE_URL: "https://engine.example" });
    assert.equal(engine.code, 2);
    assert.match(engine.stderr, /needs ZT_ENGINE_SECRET_KEY, ZT_ENGINE_SERVER_WALLET \(ZT_SUBMITTER=thirdweb-engine\)/);
    for (const run of [direct, engine]) assert.ok(!`${run.stdout}${run.stderr}`.includes("PROVIDER-KEY-123"), "the RPC URL is not echoed");
  });

  test("ZT_CHAIN=local: the service starts its anvil, says where anchors go, and stops it on SIGTERM", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const server = await spawnServer({ dataDir, env: { ZT_CHAIN: "local" } });
    const chain = JSON.parse(readFileSync(join(dataDir, "chain.json"), "utf8"));
    const line = server.stdout().split("\n").find((l) => l.includes('"anchoring checkpoints on-chain"'));
    assert.ok(line, server.stdout());
    const logged = JSON.parse(line);
    assert.deepEqual([logged.chain, logged.chain_id, logged.contract, logged.submitter], ["local", 31337, chain.daal_address, "direct"]);
    assert.equal((await server.request("GET", "/readyz")).status, 200);

    const stopped = await server.stop();
    assert.equal(stopped.code, 0);
    await waitFor("anvil gone", async () => {
      const alive = await fetch(chain.rpc_url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', signal: AbortSignal.timeout(500) }).then(
        () => true,
        () => false,
      );
      return alive ? undefined : true;
    }, { timeoutMs: 10_000, intervalMs: 100 });
  });
});
