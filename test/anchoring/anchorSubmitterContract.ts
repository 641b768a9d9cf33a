/**
 * The AnchorSubmitter contract suite: what every adapter must do, run against a real
 * anvil with a DAAL (the provider-backed adapters through relaying fakes).
 *
 * - `submit` puts exactly `anchorCheckpoint(root, treeSize)` on the DAAL: the receipt
 *   verifies and `checkpointOf(root)` holds the size;
 * - `transactionStatus` of what it sent (provider id, else hash) ends `mined` with success;
 * - submitting a root that is already anchored fails with AnchorError (reverted or
 *   rejected), and the DAAL still holds one CheckpointAnchored for it;
 * - errors carry no secret.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import type { Hex } from "viem";
import type { AnchorSubmitterShape } from "../../src/anchoring/ports/AnchorSubmitter.ts";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { verifyAnchorReceipt } from "../../src/anchoring/adapters/rpc/verifyAnchorReceipt.ts";
import { anchoredLogs, sleep, waitFor, type ChainWithDaal } from "./anchoringFixtures.ts";

export interface SubmitterUnderTest {
  readonly submitter: AnchorSubmitterShape;
  readonly chain: ChainWithDaal;
  readonly chainId: number;
  /** Strings that must never appear in an error. */
  readonly secrets: ReadonlyArray<string>;
  readonly close: () => Promise<void>;
}

export function anchorSubmitterContract(name: string, open: () => Promise<SubmitterUnderTest>): void {
  describe(`AnchorSubmitter contract: ${name}`, () => {
    let it: SubmitterUnderTest;
    const root = `0x${crypto.getRandomValues(new Uint8Array(32)).reduce((text, byte) => text + byte.toString(16).padStart(2, "0"), "")}` as Hex;
    let reference = "";
    let txHash: Hex;

    before(async () => {
      it = await open();
    });
    after(() => it?.close());

    test("submit puts anchorCheckpoint(root, treeSize) on the DAAL and the receipt verifies", async () => {
      const submission = await Effect.runPromise(it.submitter.submit({ root, treeSize: 11, idempotencyKey: crypto.randomUUID() }));
      txHash = submission.txHash;
      reference = submission.providerId ?? submission.txHash;
      assert.match(txHash, /^0x[0-9a-f]{64}$/);
      await it.chain.client.waitForTransactionReceipt({ hash: txHash, pollingInterval: 25, timeout: 10_000 });
      const verdict = await Effect.runPromise(
        verifyAnchorReceipt({ rpcUrl: it.chain.rpcUrl, txHash, expected: { chainId: it.chainId, contract: it.chain.daal, root, treeSize: 11, minConfirmations: 1 } }),
      );
      assert.equal(verdict.ok ? "ok" : verdict.failed, "ok");
      const held = await it.chain.client.readContract({ address: it.chain.daal, abi: DAAL_ABI, functionName: "checkpointOf", args: [root] });
      assert.equal(held.treeSize, 11n);
    });

    test("transactionStatus of what it sent ends mined with success", async () => {
      const status = await waitFor("mined", async () => {
        const current = await Effect.runPromise(it.submitter.transactionStatus(reference));
        if (current.state === "mined") return current;
        await sleep(25);
        return undefined;
      }, { timeoutMs: 10_000 });
      assert.equal(status.txHash, txHash);
      assert.equal(status.success, true);
    });

    test("a root already anchored is refused with AnchorError, and stays anchored once; no secret in the error", async () => {
      const error = await Effect.runPromise(Effect.flip(it.submitter.submit({ root, treeSize: 12, idempotencyKey: crypto.randomUUID() })));
      assert.equal(error._tag, "AnchorError");
      assert.ok(["reverted", "rejected"].includes(error.reason), `${error.reason}: ${error.message}`);
      assert.equal(error.isRetryable, false);
      const text = `${error.message} ${JSON.stringify(error)}`;
      for (const secret of it.secrets) assert.ok(!text.includes(secret), "a secret leaked into the error");
      const logs = (await anchoredLogs(it.chain.client, it.chain.daal)).filter((log) => log.root === root);
      assert.equal(logs.length, 1);
    });
  });
}
