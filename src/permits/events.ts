/**
 * Events of the permits capability: an issued permit (without its signature, a bearer
 * credential) in `permit-<permit_id>`, and the consumption of a permit's single-use nonce
 * as the one event of `permit-nonce-<nonce>`, appended with expected state "no stream".
 */
import { Schema } from "effect";
import { Rfc3339Utc } from "../kernel/schemas.ts";
import { UnsignedPermit } from "../vocabulary/Permit.ts";

/** Stream of the single event that consumes a permit nonce; appended with `no_stream`. */
export function nonceStream(nonce: string): string {
  return `permit-nonce-${nonce}`;
}

export function permitStream(permitId: string): string {
  return `permit-${permitId}`;
}

/** `PermitIssued.v1`: the permit as issued, without its signature (a bearer credential). */
export const PERMIT_ISSUED = "PermitIssued.v1";
export const PermitIssued = UnsignedPermit;

/** `NonceConsumed.v1`, the single event of a `permit-nonce-<nonce>` stream. */
export const NONCE_CONSUMED = "NonceConsumed.v1";
export const NonceConsumed = Schema.Struct({
  nonce: Schema.String,
  permit_id: Schema.String,
  key_id: Schema.String,
  decision_id: Schema.String,
  consumed_at: Rfc3339Utc,
});
export type NonceConsumed = typeof NonceConsumed.Type;
