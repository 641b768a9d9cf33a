/**
 * Execution tests run real bubblewrap. Without it they fail with a clear message, unless
 * ZT_REQUIRE_BWRAP=0 opts out explicitly (then they are skipped, and say so).
 */
import { findOnPath } from "../../src/execution/bwrap/BwrapBroker.ts";

export const BWRAP_PATH = findOnPath("bwrap");
export const BWRAP_OPTIONAL = process.env["ZT_REQUIRE_BWRAP"] === "0";

/** `skip` option for node:test: a reason when bwrap is missing and explicitly optional. */
export const skipWithoutBwrap: string | false = BWRAP_PATH === undefined && BWRAP_OPTIONAL ? "bwrap is not installed and ZT_REQUIRE_BWRAP=0" : false;

export function requireBwrap(): void {
  if (BWRAP_PATH === undefined && !BWRAP_OPTIONAL) {
    throw new Error("bubblewrap (bwrap) is not on PATH: install it (apt-get install -y bubblewrap) or set ZT_REQUIRE_BWRAP=0 to skip execution tests");
  }
}
