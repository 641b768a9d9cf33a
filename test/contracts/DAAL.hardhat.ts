// DAAL contract tests, run by `npx hardhat test nodejs` on Hardhat's in-process EDR
// chain. The contract is deployed from the fresh Hardhat build and driven through the
// committed ABI (src/anchoring/daalArtifact.ts), so these tests also prove the ABI the
// service ships matches the bytecode under test.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import { network } from "hardhat";
import {
  type Address,
  decodeFunctionData,
  encodeFunctionData,
  getAddress,
  getContract,
  type Hex,
  parseEventLogs,
  toFunctionSelector,
  type TransactionReceipt,
  zeroAddress,
  zeroHash,
} from "viem";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { auditOrigin } from "../../src/audit/Checkpoint.ts";
import { decodeBase64 } from "../../src/kernel/base64.ts";
import { checkpointBody, parseCheckpointBody } from "../../src/kernel/checkpoint.ts";
import { bytesToHex, sha256Hex } from "../../src/kernel/hashing.ts";
import { verifyConsistency } from "../../src/kernel/merkle.ts";
import { vectorPath } from "../support/vectors.ts";

const { viem } = await network.create();
const publicClient = await viem.getPublicClient();
const [ownerWallet, submitterWallet, otherWallet, newOwnerWallet] = await viem.getWalletClients();
if (ownerWallet === undefined || submitterWallet === undefined || otherWallet === undefined || newOwnerWallet === undefined) {
  throw new Error("the Hardhat network must provide at least four accounts");
}
type Wallet = typeof ownerWallet;

const OWNER = getAddress(ownerWallet.account.address);
const SUBMITTER = getAddress(submitterWallet.account.address);
const OTHER = getAddress(otherWallet.account.address);
const NEW_OWNER = getAddress(newOwnerWallet.account.address);

const ROOT_A = `0x${sha256Hex("checkpoint root A")}` as Hex;
const ROOT_B = `0x${sha256Hex("checkpoint root B")}` as Hex;
const ROOT_C = `0x${sha256Hex("checkpoint root C")}` as Hex;
const AGENT_ID_HASH = `0x${sha256Hex("agent:desk-7")}` as Hex;
const ACTION_HASH = `0x${sha256Hex("dec_01J example decision receipt")}` as Hex;
const METADATA_URI = "https://evidence.example/decisions/dec_01J";

/** A fresh DAAL deployed from the Hardhat build, with one handle per caller. */
async function deployDaal(owner: Address = OWNER) {
  const deployed = await viem.deployContract("DAAL", [owner]);
  const as = (wallet: Wallet) =>
    getContract({ address: deployed.address, abi: DAAL_ABI, client: { public: publicClient, wallet } });
  return {
    address: deployed.address,
    owner: as(ownerWallet!),
    submitter: as(submitterWallet!),
    other: as(otherWallet!),
    newOwner: as(newOwnerWallet!),
  };
}

/** A DAAL with SUBMITTER allowed to anchor. */
async function deployWithSubmitter() {
  const daal = await deployDaal();
  await mined(await daal.owner.write.setSubmitter([SUBMITTER, true]));
  return daal;
}

async function mined(hash: Hex): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  assert.equal(receipt.status, "success");
  return receipt;
}

/** Every DAAL event in the receipt, in order: the exact list a test expects, nothing more. */
function eventsOf(receipt: TransactionReceipt) {
  return parseEventLogs({ abi: DAAL_ABI, logs: receipt.logs }).map(({ eventName, args }) => ({ eventName, args }));
}

async function blockOf(receipt: TransactionReceipt) {
  return await publicClient.getBlock({ blockNumber: receipt.blockNumber });
}

