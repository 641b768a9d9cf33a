/**
 * Schema building blocks shared by the domain schemas: bounded identifiers, RFC 3339
 * UTC timestamps and decimal amounts. Every field an agent controls has an upper bound.
 */
import { Schema } from "effect";
import { parseDecimal } from "./decimal.ts";
import { parseRfc3339Utc } from "./timestamp.ts";

/** A printable identifier such as `agent:desk-7`, `swap.execute` or `solana:mainnet/jupiter`. */
export function identifier(maxLength: number) {
  return Schema.String.pipe(
    Schema.pattern(new RegExp(`^[\\x21-\\x7e]{1,${maxLength}}$`), {
      message: () => `must be 1-${maxLength} printable ASCII characters without spaces`,
    }),
  );
}

export const Identifier = identifier(256);

export const Rfc3339Utc = Schema.String.pipe(
  Schema.filter((text) => parseRfc3339Utc(text) !== undefined, {
    message: () => "must be an RFC 3339 UTC timestamp such as 2026-02-23T18:40:00Z",
  }),
);

/** A non-negative decimal as text ("12.5") or as a finite non-negative JSON number. */
export const DecimalAmount = Schema.Union(
  Schema.String.pipe(
    Schema.maxLength(64),
    Schema.filter((text) => /^\d+(\.\d+)?$/.test(text) && parseDecimal(text) !== undefined, {
      message: () => "must be a non-negative decimal such as \"12.5\"",
    }),
  ),
  Schema.Number.pipe(Schema.finite(), Schema.nonNegative()),
);

export const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative());
