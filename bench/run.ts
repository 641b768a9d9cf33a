/**
 * `npm run bench`: every benchmark section in its own process, one after another (micro,
 * http, audit, console, mcp), then one report: `bench/results/latest.json` (machine,
 * versions, method, every figure) and `bench/results/latest.md` (the table), which it
 * also prints. Sections: ZT_BENCH_SECTIONS (default "micro,http,audit,console,mcp"); each
 * section's own knobs (ZT_BENCH_SECONDS, ZT_BENCH_RUNTIMES, ZT_BENCH_AUDIT_EVENTS,
 * ZT_BENCH_PROFILE, ZT_BENCH_MCP_CALLS) pass through.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { ROOT } from "./processes.ts";
import { markdownTable, type BenchSection } from "./report.ts";

const SECTIONS = (process.env["ZT_BENCH_SECTIONS"] ?? "micro,http,audit,console,mcp").split(",").map((name) => name.trim()).filter(Boolean);
const RESULTS = join(ROOT, "bench", "results");

function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return "missing";
  }
}

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

const machine = {
  cpu: cpus()[0]?.model ?? "unknown",
  cores: cpus().length,
  memory_gib: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  sqlite: (new DatabaseSync(":memory:").prepare("SELECT sqlite_version() AS v").get() as { v: string }).v,
  packages: Object.fromEntries(["hono", "@hono/node-server", "effect", "@cedar-policy/cedar-wasm", "@noble/ed25519", "canonicalize", "autocannon", "playwright-core", "@modelcontextprotocol/sdk"].map((name) => [name, packageVersion(name)])),
  commit: `${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain", "--untracked-files=no") === "" ? "" : " (with uncommitted changes)"}`,
};

const scratch = mkdtempSync(join(tmpdir(), "zt-bench-"));
const sections: BenchSection[] = [];
const started = new Date();
try {
  for (const name of SECTIONS) {
    const out = join(scratch, `${name}.json`);
    console.log(`\n== bench: ${name}`);
    const run = spawnSync(process.execPath, [join(ROOT, "bench", `${name}.ts`)], { cwd: ROOT, stdio: "inherit", env: { ...process.env, ZT_BENCH_OUT: out } });
    if (run.status !== 0) throw new Error(`the ${name} benchmark failed (exit ${run.status ?? run.signal})`);
    sections.push(JSON.parse(readFileSync(out, "utf8")) as BenchSection);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const minutes = ((Date.now() - started.getTime()) / 60_000).toFixed(1);
const table = markdownTable(sections);
const header = `Measured ${started.toISOString()} on ${machine.cores} x ${machine.cpu}, ${machine.memory_gib} GiB, Linux ${machine.kernel}, Node ${machine.node}, SQLite ${machine.sqlite}, commit ${machine.commit}; \`npm run bench\` took ${minutes} min.`;
const methods = sections.map((section) => `- ${section.section}: ${section.method}`).join("\n");
mkdirSync(RESULTS, { recursive: true });
writeFileSync(join(RESULTS, "latest.json"), `${JSON.stringify({ measured_at: started.toISOString(), machine, sections }, null, 2)}\n`);
writeFileSync(join(RESULTS, "latest.md"), `${header}\n\n${table}\n\nMethod:\n${methods}\n`);
console.log(`\n${header}\n\n${table}\n\nwritten: bench/results/latest.json, bench/results/latest.md`);
