/**
 * A named check of the decision pipeline. Each check either passes (null), fails with a
 * stable deny reason and a human-readable detail, or is skipped by not being listed.
 * `invariant_checks` in a decision lists every check that ran, in order, as `{name, ok}`.
 */
import type { DenyReason } from "./DenyReason.ts";

export interface CheckFailure {
  readonly reason: DenyReason;
  readonly detail: string;
}

export interface Check {
  readonly name: string;
  readonly run: () => CheckFailure | null;
}

export interface InvariantCheck {
  readonly name: string;
  readonly ok: boolean;
}
