/**
 * The record of a DAAL deployment, `<deployments dir>/<chain id>.json`, read by
 * operators and by `zt audit verify --contract`. Written whole (temporary file, then
 * rename) so a reader never sees half a record.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DaalDeployment } from "./deployDaal.ts";

export type DeploymentRecord = {
  readonly chain_id: number;
  readonly daal_address: string;
  readonly deployment_block: number;
  readonly tx_hash: string;
  readonly owner: string;
  readonly submitters: ReadonlyArray<string>;
  readonly deployed_at: string;
};

export function deploymentRecord(deployment: DaalDeployment): DeploymentRecord {
  return {
    chain_id: deployment.chainId,
    daal_address: deployment.address,
    deployment_block: deployment.deploymentBlock,
    tx_hash: deployment.txHash,
    owner: deployment.owner,
    submitters: [...deployment.submitters],
    deployed_at: deployment.deployedAt,
  };
}

/** Writes the record under `dir` (created if missing), replacing one for the same chain; answers its path. */
export function writeDeploymentRecord(dir: string, record: DeploymentRecord): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${record.chain_id}.json`);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(temporary, path);
  return path;
}
