/**
 * Translates viem errors into AnchorError at the adapter boundary. viem's own messages
 * quote the RPC URL (which for Alchemy and most providers embeds the API key) and the
 * request body, so none of that text is kept: only error class names, the HTTP status
 * and the name of the DAAL custom error a call reverted with.
 */
import {
  BaseError,
  ChainMismatchError,
  ContractFunctionRevertedError,
  ExecutionRevertedError,
  FeeCapTooLowError,
  HttpRequestError,
  InsufficientFundsError,
  IntrinsicGasTooLowError,
  LimitExceededRpcError,
  NonceTooHighError,
  NonceTooLowError,
  TimeoutError,
  WaitForTransactionReceiptTimeoutError,
} from "viem";
import { AnchorError } from "../../ports/AnchorSubmitter.ts";

function find<T>(error: unknown, ctor: abstract new (...args: never[]) => T): T | undefined {
  if (!(error instanceof BaseError)) return error instanceof ctor ? error : undefined;
  const found = error.walk((e) => e instanceof ctor);
  return found instanceof ctor ? found : undefined;
}

/** `action` says what was attempted ("anchorCheckpoint", "checkpointOf", ...). */
export function viemAnchorError(error: unknown, action: string): AnchorError {
  const reverted = find(error, ContractFunctionRevertedError);
  if (reverted !== undefined) {
    const name = reverted.data?.errorName ?? (reverted.reason === undefined ? undefined : "Error(string)");
    return new AnchorError({ reason: "reverted", message: `${action}: the DAAL reverts${name === undefined ? "" : ` with ${name}`}`, ...(name === undefined ? {} : { revert: name }) });
  }
  if (find(error, ExecutionRevertedError) !== undefined) return new AnchorError({ reason: "reverted", message: `${action}: execution reverted` });
  if (find(error, TimeoutError) !== undefined || find(error, WaitForTransactionReceiptTimeoutError) !== undefined) {
    return new AnchorError({ reason: "timeout", message: `${action}: the RPC did not answer in time` });
  }
  for (const ctor of [InsufficientFundsError, NonceTooLowError, NonceTooHighError, FeeCapTooLowError, IntrinsicGasTooLowError] as const) {
    const found = find(error, ctor as abstract new (...args: never[]) => BaseError);
    if (found !== undefined) return new AnchorError({ reason: "rejected", message: `${action}: the node refused the transaction (${found.name})` });
  }
  if (find(error, ChainMismatchError) !== undefined) return new AnchorError({ reason: "misconfigured", message: `${action}: the RPC serves another chain` });
  if (find(error, LimitExceededRpcError) !== undefined) return new AnchorError({ reason: "unavailable", message: `${action}: the RPC is rate limiting` });
  const http = find(error, HttpRequestError);
  if (http !== undefined) {
    const status = http.status;
    if (status === 401 || status === 403) return new AnchorError({ reason: "misconfigured", message: `${action}: the RPC refused the credentials (HTTP ${status})` });
    if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
      return new AnchorError({ reason: "rejected", message: `${action}: the RPC answered HTTP ${status}` });
    }
    return new AnchorError({ reason: "unavailable", message: `${action}: the RPC cannot be reached${status === undefined ? "" : ` (HTTP ${status})`}` });
  }
  const name = error instanceof Error ? error.name : typeof error;
  return new AnchorError({ reason: "unavailable", message: `${action}: RPC call failed (${name})` });
}
