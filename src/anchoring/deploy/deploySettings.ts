/**
 * Settings of a DAAL deployment (`scripts/deploy.ts`, `zt anchor deploy`), read from the
 * environment. Nothing here prints or returns the private key except in the settings
 * object handed to deployDaal; errors name the variable, never its value.
 */
import { resolve } from "node:path";
import { createThirdwebClient, type ThirdwebClient } from "thirdweb";
import { DAAL_CHAINS, type DaalChain, PLACEHOLDER_CLIENT_ID } from "./deployDaal.ts";

/** anvil's and Hardhat's default RPC address, used for `local` when no URL is set. */
export const DEFAULT_LOCAL_RPC_URL = "http://127.0.0.1:8545";
export const DEFAULT_DEPLOYMENTS_DIR = "./deployments";

export type DeploySettings = {
  readonly chain: DaalChain;
  readonly rpcUrl: string | undefined;
  readonly privateKey: string;
  readonly submitter: string | undefined;
  readonly client: ThirdwebClient;
  /** Which credential the client carries, for messages: never the credential itself. */
  readonly clientKind: "secret_key" | "client_id" | "placeholder";
  readonly deploymentsDir: string;
};

export class DeploySettingsError extends Error {
  override readonly name = "DeploySettingsError";
}

type Env = Readonly<Record<string, string | undefined>>;

function setting(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

/** ZT_DEPLOYMENTS_DIR, else ./deployments, as an absolute path: where deployment records live. */
export function deploymentsDirFromEnv(env: Env): string {
  return resolve(setting(env, "ZT_DEPLOYMENTS_DIR") ?? DEFAULT_DEPLOYMENTS_DIR);
}

/**
 * ZT_DEPLOY_CHAIN (`local` default, `base`, `base-sepolia`); ZT_DEPLOY_RPC_URL, else
 * ZT_CHAIN when it is an http(s) URL, else for `local` http://127.0.0.1:8545;
 * ZT_DEPLOY_PRIVATE_KEY (required); THIRDWEB_SECRET_KEY or THIRDWEB_CLIENT_ID (a
 * placeholder client id when neither is set and the RPC is not thirdweb's);
 * ZT_DEPLOY_SUBMITTER (default: the deployer); ZT_DEPLOYMENTS_DIR (default ./deployments).
 */
export function deploySettingsFromEnv(env: Env): DeploySettings {
  const chainText = setting(env, "ZT_DEPLOY_CHAIN") ?? "local";
  if (!(DAAL_CHAINS as ReadonlyArray<string>).includes(chainText)) {
    throw new DeploySettingsError(`ZT_DEPLOY_CHAIN must be one of ${DAAL_CHAINS.join(", ")}, got "${chainText}"`);
  }
  const chain = chainText as DaalChain;

  const ztChain = setting(env, "ZT_CHAIN");
  const explicitRpc = setting(env, "ZT_DEPLOY_RPC_URL") ?? (ztChain !== undefined && /^https?:\/\//.test(ztChain) ? ztChain : undefined);
  if (explicitRpc !== undefined && !/^https?:\/\/\S+$/.test(explicitRpc)) {
    throw new DeploySettingsError(`ZT_DEPLOY_RPC_URL must be an http(s) URL, got "${explicitRpc}"`);
  }
  const rpcUrl = explicitRpc ?? (chain === "local" ? DEFAULT_LOCAL_RPC_URL : undefined);

  const privateKey = setting(env, "ZT_DEPLOY_PRIVATE_KEY");
  if (privateKey === undefined) throw new DeploySettingsError("ZT_DEPLOY_PRIVATE_KEY is required (0x-prefixed 32-byte hex)");
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(privateKey)) {
    throw new DeploySettingsError("ZT_DEPLOY_PRIVATE_KEY must be 32 bytes of hex (0x-prefixed)");
  }

  const submitter = setting(env, "ZT_DEPLOY_SUBMITTER");
  if (submitter !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(submitter)) {
    throw new DeploySettingsError(`ZT_DEPLOY_SUBMITTER must be a 20-byte hex address, got "${submitter}"`);
  }

  const secretKey = setting(env, "THIRDWEB_SECRET_KEY");
  const clientId = setting(env, "THIRDWEB_CLIENT_ID");
  let client: ThirdwebClient;
  let clientKind: DeploySettings["clientKind"];
  if (secretKey !== undefined) {
    client = createThirdwebClient({ secretKey });
    clientKind = "secret_key";
  } else if (clientId !== undefined) {
    client = createThirdwebClient({ clientId });
    clientKind = "client_id";
  } else if (rpcUrl !== undefined) {
    client = createThirdwebClient({ clientId: PLACEHOLDER_CLIENT_ID });
    clientKind = "placeholder";
  } else {
    throw new DeploySettingsError(
      `ZT_DEPLOY_CHAIN=${chain} without ZT_DEPLOY_RPC_URL uses thirdweb's RPC: set THIRDWEB_SECRET_KEY or THIRDWEB_CLIENT_ID`,
    );
  }

  return {
    chain,
    rpcUrl,
    privateKey,
    submitter,
    client,
    clientKind,
    deploymentsDir: deploymentsDirFromEnv(env),
  };
}
