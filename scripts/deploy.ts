/**
 * Deploys DAAL through thirdweb and records it in `$ZT_DEPLOYMENTS_DIR/<chain id>.json`.
 * Settings come from the environment (src/anchoring/deploySettings.ts):
 *   ZT_DEPLOY_CHAIN        local (default) | base | base-sepolia
 *   ZT_DEPLOY_RPC_URL      RPC URL (else ZT_CHAIN when it is a URL; local: http://127.0.0.1:8545)
 *   ZT_DEPLOY_PRIVATE_KEY  deployer and owner key, 0x-prefixed hex (never printed)
 *   THIRDWEB_SECRET_KEY / THIRDWEB_CLIENT_ID   optional for a non-thirdweb RPC
 *   ZT_DEPLOY_SUBMITTER    address allowed to anchor (default: the deployer)
 *   ZT_DEPLOYMENTS_DIR     where records go (default ./deployments)
 * Exit codes: 0 deployed, 1 deployment failed, 2 bad settings.
 */
import process from "node:process";
import { DaalDeployError, deployDaal, redactSecret } from "../src/anchoring/deployDaal.ts";
import { deploymentRecord, writeDeploymentRecord } from "../src/anchoring/deploymentRecord.ts";
import { type DeploySettings, DeploySettingsError, deploySettingsFromEnv } from "../src/anchoring/deploySettings.ts";

let settings: DeploySettings;
try {
  settings = deploySettingsFromEnv(process.env);
} catch (error) {
  if (!(error instanceof DeploySettingsError)) throw error;
  console.error(`deploy: ${error.message}`);
  process.exit(2);
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
} catch (error) {
  const message = error instanceof DaalDeployError
    ? `${error.reason}: ${error.message}`
    : redactSecret(error instanceof Error ? error.message : String(error), settings.privateKey);
  console.error(`deploy: ${message}`);
  process.exit(error instanceof DaalDeployError && error.reason === "invalid_config" ? 2 : 1);
}