describe("DAAL deployment", () => {
  it("starts with the given owner, no pending owner, no submitters and an empty ledger", async () => {
    const daal = await deployDaal();
    assert.equal(await daal.other.read.owner(), OWNER);
    assert.equal(await daal.other.read.pendingOwner(), zeroAddress);
    assert.equal(await daal.other.read.isSubmitter([OWNER]), false);
    assert.equal(await daal.other.read.checkpointCount(), 0n);
    assert.equal(await daal.other.read.latestTreeSize(), 0n);
    assert.equal(await daal.other.read.latestRoot(), zeroHash);
  });

  it("emits OwnershipTransferred(0, owner) and nothing else", async () => {
    const { contract, deploymentTransaction } = await viem.sendDeploymentTransaction("DAAL", [NEW_OWNER]);
    await viem.assertions.emitWithArgs(deploymentTransaction.hash, contract, "OwnershipTransferred", [zeroAddress, NEW_OWNER]);
    assert.deepEqual(eventsOf(await mined(deploymentTransaction.hash)), [
      { eventName: "OwnershipTransferred", args: { previousOwner: zeroAddress, newOwner: NEW_OWNER } },
    ]);
  });

  it("records the block it was deployed in", async () => {
    const { contract, deploymentTransaction } = await viem.sendDeploymentTransaction("DAAL", [OWNER]);
    const receipt = await mined(deploymentTransaction.hash);
    assert.equal(await publicClient.readContract({ address: contract.address, abi: DAAL_ABI, functionName: "deploymentBlock" }), receipt.blockNumber);
  });

  it("refuses the zero owner with OwnableInvalidOwner(0)", async () => {
    await viem.assertions.revertWithCustomErrorWithArgs(
      viem.deployContract("DAAL", [zeroAddress]),
      // Nothing is deployed: only the ABI is used, to decode the revert data.
      { abi: DAAL_ABI, address: zeroAddress },
      "OwnableInvalidOwner",
      [zeroAddress],
    );
  });
});

describe("DAAL setSubmitter", () => {
  it("lets the owner allow a submitter, emitting SubmitterSet(submitter, true)", async () => {
    const daal = await deployDaal();
    const hash = await daal.owner.write.setSubmitter([SUBMITTER, true]);
    await viem.assertions.emitWithArgs(hash, daal.owner, "SubmitterSet", [SUBMITTER, true]);
    assert.deepEqual(eventsOf(await mined(hash)), [{ eventName: "SubmitterSet", args: { submitter: SUBMITTER, allowed: true } }]);
    assert.equal(await daal.other.read.isSubmitter([SUBMITTER]), true);
    assert.equal(await daal.other.read.isSubmitter([OTHER]), false);
  });

  it("lets the owner revoke a submitter, emitting SubmitterSet(submitter, false)", async () => {
    const daal = await deployWithSubmitter();
    const hash = await daal.owner.write.setSubmitter([SUBMITTER, false]);
    await viem.assertions.emitWithArgs(hash, daal.owner, "SubmitterSet", [SUBMITTER, false]);
    assert.deepEqual(eventsOf(await mined(hash)), [{ eventName: "SubmitterSet", args: { submitter: SUBMITTER, allowed: false } }]);
    assert.equal(await daal.other.read.isSubmitter([SUBMITTER]), false);
  });

  it("refuses a caller that is not the owner with OwnableUnauthorizedAccount(caller), a submitter included", async () => {
    const daal = await deployWithSubmitter();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.other.write.setSubmitter([OTHER, true]),
      daal.other,
      "OwnableUnauthorizedAccount",
      [OTHER],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.setSubmitter([OTHER, true]),
      daal.submitter,
      "OwnableUnauthorizedAccount",
      [SUBMITTER],
    );
    assert.equal(await daal.other.read.isSubmitter([OTHER]), false);
  });

  it("still names a revoked submitter in what it anchored, and a re-allowed one as before", async () => {
    const daal = await deployWithSubmitter();
    await mined(await daal.owner.write.setSubmitter([OTHER, true]));
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_A, 1n]));
    await mined(await daal.other.write.anchorCheckpoint([ROOT_B, 2n]));
    await mined(await daal.owner.write.setSubmitter([SUBMITTER, false]));
    assert.equal((await daal.other.read.checkpointOf([ROOT_A])).submitter, SUBMITTER);
    assert.equal((await daal.other.read.checkpointOf([ROOT_B])).submitter, OTHER);
    await mined(await daal.owner.write.setSubmitter([SUBMITTER, true]));
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_C, 3n]));
    assert.equal((await daal.other.read.checkpointOf([ROOT_C])).submitter, SUBMITTER);
    assert.equal((await daal.other.read.checkpointOf([ROOT_A])).submitter, SUBMITTER);
  });

  it("emits SubmitterSet again for a setting the submitter already has, and keeps it", async () => {
    const daal = await deployWithSubmitter();
    const hash = await daal.owner.write.setSubmitter([SUBMITTER, true]);
    assert.deepEqual(eventsOf(await mined(hash)), [{ eventName: "SubmitterSet", args: { submitter: SUBMITTER, allowed: true } }]);
    assert.equal(await daal.other.read.isSubmitter([SUBMITTER]), true);
    const never = await daal.owner.write.setSubmitter([OTHER, false]);
    assert.deepEqual(eventsOf(await mined(never)), [{ eventName: "SubmitterSet", args: { submitter: OTHER, allowed: false } }]);
    assert.equal(await daal.other.read.isSubmitter([OTHER]), false);
  });

  it("refuses the zero address with ZeroAddress()", async () => {
    const daal = await deployDaal();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.owner.write.setSubmitter([zeroAddress, true]),
      daal.owner,
      "ZeroAddress",
      [],
    );
  });
});

