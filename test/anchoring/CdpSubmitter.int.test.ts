/**
 * The CDP adapter, driving the real @coinbase/cdp-sdk against a local server (the SDK's
 * `basePath`) that speaks the CDP v2 shapes the SDK documents:
 *   GET  /platform/v2/evm/accounts/by-name/{name}       -> EvmAccount | 404 { errorType: "not_found", ... }
 *   POST /platform/v2/evm/accounts { name }             -> EvmAccount { address, name }
 *   POST /platform/v2/evm/accounts/{address}/send/transaction { transaction: RLP, network }
 *                                                       -> { transactionHash }
 *   errors -> { errorType, errorMessage, correlationId }
 * The credentials are checked the way CDP checks them, with node:crypto only: the Bearer
 * JWT is EdDSA-signed by the API key secret for this very request, X-Wallet-Auth is
 * ES256-signed by the wallet secret over the request and a hash of its body. Neither
 * secret ever appears on the wire, in an error, or in a log; no telemetry leaves.
 * Then the sidecar through it: a relaying fake CDP (relayProviders.ts) signs the RLP with
 * the server account's key and broadcasts to anvil (chain id 84532, base-sepolia), as
 * CDP does.
 */
import assert from "node:assert/strict";
import { createHash, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { Effect, Either, HashMap, Layer, Logger } from "effect";
import { decodeFunctionData, parseTransaction, type Hex } from "viem";
import type { AnchorError } from "../../src/anchoring/ports/AnchorSubmitter.ts";
import { CDP_NETWORK_CHAIN_IDS, CdpSubmitter, makeCdpSubmitter, type CdpSubmitterOptions } from "../../src/anchoring/adapters/cdp/CdpSubmitter.ts";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { ANCHOR_FAILED, ANCHOR_SUBMITTED, anchorStream } from "../../src/anchoring/core/events.ts";
import { freePort } from "../../src/anchoring/local/localChain.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { isUuidV4 } from "../../src/kernel/ids.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest } from "../support/harness.ts";
import { anchoredLogs, anvilWithDaal, stopAllAnvils, SUBMITTER_ADDRESS, waitFor } from "./anchoringFixtures.ts";
import { startFakeProvider, type FakeProvider, type RecordedRequest } from "./fakeProvider.ts";
import { cdpCredentials, startRelayingCdp } from "./relayProviders.ts";

const DAAL = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const;
const ROOT = `0x${"7d".repeat(32)}` as Hex;
const TX = `0x${"e1".repeat(32)}` as Hex;
const ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const API_KEY_ID = "organizations/zt/apiKeys/test-key";

function decodeJwt(token: string, publicKey: KeyObject, alg: "EdDSA" | "ES256"): { header: any; payload: any } {
  const [h, p, s] = token.split(".") as [string, string, string];
  const signed = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, "base64url");
  const ok = alg === "EdDSA" ? cryptoVerify(null, signed, publicKey, signature) : cryptoVerify("sha256", signed, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature);
  assert.ok(ok, `${alg} JWT signature verifies`);
  return { header: JSON.parse(Buffer.from(h, "base64url").toString()), payload: JSON.parse(Buffer.from(p, "base64url").toString()) };
}

