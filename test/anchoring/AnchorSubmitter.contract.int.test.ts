/**
 * Every AnchorSubmitter adapter runs the same contract suite on a real anvil: direct
 * (local key), thirdweb Engine Cloud (through a relaying fake Engine) and CDP (through a
 * relaying fake CDP API, on an anvil with base-sepolia's chain id).
 */
import { after } from "node:test";
import { Effect } from "effect";
import { makeCdpSubmitter, CDP_NETWORK_CHAIN_IDS } from "../../src/anchoring/adapters/cdp/CdpSubmitter.ts";
import { makeDirectSubmitter } from "../../src/anchoring/adapters/direct/DirectSubmitter.ts";
import { ANVIL_CHAIN_ID, ANVIL_SUBMITTER_KEY } from "../../src/anchoring/local/localChain.ts";
import { makeThirdwebEngineSubmitter } from "../../src/anchoring/adapters/thirdweb-engine/ThirdwebEngineSubmitter.ts";
import { anvilWithDaal, stopAllAnvils, SUBMITTER_ADDRESS } from "./anchoringFixtures.ts";
import { anchorSubmitterContract } from "./anchorSubmitterContract.ts";
import { cdpCredentials, startRelayingCdp, startRelayingEngine } from "./relayProviders.ts";

after(() => stopAllAnvils());

anchorSubmitterContract("DirectSubmitter", async () => {
  const chain = await anvilWithDaal();
  const submitter = await Effect.runPromise(makeDirectSubmitter({ rpcUrl: chain.rpcUrl, chainId: ANVIL_CHAIN_ID, contract: chain.daal, privateKey: ANVIL_SUBMITTER_KEY }));
  return { submitter, chain, chainId: ANVIL_CHAIN_ID, secrets: [ANVIL_SUBMITTER_KEY, ANVIL_SUBMITTER_KEY.slice(2)], close: async () => undefined };
});

anchorSubmitterContract("ThirdwebEngineSubmitter", async () => {
  const chain = await anvilWithDaal();
  const secretKey = `engine-secret-${crypto.randomUUID()}`;
  const engine = await startRelayingEngine(chain, secretKey);
  const submitter = makeThirdwebEngineSubmitter({ engineUrl: engine.url, secretKey, serverWallet: SUBMITTER_ADDRESS, chainId: ANVIL_CHAIN_ID, contract: chain.daal, rpcUrl: chain.rpcUrl, pollMs: 20 });
  return { submitter, chain, chainId: ANVIL_CHAIN_ID, secrets: [secretKey], close: () => engine.close() };
});

anchorSubmitterContract("CdpSubmitter", async () => {
  const chainId = CDP_NETWORK_CHAIN_IDS["base-sepolia"];
  const chain = await anvilWithDaal({ chainId });
  const cdp = await startRelayingCdp(chain, chainId);
  const creds = cdpCredentials();
  const submitter = makeCdpSubmitter({
    apiKeyId: "organizations/zt/apiKeys/contract",
    apiKeySecret: creds.apiKeySecret,
    walletSecret: creds.walletSecret,
    accountName: "zt-anchor-contract",
    network: "base-sepolia",
    contract: chain.daal,
    rpcUrl: chain.rpcUrl,
    basePath: `${cdp.url}/platform`,
  });
  return { submitter, chain, chainId, secrets: [creds.apiKeySecret, creds.walletSecret], close: () => cdp.close() };
});
