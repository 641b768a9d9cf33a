/**
 * The thirdweb Engine Cloud adapter against a local server speaking Engine v3's shapes
 * (`@thirdweb-dev/engine` types.gen.ts; thirdweb-dev/engine-core server/src/http/routes,
 * error.rs):
 *   POST /v1/write/transaction  (x-secret-key, x-vault-access-token; { executionOptions:
 *        { type, from, chainId, idempotencyKey }, params: [{ to, data, value }] })
 *        -> 202 { result: { transactions: [{ id: <idempotency key>, executionParams }] } }
 *   POST /v1/transactions/search { filters: [{ field: "id", values, operation }] }
 *        -> { result: { transactions: [{ id, status, transactionHash, confirmedAtBlockNumber, errorMessage, executionResult }] } }
 *   errors -> { error: { message, details: { type } } }
 * and a JSON-RPC endpoint on the same server for the sender's code. Then the whole
 * sidecar through it: a relaying fake Engine (relayProviders.ts) signs the job with the
 * server wallet's key and sends it to anvil, as Engine does, and also holds, re-sends
 * and forgets jobs as Engine can.
 */
import assert from "node:assert/strict";
import { after, afterEach, describe, test } from "node:test";
import { Effect } from "effect";
import { decodeFunctionData, type Hex } from "viem";
import type { AnchorError } from "../../src/anchoring/ports/AnchorSubmitter.ts";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { ANCHOR_CONFIRMED, ANCHOR_FAILED, ANCHOR_SUBMITTED, anchorStream } from "../../src/anchoring/core/events.ts";
import { freePort } from "../../src/anchoring/local/localChain.ts";
import { makeThirdwebEngineSubmitter, type ThirdwebEngineSubmitterOptions } from "../../src/anchoring/adapters/thirdweb-engine/ThirdwebEngineSubmitter.ts";
import { EventStore, type RecordedEvent } from "../../src/events/EventStore.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest, type Harness } from "../support/harness.ts";
import { anchoredLogs, anvilWithDaal, stopAllAnvils, SUBMITTER_ADDRESS, transactionsTo, waitFor, type ChainWithDaal } from "./anchoringFixtures.ts";
import { startFakeProvider, type FakeProvider, type RecordedRequest, type Reply } from "./fakeProvider.ts";
import { startRelayingEngine, type EngineJob, type RelayingEngine } from "./relayProviders.ts";

const SECRET_KEY = "engine-secret-key-SECRET-0123456789";
const VAULT_TOKEN = "vault-access-token-SECRET-987654";
const WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" as const;
const DAAL = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const;
const ROOT = `0x${"3c".repeat(32)}` as Hex;
const TX = `0x${"9e".repeat(32)}` as Hex;
const TX2 = `0x${"9f".repeat(32)}` as Hex;
const KEY = "0b0e3d44-1f55-4d2b-8c00-6a3c1e2f4a5b";

const queued = (id = KEY, type = "EOA", from: string = WALLET): Reply => ({
  status: 202,
  json: { result: { transactions: [{ id, batchIndex: 0, executionParams: { type, from, chainId: 31337, idempotencyKey: id }, transactionParams: [] }] } },
});
const row = (status: string, extra: Record<string, unknown> = {}) => ({
  id: KEY,
  batchIndex: 0,
  chainId: "31337",
  from: WALLET,
  status,
  transactionHash: null,
  confirmedAtBlockNumber: null,
  errorMessage: null,
  executionResult: null,
  ...extra,
});
const found = (...rows: ReadonlyArray<Record<string, unknown>>): Reply => ({ status: 200, json: { result: { transactions: rows, pagination: { totalCount: rows.length, page: 0, limit: 100 } } } });

function assertNoSecret(error: AnchorError) {
  const text = `${error.message} ${JSON.stringify(error)} ${String(error)}`;
  assert.ok(!text.includes(SECRET_KEY) && !text.includes(VAULT_TOKEN), `a secret leaked: ${text}`);
}

