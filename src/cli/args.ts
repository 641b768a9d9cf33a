/**
 * Argument parsing for `zt`: strict flags, and a usage error that maps to exit code 2.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: ReadonlyArray<string>;
}

export function parse(args: ReadonlyArray<string>, options: ParseArgsOptionsConfig, positionals = 0): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: positionals > 0, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument: ${parsed.positionals[positionals]}`);
  return { values: parsed.values as ParsedArgs["values"], positionals: parsed.positionals };
}

export function text(values: ParsedArgs["values"], name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

export function required(values: ParsedArgs["values"], name: string): string {
  const value = text(values, name);
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

export function number(values: ParsedArgs["values"], name: string): number | undefined {
  const raw = text(values, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got "${raw}"`);
  return value;
}
