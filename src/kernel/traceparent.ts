/**
 * W3C Trace Context, Level 1, section 3.2 (the `traceparent` header):
 *   version "-" trace-id "-" parent-id "-" trace-flags
 * with version, trace-id (16 bytes), parent-id (8 bytes) and trace-flags (1 byte) as
 * lowercase hex. The header is attacker-controlled input: anything that does not parse is
 * ignored (section 3.2.2.1: a receiver that cannot parse it starts a new trace), never an
 * error, and only a parsed value is ever stored or passed on.
 */

export interface TraceParent {
  readonly traceId: string;
  readonly parentId: string;
  /** trace-flags bit 0 (section 3.2.2.5). */
  readonly sampled: boolean;
  /** The header as it will be passed on: version 00 and the fields above. */
  readonly header: string;
}

const VERSION_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// Section 3.2.4: a later version keeps these fields first; what follows a "-" is its own.
const LATER_VERSION = /^(?!ff)[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ALL_ZERO = /^0+$/;

/** The parsed header, or undefined for a missing, malformed or invalid one (all-zero ids, version ff). */
export function parseTraceParent(header: string | undefined | null): TraceParent | undefined {
  if (header === undefined || header === null || header.length > 512) return undefined;
  const text = header.trim();
  const match = VERSION_00.exec(text) ?? (text.startsWith("00") ? null : LATER_VERSION.exec(text));
  if (match === null) return undefined;
  const [, traceId, parentId, flags] = match as unknown as [string, string, string, string];
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(parentId)) return undefined;
  const sampled = (Number.parseInt(flags, 16) & 1) === 1;
  return { traceId, parentId, sampled, header: `00-${traceId}-${parentId}-${sampled ? "01" : "00"}` };
}

/** The header of a span in a trace. */
export function formatTraceParent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}
