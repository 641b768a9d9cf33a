/**
 * On-chain verification from the chain's side (contract section 7), pure. The evidence
 * an auditor trusts is what the DAAL emitted, not what the store says it anchored: an
 * operator holding the audit key and the database can rewrite the store and re-sign
 * every record and checkpoint, but cannot take back a `CheckpointAnchored(root, treeSize)`.
 * So every anchor the chain holds must be the root of the verified log at that size
 * (RFC 6962: equal roots at a size mean equal first `treeSize` records), the DAAL's
 * latest state too, and a log with records must be anchored at all. Freshness limits
 * are judged by block timestamps, never by times the store claims.
 *
 * What this cannot see: records after the last anchor (bound them with
 * `maxUnanchored` / `maxAnchorAgeSeconds`), and a DAAL the insider deployed and anchored
 * themselves when the auditor takes its address from the store: the address must come
 * from outside (a published deployment record, an owner the operator does not control).
 */

/** One `CheckpointAnchored` log of the DAAL, final under the auditor's confirmation depth. */
export interface ChainAnchor {
  /** 64 lowercase hex, no 0x. */
  readonly root: string;
  readonly treeSize: number;
  readonly blockNumber: number;
  readonly txHash: string;
}

/** The log as the auditor recomputed it from the events (never the stored records). */
export interface VerifiedLog {
  /** Records in the verified chain. */
  readonly size: number;
  /** The RFC 6962 root (64 lowercase hex) of the first `size` records, for 1 <= size <= this.size. */
  readonly rootAt: (size: number) => string | undefined;
}

export type AnchoredHistoryFailureKind =
  /** The chain anchors a root the log does not have at that size (rewritten), or a size the log does not reach (truncated). */
  | "anchor_mismatch"
  /** The log holds records but the DAAL holds no anchor at all. */
  | "anchor_missing"
  /** More records after the last anchor than allowed. */
  | "unanchored_records"
  /** Records wait for an anchor while the last anchor is older than allowed. */
  | "anchor_too_old";

export interface AnchoredHistoryFailure {
  readonly kind: AnchoredHistoryFailureKind;
  /** The anchored tree size where the log and the chain disagree, when there is one. */
  readonly treeSize: number | null;
  readonly message: string;
}

export interface AnchoredHistoryLimits {
  /** Records allowed after the largest anchored tree size. */
  readonly maxUnanchored?: number;
  /** Seconds the last anchor may be old while records wait after it. */
  readonly maxAnchorAgeSeconds?: number;
  /** The chain's time (latest block timestamp, seconds). */
  readonly chainTime: number;
  /** The timestamp (seconds) of the last anchor's block, when there is an anchor. */
  readonly lastAnchorTime: number | undefined;
}

export interface AnchoredHistoryReport {
  readonly anchors: number;
  /** The largest anchored tree size (0 without anchors). */
  readonly anchoredSize: number;
  /** Records of the log after the largest anchored size. */
  readonly unanchoredRecords: number;
  readonly failure: AnchoredHistoryFailure | null;
}

function mismatchAt(log: VerifiedLog, treeSize: number, root: string, what: string): AnchoredHistoryFailure | null {
  if (treeSize > log.size) {
    return {
      kind: "anchor_mismatch",
      treeSize,
      message: `${what} tree size ${treeSize}, but the verified log holds ${log.size} records: history after it was removed, or this is not the anchored log`,
    };
  }
  const local = log.rootAt(treeSize);
  if (local !== root) {
    return {
      kind: "anchor_mismatch",
      treeSize,
      message: `${what} root ${root.slice(0, 16)}… at tree size ${treeSize}, but the verified log's root there is ${(local ?? "none").slice(0, 16)}…: the first ${treeSize} records were rewritten`,
    };
  }
  return null;
}

/**
 * Checks the log against every anchor (in chain order) and the DAAL's latest state, then
 * the freshness limits; the first failure is reported.
 */
export function checkAnchoredHistory(
  log: VerifiedLog,
  anchors: ReadonlyArray<ChainAnchor>,
  latest: { readonly treeSize: number; readonly root: string } | undefined,
  limits: AnchoredHistoryLimits,
): AnchoredHistoryReport {
  const anchoredSize = anchors.reduce((max, anchor) => Math.max(max, anchor.treeSize), 0);
  const report = (failure: AnchoredHistoryFailure | null): AnchoredHistoryReport => ({
    anchors: anchors.length,
    anchoredSize,
    unanchoredRecords: Math.max(0, log.size - anchoredSize),
    failure,
  });
  for (const anchor of anchors) {
    const failure = mismatchAt(log, anchor.treeSize, anchor.root, `the DAAL anchored (in block ${anchor.blockNumber})`);
    if (failure !== null) return report(failure);
  }
  // The contract's own state: also covers an anchor too recent for the confirmation depth.
  if (latest !== undefined && latest.treeSize > 0) {
    const failure = mismatchAt(log, latest.treeSize, latest.root, "the DAAL's latestTreeSize/latestRoot is");
    if (failure !== null) return report(failure);
  }
  if (log.size > 0 && anchors.length === 0 && (latest === undefined || latest.treeSize === 0)) {
    return report({ kind: "anchor_missing", treeSize: null, message: `the log holds ${log.size} records but the DAAL holds no anchor of it` });
  }
  const unanchored = Math.max(0, log.size - anchoredSize);
  if (limits.maxUnanchored !== undefined && unanchored > limits.maxUnanchored) {
    return report({ kind: "unanchored_records", treeSize: anchoredSize, message: `${unanchored} records follow the last anchored tree size ${anchoredSize}, more than the ${limits.maxUnanchored} allowed` });
  }
  const age = limits.lastAnchorTime === undefined ? undefined : limits.chainTime - limits.lastAnchorTime;
  if (limits.maxAnchorAgeSeconds !== undefined && unanchored > 0 && age !== undefined && age > limits.maxAnchorAgeSeconds) {
    return report({
      kind: "anchor_too_old",
      treeSize: anchoredSize,
      message: `${unanchored} records wait for an anchor and the last anchor (tree size ${anchoredSize}) is ${age} s old by block time, more than the ${limits.maxAnchorAgeSeconds} s allowed`,
    });
  }
  return report(null);
}

/**
 * Whether the local tree agrees with the chain's latest anchor, for the anchoring
 * sidecar: the message of the divergence, or null when the tree holds that root at that size.
 */
export function divergenceFromLatest(log: VerifiedLog, latest: { readonly treeSize: number; readonly root: string } | undefined): string | null {
  if (latest === undefined || latest.treeSize === 0) return null;
  return mismatchAt(log, latest.treeSize, latest.root, "the DAAL's latest anchor is")?.message ?? null;
}