describe("DAAL anchorCheckpoint", () => {
  it("stores tree size, anchoredAt, blockNumber and submitter, and emits CheckpointAnchored(root, treeSize, submitter)", async () => {
    const daal = await deployWithSubmitter();
    const hash = await daal.submitter.write.anchorCheckpoint([ROOT_A, 100n]);
    await viem.assertions.emitWithArgs(hash, daal.submitter, "CheckpointAnchored", [ROOT_A, 100n, SUBMITTER]);
    const receipt = await mined(hash);
    assert.deepEqual(eventsOf(receipt), [
      { eventName: "CheckpointAnchored", args: { root: ROOT_A, treeSize: 100n, submitter: SUBMITTER } },
    ]);
    const block = await blockOf(receipt);
    assert.deepEqual(await daal.other.read.checkpointOf([ROOT_A]), {
      treeSize: 100n,
      anchoredAt: block.timestamp,
      blockNumber: receipt.blockNumber,
      submitter: SUBMITTER,
    });
    assert.equal(await daal.other.read.isAnchored([ROOT_A]), true);
    assert.equal(await daal.other.read.latestTreeSize(), 100n);
    assert.equal(await daal.other.read.latestRoot(), ROOT_A);
    assert.equal(await daal.other.read.checkpointCount(), 1n);
  });

  it("accepts growing tree sizes, keeps every earlier checkpoint readable and counts them", async () => {
    const daal = await deployWithSubmitter();
    const first = await mined(await daal.submitter.write.anchorCheckpoint([ROOT_A, 1n]));
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_B, 2n]));
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_C, 2n ** 64n - 1n]));
    assert.equal(await daal.other.read.checkpointCount(), 3n);
    assert.equal(await daal.other.read.latestTreeSize(), 2n ** 64n - 1n);
    assert.equal(await daal.other.read.latestRoot(), ROOT_C);
    const a = await daal.other.read.checkpointOf([ROOT_A]);
    assert.equal(a.treeSize, 1n);
    assert.equal(a.blockNumber, first.blockNumber);
    assert.equal((await daal.other.read.checkpointOf([ROOT_B])).treeSize, 2n);
  });

  it("answers an unknown root with a zero checkpoint and isAnchored false", async () => {
    const daal = await deployWithSubmitter();
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_A, 1n]));
    assert.deepEqual(await daal.other.read.checkpointOf([ROOT_B]), {
      treeSize: 0n,
      anchoredAt: 0n,
      blockNumber: 0n,
      submitter: zeroAddress,
    });
    assert.equal(await daal.other.read.isAnchored([ROOT_B]), false);
    assert.equal(await daal.other.read.isAnchored([zeroHash]), false);
  });

  it("refuses a caller that is not a submitter with NotSubmitter(caller), the owner included", async () => {
    const daal = await deployWithSubmitter();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.other.write.anchorCheckpoint([ROOT_A, 1n]),
      daal.other,
      "NotSubmitter",
      [OTHER],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.owner.write.anchorCheckpoint([ROOT_A, 1n]),
      daal.owner,
      "NotSubmitter",
      [OWNER],
    );
    // The submitter check comes first: a stranger learns nothing about the input.
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.other.write.anchorCheckpoint([zeroHash, 0n]),
      daal.other,
      "NotSubmitter",
      [OTHER],
    );
    assert.equal(await daal.other.read.checkpointCount(), 0n);
  });

  it("refuses the zero root with ZeroRoot()", async () => {
    const daal = await deployWithSubmitter();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorCheckpoint([zeroHash, 1n]),
      daal.submitter,
      "ZeroRoot",
      [],
    );
  });

  it("refuses a root anchored before with RootAlreadyAnchored(root), even with a larger tree size", async () => {
    const daal = await deployWithSubmitter();
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_A, 5n]));
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorCheckpoint([ROOT_A, 6n]),
      daal.submitter,
      "RootAlreadyAnchored",
      [ROOT_A],
    );
    assert.equal((await daal.other.read.checkpointOf([ROOT_A])).treeSize, 5n);
    assert.equal(await daal.other.read.checkpointCount(), 1n);
  });

  it("refuses a tree size that does not grow with TreeSizeNotGrowing(treeSize, latestTreeSize)", async () => {
    const daal = await deployWithSubmitter();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorCheckpoint([ROOT_A, 0n]),
      daal.submitter,
      "TreeSizeNotGrowing",
      [0n, 0n],
    );
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_A, 10n]));
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorCheckpoint([ROOT_B, 10n]),
      daal.submitter,
      "TreeSizeNotGrowing",
      [10n, 10n],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorCheckpoint([ROOT_B, 9n]),
      daal.submitter,
      "TreeSizeNotGrowing",
      [9n, 10n],
    );
    assert.equal(await daal.other.read.latestTreeSize(), 10n);
    assert.equal(await daal.other.read.latestRoot(), ROOT_A);
    assert.equal(await daal.other.read.isAnchored([ROOT_B]), false);
  });

  it("refuses a revoked submitter with NotSubmitter(caller) and keeps what it anchored before", async () => {
    const daal = await deployWithSubmitter();
    await mined(await daal.submitter.write.anchorCheckpoint([ROOT_A, 1n]));
    await mined(await daal.owner.write.setSubmitter([SUBMITTER, false]));
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorCheckpoint([ROOT_B, 2n]),
      daal.submitter,
      "NotSubmitter",
      [SUBMITTER],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorAction([AGENT_ID_HASH, ACTION_HASH, ""]),
      daal.submitter,
      "NotSubmitter",
      [SUBMITTER],
    );
    assert.equal(await daal.other.read.isAnchored([ROOT_A]), true);
    assert.equal(await daal.other.read.checkpointCount(), 1n);
  });
});

