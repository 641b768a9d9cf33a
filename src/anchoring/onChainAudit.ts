/**
 * The auditor's on-chain checks (`zt audit verify --rpc`, `zt audit check-proof --rpc`),
 * from the chain's side (contract section 7): the DAAL to trust is pinned from outside
 * the store (`--contract`, or a deployment record whose address, chain id, deployment
 * transaction and owner are checked), the store's own record of where it anchored must
 * name that DAAL, and then every `CheckpointAnchored` the DAAL emitted since its
 * deployment is compared with the verified log (anchoredHistory.ts). Reads go through
 * any RPC URL; logs count once they have the given confirmations.
 */
import { Effect, Schema } from "effect";
import { createPublicClient, getAddress, http } from "viem";
import type { RecordedEvent } from "../events/EventStore.ts";
import { checkAnchoredHistory, type AnchoredHistoryFailureKind, type AnchoredHistoryLimits, type ChainAnchor, type VerifiedLog } from "./core/anchoredHistory.ts";
import type { AnchorError, Hex32 } from "./ports/AnchorSubmitter.ts";
import type { DaalLedgerShape } from "./ports/DaalLedger.ts";
import type { DeploymentRecord } from "./deploy/deploymentRecord.ts";
import { ANCHOR_SUBMITTED, AnchorSubmitted } from "./core/events.ts";
import { makeRpcDaalLedger } from "./adapters/rpc/RpcDaalLedger.ts";

/** The DAAL at `contract` as seen through `rpcUrl`, on whatever chain the RPC serves. */
export function ledgerAt(rpcUrl: string, contract: string) {
  return Effect.tryPromise({
    try: () => createPublicClient({ transport: http(rpcUrl, { timeout: 10_000, retryCount: 1 }) }).getChainId(),
    catch: () => "the RPC did not answer eth_chainId" as const,
  }).pipe(Effect.map((chainId) => makeRpcDaalLedger({ rpcUrl, chainId, contract: getAddress(contract) })));
}

export type ChainFailureKind = "deployment_mismatch" | "anchor_contract_mismatch" | AnchoredHistoryFailureKind;

export interface ChainFailure {
  readonly kind: ChainFailureKind;
  readonly treeSize: number | null;
  readonly message: string;
}

/** What the auditor is trusting and what the chain said, for the report. */
export interface ChainAuditReport {
  readonly ok: boolean;
  readonly chain_id: number;
  readonly contract: string;
  /** Where the logs were read from, and how that block was known. */
  readonly from_block: number;
  readonly from_block_source: "deployment record" | "--from-block" | "the contract's code" | "genesis";
  readonly deployed_at: string | null;
  readonly owner: string | null;
  readonly confirmations: number;
  readonly anchors: number;
  readonly anchored_size: number;
  readonly unanchored_records: number;
  readonly first_anchor_at: string | null;
  readonly last_anchor_at: string | null;
  readonly failure: ChainFailure | null;
}

/** Collects where the store says it anchored (AnchorSubmitted's chain id and contract), fed event by event. */
export function anchorTargetCollector(): { readonly onEvent: (event: RecordedEvent) => void; readonly targets: () => ReadonlyArray<{ readonly chainId: number; readonly contract: string }> } {
  const seen = new Map<string, { chainId: number; contract: string }>();
  return {
    onEvent: (event) => {
      if (event.type !== ANCHOR_SUBMITTED) return;
      const decoded = Schema.decodeUnknownOption(AnchorSubmitted)(event.data);
      if (decoded._tag === "None") return;
      const target = { chainId: decoded.value.chain_id, contract: getAddress(decoded.value.contract) };
      seen.set(`${target.chainId}:${target.contract}`, target);
    },
    targets: () => [...seen.values()],
  };
}

const isoOf = (seconds: number) => new Date(seconds * 1000).toISOString();

/** The block that created the contract, by bisecting on eth_getCode (an archive read); undefined when the RPC cannot read old state. */
function creationBlock(ledger: DaalLedgerShape, head: number): Effect.Effect<number | undefined> {
  return Effect.gen(function* () {
    let low = 0;
    let high = head;
    if (!(yield* ledger.hasCodeAt(high))) return undefined;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      if (yield* ledger.hasCodeAt(middle)) high = middle;
      else low = middle + 1;
    }
    return low;
  }).pipe(Effect.orElseSucceed(() => undefined));
}

