/**
 * verifyAnchorReceipt against a real anvil: a genuine anchor passes; a transaction to a
 * look-alike DAAL, a log from another address, another root or tree size, another chain,
 * too few confirmations, a reverted transaction and an unknown hash each fail the named
 * check; a dead RPC fails the Effect without leaking its URL; a second RPC URL verifies
 * the same hash (reconciliation with another provider).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import { createWalletClient, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { makeDirectSubmitter } from "../../src/anchoring/adapters/direct/DirectSubmitter.ts";
import { checkAnchorReceipt, type AnchorExpectation } from "../../src/anchoring/core/checkAnchorReceipt.ts";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { deployDaal } from "../../src/anchoring/deploy/deployDaal.ts";
import { ANVIL_CHAIN_ID, ANVIL_DEPLOYER_KEY, ANVIL_SUBMITTER_KEY, freePort } from "../../src/anchoring/local/localChain.ts";
import { rpcChain } from "../../src/anchoring/adapters/rpc/rpcPublicClient.ts";
import { fetchReceiptFacts, verifyAnchorReceipt } from "../../src/anchoring/adapters/rpc/verifyAnchorReceipt.ts";
import { anvilWithDaal, stopAllAnvils, SUBMITTER_ADDRESS, type ChainWithDaal } from "./anchoringFixtures.ts";

const ROOT = `0x${"5a".repeat(32)}` as Hex;
const OTHER_ROOT = `0x${"a5".repeat(32)}` as Hex;

describe("verifyAnchorReceipt on anvil", () => {
  let chain: ChainWithDaal;
  let lookalike: Hex;
  let genuine: Hex;
  let toLookalike: Hex;
  let reverted: Hex;
  let expected: AnchorExpectation;

  const verify = (txHash: Hex, overrides: Partial<AnchorExpectation> = {}, rpcUrl = chain.rpcUrl) =>
    Effect.runPromise(verifyAnchorReceipt({ rpcUrl, txHash, expected: { ...expected, ...overrides } }));
  const failedCheck = async (txHash: Hex, overrides: Partial<AnchorExpectation> = {}) => {
    const verdict = await verify(txHash, overrides);
    return verdict.ok ? "ok" : verdict.failed;
  };

  before(async () => {
    chain = await anvilWithDaal();
    // A second DAAL, same code and submitter: a transaction to it proves nothing about ours.
    lookalike = (await deployDaal({ chain: "local", rpcUrl: chain.rpcUrl, privateKey: ANVIL_DEPLOYER_KEY, submitter: SUBMITTER_ADDRESS })).address;
    const submitTo = async (contract: Hex, root: Hex, size: number) => {
      const submitter = await Effect.runPromise(makeDirectSubmitter({ rpcUrl: chain.rpcUrl, chainId: ANVIL_CHAIN_ID, contract, privateKey: ANVIL_SUBMITTER_KEY }));
      const { txHash } = await Effect.runPromise(submitter.submit({ root, treeSize: size }));
      await chain.client.waitForTransactionReceipt({ hash: txHash, pollingInterval: 50, timeout: 10_000 });
      return txHash;
    };
    genuine = await submitTo(chain.daal, ROOT, 5);
    toLookalike = await submitTo(lookalike, OTHER_ROOT, 7);
    // The same root again with an explicit gas limit (so no estimate refuses it first): mined, reverted (RootAlreadyAnchored).
    const wallet = createWalletClient({ account: privateKeyToAccount(ANVIL_SUBMITTER_KEY), chain: rpcChain(ANVIL_CHAIN_ID), transport: http(chain.rpcUrl) });
    reverted = await wallet.writeContract({ address: chain.daal, abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [ROOT, 9n], gas: 200_000n });
    const receipt = await chain.client.waitForTransactionReceipt({ hash: reverted, pollingInterval: 50, timeout: 10_000 });
    assert.equal(receipt.status, "reverted");
    expected = { chainId: ANVIL_CHAIN_ID, contract: chain.daal, root: ROOT, treeSize: 5, minConfirmations: 1 };
  });
  after(() => stopAllAnvils());

  test("the genuine anchor passes every check", async () => {
    const verdict = await verify(genuine);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    if (verdict.ok) assert.equal(verdict.txHash, genuine.toLowerCase());
  });

  test("wrong `to`: a transaction to a look-alike DAAL", async () => {
    assert.equal(await failedCheck(toLookalike, { root: OTHER_ROOT, treeSize: 7 }), "to");
  });

  test("a CheckpointAnchored log emitted by another address (the look-alike's real log, presented as a transaction to ours)", async () => {
    const client = chain.client;
    const facts = await Effect.runPromise(fetchReceiptFacts(client, toLookalike));
    assert.ok(facts.receipt);
    const disguised = { ...facts, receipt: { ...facts.receipt, to: chain.daal } };
    const verdict = checkAnchorReceipt(disguised, { ...expected, root: OTHER_ROOT, treeSize: 7 });
    assert.equal(verdict.ok ? "ok" : verdict.failed, "log_emitter");
  });

  test("wrong root and wrong tree size", async () => {
    assert.equal(await failedCheck(genuine, { root: OTHER_ROOT }), "log_root");
    assert.equal(await failedCheck(genuine, { treeSize: 6 }), "log_tree_size");
  });

  test("wrong chain id", async () => {
    assert.equal(await failedCheck(genuine, { chainId: 8453 }), "chain_id");
  });

  test("too few confirmations, until blocks are mined on top", async () => {
    const latest = await chain.client.getBlockNumber({ cacheTime: 0 });
    const receipt = await chain.client.getTransactionReceipt({ hash: genuine });
    const have = Number(latest - receipt.blockNumber) + 1;
    assert.equal(await failedCheck(genuine, { minConfirmations: have + 2 }), "confirmations");
    await fetch(chain.rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "anvil_mine", params: ["0x2"] }) });
    const verdict = await verify(genuine, { minConfirmations: have + 2 });
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    if (verdict.ok) assert.equal(verdict.confirmations, have + 2);
  });

  test("a reverted transaction to the DAAL, and a hash no block holds", async () => {
    assert.equal(await failedCheck(reverted, { treeSize: 9 }), "status");
    assert.equal(await failedCheck(`0x${"00".repeat(31)}01`), "receipt_found");
  });

  test("a dead RPC fails with AnchorError (unavailable) and its URL, API key included, appears nowhere", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/v2/SECRET-PROVIDER-KEY`;
    const outcome = await Effect.runPromise(Effect.either(verifyAnchorReceipt({ rpcUrl: url, txHash: genuine, expected, timeoutMs: 500 })));
    assert.equal(outcome._tag, "Left");
    if (outcome._tag === "Left") {
      assert.equal(outcome.left._tag, "AnchorError");
      assert.ok(["unavailable", "timeout"].includes(outcome.left.reason));
      assert.equal(outcome.left.isRetryable, true);
      assert.ok(!JSON.stringify({ ...outcome.left, message: outcome.left.message }).includes("SECRET-PROVIDER-KEY"));
      assert.ok(!outcome.left.message.includes(String(port)));
    }
  });

  test("another RPC URL for the same chain reconciles the same hash", async () => {
    const second = chain.rpcUrl.replace("127.0.0.1", "localhost");
    assert.notEqual(second, chain.rpcUrl);
    const verdict = await verify(genuine, {}, second);
    assert.equal(verdict.ok, true);
  });
});
