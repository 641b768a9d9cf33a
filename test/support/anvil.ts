/**
 * A real anvil (from the @foundry-rs/anvil devDependency) for chain tests, started by the
 * same code the service uses for `ZT_CHAIN=local` (src/anchoring/localChain.ts). A missing
 * anvil fails the test: skipping would make a green build prove nothing.
 */
import { ANVIL_CHAIN_ID, startAnvil as startLocalAnvil, type AnvilProcess } from "../../src/anchoring/local/localChain.ts";

export { ANVIL_CHAIN_ID, freePort } from "../../src/anchoring/local/localChain.ts";

/** anvil's first default account ("test test ... junk" mnemonic), public knowledge and funded with 10000 ETH. */
export const ANVIL_ACCOUNT_0 = {
  address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  privateKey: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
} as const;
export const ANVIL_ACCOUNT_1 = {
  address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  privateKey: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
} as const;

export type Anvil = AnvilProcess;

/** Starts anvil on a free loopback port with the local chain id; resolves once it serves JSON-RPC. */
export async function startAnvil(): Promise<Anvil> {
  try {
    return await startLocalAnvil({ chainId: ANVIL_CHAIN_ID, startupTimeoutMs: 30_000 });
  } catch (error) {
    throw new Error(`anvil did not start (run \`npm install\`: the "@foundry-rs/anvil" devDependency provides it): ${(error as Error).message}`);
  }
}

/** anvil_setChainId: the running chain answers with another chain id from now on (its state stays). */
export async function setAnvilChainId(rpcUrl: string, chainId: number): Promise<void> {
  const response = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "anvil_setChainId", params: [chainId] }),
  });
  const answer = (await response.json()) as { error?: { message: string } };
  if (answer.error !== undefined) throw new Error(`anvil_setChainId(${chainId}): ${answer.error.message}`);
}
