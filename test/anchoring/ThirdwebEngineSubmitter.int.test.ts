/**
 * The thirdweb Engine adapter against a local server speaking Engine's documented v2
 * shapes (portal.thirdweb.com/engine/features/contracts; thirdweb-dev/engine
 * src/server/routes/contract/write/write.ts, src/server/routes/transaction/status.ts,
 * src/server/middleware/error.ts):
 *   POST /contract/{chain}/{address}/write  (Authorization: Bearer, x-backend-wallet-address,
 *        x-idempotency-key; { functionName, args }) -> { result: { queueId } }
 *   GET  /transaction/status/{queueId} -> { result: { status, transactionHash, blockNumber, onchainStatus, errorMessage } }
 *   errors -> { error: { code, message, statusCode } }
 * Then the whole sidecar through it: a relaying fake Engine (relayProviders.ts) signs the
 * write with the backend wallet's key and sends it to anvil, as a real Engine would, and
 * the batch is confirmed on chain.
 */
import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";
import { Effect } from "effect";
import type { Hex } from "viem";
import type { AnchorError } from "../../src/anchoring/AnchorSubmitter.ts";
import { freePort } from "../../src/anchoring/localChain.ts";
import { ANCHOR_FUNCTION_SIGNATURE, makeThirdwebEngineSubmitter, type ThirdwebEngineSubmitterOptions } from "../../src/anchoring/thirdweb-engine/ThirdwebEngineSubmitter.ts";
import { ANCHOR_SUBMITTED, anchorStream } from "../../src/anchoring/events.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest } from "../support/harness.ts";
import { anchoredLogs, anvilWithDaal, stopAllAnvils, SUBMITTER_ADDRESS, waitFor } from "./anchoringFixtures.ts";
import { startFakeProvider, type FakeProvider, type RecordedRequest } from "./fakeProvider.ts";
import { startRelayingEngine } from "./relayProviders.ts";

const TOKEN = "engine-access-token-SECRET-0123456789";
const WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as const;
const DAAL = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const;
const ROOT = `0x${"3c".repeat(32)}` as Hex;
const TX = `0x${"9e".repeat(32)}` as Hex;
const KEY = "0b0e3d44-1f55-4d2b-8c00-6a3c1e2f4a5b";

const statusBody = (status: string, extra: Record<string, unknown> = {}) => ({
  result: { queueId: "q-1", status, chainId: "31337", transactionHash: null, blockNumber: null, onchainStatus: null, errorMessage: null, ...extra },
});

function assertNoSecret(error: AnchorError) {
  const text = `${error.message} ${JSON.stringify(error)} ${String(error)}`;
  assert.ok(!text.includes(TOKEN), `the access token leaked: ${text}`);
  assert.ok(!text.includes("SECRET"), text);
}

