/**
 * `npx hardhat daal verify --network <name>`: verifies the source of the DAAL recorded
 * for the connected chain through Hardhat's verify plugin (`verifyContract`), with the
 * recorded owner as the constructor argument and the deployment transaction for the
 * creation-bytecode match. Sourcify by default (no key); `--provider etherscan` uses
 * ETHERSCAN_API_KEY (an Etherscan v2 key covers Basescan), `--provider blockscout`
 * Blockscout. Refusals and failures of the explorer end it with exit code 1.
 */
import { resolve } from "node:path";
import { verifyContract } from "@nomicfoundation/hardhat-verify/verify";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { deploymentRecordPath, readDeploymentRecord } from "../../src/anchoring/deploy/deploymentRecord.ts";
import { deploymentsDirFromEnv } from "../../src/anchoring/deploy/deploySettings.ts";
import { DaalTaskError, reportingFailures } from "./ownerActions.ts";

const PROVIDERS = ["sourcify", "etherscan", "blockscout"] as const;
type Provider = (typeof PROVIDERS)[number];

export const DAAL_CONTRACT_NAME = "contracts/DAAL.sol:DAAL";

export async function verifyDaal(args: { readonly provider: string; readonly deployment: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await reportingFailures(async () => {
    if (!(PROVIDERS as ReadonlyArray<string>).includes(args.provider)) {
      throw new DaalTaskError(`--provider must be one of ${PROVIDERS.join(", ")}, got "${args.provider}"`);
    }
    const { viem } = await hre.network.create({ override: { accounts: "remote" } });
    const chainId = await (await viem.getPublicClient()).getChainId();
    const path = args.deployment === "" ? deploymentRecordPath(deploymentsDirFromEnv(process.env), chainId) : resolve(args.deployment);
    let record;
    try {
      record = readDeploymentRecord(path);
    } catch (error) {
      throw new DaalTaskError((error as Error).message);
    }
    if (record.chain_id !== chainId) throw new DaalTaskError(`${path} records chain ${record.chain_id}, but the network serves chain ${chainId}`);
    console.log(`daal: verifying DAAL ${record.daal_address} on chain ${chainId} with ${args.provider}`);
    await verifyContract(
      {
        address: record.daal_address,
        constructorArgs: [record.owner],
        contract: DAAL_CONTRACT_NAME,
        creationTxHash: record.tx_hash,
        provider: args.provider as Provider,
      },
      hre,
    );
  });
}