describe("DAAL anchorAction", () => {
  it("stores agentIdHash, anchoredAt, blockNumber and submitter, and emits ActionAnchored(actionHash, agentIdHash, submitter, metadataURI)", async () => {
    const daal = await deployWithSubmitter();
    const hash = await daal.submitter.write.anchorAction([AGENT_ID_HASH, ACTION_HASH, METADATA_URI]);
    await viem.assertions.emitWithArgs(hash, daal.submitter, "ActionAnchored", [ACTION_HASH, AGENT_ID_HASH, SUBMITTER, METADATA_URI]);
    const receipt = await mined(hash);
    assert.deepEqual(eventsOf(receipt), [
      {
        eventName: "ActionAnchored",
        args: { actionHash: ACTION_HASH, agentIdHash: AGENT_ID_HASH, submitter: SUBMITTER, metadataURI: METADATA_URI },
      },
    ]);
    const block = await blockOf(receipt);
    assert.deepEqual(await daal.other.read.actionOf([ACTION_HASH]), {
      agentIdHash: AGENT_ID_HASH,
      anchoredAt: block.timestamp,
      blockNumber: receipt.blockNumber,
      submitter: SUBMITTER,
    });
    // Per-action anchors leave the checkpoint ledger alone.
    assert.equal(await daal.other.read.checkpointCount(), 0n);
    assert.equal(await daal.other.read.latestTreeSize(), 0n);
  });

  it("accepts an empty metadata URI", async () => {
    const daal = await deployWithSubmitter();
    const hash = await daal.submitter.write.anchorAction([AGENT_ID_HASH, ACTION_HASH, ""]);
    await viem.assertions.emitWithArgs(hash, daal.submitter, "ActionAnchored", [ACTION_HASH, AGENT_ID_HASH, SUBMITTER, ""]);
    assert.equal((await daal.other.read.actionOf([ACTION_HASH])).submitter, SUBMITTER);
  });

  it("answers an unknown action hash with a zero anchor", async () => {
    const daal = await deployWithSubmitter();
    assert.deepEqual(await daal.other.read.actionOf([ACTION_HASH]), {
      agentIdHash: zeroHash,
      anchoredAt: 0n,
      blockNumber: 0n,
      submitter: zeroAddress,
    });
  });

  it("refuses a caller that is not a submitter with NotSubmitter(caller)", async () => {
    const daal = await deployWithSubmitter();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.other.write.anchorAction([AGENT_ID_HASH, ACTION_HASH, METADATA_URI]),
      daal.other,
      "NotSubmitter",
      [OTHER],
    );
  });

  it("refuses the zero action hash with ZeroActionHash()", async () => {
    const daal = await deployWithSubmitter();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorAction([AGENT_ID_HASH, zeroHash, METADATA_URI]),
      daal.submitter,
      "ZeroActionHash",
      [],
    );
  });

  it("refuses an action anchored before with ActionAlreadyAnchored(actionHash), whatever the agent", async () => {
    const daal = await deployWithSubmitter();
    await mined(await daal.submitter.write.anchorAction([AGENT_ID_HASH, ACTION_HASH, METADATA_URI]));
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.submitter.write.anchorAction([ROOT_A, ACTION_HASH, "other"]),
      daal.submitter,
      "ActionAlreadyAnchored",
      [ACTION_HASH],
    );
    assert.equal((await daal.other.read.actionOf([ACTION_HASH])).agentIdHash, AGENT_ID_HASH);
  });
});

