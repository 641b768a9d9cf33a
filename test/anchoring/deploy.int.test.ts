// DAAL deployment through thirdweb against a real anvil: deployDaal in process, then
// scripts/deploy.ts as a child process with its settings in the environment. Every
// check reads the chain back with viem.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  createPublicClient,
  createWalletClient,
  getAddress,
  type Hex,
  http,
  parseEventLogs,
  type PublicClient,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { DaalDeployError, type DaalDeployment, deployDaal } from "../../src/anchoring/deploy/deployDaal.ts";
import { sha256Hex } from "../../src/kernel/hashing.ts";
import { ANVIL_ACCOUNT_0, ANVIL_ACCOUNT_1, ANVIL_CHAIN_ID, type Anvil, freePort, startAnvil } from "../support/anvil.ts";
import { REPO_ROOT, tempDir } from "../support/harness.ts";
import { runToExit } from "../support/spawnServer.ts";

const DEPLOY_SCRIPT = join(REPO_ROOT, "scripts", "deploy.ts");
const TEST_TIMEOUT_MS = 60_000;

/** Every spelling of a key that would give it away. */
function assertNoKey(text: string, privateKey: string): void {
  const hex = privateKey.replace(/^0x/, "");
  assert.ok(!text.toLowerCase().includes(hex.toLowerCase()), "the private key appears in the output");
}

