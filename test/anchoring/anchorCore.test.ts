/**
 * The pure parts of anchoring: receipt checks over crafted RPC answers (every check,
 * including a CheckpointAnchored log emitted by a look-alike contract, which a real DAAL
 * transaction cannot produce), the anchor-status fold, idempotency keys, the retry
 * backoff, and the configuration rules for ZT_CHAIN / ZT_SUBMITTER.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeAbiParameters, toEventSelector } from "viem";
import { anchorIdempotencyKey } from "../../src/anchoring/core/anchorIdempotencyKey.ts";
import { anchorRetryDelayMs } from "../../src/anchoring/core/anchorRetryDelay.ts";
import { AnchorError, rootToHex32 } from "../../src/anchoring/ports/AnchorSubmitter.ts";
import { CHECKPOINT_ANCHORED_TOPIC, checkAnchorReceipt, uint64Topic, type AnchorExpectation, type ReceiptFacts } from "../../src/anchoring/core/checkAnchorReceipt.ts";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { ANCHOR_CONFIRMED, ANCHOR_FAILED, ANCHOR_SUBMITTED, anchorStatus, anchorStream, foldAnchor } from "../../src/anchoring/core/events.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { isUuidV4 } from "../../src/kernel/ids.ts";

const DAAL = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const;
const OTHER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" as const;
const ROOT = `0x${"ab".repeat(32)}` as const;
const TX = `0x${"cd".repeat(32)}` as const;
const SUBMITTER_TOPIC = `0x${"0".repeat(24)}70997970c51812dc3a010c7d01b50e0d17dc79c8`;

const expected: AnchorExpectation = { chainId: 31337, contract: DAAL, root: ROOT, treeSize: 42, minConfirmations: 2 };

function facts(overrides: { chainId?: number; latestBlock?: bigint; receipt?: Partial<NonNullable<ReceiptFacts["receipt"]>> | null } = {}): ReceiptFacts {
  const receipt =
    overrides.receipt === null
      ? undefined
      : {
          transactionHash: TX,
          status: "success",
          to: DAAL.toLowerCase(),
          blockNumber: 10n,
          logs: [{ address: DAAL.toLowerCase(), topics: [CHECKPOINT_ANCHORED_TOPIC, ROOT, uint64Topic(42), SUBMITTER_TOPIC] }],
          ...overrides.receipt,
        };
  return { chainId: overrides.chainId ?? 31337, latestBlock: overrides.latestBlock ?? 11n, receipt };
}

describe("checkAnchorReceipt", () => {
  test("the event topic is keccak256 of the DAAL ABI's CheckpointAnchored signature", () => {
    const event = DAAL_ABI.find((item) => item.type === "event" && item.name === "CheckpointAnchored");
    assert.ok(event);
    assert.equal(CHECKPOINT_ANCHORED_TOPIC, toEventSelector(event as never));
    assert.equal(uint64Topic(42), encodeAbiParameters([{ type: "uint64" }], [42n]));
  });

  test("a mined success to the DAAL with its CheckpointAnchored(root, size) log and enough confirmations passes", () => {
    const verdict = checkAnchorReceipt(facts(), expected);
    assert.deepEqual(verdict, { ok: true, txHash: TX, blockNumber: 10, confirmations: 2 });
  });

  const cases: ReadonlyArray<[string, ReceiptFacts, string]> = [
    ["wrong chain id", facts({ chainId: 1 }), "chain_id"],
    ["no receipt yet", facts({ receipt: null }), "receipt_found"],
    ["reverted", facts({ receipt: { status: "reverted", logs: [] } }), "status"],
    ["sent to another contract", facts({ receipt: { to: OTHER } }), "to"],
    ["a deployment (no to)", facts({ receipt: { to: null } }), "to"],
    ["no CheckpointAnchored at all", facts({ receipt: { logs: [{ address: DAAL, topics: [`0x${"11".repeat(32)}`] }] } }), "log"],
    ["CheckpointAnchored from another address", facts({ receipt: { logs: [{ address: OTHER, topics: [CHECKPOINT_ANCHORED_TOPIC, ROOT, uint64Topic(42), SUBMITTER_TOPIC] }] } }), "log_emitter"],
    ["another root", facts({ receipt: { logs: [{ address: DAAL, topics: [CHECKPOINT_ANCHORED_TOPIC, `0x${"ac".repeat(32)}`, uint64Topic(42), SUBMITTER_TOPIC] }] } }), "log_root"],
    ["another tree size", facts({ receipt: { logs: [{ address: DAAL, topics: [CHECKPOINT_ANCHORED_TOPIC, ROOT, uint64Topic(41), SUBMITTER_TOPIC] }] } }), "log_tree_size"],
    ["one confirmation of two", facts({ latestBlock: 10n }), "confirmations"],
    ["a latest block behind the receipt", facts({ latestBlock: 5n }), "confirmations"],
    ["a malformed block number", facts({ receipt: { blockNumber: -1 } }), "receipt_found"],
    ["truncated topics", facts({ receipt: { logs: [{ address: DAAL, topics: [CHECKPOINT_ANCHORED_TOPIC] }] } }), "log_root"],
  ];
  for (const [name, input, failed] of cases) {
    test(`fails ${failed}: ${name}`, () => {
      const verdict = checkAnchorReceipt(input, expected);
      assert.equal(verdict.ok, false);
      if (!verdict.ok) {
        assert.equal(verdict.failed, failed);
        assert.ok(verdict.message.length > 0);
      }
    });
  }

  test("the emitter check is not fooled by a look-alike log beside the real one; the real one passes", () => {
    const both = facts({
      receipt: {
        logs: [
          { address: OTHER, topics: [CHECKPOINT_ANCHORED_TOPIC, ROOT, uint64Topic(42), SUBMITTER_TOPIC] },
          { address: DAAL, topics: [CHECKPOINT_ANCHORED_TOPIC, ROOT, uint64Topic(42), SUBMITTER_TOPIC] },
        ],
      },
    });
    assert.equal(checkAnchorReceipt(both, expected).ok, true);
    const onlyOtherHasRoot = facts({
      receipt: {
        logs: [
          { address: OTHER, topics: [CHECKPOINT_ANCHORED_TOPIC, ROOT, uint64Topic(42), SUBMITTER_TOPIC] },
          { address: DAAL, topics: [CHECKPOINT_ANCHORED_TOPIC, `0x${"ef".repeat(32)}`, uint64Topic(42), SUBMITTER_TOPIC] },
        ],
      },
    });
    const verdict = checkAnchorReceipt(onlyOtherHasRoot, expected);
    assert.equal(verdict.ok ? "ok" : verdict.failed, "log_root");
  });
});

describe("anchor events fold into a status", () => {
  const submitted = (revision: number, tx = TX) => ({
    type: ANCHOR_SUBMITTED,
    revision,
    data: { batch_id: "batch-1", root: ROOT, tree_size: 42, chain_id: 31337, contract: DAAL, tx_hash: tx, submitter: "direct", attempt: 1 },
  });
  const failed = (revision: number, reason = "unavailable", attempt = 1) => ({ type: ANCHOR_FAILED, revision, data: { batch_id: "batch-1", reason, retryable: true, attempt } });
  const confirmed = (revision: number) => ({ type: ANCHOR_CONFIRMED, revision, data: { batch_id: "batch-1", tx_hash: TX, block_number: 7, confirmations: 1 } });

  test("pending, submitted, failed, confirmed; confirmed is terminal", () => {
    assert.equal(anchorStatus([]), "pending");
    assert.equal(anchorStatus([submitted(0)]), "submitted");
    assert.equal(anchorStatus([failed(0)]), "failed");
    assert.equal(anchorStatus([failed(0), failed(1, "timeout", 2), submitted(2)]), "submitted");
    assert.equal(anchorStatus([submitted(0), confirmed(1)]), "confirmed");
    assert.equal(anchorStatus([submitted(0), confirmed(1), failed(2)]), "confirmed", "a late failure does not undo a confirmation");
  });

  test("the state counts failures, keeps the last transaction and the revision, and settles on confirmed or a terminal failure", () => {
    const state = foldAnchor([failed(0), submitted(1), failed(2, "timeout", 2)]);
    assert.equal(state.failures, 2);
    assert.equal(state.txHash, TX);
    assert.equal(state.revision, 2);
    assert.equal(state.settled, false);
    assert.equal(foldAnchor([submitted(0), confirmed(1)]).settled, true);
    assert.equal(foldAnchor([failed(0, "superseded")]).settled, true);
    assert.equal(foldAnchor([failed(0, "conflict")]).settled, true);
  });

  test("a request whose outcome is open stays open, with its key and reference, for the next attempt; a failure that ends it closes it", () => {
    const withKey = (event: { type: string; revision: number; data: Record<string, unknown> }, key: string) => ({ ...event, data: { ...event.data, idempotency_key: key } });
    const sent = withKey(submitted(0), "key-1");
    const openAfterSend = { idempotencyKey: "key-1", providerId: null, txHash: TX };
    assert.deepEqual(foldAnchor([sent]).openRequest, openAfterSend);
    assert.deepEqual(foldAnchor([sent, failed(1, "timeout")]).openRequest, openAfterSend, "a receipt timeout: the transaction may still land");
    assert.deepEqual(foldAnchor([sent, failed(1, "unavailable")]).openRequest, openAfterSend);
    assert.deepEqual(foldAnchor([sent, withKey(failed(1, "timeout", 2), "key-2")]).openRequest, { idempotencyKey: "key-2", providerId: null, txHash: null }, "a send timeout: a request with no hash yet");
    for (const reason of ["rejected", "reverted", "receipt_invalid", "misconfigured"]) {
      assert.equal(foldAnchor([sent, failed(1, reason)]).openRequest, null, reason);
    }
    assert.equal(foldAnchor([sent, { type: ANCHOR_CONFIRMED, revision: 1, data: { batch_id: "batch-1", tx_hash: TX, block_number: 7, confirmations: 1 } }]).openRequest, null);
    assert.deepEqual(foldAnchor([submitted(0)]).openRequest, { idempotencyKey: null, providerId: null, txHash: TX }, "an event from before keys were recorded");
    assert.equal(foldAnchor([]).openRequest, null);
  });

  test("events that do not decode count for the revision only", () => {
    const state = foldAnchor([{ type: ANCHOR_SUBMITTED, revision: 0, data: { batch_id: "batch-1", tx_hash: "nope" } }, { type: "Other.v1", revision: 1, data: {} }]);
    assert.equal(state.status, "pending");
    assert.equal(state.revision, 1);
  });

  test("one stream per batch", () => {
    assert.equal(anchorStream("batch-7"), "anchor-batch-7");
  });
});

describe("idempotency keys and backoff", () => {
  test("keys are UUID v4, stable per (chain, contract, root, attempt) and different across attempts", () => {
    const key = anchorIdempotencyKey({ chainId: 8453, contract: DAAL, root: ROOT, attempt: 1 });
    assert.ok(isUuidV4(key), key);
    assert.equal(anchorIdempotencyKey({ chainId: 8453, contract: DAAL.toLowerCase(), root: ROOT, attempt: 1 }), key);
    assert.notEqual(anchorIdempotencyKey({ chainId: 8453, contract: DAAL, root: ROOT, attempt: 2 }), key);
    assert.notEqual(anchorIdempotencyKey({ chainId: 84532, contract: DAAL, root: ROOT, attempt: 1 }), key);
  });

  test("exponential from the base, capped; non-retryable failures wait the cap", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    assert.deepEqual([1, 2, 3, 4, 5, 60].map((n) => anchorRetryDelayMs(n, true, policy)), [100, 200, 400, 800, 1000, 1000]);
    assert.equal(anchorRetryDelayMs(1, false, policy), 1000);
  });

  test("AnchorError is retryable for unavailable and timeout only", () => {
    const retryable = (["unavailable", "rejected", "reverted", "timeout", "misconfigured"] as const).filter((reason) => new AnchorError({ reason, message: "x" }).isRetryable);
    assert.deepEqual(retryable, ["unavailable", "timeout"]);
    assert.equal(rootToHex32("AB".repeat(32)), ROOT);
    assert.equal(rootToHex32("ab"), undefined);
  });
});

describe("ZT_CHAIN and ZT_SUBMITTER configuration", () => {
  const base = { ZT_DATA_DIR: "/tmp/zt-config-test" };
  const rpc = "https://base-mainnet.example/v2/SECRET-RPC-KEY";
  const key = `0x${"1f".repeat(32)}`;

  test("off and local need nothing; local is the default", () => {
    assert.equal(loadConfig({ ...base, ZT_CHAIN: "off" }).chain, "off");
    assert.equal(loadConfig(base).chain, "local");
    assert.deepEqual(loadConfig(base).anchoring, { confirmations: 1, pollMs: 1000, receiptTimeoutMs: 120_000, retryBaseMs: 1000, retryMaxMs: 60_000, rpcTimeoutMs: 10_000 });
  });

  test("an RPC URL names every missing setting, for each submitter, without repeating the URL", () => {
    const missing = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ZT_CHAIN: rpc, ...env });
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        assert.ok(!error.message.includes("SECRET-RPC-KEY"), error.message);
        return error.message;
      }
      return assert.fail("expected a ConfigError");
    };
    assert.match(missing({}), /needs ZT_DAAL_ADDRESS, ZT_SUBMITTER_PRIVATE_KEY, ZT_CHAIN_ID \(ZT_SUBMITTER=direct\)/);
    assert.match(missing({ ZT_SUBMITTER: "thirdweb-engine", ZT_DAAL_ADDRESS: DAAL, ZT_CHAIN_ID: "8453" }), /needs ZT_ENGINE_SECRET_KEY, ZT_ENGINE_SERVER_WALLET \(ZT_SUBMITTER=thirdweb-engine\)/);
    // The settings of self-hosted Engine v2 are named as such, not silently ignored.
    assert.match(
      missing({ ZT_SUBMITTER: "thirdweb-engine", ZT_DAAL_ADDRESS: DAAL, ZT_CHAIN_ID: "8453", ZT_ENGINE_URL: "https://engine.example", ZT_ENGINE_ACCESS_TOKEN: "v2-token", ZT_ENGINE_BACKEND_WALLET: DAAL }),
      /settings of self-hosted Engine v2, which is not supported: .*ZT_ENGINE_SECRET_KEY and ZT_ENGINE_SERVER_WALLET/,
    );
    assert.match(missing({ ZT_SUBMITTER: "cdp", ZT_DAAL_ADDRESS: DAAL }), /needs CDP_API_KEY_ID, CDP_API_KEY_SECRET, CDP_WALLET_SECRET \(ZT_SUBMITTER=cdp\)/);
    assert.match(missing({ ZT_SUBMITTER: "carrier-pigeon" }), /ZT_SUBMITTER must be direct, thirdweb-engine or cdp/);
  });

  test("complete settings load; a malformed private key is refused without echoing it", () => {
    const direct = loadConfig({ ...base, ZT_CHAIN: rpc, ZT_DAAL_ADDRESS: DAAL, ZT_CHAIN_ID: "31337", ZT_SUBMITTER_PRIVATE_KEY: key });
    assert.deepEqual(direct.chain, { rpcUrl: rpc, chainId: 31337, daalAddress: DAAL, submitter: { kind: "direct", privateKey: key } });
    const engine = loadConfig({ ...base, ZT_CHAIN: rpc, ZT_DAAL_ADDRESS: DAAL, ZT_CHAIN_ID: "8453", ZT_SUBMITTER: "thirdweb-engine", ZT_ENGINE_SECRET_KEY: "sk", ZT_ENGINE_SERVER_WALLET: OTHER });
    assert.deepEqual(typeof engine.chain === "object" && engine.chain.submitter, { kind: "thirdweb-engine", secretKey: "sk", serverWallet: OTHER });
    const engineWithVault = loadConfig({
      ...base,
      ZT_CHAIN: rpc,
      ZT_DAAL_ADDRESS: DAAL,
      ZT_CHAIN_ID: "8453",
      ZT_SUBMITTER: "thirdweb-engine",
      ZT_ENGINE_SECRET_KEY: "sk",
      ZT_ENGINE_SERVER_WALLET: OTHER,
      ZT_ENGINE_VAULT_ACCESS_TOKEN: "vt",
      ZT_ENGINE_URL: "https://engine.example",
    });
    assert.deepEqual(typeof engineWithVault.chain === "object" && engineWithVault.chain.submitter, {
      kind: "thirdweb-engine",
      secretKey: "sk",
      serverWallet: OTHER,
      vaultAccessToken: "vt",
      engineUrl: "https://engine.example",
    });
    const cdp = loadConfig({ ...base, ZT_CHAIN: rpc, ZT_DAAL_ADDRESS: DAAL, ZT_SUBMITTER: "cdp", CDP_API_KEY_ID: "id", CDP_API_KEY_SECRET: "s", CDP_WALLET_SECRET: "w", ZT_CDP_NETWORK: "base" });
    assert.equal(typeof cdp.chain === "object" && cdp.chain.chainId, 8453, "the CDP network implies the chain id");
    assert.equal(typeof cdp.chain === "object" && cdp.chain.submitter.kind === "cdp" && cdp.chain.submitter.createAccount, true, "accounts are created unless told not to");
    const noCreate = loadConfig({ ...base, ZT_CHAIN: rpc, ZT_DAAL_ADDRESS: DAAL, ZT_SUBMITTER: "cdp", CDP_API_KEY_ID: "id", CDP_API_KEY_SECRET: "s", CDP_WALLET_SECRET: "w", ZT_CDP_CREATE_ACCOUNT: "false" });
    assert.equal(typeof noCreate.chain === "object" && noCreate.chain.submitter.kind === "cdp" && noCreate.chain.submitter.createAccount, false);
    assert.throws(() => loadConfig({ ...base, ZT_CHAIN: rpc, ZT_DAAL_ADDRESS: DAAL, ZT_SUBMITTER: "cdp", CDP_API_KEY_ID: "id", CDP_API_KEY_SECRET: "s", CDP_WALLET_SECRET: "w", ZT_CDP_CREATE_ACCOUNT: "no" }), /ZT_CDP_CREATE_ACCOUNT must be true or false/);
    assert.throws(() => loadConfig({ ...base, ZT_CHAIN: rpc, ZT_DAAL_ADDRESS: DAAL, ZT_SUBMITTER: "cdp", CDP_API_KEY_ID: "id", CDP_API_KEY_SECRET: "s", CDP_WALLET_SECRET: "w", ZT_CDP_NETWORK: "base", ZT_CHAIN_ID: "1" }), /not the chain of ZT_CDP_NETWORK/);
    const badKey = "0xnot-a-key-but-secret-anyway";
    assert.throws(
      () => loadConfig({ ...base, ZT_CHAIN: rpc, ZT_DAAL_ADDRESS: DAAL, ZT_CHAIN_ID: "1", ZT_SUBMITTER_PRIVATE_KEY: badKey }),
      (error: Error) => /ZT_SUBMITTER_PRIVATE_KEY must be 0x followed by 64 hex digits/.test(error.message) && !error.message.includes(badKey),
    );
  });
});
