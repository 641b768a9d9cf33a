/**
 * A decision's id (`dec_` + a ULID, contract section 4) and its stream, which holds its
 * `ActionDecided.v1` and then its execution events. Shared: the decision path writes it,
 * execution appends to it, audit proofs and routes read it.
 */
import { Schema } from "effect";
import { Identifier } from "../kernel/schemas.ts";

export const DECISION_ID = /^dec_[0-9A-HJKMNP-TV-Z]{26}$/;
export const DecisionId = Identifier.pipe(Schema.pattern(DECISION_ID));

export function decisionStream(decisionId: string): string {
  return `decision-${decisionId}`;
}