describe("DAAL deployment on anvil", { timeout: 4 * TEST_TIMEOUT_MS }, () => {
  let anvil: Anvil;
  let chain: PublicClient;
  let deployment: DaalDeployment;
  const rpcCalls: string[] = [];

  before(async () => {
    anvil = await startAnvil();
    chain = createPublicClient({ chain: { ...foundry, id: ANVIL_CHAIN_ID }, transport: http(anvil.rpcUrl) });
    // Record every URL thirdweb (or anything else in this process) fetches while deploying.
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      rpcCalls.push(input instanceof Request ? input.url : String(input));
      return realFetch(input, init);
    };
    try {
      deployment = await deployDaal({ chain: "local", rpcUrl: anvil.rpcUrl, privateKey: ANVIL_ACCOUNT_0.privateKey });
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  after(async () => {
    await anvil?.stop();
  });

  it("deploys DAAL with code at the address, owned by the deployer, who may anchor", async () => {
    assert.equal(deployment.chainId, ANVIL_CHAIN_ID);
    const code = await chain.getCode({ address: deployment.address });
    assert.ok(code !== undefined && code.length > 2, "no code at the DAAL address");
    const read = { address: deployment.address, abi: DAAL_ABI } as const;
    assert.equal(await chain.readContract({ ...read, functionName: "owner" }), ANVIL_ACCOUNT_0.address);
    assert.equal(await chain.readContract({ ...read, functionName: "pendingOwner" }), "0x0000000000000000000000000000000000000000");
    assert.equal(await chain.readContract({ ...read, functionName: "isSubmitter", args: [ANVIL_ACCOUNT_0.address] }), true);
    assert.equal(deployment.owner, ANVIL_ACCOUNT_0.address);
    assert.deepEqual(deployment.submitters, [ANVIL_ACCOUNT_0.address]);
  });

  it("answers the deployment transaction, its block and the block's time", async () => {
    const receipt = await chain.getTransactionReceipt({ hash: deployment.txHash });
    assert.equal(receipt.status, "success");
    assert.equal(getAddress(receipt.contractAddress!), deployment.address);
    assert.equal(BigInt(deployment.deploymentBlock), receipt.blockNumber);
    const block = await chain.getBlock({ blockNumber: receipt.blockNumber });
    assert.equal(deployment.deployedAt, new Date(Number(block.timestamp) * 1000).toISOString());
    const tx = await chain.getTransaction({ hash: deployment.txHash });
    assert.equal(tx.to, null);
    assert.equal(getAddress(tx.from), ANVIL_ACCOUNT_0.address);
  });

  it("made no network call but to the RPC (placeholder thirdweb client id)", () => {
    assert.ok(rpcCalls.length > 0);
    assert.deepEqual([...new Set(rpcCalls.map((url) => new URL(url).origin))], [new URL(anvil.rpcUrl).origin]);
  });

  it("takes a checkpoint anchored through viem and reads it back", async () => {
    const wallet = createWalletClient({
      account: privateKeyToAccount(ANVIL_ACCOUNT_0.privateKey),
      chain: { ...foundry, id: ANVIL_CHAIN_ID },
      transport: http(anvil.rpcUrl),
    });
    const root = `0x${sha256Hex("zt-infra checkpoint root, tree size 7")}` as Hex;
    const hash = await wallet.writeContract({ address: deployment.address, abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [root, 7n] });
    const receipt = await chain.waitForTransactionReceipt({ hash, timeout: 10_000 });
    assert.equal(receipt.status, "success");
    const events = parseEventLogs({ abi: DAAL_ABI, logs: receipt.logs }).map(({ eventName, args }) => ({ eventName, args }));
    assert.deepEqual(events, [{ eventName: "CheckpointAnchored", args: { root, treeSize: 7n, submitter: ANVIL_ACCOUNT_0.address } }]);
    const block = await chain.getBlock({ blockNumber: receipt.blockNumber });
    const read = { address: deployment.address, abi: DAAL_ABI } as const;
    assert.deepEqual(await chain.readContract({ ...read, functionName: "checkpointOf", args: [root] }), {
      treeSize: 7n,
      anchoredAt: block.timestamp,
      blockNumber: receipt.blockNumber,
      submitter: ANVIL_ACCOUNT_0.address,
    });
    assert.equal(await chain.readContract({ ...read, functionName: "isAnchored", args: [root] }), true);
    assert.equal(await chain.readContract({ ...read, functionName: "latestRoot" }), root);
    assert.equal(await chain.readContract({ ...read, functionName: "latestTreeSize" }), 7n);
    assert.equal(await chain.readContract({ ...read, functionName: "checkpointCount" }), 1n);
  });

  it("allows the named submitter instead of the deployer", async () => {
    const other = await deployDaal({
      chain: "local",
      rpcUrl: anvil.rpcUrl,
      privateKey: ANVIL_ACCOUNT_0.privateKey,
      submitter: ANVIL_ACCOUNT_1.address.toLowerCase(),
    });
    assert.notEqual(other.address, deployment.address);
    assert.deepEqual(other.submitters, [ANVIL_ACCOUNT_1.address]);
    const read = { address: other.address, abi: DAAL_ABI } as const;
    assert.equal(await chain.readContract({ ...read, functionName: "isSubmitter", args: [ANVIL_ACCOUNT_1.address] }), true);
    assert.equal(await chain.readContract({ ...read, functionName: "isSubmitter", args: [ANVIL_ACCOUNT_0.address] }), false);
    assert.equal(await chain.readContract({ ...read, functionName: "owner" }), ANVIL_ACCOUNT_0.address);
  });

  it("fails with deploy_failed, not retryable, when the deployer cannot pay, and never names the key", async () => {
    const unfunded = generatePrivateKey();
    const error = await deployDaal({ chain: "local", rpcUrl: anvil.rpcUrl, privateKey: unfunded }).then(
      () => assert.fail("an unfunded deployer deployed DAAL"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DaalDeployError);
    assert.equal(error.reason, "deploy_failed");
    assert.equal(error.isRetryable, false);
    assertNoKey(`${error.message}\n${error.stack ?? ""}\n${JSON.stringify(error)}`, unfunded);
  });

  it("refuses a malformed private key as invalid_config without echoing it", async () => {
    const malformed = `${ANVIL_ACCOUNT_1.privateKey}ff`;
    const error = await deployDaal({ chain: "local", rpcUrl: anvil.rpcUrl, privateKey: malformed }).then(
      () => assert.fail("a malformed key was accepted"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DaalDeployError);
    assert.equal(error.reason, "invalid_config");
    assertNoKey(`${error.message}\n${error.stack ?? ""}`, ANVIL_ACCOUNT_1.privateKey);
  });

  it("reports an RPC that does not answer as rpc_unreachable, retryable", async () => {
    const silent = `http://127.0.0.1:${await freePort()}`;
    const error = await deployDaal({ chain: "local", rpcUrl: silent, privateKey: ANVIL_ACCOUNT_0.privateKey }).then(
      () => assert.fail("deployed to nothing"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DaalDeployError);
    assert.equal(error.reason, "rpc_unreachable");
    assert.equal(error.isRetryable, true);
  });

  it("refuses a Base deployment through an RPC of another chain as chain_mismatch", async () => {
    const error = await deployDaal({ chain: "base-sepolia", rpcUrl: anvil.rpcUrl, privateKey: ANVIL_ACCOUNT_0.privateKey }).then(
      () => assert.fail("deployed to the wrong chain"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DaalDeployError);
    assert.equal(error.reason, "chain_mismatch");
  });

  describe("scripts/deploy.ts", () => {
    const dirs: string[] = [];
    after(() => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });

    /** The script with only the given settings (no ZT_* or THIRDWEB_* from this process). */
    function runDeploy(env: Record<string, string>) {
      return runToExit(process.execPath, [DEPLOY_SCRIPT], {
        env: { THIRDWEB_SECRET_KEY: "", THIRDWEB_CLIENT_ID: "", ...env },
        timeoutMs: TEST_TIMEOUT_MS,
      });
    }

    it("writes <ZT_DEPLOYMENTS_DIR>/31337.json with the deployment and prints no private key", { timeout: TEST_TIMEOUT_MS }, async () => {
      const dir = tempDir("zt-deployments-");
      dirs.push(dir);
      const deploymentsDir = join(dir, "deployments");
      const run = await runDeploy({
        ZT_DEPLOY_CHAIN: "local",
        ZT_DEPLOY_RPC_URL: anvil.rpcUrl,
        ZT_DEPLOY_PRIVATE_KEY: ANVIL_ACCOUNT_0.privateKey,
        ZT_DEPLOYMENTS_DIR: deploymentsDir,
      });
      assert.equal(run.code, 0, `deploy.ts failed:\n${run.stderr}`);
      assertNoKey(run.stdout + run.stderr, ANVIL_ACCOUNT_0.privateKey);
      assert.deepEqual(readdirSync(deploymentsDir), ["31337.json"]);

      const record = JSON.parse(readFileSync(join(deploymentsDir, "31337.json"), "utf8")) as Record<string, unknown>;
      assert.deepEqual(Object.keys(record).sort(), ["chain_id", "daal_address", "deployed_at", "deployment_block", "owner", "submitters", "tx_hash"]);
      assert.equal(record["chain_id"], ANVIL_CHAIN_ID);
      assert.equal(record["owner"], ANVIL_ACCOUNT_0.address);
      assert.deepEqual(record["submitters"], [ANVIL_ACCOUNT_0.address]);
      assert.match(String(record["tx_hash"]), /^0x[0-9a-f]{64}$/);
      assert.match(String(record["daal_address"]), /^0x[0-9a-fA-F]{40}$/);
      assert.ok(Number.isSafeInteger(record["deployment_block"]));
      assert.equal(new Date(String(record["deployed_at"])).toISOString(), record["deployed_at"]);
      assert.deepEqual(JSON.parse(run.stdout), record);

      const receipt = await chain.getTransactionReceipt({ hash: record["tx_hash"] as Hex });
      assert.equal(receipt.status, "success");
      assert.equal(getAddress(receipt.contractAddress!), record["daal_address"]);
      assert.equal(receipt.blockNumber, BigInt(record["deployment_block"] as number));
      const read = { address: record["daal_address"] as Hex, abi: DAAL_ABI } as const;
      assert.equal(await chain.readContract({ ...read, functionName: "owner" }), ANVIL_ACCOUNT_0.address);
      assert.equal(await chain.readContract({ ...read, functionName: "isSubmitter", args: [ANVIL_ACCOUNT_0.address] }), true);
    });

    it("exits 2 on a malformed private key, writing nothing and echoing none of it", { timeout: TEST_TIMEOUT_MS }, async () => {
      const dir = tempDir("zt-deployments-");
      dirs.push(dir);
      const run = await runDeploy({
        ZT_DEPLOY_RPC_URL: anvil.rpcUrl,
        ZT_DEPLOY_PRIVATE_KEY: ANVIL_ACCOUNT_1.privateKey.slice(0, -1),
        ZT_DEPLOYMENTS_DIR: join(dir, "deployments"),
      });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /ZT_DEPLOY_PRIVATE_KEY must be 32 bytes of hex/);
      assertNoKey(run.stdout + run.stderr, ANVIL_ACCOUNT_1.privateKey.slice(0, -1));
      assert.equal(existsSync(join(dir, "deployments")), false);
    });

    it("exits 1 when the deployer cannot pay, echoing no key", { timeout: TEST_TIMEOUT_MS }, async () => {
      const dir = tempDir("zt-deployments-");
      dirs.push(dir);
      const unfunded = generatePrivateKey();
      const run = await runDeploy({
        ZT_DEPLOY_RPC_URL: anvil.rpcUrl,
        ZT_DEPLOY_PRIVATE_KEY: unfunded,
        ZT_DEPLOYMENTS_DIR: join(dir, "deployments"),
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /deploy_failed/);
      assertNoKey(run.stdout + run.stderr, unfunded);
      assert.equal(existsSync(join(dir, "deployments")), false);
    });
  });
});