/** RFC 8785-ish key sort, as the CDP wallet-auth reqHash is computed over sorted JSON. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]));
  return value;
}

const notFound = { status: 404, json: { errorType: "not_found", errorMessage: "EVM account with the given name not found.", correlationId: "corr-1" } };

describe("CdpSubmitter against a local CDP API", () => {
  const creds = cdpCredentials();
  const secrets = [creds.apiKeySecret, creds.walletSecret];
  let cdp: FakeProvider;
  const outbound: string[] = [];
  const realFetch = globalThis.fetch;

  before(() => {
    delete process.env["DISABLE_CDP_USAGE_TRACKING"];
    delete process.env["DISABLE_CDP_ERROR_REPORTING"];
    // Records every fetch this process makes, to show nothing goes to Coinbase's analytics.
    globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      outbound.push(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
      return realFetch(input, init);
    }) as typeof fetch;
  });
  after(() => {
    globalThis.fetch = realFetch;
  });
  afterEach(() => cdp?.close());

  const open = async (options: Partial<CdpSubmitterOptions> = {}) => {
    cdp = await startFakeProvider();
    return makeCdpSubmitter({
      apiKeyId: API_KEY_ID,
      apiKeySecret: creds.apiKeySecret,
      walletSecret: creds.walletSecret,
      accountName: "zt-anchor-test",
      network: "base-sepolia",
      contract: DAAL,
      rpcUrl: `http://127.0.0.1:${await freePort()}`,
      basePath: `${cdp.url}/platform`,
      requestTimeoutMs: 3000,
      ...options,
    });
  };
  const assertNoSecret = (error: AnchorError) => {
    const text = `${error.message} ${JSON.stringify(error)} ${String(error)}`;
    for (const secret of secrets) assert.ok(!text.includes(secret), "a CDP secret leaked into an error");
  };
  const assertSecretsNotOnTheWire = (requests: ReadonlyArray<RecordedRequest>) => {
    for (const request of requests) {
      const wire = `${request.path} ${JSON.stringify(request.headers)} ${request.body}`;
      for (const secret of secrets) assert.ok(!wire.includes(secret), "a CDP secret was sent");
    }
  };

  test("submit: gets or creates the named account, then sends the anchorCheckpoint transaction with signed credentials", async () => {
    const submitter = await open();
    let created = false;
    cdp.handle = (request) => {
      if (request.method === "GET" && request.path === "/platform/v2/evm/accounts/by-name/zt-anchor-test") {
        return created ? { status: 200, json: { address: ACCOUNT, name: "zt-anchor-test" } } : notFound;
      }
      if (request.method === "POST" && request.path === "/platform/v2/evm/accounts") {
        created = true;
        return { status: 201, json: { address: ACCOUNT, name: request.json.name, policies: [], createdAt: "2026-01-01T00:00:00Z" } };
      }
      if (request.method === "POST" && request.path === `/platform/v2/evm/accounts/${ACCOUNT}/send/transaction`) return { status: 200, json: { transactionHash: TX } };
      return { status: 404, json: { errorType: "not_found", errorMessage: "no route" } };
    };
    const submission = await Effect.runPromise(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: "8e03978e-40d5-43e8-bc93-6894a57f9324" }));
    assert.deepEqual(submission, { txHash: TX });

    const [lookup, create, send] = cdp.requests as [RecordedRequest, RecordedRequest, RecordedRequest];
    assert.deepEqual([lookup.method, create.method, send.method], ["GET", "POST", "POST"]);
    assert.deepEqual(create.json, { name: "zt-anchor-test" });
    assert.equal(send.json.network, "base-sepolia");
    // The RLP transaction: to the DAAL, calling anchorCheckpoint(root, 42); CDP fills nonce, gas and fees.
    const tx = parseTransaction(send.json.transaction as Hex);
    assert.equal(tx.type, "eip1559");
    assert.equal(tx.to?.toLowerCase(), DAAL.toLowerCase());
    const call = decodeFunctionData({ abi: DAAL_ABI, data: tx.data! });
    assert.equal(call.functionName, "anchorCheckpoint");
    assert.deepEqual(call.args, [ROOT, 42n]);
    assert.equal(send.headers["x-idempotency-key"], "8e03978e-40d5-43e8-bc93-6894a57f9324");
    assert.ok(isUuidV4(String(send.headers["x-idempotency-key"])));

    // Authorization: an EdDSA JWT by the API key for exactly this request.
    for (const request of [lookup, create, send]) {
      const bearer = String(request.headers["authorization"]).replace(/^Bearer /, "");
      const { header, payload } = decodeJwt(bearer, creds.apiPublic, "EdDSA");
      assert.equal(header.kid, API_KEY_ID);
      assert.equal(payload.sub, API_KEY_ID);
      assert.deepEqual(payload.uris, [`${request.method} ${new URL(cdp.url).host}${request.path}`]);
    }
    // X-Wallet-Auth on the wallet writes only: ES256 by the wallet secret, bound to the body.
    assert.equal(lookup.headers["x-wallet-auth"], undefined);
    for (const request of [create, send]) {
      const { payload } = decodeJwt(String(request.headers["x-wallet-auth"]), creds.walletPublic, "ES256");
      assert.deepEqual(payload.uris, [`POST ${new URL(cdp.url).host}${request.path}`]);
      assert.equal(payload.reqHash, createHash("sha256").update(JSON.stringify(sortKeys(request.json))).digest("hex"));
    }
    assertSecretsNotOnTheWire(cdp.requests);

    // The account is looked up once per process.
    await Effect.runPromise(submitter.submit({ root: ROOT, treeSize: 43 }));
    assert.equal(cdp.requests.filter((r) => r.path.includes("by-name")).length, 1);
    assert.equal(cdp.requests.at(-1)?.headers["x-idempotency-key"], undefined, "no key unless given");
  });

  test("API failures: 5xx unavailable (retryable); 401/403, 402 payment_method_required and 422 idempotency_error misconfigured; 400 rejected; messages keep type and correlation only", async () => {
    const submitter = await open();
    const cases: ReadonlyArray<[number, string, string]> = [
      [500, "internal_server_error", "unavailable"],
      [503, "service_unavailable", "unavailable"],
      [429, "rate_limit_exceeded", "unavailable"],
      [401, "unauthorized", "misconfigured"],
      [403, "forbidden", "misconfigured"],
      // No payment method on the project: nothing but the portal fixes it.
      [402, "payment_method_required", "misconfigured"],
      // The key was used with another request body (docs.cdp.coinbase.com/api-reference/v2/idempotency).
      [422, "idempotency_error", "misconfigured"],
      [400, "invalid_request", "rejected"],
    ];
    for (const [status, errorType, reason] of cases) {
      cdp.handle = (request) =>
        request.method === "GET"
          ? { status: 200, json: { address: ACCOUNT, name: "zt-anchor-test" } }
          : { status, json: { errorType, errorMessage: `echo of ${creds.walletSecret}`, correlationId: "corr-42" } };
      const error = await Effect.runPromise(Effect.flip(submitter.submit({ root: ROOT, treeSize: 42 })));
      assert.equal(error.reason, reason, `HTTP ${status}`);
      assert.equal(error.isRetryable, reason === "unavailable");
      assert.match(error.message, /^sendTransaction: CDP /);
      assert.ok(!error.message.includes("echo of"));
      assertNoSecret(error);
    }
  });

  test("an IP address the CDP gateway blocks (a 403 that is not an API error) is misconfigured, not a retryable outage", async () => {
    const submitter = await open();
    // The gateway's plain-text refusal, which the SDK turns into NetworkError network_ip_blocked (cdpApiClient.ts).
    cdp.handle = (request) => (request.method === "GET" ? { status: 200, json: { address: ACCOUNT } } : { status: 403, text: "Forbidden: your IP address is blocked" });
    const error = await Effect.runPromise(Effect.flip(submitter.submit({ root: ROOT, treeSize: 42 })));
    assert.equal(error.reason, "misconfigured");
    assert.match(error.message, /network_ip_blocked/);
    assertNoSecret(error);
  });

  test("409 already_exists (the key's first request still processing) is asked again with the same key until CDP answers", async () => {
    const submitter = await open();
    let conflicts = 0;
    cdp.handle = (request) => {
      if (request.method === "GET") return { status: 200, json: { address: ACCOUNT } };
      conflicts += 1;
      return conflicts <= 2
        ? { status: 409, json: { errorType: "already_exists", errorMessage: "Request with this idempotency key is being processed.", correlationId: "corr-409" } }
        : { status: 200, json: { transactionHash: TX } };
    };
    const key = "8e03978e-40d5-43e8-bc93-6894a57f9324";
    assert.deepEqual(await Effect.runPromise(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: key })), { txHash: TX });
    const sends = cdp.requests.filter((request) => request.method === "POST");
    assert.equal(sends.length, 3);
    assert.ok(sends.every((request) => request.headers["x-idempotency-key"] === key));
  });

  test("409 already_exists until the call's time is up is a timeout (retryable: the next attempt repeats the key)", async () => {
    const submitter = await open({ requestTimeoutMs: 1200 });
    cdp.handle = (request) =>
      request.method === "GET" ? { status: 200, json: { address: ACCOUNT } } : { status: 409, json: { errorType: "already_exists", errorMessage: "processing", correlationId: "corr-409" } };
    const error = await Effect.runPromise(Effect.flip(submitter.submit({ root: ROOT, treeSize: 42, idempotencyKey: "8e03978e-40d5-43e8-bc93-6894a57f9324" })));
    assert.equal(error.reason, "timeout");
    assert.equal(error.isRetryable, true);
  });

  test("the adapter's timeout cancels the SDK's HTTP request instead of leaving it open", async () => {
    const submitter = await open({ requestTimeoutMs: 300 });
    cdp.handle = (request) => (request.method === "GET" ? { status: 200, json: { address: ACCOUNT } } : { status: 200, hang: true });
    const error = await Effect.runPromise(Effect.flip(submitter.submit({ root: ROOT, treeSize: 42 })));
    assert.equal(error.reason, "timeout");
    const send = cdp.requests.find((request) => request.method === "POST");
    assert.ok(send !== undefined);
    await waitFor("the hung request closed by the client", async () => (cdp.abandoned.includes(send) ? true : undefined), { timeoutMs: 2000, intervalMs: 20 });
    assert.equal(cdp.requests.filter((request) => request.method === "POST").length, 1, "not sent again by the SDK's retries");
  });

  test("the layer looks the account up at start and logs its address; with ZT_CDP_CREATE_ACCOUNT=false a missing name stops startup instead of creating an empty account", async () => {
    const logged: Array<{ message: string; annotations: Record<string, unknown> }> = [];
    const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message, annotations }) => void logged.push({ message: String(message), annotations: Object.fromEntries(HashMap.toEntries(annotations)) })));
    const build = (options: Partial<CdpSubmitterOptions>) =>
      Effect.runPromise(
        Effect.either(
          Effect.scoped(Layer.build(CdpSubmitter.layer({
            apiKeyId: API_KEY_ID,
            apiKeySecret: creds.apiKeySecret,
            walletSecret: creds.walletSecret,
            accountName: "zt-anchor-test",
            network: "base-sepolia",
            contract: DAAL,
            rpcUrl: `http://127.0.0.1:${freePortNumber}`,
            basePath: `${cdp.url}/platform`,
            requestTimeoutMs: 3000,
            ...options,
          }))).pipe(Effect.provide(capture)),
        ),
      );
    cdp = await startFakeProvider((request) => (request.method === "GET" ? notFound : { status: 201, json: { address: ACCOUNT, name: "zt-anchor-test" } }));
    const freePortNumber = await freePort();

    const refused = await build({ createAccount: false });
    assert.ok(Either.isLeft(refused));
    assert.equal(refused.left.reason, "misconfigured");
    assert.match(refused.left.message, /no CDP account is named zt-anchor-test \(ZT_CDP_CREATE_ACCOUNT=false/);
    assert.deepEqual(cdp.requests.map((r) => r.method), ["GET"], "nothing created");

    const created = await build({});
    assert.ok(Either.isRight(created));
    const line = logged.find((entry) => entry.message.startsWith("CDP anchoring account"));
    assert.equal(line?.annotations["address"], ACCOUNT);
    assert.equal(line?.annotations["account_name"], "zt-anchor-test");
    assert.ok(!JSON.stringify(logged).includes(creds.apiKeySecret) && !JSON.stringify(logged).includes(creds.walletSecret));
  });

  test("a malformed wallet secret is misconfigured, an unreachable CDP unavailable, a hung one a timeout; no secret in any error", async () => {
    const badWallet = await open({ walletSecret: "bm90LWEta2V5LVNFQ1JFVA==" });
    cdp.handle = (request) => (request.method === "GET" ? { status: 200, json: { address: ACCOUNT } } : { status: 200, json: { transactionHash: TX } });
    const misconfigured = await Effect.runPromise(Effect.flip(badWallet.submit({ root: ROOT, treeSize: 42 })));
    assert.equal(misconfigured.reason, "misconfigured");
    assert.ok(!misconfigured.message.includes("bm90LWEta2V5LVNFQ1JFVA=="));
    assertNoSecret(misconfigured);
    await cdp.close();

    const unreachable = await open({ basePath: `http://127.0.0.1:${await freePort()}/platform` });
    const down = await Effect.runPromise(Effect.flip(unreachable.submit({ root: ROOT, treeSize: 42 })));
    assert.equal(down.reason, "unavailable");
    assert.equal(down.isRetryable, true);
    assertNoSecret(down);
    await cdp.close();

    const hung = await open({ requestTimeoutMs: 300 });
    cdp.handle = () => ({ status: 200, hang: true });
    const slow = await Effect.runPromise(Effect.flip(hung.submit({ root: ROOT, treeSize: 42 })));
    assert.equal(slow.reason, "timeout");
    assertNoSecret(slow);
  });

  test("no telemetry: the SDK's analytics stay off and nothing is sent to Coinbase", () => {
    assert.equal(process.env["DISABLE_CDP_USAGE_TRACKING"], "true");
    assert.equal(process.env["DISABLE_CDP_ERROR_REPORTING"], "true");
    assert.deepEqual(outbound.filter((url) => !url.startsWith("http://127.0.0.1")), []);
  });
});

describe("the sidecar anchors through CDP", () => {
  after(() => stopAllAnvils());

  test("ZT_SUBMITTER=cdp on base-sepolia (anvil with chain id 84532): the batch is confirmed on chain", async () => {
    const chainId = CDP_NETWORK_CHAIN_IDS["base-sepolia"];
    const chain = await anvilWithDaal({ chainId });
    const creds = cdpCredentials();
    const fake = await startRelayingCdp(chain, chainId);
    const h = await makeHarness({
      env: {
        ZT_CHAIN: chain.rpcUrl,
        ZT_DAAL_ADDRESS: chain.daal,
        ZT_SUBMITTER: "cdp",
        CDP_API_KEY_ID: API_KEY_ID,
        CDP_API_KEY_SECRET: creds.apiKeySecret,
        CDP_WALLET_SECRET: creds.walletSecret,
        ZT_CDP_ACCOUNT_NAME: "zt-anchor",
        ZT_CDP_NETWORK: "base-sepolia",
        ZT_CDP_BASE_URL: `${fake.url}/platform`,
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
      assert.equal(batch.anchor.chain_id, chainId);
      assert.deepEqual(fake.sent, [batch.anchor.tx_hash]);
      const events = await h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(anchorStream("batch-1"))));
      assert.equal(events.find((e) => e.type === ANCHOR_SUBMITTED)?.data["submitter"], "cdp");
      assert.deepEqual((await anchoredLogs(chain.client, chain.daal)).map((l) => l.root), [`0x${batch.root}`]);
      for (const secret of [creds.apiKeySecret, creds.walletSecret]) assert.ok(!h.logs.some((line) => line.includes(secret)), "a CDP secret was logged");
      assert.ok(h.logs.some((line) => line.includes("CDP anchoring account") && line.toLowerCase().includes(SUBMITTER_ADDRESS.toLowerCase())), "the account's address is logged at start");
    } finally {
      await h.close();
      await fake.close();
    }
  });

  test("a send that outlasts the call's timeout is asked again with the same idempotency key: CDP answers it once, one transaction", async () => {
    const chainId = CDP_NETWORK_CHAIN_IDS["base-sepolia"];
    const chain = await anvilWithDaal({ chainId });
    const creds = cdpCredentials();
    const fake = await startRelayingCdp(chain, chainId);
    // CDP goes on processing after the client hangs up, for longer than the call's timeout.
    fake.processingMs = 900;
    const h = await makeHarness({
      env: {
        ZT_CHAIN: chain.rpcUrl,
        ZT_DAAL_ADDRESS: chain.daal,
        ZT_SUBMITTER: "cdp",
        CDP_API_KEY_ID: API_KEY_ID,
        CDP_API_KEY_SECRET: creds.apiKeySecret,
        CDP_WALLET_SECRET: creds.walletSecret,
        ZT_CDP_NETWORK: "base-sepolia",
        ZT_CDP_BASE_URL: `${fake.url}/platform`,
        ZT_CHECKPOINT_RECORDS: "4",
        ZT_CHECKPOINT_MS: "86400000",
        ZT_ANCHOR_POLL_MS: "50",
        ZT_ANCHOR_RETRY_BASE_MS: "50",
        ZT_ANCHOR_RETRY_MAX_MS: "200",
        ZT_ANCHOR_RPC_TIMEOUT_MS: "300",
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
      }, { timeoutMs: 20_000, intervalMs: 50 });
      const sends = fake.requests.filter((request) => request.path.endsWith("/send/transaction"));
      assert.ok(sends.length >= 2, "asked again after the timeout");
      assert.equal(new Set(sends.map((request) => request.headers["x-idempotency-key"])).size, 1, "with the same key every time");
      assert.deepEqual(fake.sent, [batch.anchor.tx_hash], "one transaction");
      const events = await h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(anchorStream("batch-1"))));
      assert.equal(events.find((e) => e.type === ANCHOR_FAILED)?.data["reason"], "timeout");
    } finally {
      await h.close();
      await fake.close();
    }
  });
});