describe("ThirdwebEngineSubmitter against a local Engine Cloud", () => {
  let engine: FakeProvider;
  /** The sender's code on chain, as eth_getCode answers it. */
  let senderCode: Hex = "0x";
  let engineHandle: (request: RecordedRequest) => Reply | Promise<Reply>;
  const engineRequests = () => engine.requests.filter((request) => request.path.startsWith("/engine/"));
  const open = async (options: Partial<ThirdwebEngineSubmitterOptions> = {}) => {
    senderCode = "0x";
    engine = await startFakeProvider((request) => {
      if (request.path === "/rpc") return { status: 200, json: { jsonrpc: "2.0", id: request.json?.id, result: request.json?.method === "eth_getCode" ? senderCode : "0x7a69" } };
      return engineHandle({ ...request, path: request.path.replace(/^\/engine/, "") });
    });
    return makeThirdwebEngineSubmitter({
      engineUrl: `${engine.url}/engine/`,
      secretKey: SECRET_KEY,
      serverWallet: WALLET,
      chainId: 31337,
      contract: DAAL,
      rpcUrl: `${engine.url}/rpc`,
      pollMs: 10,
      sendTimeoutMs: 2000,
      requestTimeoutMs: 1000,
      ...options,
    });
  };
  const fail = (submitter: ReturnType<typeof makeThirdwebEngineSubmitter>) => Effect.runPromise(Effect.flip(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: KEY })));
  afterEach(() => engine?.close());

  test("submit: an EOA execution from the server wallet with the idempotency key, then searches from QUEUED to SUBMITTED give the hash; the job id is the key", async () => {
    const submitter = await open({ vaultAccessToken: VAULT_TOKEN });
    let polls = 0;
    engineHandle = (request) => {
      if (request.path === "/v1/write/transaction") return queued();
      polls += 1;
      return found(polls < 3 ? row("QUEUED") : row("SUBMITTED", { transactionHash: TX }));
    };
    const submission = await Effect.runPromise(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: KEY }));
    assert.deepEqual(submission, { txHash: TX, providerId: KEY });

    const [write, ...searches] = engineRequests() as [RecordedRequest, ...RecordedRequest[]];
    assert.equal(write.method, "POST");
    assert.equal(write.path, "/engine/v1/write/transaction");
    assert.equal(write.headers["x-secret-key"], SECRET_KEY);
    assert.equal(write.headers["x-vault-access-token"], VAULT_TOKEN);
    assert.equal(write.headers["authorization"], undefined);
    assert.match(String(write.headers["content-type"]), /^application\/json/);
    assert.deepEqual(write.json.executionOptions, { type: "EOA", from: WALLET, chainId: 31337, idempotencyKey: KEY });
    const [call] = write.json.params;
    assert.equal(call.to, DAAL);
    assert.equal(call.value, "0");
    assert.deepEqual(decodeFunctionData({ abi: DAAL_ABI, data: call.data }), { functionName: "anchorCheckpoint", args: [ROOT, 42n] });
    assert.equal(searches.length, 3);
    for (const search of searches) {
      assert.deepEqual([search.method, search.path], ["POST", "/engine/v1/transactions/search"]);
      assert.deepEqual(search.json.filters, [{ field: "id", values: [KEY], operation: "OR" }]);
      assert.equal(search.headers["x-secret-key"], SECRET_KEY);
    }
  });

  test("transactionStatus maps QUEUED, SUBMITTED, CONFIRMED (success or reverted) and FAILED, follows a re-sent job's new hash, and a job Engine does not know is unknown", async () => {
    const submitter = await open();
    const cases: ReadonlyArray<[Reply, unknown]> = [
      [found(row("QUEUED")), { state: "queued" }],
      [found(row("SUBMITTED", { transactionHash: TX })), { state: "pending", txHash: TX }],
      // A stuck transaction re-sent with a higher fee: Engine reports the new hash.
      [found(row("SUBMITTED", { transactionHash: TX2 })), { state: "pending", txHash: TX2 }],
      [found(row("SUBMITTED", { executionResult: { status: "SUBMITTED", transactionHash: TX } })), { state: "pending", txHash: TX }],
      [found(row("CONFIRMED", { transactionHash: TX, confirmedAtBlockNumber: "12", executionResult: { onchainStatus: "SUCCESS" } })), { state: "mined", txHash: TX, blockNumber: 12, success: true }],
      [found(row("CONFIRMED", { transactionHash: TX, confirmedAtBlockNumber: "12", executionResult: { onchainStatus: "REVERTED" } })), { state: "mined", txHash: TX, blockNumber: 12, success: false }],
      // Pruned, or never queued: no row.
      [found(), { state: "unknown" }],
    ];
    for (const [reply, want] of cases) {
      engineHandle = () => reply;
      assert.deepEqual(await Effect.runPromise(submitter.transactionStatus(KEY)), want);
    }
    engineHandle = () => found(row("FAILED", { errorMessage: "execution reverted: RootAlreadyAnchored" }));
    const failed = await Effect.runPromise(submitter.transactionStatus(KEY));
    assert.equal(failed.state, "errored");
    if (failed.state === "errored") assert.match(failed.message, /Engine failed the job: execution reverted: RootAlreadyAnchored/);
  });

  test("an execution Engine would not send from the EOA (auto: EIP-7702 or a smart account) is misconfigured, and nothing is awaited", async () => {
    const submitter = await open();
    for (const type of ["EIP7702", "ERC4337", "auto"]) {
      engineHandle = (request) => (request.path === "/v1/write/transaction" ? queued(KEY, type) : found(row("SUBMITTED", { transactionHash: TX })));
      const before = engineRequests().length;
      const error = await fail(submitter);
      assert.equal(error.reason, "misconfigured", type);
      assert.match(error.message, new RegExp(`as a ${type} execution, not from the EOA`));
      assert.equal(engineRequests().length - before, 1, "no search after the write");
    }
    engineHandle = (request) => (request.path === "/v1/write/transaction" ? queued(KEY, "EOA", DAAL) : found());
    assert.equal((await fail(submitter)).reason, "misconfigured", "another sender");
  });

  test("a server wallet address with contract code (the smart account Engine also shows) is misconfigured before anything is sent", async () => {
    const submitter = await open();
    senderCode = "0x6080604052348015600f57600080fd5b50";
    engineHandle = () => queued();
    const error = await fail(submitter);
    assert.equal(error.reason, "misconfigured");
    assert.match(error.message, /ZT_ENGINE_SERVER_WALLET .* holds contract code: it is a smart account/);
    assert.deepEqual(engineRequests(), []);
    // An EOA that delegates (EIP-7702) is still an EOA.
    senderCode = `0xef0100${"12".repeat(20)}`;
    engineHandle = (request) => (request.path === "/v1/write/transaction" ? queued() : found(row("SUBMITTED", { transactionHash: TX })));
    assert.equal((await Effect.runPromise(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: KEY }))).txHash, TX);
  });

  test("a FAILED job fails submit as rejected, carrying the job id", async () => {
    const submitter = await open();
    engineHandle = (request) => (request.path === "/v1/write/transaction" ? queued() : found(row("FAILED", { errorMessage: "Simulation failed: NotSubmitter(0x7099...)" })));
    const error = await fail(submitter);
    assert.equal(error.reason, "rejected");
    assert.equal(error.providerId, KEY);
    assert.equal(error.isRetryable, false);
    assertNoSecret(error);
  });

  test("a job that stays queued, or is not searchable yet, fails submit with timeout (retryable) and the job id to follow up", async () => {
    for (const pending of [found(row("QUEUED")), found()]) {
      const submitter = await open({ sendTimeoutMs: 200 });
      engineHandle = (request) => (request.path === "/v1/write/transaction" ? queued() : pending);
      const error = await fail(submitter);
      assert.equal(error.reason, "timeout");
      assert.equal(error.isRetryable, true);
      assert.equal(error.providerId, KEY);
      await engine.close();
    }
  });

  test("HTTP failures: 5xx and 429 unavailable, 401/403 and a vault that cannot sign misconfigured, 400 rejected; bodies are not repeated", async () => {
    const submitter = await open();
    const cases: ReadonlyArray<[number, string | undefined, string, RegExp]> = [
      [500, "INTERNAL_ERROR", "unavailable", /HTTP 500 INTERNAL_ERROR$/],
      [503, undefined, "unavailable", /HTTP 503$/],
      [429, undefined, "unavailable", /HTTP 429$/],
      [401, undefined, "misconfigured", /HTTP 401 \(check ZT_ENGINE_SECRET_KEY/],
      [403, undefined, "misconfigured", /HTTP 403 \(check ZT_ENGINE_SECRET_KEY/],
      // engine-core error.rs: a vault error is a 502.
      [502, "VAULT_ERROR", "misconfigured", /HTTP 502 VAULT_ERROR \(check ZT_ENGINE_SERVER_WALLET and ZT_ENGINE_VAULT_ACCESS_TOKEN\)/],
      [404, undefined, "misconfigured", /HTTP 404 \(check ZT_ENGINE_URL\)/],
      [400, "VALIDATION_ERROR", "rejected", /HTTP 400 VALIDATION_ERROR$/],
    ];
    for (const [status, type, reason, message] of cases) {
      engineHandle = () => ({ status, json: { error: { message: `key ${SECRET_KEY} was echoed by a proxy`, ...(type === undefined ? {} : { details: { type, message: "stack at secret()" } }) } } });
      const error = await fail(submitter);
      assert.equal(error.reason, reason, `HTTP ${status}`);
      assert.equal(error.isRetryable, reason === "unavailable");
      assert.match(error.message, message);
      assert.ok(!error.message.includes("echoed") && !error.message.includes("stack"));
      assertNoSecret(error);
    }
  });

  test("an answer without a job id, a hung Engine and an unreachable one fail without leaking the key", async () => {
    const submitter = await open({ requestTimeoutMs: 200 });
    engineHandle = () => ({ status: 202, text: "<html>proxy login</html>" });
    const malformed = await fail(submitter);
    assert.equal(malformed.reason, "unavailable");
    assertNoSecret(malformed);

    engineHandle = () => ({ status: 200, hang: true });
    const hung = await fail(submitter);
    assert.equal(hung.reason, "timeout");
    assertNoSecret(hung);

    const closed = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await fail(
      makeThirdwebEngineSubmitter({ engineUrl: closed, secretKey: SECRET_KEY, serverWallet: WALLET, chainId: 31337, contract: DAAL, rpcUrl: `${engine.url}/rpc` }),
    );
    assert.equal(unreachable.reason, "unavailable");
    assert.equal(unreachable.isRetryable, true);
    assertNoSecret(unreachable);
  });
});

