/**
 * Deploys DAAL through thirdweb and records it in `$ZT_DEPLOYMENTS_DIR/<chain id>.json`.
 * Settings come from the environment (src/anchoring/deploySettings.ts):
 *   ZT_DEPLOY_CHAIN        local (default) | base | base-sepolia
 *   ZT_DEPLOY_RPC_URL      RPC URL (else ZT_CHAIN when it is a URL; local: http://127.0.0.1:8545)
 *   ZT_DEPLOY_PRIVATE_KEY  deployer and owner key, 0x-prefixed hex (never printed)
 *   THIRDWEB_SECRET_KEY / THIRDWEB_CLIENT_ID   optional for a non-thirdweb RPC
 *   ZT_DEPLOY_SUBMITTER    address allowed to anchor (default: the deployer)
 *   ZT_DEPLOYMENTS_DIR     where records go (default ./deployments)
 * Used by `scripts/deploy.ts` (`npm run contracts:deploy`), `zt anchor deploy`, and
 * `scripts/deploy-daal.ts` (`npx hardhat run`, which fills chain, RPC URL and key from
 * the Hardhat network).
 * Exit codes: 0 deployed, 1 deployment failed, 2 bad settings.
 */
import { DaalDeployError, deployDaal, redactSecret } from "./deployDaal.ts";
import { deploymentRecord, writeDeploymentRecord } from "./deploymentRecord.ts";
import { type DeploySettings, DeploySettingsError, deploySettingsFromEnv } from "./deploySettings.ts";

/** Deploys and records DAAL from environment settings; returns the exit code. */
export async function runDeployCommand(env: Readonly<Record<string, string | undefined>>): Promise<number> {
  let settings: DeploySettings;
  try {
    settings = deploySettingsFromEnv(env);
  } catch (error) {
    if (!(error instanceof DeploySettingsError)) throw error;
    console.error(`deploy: ${error.message}`);
    return 2;
  }
  try {
    console.error(`deploy: DAAL to ${settings.chain}${settings.rpcUrl === undefined ? "" : ` at ${settings.rpcUrl}`} (thirdweb client: ${settings.clientKind})`);
    const deployment = await deployDaal({
      chain: settings.chain,
      rpcUrl: settings.rpcUrl,
      privateKey: settings.privateKey,
      submitter: settings.submitter,
      client: settings.client,
    });
    const record = deploymentRecord(deployment);
    const path = writeDeploymentRecord(settings.deploymentsDir, record);
    console.log(JSON.stringify(record, null, 2));
    console.error(`deploy: wrote ${path}`);
    return 0;
  } catch (error) {
    const message =
      error instanceof DaalDeployError ? `${error.reason}: ${error.message}` : redactSecret(error instanceof Error ? error.message : String(error), settings.privateKey);
    console.error(`deploy: ${message}`);
    return error instanceof DaalDeployError && error.reason === "invalid_config" ? 2 : 1;
  }
}
