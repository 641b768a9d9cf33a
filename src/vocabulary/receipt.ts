/**
 * Receipt hash (seed "Receipt Hash Generation", contract section 4):
 * sha256 over the JCS of {policy_id, permit_id, intent_hash, decision, invariant_checks,
 * timestamp}, where decision is the status and timestamp the decided_at. Anyone holding
 * a decision's recorded fields can recompute it.
 */
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import type { InvariantCheck } from "./Check.ts";

export interface ReceiptFields {
  readonly policy_id: string;
  readonly permit_id: string | null;
  readonly intent_hash: string | null;
  readonly decision: "allowed" | "denied" | "pending_approval";
  readonly invariant_checks: ReadonlyArray<InvariantCheck>;
  readonly timestamp: string;
}

export function receiptHash(fields: ReceiptFields): string {
  return sha256Hex(
    canonicalJsonTrusted({
      policy_id: fields.policy_id,
      permit_id: fields.permit_id,
      intent_hash: fields.intent_hash,
      decision: fields.decision,
      invariant_checks: fields.invariant_checks.map(({ name, ok }) => ({ name, ok })),
      timestamp: fields.timestamp,
    }),
  );
}
