/**
 * The BatchAnchors port: where a sealed batch's root stands on-chain, as whatever anchors
 * checkpoints reports it (contract section 5: `pending`, `submitted`, `confirmed`,
 * `failed`), or null when nothing anchors. The audit endpoints and proofs read it; the
 * anchoring sidecar, which sits above the audit trail it follows, provides it.
 */
import { Context, Effect, Layer } from "effect";

export interface BatchAnchor {
  readonly chain_id: number;
  readonly contract: string;
  readonly tx_hash: string | null;
  readonly status: string;
}

export interface BatchAnchorsShape {
  /** The anchor of one sealed batch (pending until anchoring records anything), or null when anchoring is off. */
  readonly statusOf: (batchId: string) => Effect.Effect<BatchAnchor | null>;
}

export class BatchAnchors extends Context.Tag("zt/BatchAnchors")<BatchAnchors, BatchAnchorsShape>() {
  /** Nothing anchors: every batch's anchor is null. */
  static readonly none: Layer.Layer<BatchAnchors> = Layer.succeed(BatchAnchors, { statusOf: () => Effect.succeed(null) });
}