describe("DAAL two-step ownership", () => {
  it("transferOwnership only names a pending owner and emits OwnershipTransferStarted(owner, pending)", async () => {
    const daal = await deployDaal();
    const hash = await daal.owner.write.transferOwnership([NEW_OWNER]);
    await viem.assertions.emitWithArgs(hash, daal.owner, "OwnershipTransferStarted", [OWNER, NEW_OWNER]);
    assert.deepEqual(eventsOf(await mined(hash)), [
      { eventName: "OwnershipTransferStarted", args: { previousOwner: OWNER, newOwner: NEW_OWNER } },
    ]);
    assert.equal(await daal.other.read.owner(), OWNER);
    assert.equal(await daal.other.read.pendingOwner(), NEW_OWNER);
    // The pending owner has no rights until it accepts.
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.newOwner.write.setSubmitter([SUBMITTER, true]),
      daal.newOwner,
      "OwnableUnauthorizedAccount",
      [NEW_OWNER],
    );
  });

  it("refuses acceptOwnership from any account but the pending owner with OwnableUnauthorizedAccount(caller)", async () => {
    const daal = await deployDaal();
    await mined(await daal.owner.write.transferOwnership([NEW_OWNER]));
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.other.write.acceptOwnership(),
      daal.other,
      "OwnableUnauthorizedAccount",
      [OTHER],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.owner.write.acceptOwnership(),
      daal.owner,
      "OwnableUnauthorizedAccount",
      [OWNER],
    );
    assert.equal(await daal.other.read.owner(), OWNER);
    assert.equal(await daal.other.read.pendingOwner(), NEW_OWNER);
  });

  it("hands over on acceptOwnership with OwnershipTransferred(old, new); the old owner loses its rights", async () => {
    const daal = await deployDaal();
    await mined(await daal.owner.write.transferOwnership([NEW_OWNER]));
    const hash = await daal.newOwner.write.acceptOwnership();
    await viem.assertions.emitWithArgs(hash, daal.newOwner, "OwnershipTransferred", [OWNER, NEW_OWNER]);
    assert.deepEqual(eventsOf(await mined(hash)), [
      { eventName: "OwnershipTransferred", args: { previousOwner: OWNER, newOwner: NEW_OWNER } },
    ]);
    assert.equal(await daal.other.read.owner(), NEW_OWNER);
    assert.equal(await daal.other.read.pendingOwner(), zeroAddress);
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.owner.write.setSubmitter([SUBMITTER, true]),
      daal.owner,
      "OwnableUnauthorizedAccount",
      [OWNER],
    );
    await viem.assertions.emitWithArgs(daal.newOwner.write.setSubmitter([SUBMITTER, true]), daal.newOwner, "SubmitterSet", [SUBMITTER, true]);
  });

  it("lets the owner cancel a transfer by naming the zero address", async () => {
    const daal = await deployDaal();
    await mined(await daal.owner.write.transferOwnership([NEW_OWNER]));
    await viem.assertions.emitWithArgs(daal.owner.write.transferOwnership([zeroAddress]), daal.owner, "OwnershipTransferStarted", [OWNER, zeroAddress]);
    assert.equal(await daal.other.read.pendingOwner(), zeroAddress);
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.newOwner.write.acceptOwnership(),
      daal.newOwner,
      "OwnableUnauthorizedAccount",
      [NEW_OWNER],
    );
  });

  it("refuses transferOwnership and renounceOwnership from a non-owner with OwnableUnauthorizedAccount(caller)", async () => {
    const daal = await deployDaal();
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.other.write.transferOwnership([OTHER]),
      daal.other,
      "OwnableUnauthorizedAccount",
      [OTHER],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.other.write.renounceOwnership(),
      daal.other,
      "OwnableUnauthorizedAccount",
      [OTHER],
    );
    assert.equal(await daal.other.read.owner(), OWNER);
  });

  it("renounceOwnership emits OwnershipTransferred(owner, 0), clears a pending owner, freezes the submitter set and keeps anchoring", async () => {
    const daal = await deployWithSubmitter();
    await mined(await daal.owner.write.transferOwnership([NEW_OWNER]));
    const hash = await daal.owner.write.renounceOwnership();
    await viem.assertions.emitWithArgs(hash, daal.owner, "OwnershipTransferred", [OWNER, zeroAddress]);
    assert.deepEqual(eventsOf(await mined(hash)), [
      { eventName: "OwnershipTransferred", args: { previousOwner: OWNER, newOwner: zeroAddress } },
    ]);
    assert.equal(await daal.other.read.owner(), zeroAddress);
    assert.equal(await daal.other.read.pendingOwner(), zeroAddress);
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.newOwner.write.acceptOwnership(),
      daal.newOwner,
      "OwnableUnauthorizedAccount",
      [NEW_OWNER],
    );
    await viem.assertions.revertWithCustomErrorWithArgs(
      daal.owner.write.setSubmitter([OTHER, true]),
      daal.owner,
      "OwnableUnauthorizedAccount",
      [OWNER],
    );
    await viem.assertions.emitWithArgs(
      daal.submitter.write.anchorCheckpoint([ROOT_A, 1n]),
      daal.submitter,
      "CheckpointAnchored",
      [ROOT_A, 1n, SUBMITTER],
    );
  });
});

