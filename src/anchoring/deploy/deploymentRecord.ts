/**
 * The record of a DAAL deployment, `<deployments dir>/<chain id>.json`, read by
 * operators, by `zt audit verify --contract` and by the `daal` Hardhat tasks (which
 * verify the source with its `owner`, the constructor argument). It describes the
 * deployment: later owner operations change the chain, not the record. Written whole
 * (temporary file, then rename) so a reader never sees half a record.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
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

/** The record's path for a chain: `<dir>/<chain id>.json`. */
export function deploymentRecordPath(dir: string, chainId: number): string {
  return join(dir, `${chainId}.json`);
}

/** A record read back from `path`; throws an Error naming the path and the first field that is wrong. */
export function readDeploymentRecord(path: string): DeploymentRecord {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`cannot read the deployment record ${path}: ${(error as Error).message}`);
  }
  const hex = (field: string, bytes: number) => typeof record[field] === "string" && new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(record[field]);
  const wrong = [
    Number.isSafeInteger(record["chain_id"]) ? undefined : "chain_id",
    hex("daal_address", 20) ? undefined : "daal_address",
    Number.isSafeInteger(record["deployment_block"]) ? undefined : "deployment_block",
    hex("tx_hash", 32) ? undefined : "tx_hash",
    hex("owner", 20) ? undefined : "owner",
    Array.isArray(record["submitters"]) ? undefined : "submitters",
    typeof record["deployed_at"] === "string" ? undefined : "deployed_at",
  ].find((field) => field !== undefined);
  if (wrong !== undefined) throw new Error(`the deployment record ${path} has no valid ${wrong}`);
  return record as unknown as DeploymentRecord;
}

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
  const path = deploymentRecordPath(dir, record.chain_id);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(temporary, path);
  return path;
}
