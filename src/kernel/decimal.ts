/**
 * Exact decimal arithmetic for money checks. `notional_usd = amount x price` must be
 * reproducible bit for bit by an auditor, so no binary floating point is involved:
 * a decimal is an integer coefficient and a power-of-ten scale.
 * Amounts and prices are attacker-influenced input: parsing never throws and bounds
 * the number of digits.
 */

export interface Decimal {
  readonly coefficient: bigint;
  /** The value is coefficient / 10^scale; scale >= 0. */
  readonly scale: number;
}

const MAX_DIGITS = 64;
const DECIMAL_TEXT = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,3}))?$/;

/**
 * Parses a non-negative decimal written as digits with an optional fraction and exponent
 * ("12.5", "1e+21", the form `String(number)` gives). Anything else is undefined.
 */
export function parseDecimal(text: string): Decimal | undefined {
  const match = DECIMAL_TEXT.exec(text);
  if (!match) return undefined;
  const whole = match[1] ?? "";
  const fraction = match[2] ?? "";
  const exponent = Number(match[3] ?? "0");
  const digits = (whole + fraction).replace(/^0+(?=\d)/, "");
  if (digits.length > MAX_DIGITS) return undefined;
  let scale = fraction.length - exponent;
  let coefficient = BigInt(digits);
  if (scale < 0) {
    if (digits.length - scale > MAX_DIGITS) return undefined;
    coefficient *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { coefficient, scale };
}

/** The exact decimal a finite non-negative JS number denotes in its shortest round-trip form. */
export function decimalFromNumber(value: number): Decimal | undefined {
  if (!Number.isFinite(value) || value < 0) return undefined;
  return parseDecimal(String(value));
}

export function multiplyDecimals(a: Decimal, b: Decimal): Decimal {
  return { coefficient: a.coefficient * b.coefficient, scale: a.scale + b.scale };
}

/** -1, 0 or 1 as a is less than, equal to or greater than b. */
export function compareDecimals(a: Decimal, b: Decimal): -1 | 0 | 1 {
  const scale = Math.max(a.scale, b.scale);
  const left = a.coefficient * 10n ** BigInt(scale - a.scale);
  const right = b.coefficient * 10n ** BigInt(scale - b.scale);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** Plain decimal text with no exponent and no trailing fractional zeros ("1776.25"). */
export function formatDecimal(value: Decimal): string {
  const digits = value.coefficient.toString().padStart(value.scale + 1, "0");
  if (value.scale === 0) return digits;
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale).replace(/0+$/, "");
  return fraction.length > 0 ? `${whole}.${fraction}` : whole;
}

/** a + b, exactly. */
export function addDecimals(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { coefficient: a.coefficient * 10n ** BigInt(scale - a.scale) + b.coefficient * 10n ** BigInt(scale - b.scale), scale };
}

/** a - b, exactly, or zero when b is larger (budgets never go below nothing spent). */
export function subtractDecimals(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  const difference = a.coefficient * 10n ** BigInt(scale - a.scale) - b.coefficient * 10n ** BigInt(scale - b.scale);
  return { coefficient: difference < 0n ? 0n : difference, scale };
}

export const ZERO_DECIMAL: Decimal = { coefficient: 0n, scale: 0 };