describe("DAAL with ZT-Infra checkpoints", () => {
  type ConsistencyVector = { size1: number; size2: number; root1: string; root2: string; proof: string[] };
  let vector: ConsistencyVector;

  before(() => {
    // transparency-dev/merkle consistency case: two real RFC 6962 tree heads of one log.
    vector = JSON.parse(readFileSync(vectorPath("merkle/consistency/1/happy-path.json"), "utf8")) as ConsistencyVector;
  });

  /** A checkpoint as the service seals it: C2SP checkpoint text, parsed back strictly. */
  function zeroTrustCheckpoint(treeSize: number, rootBase64: string) {
    const root = decodeBase64(rootBase64);
    assert.ok(root !== undefined);
    const parsed = parseCheckpointBody(checkpointBody({ origin: auditOrigin("audit-key-1"), treeSize, root }));
    assert.ok(parsed.ok);
    return { root: `0x${bytesToHex(parsed.root)}` as Hex, treeSize: BigInt(parsed.treeSize) };
  }

  it("anchors two consistent tree heads in order", async () => {
    const proof = vector.proof.map((node) => decodeBase64(node)!);
    const consistent = verifyConsistency(vector.size1, vector.size2, decodeBase64(vector.root1)!, decodeBase64(vector.root2)!, proof);
    assert.deepEqual(consistent, { ok: true });
    const daal = await deployWithSubmitter();
    const first = zeroTrustCheckpoint(vector.size1, vector.root1);
    const second = zeroTrustCheckpoint(vector.size2, vector.root2);
    await mined(await daal.submitter.write.anchorCheckpoint([first.root, first.treeSize]));
    await mined(await daal.submitter.write.anchorCheckpoint([second.root, second.treeSize]));
    assert.equal((await daal.other.read.checkpointOf([first.root])).treeSize, first.treeSize);
    assert.equal(await daal.other.read.latestRoot(), second.root);
    assert.equal(await daal.other.read.latestTreeSize(), second.treeSize);
  });

  it("puts exactly (root, treeSize) on chain: 4 + 64 bytes of calldata and three indexed topics", async () => {
    const daal = await deployWithSubmitter();
    const checkpoint = zeroTrustCheckpoint(vector.size2, vector.root2);
    const hash = await daal.submitter.write.anchorCheckpoint([checkpoint.root, checkpoint.treeSize]);
    const receipt = await mined(hash);
    const tx = await publicClient.getTransaction({ hash });

    assert.equal(tx.to?.toLowerCase(), daal.address.toLowerCase());
    assert.equal((tx.input.length - 2) / 2, 4 + 64);
    assert.equal(tx.input.slice(0, 10), toFunctionSelector("anchorCheckpoint(bytes32,uint64)"));
    const decoded = decodeFunctionData({ abi: DAAL_ABI, data: tx.input });
    assert.equal(decoded.functionName, "anchorCheckpoint");
    assert.deepEqual(decoded.args, [checkpoint.root, checkpoint.treeSize]);
    assert.equal(
      tx.input,
      encodeFunctionData({ abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [checkpoint.root, checkpoint.treeSize] }),
    );
    assert.equal(tx.value, 0n);

    // The one log carries the same two values plus the submitter, all as topics; no data.
    assert.equal(receipt.logs.length, 1);
    const [log] = receipt.logs;
    assert.equal(log!.data, "0x");
    assert.equal(log!.topics.length, 4);
    assert.equal(log!.topics[1], checkpoint.root);
    assert.equal(BigInt(log!.topics[2]!), checkpoint.treeSize);
    assert.equal(getAddress(`0x${log!.topics[3]!.slice(26)}`), SUBMITTER);
  });
});

