/**
 * What every benchmark section shares: medians over rounds, the rows a section reports,
 * and how a section hands them to `bench/run.ts` (a JSON file named by ZT_BENCH_OUT)
 * while printing its own table when run alone.
 */
import { writeFileSync } from "node:fs";

export interface BenchRow {
  /** What was measured, as the table shows it. */
  readonly name: string;
  readonly value: number;
  /** `ops/s`, `req/s`, `ms`, `MiB`, `records/s`, ... */
  readonly unit: string;
  /** value / the named reference's value, measured in the same run. */
  readonly ratio?: { readonly to: string; readonly value: number };
  /** How, or a caveat, in a few words. */
  readonly note?: string;
}

export interface BenchSection {
  readonly section: string;
  /** How the figures were produced, for the report. */
  readonly method: string;
  readonly rows: ReadonlyArray<BenchRow>;
}

export function median(values: ReadonlyArray<number>): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Operations per second of `body`, the median of `rounds` rounds of `perRound` calls. */
export async function opsPerSecond(perRound: number, body: () => unknown, rounds = 7): Promise<number> {
  const rates: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    for (let i = 0; i < perRound; i++) {
      const result = body();
      // Only a promise is awaited: an await per synchronous call would add a microtask to every figure.
      if (result instanceof Promise) await result;
    }
    rates.push(perRound / ((performance.now() - started) / 1000));
  }
  return median(rates);
}

function formatValue(row: BenchRow): string {
  const digits = row.value >= 100 ? 0 : row.value >= 10 ? 1 : 2;
  return `${row.value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${row.unit}`;
}

export function markdownRows(rows: ReadonlyArray<BenchRow>): string[] {
  return rows.map((row) => {
    const ratio = row.ratio === undefined ? "" : `${row.ratio.value >= 10 ? row.ratio.value.toFixed(1) : row.ratio.value.toFixed(2)}x ${row.ratio.to}`;
    return `| ${row.name} | ${formatValue(row)} | ${ratio} | ${row.note ?? ""} |`;
  });
}

export function markdownTable(sections: ReadonlyArray<BenchSection>): string {
  const lines = ["| benchmark | result | ratio | note |", "|---|---:|---|---|"];
  for (const section of sections) {
    lines.push(`| **${section.section}** | | | |`);
    lines.push(...markdownRows(section.rows));
  }
  return lines.join("\n");
}

/** Prints the section's table; writes its JSON where `bench/run.ts` asked (ZT_BENCH_OUT). */
export function finishSection(section: BenchSection): void {
  console.log(`\n${section.section}: ${section.method}\n`);
  console.log(markdownTable([section]));
  const out = process.env["ZT_BENCH_OUT"];
  if (out) writeFileSync(out, JSON.stringify(section, null, 2));
}