describe("the sidecar anchors through thirdweb Engine Cloud", () => {
  after(() => stopAllAnvils());

  const harnessFor = (chain: ChainWithDaal, engine: RelayingEngine, env: Record<string, string> = {}) =>
    makeHarness({
      env: {
        ZT_CHAIN: chain.rpcUrl,
        ZT_CHAIN_ID: "31337",
        ZT_DAAL_ADDRESS: chain.daal,
        ZT_SUBMITTER: "thirdweb-engine",
        ZT_ENGINE_URL: engine.url,
        ZT_ENGINE_SECRET_KEY: SECRET_KEY,
        ZT_ENGINE_SERVER_WALLET: SUBMITTER_ADDRESS,
        ZT_CHECKPOINT_RECORDS: "4",
        ZT_CHECKPOINT_MS: "86400000",
        ZT_ANCHOR_POLL_MS: "50",
        ZT_ANCHOR_RETRY_BASE_MS: "50",
        ZT_ANCHOR_RETRY_MAX_MS: "200",
        ...env,
      },
    });
  const sealOneBatch = async (h: Harness) => {
    assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
    assert.equal((await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) })).status, 200);
  };
  const anchorEvents = (h: Harness): Promise<ReadonlyArray<RecordedEvent>> => h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(anchorStream("batch-1"))));
  const confirmedBatch = (h: Harness) =>
    waitFor("batch-1 confirmed", async () => {
      const reply = await h.request("GET", "/audit/batches", { token: h.tokens.operator });
      const first = reply.json.batches[0];
      return first?.anchor?.status === "confirmed" ? first : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });

  test("ZT_SUBMITTER=thirdweb-engine: the batch is confirmed on chain; AnchorSubmitted keeps the job id, which is the idempotency key", async () => {
    const chain = await anvilWithDaal();
    const engine = await startRelayingEngine(chain, SECRET_KEY);
    const h = await harnessFor(chain, engine);
    try {
      await sealOneBatch(h);
      const batch = await confirmedBatch(h);
      const [[jobId, job]] = [...engine.jobs] as [[string, EngineJob]];
      assert.equal(batch.anchor.tx_hash, job.hashes[0]);
      const submitted = (await anchorEvents(h)).find((e) => e.type === ANCHOR_SUBMITTED);
      assert.equal(submitted?.data["submitter"], "thirdweb-engine");
      assert.equal(submitted?.data["provider_id"], jobId);
      assert.equal(submitted?.data["idempotency_key"], jobId);
      assert.deepEqual((await anchoredLogs(chain.client, chain.daal)).map((l) => l.root), [`0x${batch.root}`]);
      assert.ok(!h.logs.some((line) => line.includes(SECRET_KEY)), "the secret key is never logged");
    } finally {
      await h.close();
      await engine.close();
    }
  });

  test("a job Engine has not sent when the attempt times out is asked for again with the same idempotency key: one job, one transaction", async () => {
    const chain = await anvilWithDaal();
    const engine = await startRelayingEngine(chain, SECRET_KEY);
    engine.plans.push("hold");
    // The attempt waits this long for Engine to send the job.
    const h = await harnessFor(chain, engine, { ZT_ANCHOR_RECEIPT_TIMEOUT_MS: "300" });
    try {
      await sealOneBatch(h);
      const failed = await waitFor("a timed-out attempt", async () => (await anchorEvents(h)).find((e) => e.type === ANCHOR_FAILED), { timeoutMs: 15_000, intervalMs: 50 });
      assert.equal(failed.data["reason"], "timeout");
      const [[jobId, job]] = [...engine.jobs] as [[string, EngineJob]];
      assert.equal(failed.data["idempotency_key"], jobId);
      const writes = () => engine.requests.filter((r) => r.path === "/v1/write/transaction").map((r) => r.json.executionOptions.idempotencyKey);
      await waitFor("the next attempt's request", async () => (writes().length >= 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
      await job.release?.();
      await confirmedBatch(h);
      assert.equal(engine.jobs.size, 1, "one job: every attempt used the same key");
      assert.ok(writes().every((key) => key === jobId), JSON.stringify(writes()));
      const anchors = (await transactionsTo(chain.client, chain.daal)).filter((tx) => tx.from.toLowerCase() === SUBMITTER_ADDRESS.toLowerCase());
      assert.equal(anchors.length, 1, "one anchoring transaction from the server wallet");
    } finally {
      await h.close();
      await engine.close();
    }
  });

  test("a stuck transaction Engine re-sends under a new hash is followed to that hash and confirmed, without waiting out the first", async () => {
    const chain = await anvilWithDaal();
    const engine = await startRelayingEngine(chain, SECRET_KEY);
    engine.plans.push("replace");
    const h = await harnessFor(chain, engine, { ZT_ANCHOR_RECEIPT_TIMEOUT_MS: "600000" });
    try {
      await sealOneBatch(h);
      const batch = await confirmedBatch(h);
      const [[, job]] = [...engine.jobs] as [[string, EngineJob]];
      const [first, replacement] = job.hashes as [Hex, Hex];
      assert.notEqual(first, replacement);
      const events = await anchorEvents(h);
      assert.deepEqual(events.map((e) => e.type), [ANCHOR_SUBMITTED, ANCHOR_CONFIRMED]);
      assert.equal(events[0]?.data["tx_hash"], first, "submitted under the first hash");
      assert.equal(events[1]?.data["tx_hash"], replacement, "confirmed under the one that was mined");
      assert.equal(batch.anchor.tx_hash, replacement);
    } finally {
      await h.close();
      await engine.close();
    }
  });

  test("a job Engine no longer knows (pruned) whose transaction never landed is looked up on the DAAL and submitted afresh, with a new key", async () => {
    const chain = await anvilWithDaal();
    const engine = await startRelayingEngine(chain, SECRET_KEY);
    engine.plans.push("drop");
    const h = await harnessFor(chain, engine, { ZT_ANCHOR_RECEIPT_TIMEOUT_MS: "400" });
    try {
      await sealOneBatch(h);
      await confirmedBatch(h);
      const events = await anchorEvents(h);
      assert.deepEqual(events.map((e) => e.type), [ANCHOR_SUBMITTED, ANCHOR_FAILED, ANCHOR_SUBMITTED, ANCHOR_CONFIRMED]);
      const [first, , second] = events as [RecordedEvent, RecordedEvent, RecordedEvent];
      assert.notEqual(second.data["idempotency_key"], first.data["idempotency_key"], "the forgotten job's key is not repeated");
      assert.equal(engine.jobs.size, 1, "the first job is gone from Engine");
      assert.equal((await anchoredLogs(chain.client, chain.daal)).length, 1);
    } finally {
      await h.close();
      await engine.close();
    }
  });
});