describe("DAAL agent id hashes in per-action mode", () => {
  const actionHash = (n: number) => `0x${sha256Hex(`decision ${n}`)}` as Hex;

  async function anchoredAgents(daal: Awaited<ReturnType<typeof deployWithSubmitter>>, agents: ReadonlyArray<Hex>) {
    for (const [n, agent] of agents.entries()) await mined(await daal.submitter.write.anchorAction([agent, actionHash(n), METADATA_URI]));
    return await Promise.all(agents.map(async (_, n) => (await daal.other.read.actionOf([actionHash(n)])).agentIdHash));
  }

  it("answers each action's own agent id hash while agents repeat and interleave", async () => {
    const daal = await deployWithSubmitter();
    const agentB = `0x${sha256Hex("agent:ops-1")}` as Hex;
    const agents = [AGENT_ID_HASH, agentB, AGENT_ID_HASH, AGENT_ID_HASH, agentB];
    assert.deepEqual(await anchoredAgents(daal, agents), agents);
  });

  it("keeps apart two agent id hashes that share their first 16 bytes", async () => {
    const daal = await deployWithSubmitter();
    const shared = AGENT_ID_HASH.slice(0, 34);
    const first = `${shared}${"11".repeat(16)}` as Hex;
    const second = `${shared}${"22".repeat(16)}` as Hex;
    const agents = [first, second, first, second];
    assert.deepEqual(await anchoredAgents(daal, agents), agents);
  });

  it("answers the zero agent id hash, and one whose first 16 bytes are zero", async () => {
    const daal = await deployWithSubmitter();
    const lowHalfOnly = `0x${"00".repeat(16)}${"33".repeat(16)}` as Hex;
    const agents = [zeroHash, lowHalfOnly, zeroHash, AGENT_ID_HASH];
    assert.deepEqual(await anchoredAgents(daal, agents), agents);
  });
});