describe("ThirdwebEngineSubmitter against a local Engine", () => {
  let engine: FakeProvider;
  const open = async (options: Partial<ThirdwebEngineSubmitterOptions> = {}) => {
    engine = await startFakeProvider();
    return makeThirdwebEngineSubmitter({
      engineUrl: `${engine.url}/engine/`,
      accessToken: TOKEN,
      backendWallet: WALLET,
      chainId: 31337,
      contract: DAAL,
      pollMs: 10,
      sendTimeoutMs: 2000,
      requestTimeoutMs: 1000,
      ...options,
    });
  };
  const fail = (submitter: ReturnType<typeof makeThirdwebEngineSubmitter>) =>
    Effect.runPromise(Effect.flip(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: KEY })));
  afterEach(() => engine?.close());

  test("submit: the documented write request, then status polls from queued to sent give the transaction hash", async () => {
    const submitter = await open();
    let polls = 0;
    engine.handle = (request) => {
      if (request.method === "POST") return { status: 200, json: { result: { queueId: "q-1" } } };
      polls += 1;
      return { status: 200, json: polls < 3 ? statusBody("queued") : statusBody("sent", { transactionHash: TX }) };
    };
    const submission = await Effect.runPromise(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: KEY }));
    assert.deepEqual(submission, { txHash: TX, providerId: "q-1" });

    const [write, ...statuses] = engine.requests as [RecordedRequest, ...RecordedRequest[]];
    assert.equal(write.method, "POST");
    assert.equal(write.path, `/engine/contract/31337/${DAAL}/write`);
    assert.equal(write.headers["authorization"], `Bearer ${TOKEN}`);
    assert.equal(write.headers["x-backend-wallet-address"], WALLET);
    assert.equal(write.headers["x-idempotency-key"], KEY);
    assert.match(String(write.headers["content-type"]), /^application\/json/);
    assert.deepEqual(write.json, { functionName: ANCHOR_FUNCTION_SIGNATURE, args: [ROOT, "42"] });
    assert.equal(statuses.length, 3);
    for (const status of statuses) {
      assert.equal(status.method, "GET");
      assert.equal(status.path, "/engine/transaction/status/q-1");
      assert.equal(status.headers["authorization"], `Bearer ${TOKEN}`);
    }
  });

  test("transactionStatus maps queued, sent, mined (success or reverted), errored and cancelled", async () => {
    const submitter = await open();
    const cases: ReadonlyArray<[Record<string, unknown>, unknown]> = [
      [statusBody("queued"), { state: "queued" }],
      [statusBody("sent", { transactionHash: TX }), { state: "pending", txHash: TX }],
      [statusBody("mined", { transactionHash: TX, blockNumber: 12, onchainStatus: "success" }), { state: "mined", txHash: TX, blockNumber: 12, success: true }],
      [statusBody("mined", { transactionHash: TX, blockNumber: 12, onchainStatus: "reverted" }), { state: "mined", txHash: TX, blockNumber: 12, success: false }],
    ];
    for (const [body, want] of cases) {
      engine.handle = () => ({ status: 200, json: body });
      assert.deepEqual(await Effect.runPromise(submitter.transactionStatus("q-1")), want);
    }
    for (const status of ["errored", "cancelled"]) {
      engine.handle = () => ({ status: 200, json: statusBody(status, { errorMessage: "execution reverted: RootAlreadyAnchored" }) });
      const result = await Effect.runPromise(submitter.transactionStatus("q-1"));
      assert.equal(result.state, "errored");
      if (result.state === "errored") assert.match(result.message, new RegExp(`Engine ${status} the transaction: execution reverted: RootAlreadyAnchored`));
    }
    engine.handle = () => ({ status: 400, json: { error: { code: "TRANSACTION_NOT_FOUND", message: "Transaction not found.", statusCode: 400 } } });
    const missing = await Effect.runPromise(Effect.flip(submitter.transactionStatus("q-404")));
    assert.equal(missing.reason, "rejected");
    assert.match(missing.message, /HTTP 400 TRANSACTION_NOT_FOUND/);
  });

  test("an errored job fails submit as rejected, carrying the queue id", async () => {
    const submitter = await open();
    engine.handle = (request) =>
      request.method === "POST"
        ? { status: 200, json: { result: { queueId: "q-1" } } }
        : { status: 200, json: statusBody("errored", { errorMessage: "Simulation failed: NotSubmitter(0x7099...)" }) };
    const error = await fail(submitter);
    assert.equal(error.reason, "rejected");
    assert.equal(error.providerId, "q-1");
    assert.equal(error.isRetryable, false);
    assertNoSecret(error);
  });

  test("a job that stays queued fails submit with timeout (retryable) and the queue id to follow up", async () => {
    const submitter = await open({ sendTimeoutMs: 200 });
    engine.handle = (request) => (request.method === "POST" ? { status: 200, json: { result: { queueId: "q-1" } } } : { status: 200, json: statusBody("queued") });
    const error = await fail(submitter);
    assert.equal(error.reason, "timeout");
    assert.equal(error.isRetryable, true);
    assert.equal(error.providerId, "q-1");
  });

  test("HTTP failures: 5xx and 429 unavailable (retryable), 401/403 misconfigured, 400 rejected; bodies are not repeated", async () => {
    const submitter = await open();
    const cases: ReadonlyArray<[number, string, string]> = [
      [500, "INTERNAL_SERVER_ERROR", "unavailable"],
      [503, "SERVICE_UNAVAILABLE", "unavailable"],
      [429, "TOO_MANY_REQUESTS", "unavailable"],
      [401, "UNAUTHORIZED", "misconfigured"],
      [403, "FORBIDDEN", "misconfigured"],
      [400, "BAD_REQUEST", "rejected"],
    ];
    for (const [status, code, reason] of cases) {
      engine.handle = () => ({ status, json: { error: { code, message: `token ${TOKEN} was echoed by a proxy`, statusCode: status, stack: "at secret()" } } });
      const error = await fail(submitter);
      assert.equal(error.reason, reason, `HTTP ${status}`);
      assert.equal(error.isRetryable, reason === "unavailable");
      assert.match(error.message, new RegExp(`HTTP ${status} ${code}`));
      assert.ok(!error.message.includes("echoed") && !error.message.includes("stack"));
      assertNoSecret(error);
    }
  });

  test("an answer without result.queueId, a hung Engine and an unreachable one fail without leaking the token", async () => {
    const submitter = await open({ requestTimeoutMs: 200 });
    engine.handle = () => ({ status: 200, text: "<html>proxy login</html>" });
    const malformed = await fail(submitter);
    assert.equal(malformed.reason, "unavailable");
    assertNoSecret(malformed);

    engine.handle = () => ({ status: 200, hang: true });
    const hung = await fail(submitter);
    assert.equal(hung.reason, "timeout");
    assertNoSecret(hung);

    const closed = makeThirdwebEngineSubmitter({ engineUrl: `http://127.0.0.1:${await freePort()}`, accessToken: TOKEN, backendWallet: WALLET, chainId: 31337, contract: DAAL });
    const unreachable = await fail(closed);
    assert.equal(unreachable.reason, "unavailable");
    assert.equal(unreachable.isRetryable, true);
    assertNoSecret(unreachable);
  });
});