/** The deployment record's claims against the chain: the first that does not hold, or null. */
function deploymentProblem(ledger: DaalLedgerShape, record: DeploymentRecord): Effect.Effect<string | null, AnchorError> {
  return Effect.gen(function* () {
    if (record.chain_id !== ledger.chainId) return `the deployment record is for chain ${record.chain_id}, the RPC serves chain ${ledger.chainId}`;
    if (getAddress(record.daal_address) !== ledger.contract) return `the deployment record names ${getAddress(record.daal_address)}, not ${ledger.contract}`;
    const created = yield* ledger.deploymentOf(record.tx_hash.toLowerCase() as Hex32);
    if (created !== undefined) {
      if (created.contract !== ledger.contract || created.blockNumber !== record.deployment_block) {
        return `transaction ${record.tx_hash} created ${created.contract} in block ${created.blockNumber}, not ${ledger.contract} in block ${record.deployment_block}`;
      }
    } else {
      // Created by a factory (no contractAddress in the receipt): the code appeared in that block.
      const before = record.deployment_block === 0 ? false : yield* ledger.hasCodeAt(record.deployment_block - 1);
      const at = yield* ledger.hasCodeAt(record.deployment_block);
      if (before || !at) return `${ledger.contract} was not created in block ${record.deployment_block}`;
    }
    const owner = yield* ledger.owner;
    if (owner !== getAddress(record.owner)) return `the DAAL's owner is ${owner}, not ${getAddress(record.owner)} as the deployment record says (an ownership transfer needs a new record)`;
    return null;
  });
}

/** Where the DAAL's history starts, as the auditor knows it. */
export interface HistoryRange {
  readonly deployment?: DeploymentRecord;
  readonly fromBlock?: number;
  /** Blocks a log needs (including its own) to count; 1 = mined. */
  readonly confirmations: number;
}

/** Every final CheckpointAnchored of the DAAL since its deployment, with where the reading started and why. */
export function chainAnchors(ledger: DaalLedgerShape, range: HistoryRange) {
  return Effect.gen(function* () {
    const head = yield* ledger.head;
    const foundAt = range.deployment !== undefined || range.fromBlock !== undefined ? undefined : yield* creationBlock(ledger, head.number);
    const [fromBlock, fromBlockSource]: [number, ChainAuditReport["from_block_source"]] =
      range.deployment !== undefined
        ? [range.deployment.deployment_block, "deployment record"]
        : range.fromBlock !== undefined
          ? [range.fromBlock, "--from-block"]
          : foundAt !== undefined
            ? [foundAt, "the contract's code"]
            : [0, "genesis"];
    const finalBlock = head.number - Math.max(1, range.confirmations) + 1;
    const anchors: ReadonlyArray<ChainAnchor> = finalBlock < fromBlock ? [] : yield* ledger.anchorsBetween(fromBlock, finalBlock);
    return { head, fromBlock, fromBlockSource, anchors };
  });
}

export interface ChainAuditInput extends HistoryRange {
  readonly ledger: DaalLedgerShape;
  readonly log: VerifiedLog;
  /** Where the store says it anchored. */
  readonly recordedTargets: ReadonlyArray<{ readonly chainId: number; readonly contract: string }>;
  readonly maxUnanchored?: number;
  readonly maxAnchorAgeSeconds?: number;
}

