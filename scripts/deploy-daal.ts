/**
 * `npx hardhat run scripts/deploy-daal.ts --network <base | base-sepolia | localhost>`:
 * deploys DAAL through thirdweb (src/anchoring/deployDaal.ts, the deployer every path
 * uses) to the network's RPC with the network's account (DAAL_OWNER_PRIVATE_KEY, from
 * the keystore or the environment), which becomes the owner, and writes
 * `$ZT_DEPLOYMENTS_DIR/<chain id>.json`. The rest is `zt anchor deploy`'s
 * (src/anchoring/deployCommand.ts): ZT_DEPLOY_SUBMITTER, ZT_DEPLOYMENTS_DIR,
 * THIRDWEB_SECRET_KEY / THIRDWEB_CLIENT_ID, the record, the messages and the exit codes
 * (0 deployed, 1 deployment failed, 2 bad settings).
 */
import { network } from "hardhat";
import { runDeployCommand } from "../src/anchoring/deploy/deployCommand.ts";
import type { DaalChain } from "../src/anchoring/deploy/deployDaal.ts";

/** Hardhat network names with a chain of their own in deployDaal; any other is served as `local`. */
const DAAL_CHAIN_OF_NETWORK: Readonly<Record<string, DaalChain>> = { base: "base", "base-sepolia": "base-sepolia" };

const connection = await network.create();
const config = connection.networkConfig;
if (config.type !== "http" || !Array.isArray(config.accounts) || config.accounts.length !== 1) {
  console.error(`deploy: --network ${connection.networkName} must be an http network with one account (see hardhat.config.ts)`);
  process.exitCode = 2;
} else {
  const [account] = config.accounts;
  process.exitCode = await runDeployCommand({
    ...process.env,
    ZT_DEPLOY_CHAIN: DAAL_CHAIN_OF_NETWORK[connection.networkName] ?? "local",
    ZT_DEPLOY_RPC_URL: await config.url.get(),
    ZT_DEPLOY_PRIVATE_KEY: await account!.get(),
  });
}
await connection.close();