describe("DAAL gas", () => {
  // The budgets of the anchoring path (docs/deployers.md, "Gas"): a checkpoint, the first
  // one on a fresh contract included, and an action by an agent the contract has seen
  // before.
  const CHECKPOINT_GAS_LIMIT = 65_000n;
  const KNOWN_AGENT_ACTION_GAS_LIMIT = 60_000n;
  const NEW_AGENT_ACTION_GAS_LIMIT = 80_000n;

  it(`anchorCheckpoint uses at most ${CHECKPOINT_GAS_LIMIT} gas, the first anchor included`, async () => {
    const daal = await deployWithSubmitter();
    for (const [n, root] of [ROOT_A, ROOT_B, ROOT_C].entries()) {
      const receipt = await mined(await daal.submitter.write.anchorCheckpoint([root, BigInt(100 * (n + 1))]));
      assert.ok(receipt.gasUsed <= CHECKPOINT_GAS_LIMIT, `checkpoint ${n + 1}: ${receipt.gasUsed} gas`);
    }
  });

  it(`anchorAction uses at most ${KNOWN_AGENT_ACTION_GAS_LIMIT} gas for an agent seen before, ${NEW_AGENT_ACTION_GAS_LIMIT} for a new one`, async () => {
    // A stream as a service in per-action mode sends it: a few agents, many decisions each.
    const daal = await deployWithSubmitter();
    const agents = ["agent:desk-7", "agent:ops-1", "agent:desk-9"].map((agent) => `0x${sha256Hex(agent)}` as Hex);
    const seen = new Set<Hex>();
    for (let n = 0; n < 18; n++) {
      const agent = agents[n % agents.length]!;
      const action = `0x${sha256Hex(`stream decision ${n}`)}` as Hex;
      const receipt = await mined(await daal.submitter.write.anchorAction([agent, action, `${METADATA_URI}/${n}`]));
      const limit = seen.has(agent) ? KNOWN_AGENT_ACTION_GAS_LIMIT : NEW_AGENT_ACTION_GAS_LIMIT;
      assert.ok(receipt.gasUsed <= limit, `action ${n} (${seen.has(agent) ? "known" : "new"} agent): ${receipt.gasUsed} gas`);
      seen.add(agent);
    }
  });
});
