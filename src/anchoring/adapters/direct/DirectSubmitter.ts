/**
 * AnchorSubmitter that signs locally: a viem wallet client over any RPC URL with a
 * private key (`privateKeyToAccount`), calling `anchorCheckpoint(root, treeSize)` with
 * `writeContract` (viem.sh/docs/contract/writeContract: estimates gas, which also
 * surfaces a revert as ContractFunctionRevertedError before anything is sent, then signs
 * and sends with eth_sendRawTransaction). Meant for local chains and for operators who
 * hold their own key. The key stays inside the viem account; nothing here logs it.
 */
import { Effect, Layer } from "effect";
import { createWalletClient, getAddress, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { AnchorError, AnchorSubmitter, type Address, type AnchorSubmitterShape, type Hex, type Hex32 } from "../../ports/AnchorSubmitter.ts";
import { DAAL_ABI } from "../../generated/daalArtifact.ts";
import { rpcChain, rpcPublicClient, rpcTransport } from "../rpc/rpcPublicClient.ts";
import { rpcTransactionStatus } from "../rpc/rpcTransactionStatus.ts";
import { viemAnchorError } from "../rpc/viemAnchorError.ts";

export interface DirectSubmitterOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly contract: Address;
  /** 0x + 64 hex digits. */
  readonly privateKey: Hex;
  readonly timeoutMs?: number;
}

const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;

/** The address a private key signs for (to authorise it on the DAAL), or undefined for a malformed key. */
export function directSubmitterAddress(privateKey: string): Address | undefined {
  if (!PRIVATE_KEY.test(privateKey)) return undefined;
  try {
    return privateKeyToAccount(privateKey as Hex).address;
  } catch {
    return undefined;
  }
}

export function makeDirectSubmitter(options: DirectSubmitterOptions, publicClient?: PublicClient): Effect.Effect<AnchorSubmitterShape & { readonly address: Address }, AnchorError> {
  return Effect.suspend(() => {
    if (!PRIVATE_KEY.test(options.privateKey)) {
      return Effect.fail(new AnchorError({ reason: "misconfigured", message: "the direct submitter's private key must be 0x followed by 64 hex digits" }));
    }
    const account = privateKeyToAccount(options.privateKey);
    const chain = rpcChain(options.chainId);
    const transport = rpcTransport(options.rpcUrl, options.timeoutMs);
    const wallet = createWalletClient({ account, chain, transport });
    const reader = publicClient ?? rpcPublicClient(options);
    const contract = getAddress(options.contract);
    return Effect.succeed({
      kind: "direct" as const,
      address: account.address,
      submit: ({ root, treeSize }) =>
        Effect.tryPromise({
          try: () => wallet.writeContract({ address: contract, abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [root, BigInt(treeSize)] }),
          catch: (error) => viemAnchorError(error, "anchorCheckpoint"),
        }).pipe(Effect.map((txHash) => ({ txHash: txHash.toLowerCase() as Hex32 }))),
      transactionStatus: (ref) => rpcTransactionStatus(reader, ref),
    });
  });
}

export const DirectSubmitter = {
  layer: (options: DirectSubmitterOptions): Layer.Layer<AnchorSubmitter, AnchorError> => Layer.effect(AnchorSubmitter, makeDirectSubmitter(options)),
};