describe("the sidecar anchors through thirdweb Engine", () => {
  after(() => stopAllAnvils());

  test("ZT_SUBMITTER=thirdweb-engine: the batch is confirmed on chain and AnchorSubmitted keeps the queue id", async () => {
    const chain = await anvilWithDaal();
    const engine = await startRelayingEngine(chain, TOKEN);
    const h = await makeHarness({
      env: {
        ZT_CHAIN: chain.rpcUrl,
        ZT_CHAIN_ID: "31337",
        ZT_DAAL_ADDRESS: chain.daal,
        ZT_SUBMITTER: "thirdweb-engine",
        ZT_ENGINE_URL: engine.url,
        ZT_ENGINE_ACCESS_TOKEN: TOKEN,
        ZT_ENGINE_BACKEND_WALLET: SUBMITTER_ADDRESS,
        ZT_CHECKPOINT_RECORDS: "4",
        ZT_CHECKPOINT_MS: "86400000",
        ZT_ANCHOR_POLL_MS: "50",
      },
    });
    try {
      assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
      const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
      assert.equal((await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) })).status, 200);
      const batch = await waitFor("batch-1 confirmed", async () => {
        const reply = await h.request("GET", "/audit/batches", { token: h.tokens.operator });
        const first = reply.json.batches[0];
        return first?.anchor?.status === "confirmed" ? first : undefined;
      }, { timeoutMs: 15_000, intervalMs: 50 });
      const [[queueId, job]] = [...engine.jobs] as [[string, { hash?: Hex }]];
      assert.equal(batch.anchor.tx_hash, job.hash);
      const events = await h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(anchorStream("batch-1"))));
      const submitted = events.find((e) => e.type === ANCHOR_SUBMITTED);
      assert.equal(submitted?.data["submitter"], "thirdweb-engine");
      assert.equal(submitted?.data["provider_id"], queueId);
      const logs = await anchoredLogs(chain.client, chain.daal);
      assert.deepEqual(logs.map((l) => l.root), [`0x${batch.root}`]);
      assert.ok(!h.logs.some((line) => line.includes(TOKEN)), "the access token is never logged");
    } finally {
      await h.close();
      await engine.close();
    }
  });
});
