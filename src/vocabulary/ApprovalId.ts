/**
 * An approval's id (contract section 9): `apr_` + the ULID of the pending decision that
 * asked for it, so an approval and the decision that opened it name each other. Shared:
 * the request schema carries it (`approval_id`), the decider and the approvals capability
 * read it.
 */
import { Schema } from "effect";

export const APPROVAL_ID = /^apr_[0-9A-HJKMNP-TV-Z]{26}$/;
export const ApprovalId = Schema.String.pipe(Schema.pattern(APPROVAL_ID, { message: () => "must be apr_ followed by a ULID" }));

/** The approval a pending decision asks for has the decision's ULID. */
export function approvalIdOf(decisionId: string): string {
  return `apr_${decisionId.slice("dec_".length)}`;
}