/** Every check from the chain's side; fails only when the chain cannot be read. */
export function auditAgainstChain(input: ChainAuditInput): Effect.Effect<ChainAuditReport, AnchorError> {
  return Effect.gen(function* () {
    const { ledger } = input;
    const owner = yield* ledger.owner.pipe(Effect.orElseSucceed(() => null));
    const { head, fromBlock, fromBlockSource, anchors } = yield* chainAnchors(ledger, input);
    const deployedAt = fromBlockSource === "genesis" || fromBlockSource === "--from-block" ? null : isoOf(yield* ledger.blockTime(fromBlock));
    const base = {
      chain_id: ledger.chainId,
      contract: ledger.contract,
      from_block: fromBlock,
      from_block_source: fromBlockSource,
      deployed_at: deployedAt,
      owner,
      confirmations: input.confirmations,
    };
    const refuse = (failure: ChainFailure): ChainAuditReport => ({ ...base, ok: false, anchors: 0, anchored_size: 0, unanchored_records: input.log.size, first_anchor_at: null, last_anchor_at: null, failure });

    if (input.deployment !== undefined) {
      const problem = yield* deploymentProblem(ledger, input.deployment);
      if (problem !== null) return refuse({ kind: "deployment_mismatch", treeSize: null, message: problem });
    }
    const elsewhere = input.recordedTargets.find((target) => target.chainId !== ledger.chainId || target.contract !== ledger.contract);
    if (elsewhere !== undefined) {
      return refuse({
        kind: "anchor_contract_mismatch",
        treeSize: null,
        message: `the store records anchors sent to ${elsewhere.contract} on chain ${elsewhere.chainId}, not to ${ledger.contract} on chain ${ledger.chainId}`,
      });
    }

    const latest = yield* ledger.latestAnchor;
    const first = anchors[0];
    const last = anchors.at(-1);
    const firstTime = first === undefined ? undefined : yield* ledger.blockTime(first.blockNumber);
    const lastTime = last === undefined ? undefined : last === first ? firstTime : yield* ledger.blockTime(last.blockNumber);
    const limits: AnchoredHistoryLimits = {
      chainTime: head.timestamp,
      lastAnchorTime: lastTime,
      ...(input.maxUnanchored === undefined ? {} : { maxUnanchored: input.maxUnanchored }),
      ...(input.maxAnchorAgeSeconds === undefined ? {} : { maxAnchorAgeSeconds: input.maxAnchorAgeSeconds }),
    };
    const history = checkAnchoredHistory(input.log, anchors, latest, limits);
    return {
      ...base,
      ok: history.failure === null,
      anchors: history.anchors,
      anchored_size: history.anchoredSize,
      unanchored_records: history.unanchoredRecords,
      first_anchor_at: firstTime === undefined ? null : isoOf(firstTime),
      last_anchor_at: lastTime === undefined ? null : isoOf(lastTime),
      failure: history.failure,
    };
  });
}

export interface ProofOnChain {
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * A proof's checkpoint `{treeSize, root}` against the chain's history: anchored itself,
 * or consistent with a later anchored root through the given RFC 9162 consistency proof
 * (checked by `consistent`, which verifies it from `root` at `treeSize` to the anchored
 * root at the anchored size).
 */
export function proofAgainstChain(
  anchors: ReadonlyArray<ChainAnchor>,
  checkpoint: { readonly treeSize: number; readonly root: string },
  consistent: ((to: ChainAnchor) => boolean) | undefined,
): ProofOnChain {
  const atSize = anchors.filter((anchor) => anchor.treeSize === checkpoint.treeSize);
  const same = atSize.find((anchor) => anchor.root === checkpoint.root);
  if (same !== undefined) return { ok: true, detail: `anchored at tree size ${checkpoint.treeSize} by ${same.txHash} in block ${same.blockNumber}` };
  if (atSize.length > 0) return { ok: false, detail: `the DAAL anchored another root at tree size ${checkpoint.treeSize}: this checkpoint is not the anchored log's` };
  const later = anchors.filter((anchor) => anchor.treeSize > checkpoint.treeSize).sort((a, b) => a.treeSize - b.treeSize)[0];
  if (later === undefined) return { ok: false, detail: `not anchored: the DAAL holds no anchor at or beyond tree size ${checkpoint.treeSize} yet` };
  if (consistent === undefined) {
    return { ok: false, detail: `not anchored at tree size ${checkpoint.treeSize}; the next anchor is at ${later.treeSize}: give a consistency proof between them (--consistency, from GET /audit/consistency?from=${checkpoint.treeSize}&to=${later.treeSize})` };
  }
  return consistent(later)
    ? { ok: true, detail: `consistent with the root anchored at tree size ${later.treeSize} by ${later.txHash} in block ${later.blockNumber}` }
    : { ok: false, detail: `the consistency proof does not lead from this checkpoint to the root anchored at tree size ${later.treeSize}` };
}
