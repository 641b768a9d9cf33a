/**
 * The `daal` Hardhat tasks, run against a configured network (hardhat.config.ts):
 *
 *   npx hardhat daal verify --network base-sepolia [--provider sourcify|etherscan|blockscout]
 *   npx hardhat daal add-submitter --network base-sepolia --address 0x...
 *   npx hardhat daal remove-submitter --network base-sepolia --address 0x...
 *   npx hardhat daal transfer-ownership --network base-sepolia --to 0x...
 *   npx hardhat daal accept-ownership --network base-sepolia        (run by the new owner)
 *   npx hardhat daal latest-checkpoint --network base-sepolia
 *
 * The DAAL is the one recorded for the connected chain in
 * `$ZT_DEPLOYMENTS_DIR/<chain id>.json` (written by `scripts/deploy-daal.ts` and
 * `zt anchor deploy`) unless `--contract` names another. Deployment itself is
 * `npx hardhat run scripts/deploy-daal.ts --network <name>`.
 */
import { emptyTask, task } from "hardhat/config";

const contractOption = {
  name: "contract",
  description: "DAAL address (default: the deployment record of the connected chain)",
  defaultValue: "",
} as const;

export const daalTasks = [
  emptyTask("daal", "Operate the DAAL contract: verify its source, manage submitters and ownership, read anchors").build(),
  task(["daal", "verify"], "Verify the recorded DAAL's source with Hardhat's verify plugin")
    .addOption({ name: "provider", description: "sourcify, etherscan or blockscout", defaultValue: "sourcify" })
    .addOption({ name: "deployment", description: "deployment record (default: $ZT_DEPLOYMENTS_DIR/<chain id>.json)", defaultValue: "" })
    .setAction(async () => ({ default: (await import("./verifyDaal.ts")).verifyDaal }))
    .build(),
  task(["daal", "add-submitter"], "Allow an address to anchor (setSubmitter(address, true)), as the owner")
    .addOption({ name: "address", description: "the submitter's address", defaultValue: "" })
    .addOption(contractOption)
    .setAction(async () => ({ default: (await import("./ownerActions.ts")).addSubmitter }))
    .build(),
  task(["daal", "remove-submitter"], "Stop an address from anchoring (setSubmitter(address, false)), as the owner")
    .addOption({ name: "address", description: "the submitter's address", defaultValue: "" })
    .addOption(contractOption)
    .setAction(async () => ({ default: (await import("./ownerActions.ts")).removeSubmitter }))
    .build(),
  task(["daal", "transfer-ownership"], "Name a new owner (step one of two; the new owner then runs accept-ownership)")
    .addOption({ name: "to", description: "the new owner's address (the zero address cancels a pending transfer)", defaultValue: "" })
    .addOption(contractOption)
    .setAction(async () => ({ default: (await import("./ownerActions.ts")).transferOwnership }))
    .build(),
  task(["daal", "accept-ownership"], "Become the owner (step two of two), as the pending owner")
    .addOption(contractOption)
    .setAction(async () => ({ default: (await import("./ownerActions.ts")).acceptOwnership }))
    .build(),
  task(["daal", "latest-checkpoint"], "Print the latest anchored checkpoint, the checkpoint count and the owners, as JSON")
    .addOption(contractOption)
    .setAction(async () => ({ default: (await import("./ownerActions.ts")).latestCheckpoint }))
    .build(),
];
