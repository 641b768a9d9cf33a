/**
 * HTTP load, side by side with its ceiling, all on loopback in this run:
 *   ceiling A   a bare Hono endpoint parsing the same JSON body (bench/ceilingServer.ts)
 *   policy-only POST /actions quote.read: auth, schema, Cedar, one durable append
 *   permit      POST /actions swap.execute with a fresh permit per request (signed before
 *               the phase): signature, nonce read, constraints, the example bundle's daily
 *               budget, three durable appends (the budget's charge, the nonce, the decision);
 *               0.01 SOL each, so that the budget (1,000,000 USD a day) never runs out here
 * each at a fixed 1,000 requests/s (latency percentiles, open loop) and at saturation
 * (throughput, autocannon),
 * against the control plane on its embedded defaults (SQLite, WAL, every commit synced
 * before it is answered, the audit projection running; anchoring off), run as `npm start`
 * (Node) and as `deno task start` (Deno) run it, one after the other, each against the
 * same ceiling. autocannon runs in this process, the servers in their own: on this
 * 2-core machine the load generator takes one core.
 *
 * Each server, and the permit path, is warmed up for 3 s at saturation before it is
 * measured. ZT_BENCH_SECONDS (default 10) sets each phase's length; ZT_BENCH_RUNTIMES
 * (default "node,deno") which runtimes run. ZT_BENCH_PROFILE=1 runs the Node control
 * plane with --cpu-prof into bench/results/profiles/ (summarise with
 * `node bench/profileSummary.ts FILE`).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { readSigningKey } from "../src/identity/KeyFile.ts";
import { uuidV4 } from "../src/kernel/ids.ts";
import { signPermit } from "../src/permits/issuePermit.ts";
import { paced, type Load } from "./pacedLoad.ts";
import { controlPlane, ROOT, startNode, stopChild, until, type Runtime } from "./processes.ts";
import { finishSection, type BenchRow } from "./report.ts";

const SECONDS = Number(process.env["ZT_BENCH_SECONDS"] ?? 10);
const RATE = 1000;
const CONNECTIONS = { saturation: 32 } as const;
const PROFILE_DIR = join(ROOT, "bench", "results", "profiles");

/** Saturation: autocannon keeps every connection busy; its figure is the completed requests per second. */
async function saturate(url: string, headers: Record<string, string>, nextBody: () => string, seconds: number): Promise<Load> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS.saturation,
    duration: seconds,
    requests: [{ method: "POST", path: "/actions", headers, setupRequest: (request) => ({ ...request, body: nextBody() }) }],
  });
  return {
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    p99_9: result.latency.p99_9,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

// --- the servers ----------------------------------------------------------------------
const ceiling = startNode([join(ROOT, "bench", "ceilingServer.ts")]);
const ceilingPort = await new Promise<number>((resolve) => ceiling.stdout!.once("data", (chunk: Buffer) => resolve(JSON.parse(chunk.toString()).port)));
const ceilingUrl = `http://127.0.0.1:${ceilingPort}`;
const profiling = process.env["ZT_BENCH_PROFILE"] === "1";
if (profiling) mkdirSync(PROFILE_DIR, { recursive: true });
const RUNTIMES = (process.env["ZT_BENCH_RUNTIMES"] ?? "node,deno").split(",").map((name) => name.trim()) as Runtime[];

const policyBody = JSON.stringify({ actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" });
const constraints = { max_notional_usd: 10000, max_slippage_bps: 40, protocol_allowlist: ["jupiter", "orca", "raydium"] };
let permitSerial = 0;

const checked = (l: Load) => (l.non2xx + l.errors === 0 ? "" : `${l.non2xx} non-2xx, ${l.errors} errors`);
const latency = (label: string, l: Load): BenchRow[] => [
  { name: `${label} at ${RATE} req/s: p50`, value: l.p50, unit: "ms", note: `${Math.round(l.rps)} req/s achieved ${checked(l)}`.trim() },
  { name: `${label} at ${RATE} req/s: p99`, value: l.p99, unit: "ms" },
  { name: `${label} at ${RATE} req/s: p99.9`, value: l.p99_9, unit: "ms" },
];

/** Every phase against the control plane as `runtime`'s start command runs it; rows named with the runtime. */
async function measureControlPlane(runtime: Runtime, ceilingMax: Load): Promise<BenchRow[]> {
  const dataDir = mkdtempSync(join(tmpdir(), `zt-bench-http-${runtime}-`));
  const server = await controlPlane(dataDir, {}, profiling && runtime === "node" ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`] : [], runtime);
  const url = server.url;
  const agent = { authorization: `Bearer ${server.credentials.agents["agent:desk-7"]}`, "content-type": "application/json" };
  const operator = { authorization: `Bearer ${server.credentials.operator_token}`, "content-type": "application/json" };
  const issuer = readSigningKey(join(dataDir, "keys", "issuer.key.json"));
  /** `count` request bodies, each with its own freshly signed permit (valid 300 s). */
  const permitBodies = (count: number): string[] => {
    const now = Date.now();
    return Array.from({ length: count }, () =>
      JSON.stringify({
        actor: "agent:desk-7",
        action: "swap.execute",
        resource: "solana:mainnet/jupiter",
        intent: { protocol: "jupiter", asset: "SOL", amount: "0.01", slippage_bps: 30 },
        permit: signPermit({
          subject: "agent:desk-7",
          scope: "swap.execute",
          policyId: "policy_mainnet_v1",
          constraints,
          now,
          ttlSeconds: 300,
          permitId: `permit_bench_${++permitSerial}`,
          nonce: uuidV4(crypto.getRandomValues(new Uint8Array(16))),
          key: issuer,
        }),
      }),
    );
  };
  const freshSnapshot = () =>
    fetch(`${url}/market/snapshot`, { method: "PUT", headers: operator, body: JSON.stringify({ as_of: new Date().toISOString(), prices: { SOL: 142.1 } }) });
  const auditHead = async () => (await server.get("/audit/head")) as { seq: number; lag: number };
  /** Waits for the projection to catch up; answers how long that took after the load stopped. */
  const catchUp = async (): Promise<number> => {
    const started = performance.now();
    await until("the audit projection to catch up", async () => ((await auditHead()).lag === 0 ? true : undefined), 600_000);
    return (performance.now() - started) / 1000;
  };
  const name = runtime === "node" ? "Node" : "Deno";
  try {
    const fixedBody = () => policyBody;
    await saturate(url, agent, fixedBody, 3); // warm-up
    await catchUp();
    const policyFixed = await paced(url, agent, fixedBody, RATE, SECONDS);
    await catchUp();
    const policyMax = await saturate(url, agent, fixedBody, SECONDS);
    const policyCatchUp = await catchUp();

    const queue = (bodies: string[]) => {
      let next = 0;
      return () => bodies[next++] ?? bodies[bodies.length - 1]!; // a reuse would show as non-2xx (replay)
    };
    // The permit path has code of its own to warm up (permit decoding, verification, the nonce append).
    await freshSnapshot();
    await saturate(url, agent, queue(permitBodies(Math.ceil(policyMax.rps * 3 * 1.2))), 3);
    await catchUp();
    await freshSnapshot();
    const permitFixed = await paced(url, agent, queue(permitBodies(RATE * SECONDS)), RATE, SECONDS);
    await catchUp();

    // Saturation, with the projection watched: its lag while decisions pour in, and how long it takes to catch up.
    const bodies = permitBodies(Math.ceil(policyMax.rps * SECONDS * 1.2));
    await freshSnapshot();
    const before = await auditHead();
    let maxLag = 0;
    const watcher = setInterval(() => auditHead().then((head) => (maxLag = Math.max(maxLag, head.lag)), () => undefined), 500);
    const loadStarted = performance.now();
    const permitMax = await saturate(url, agent, queue(bodies), SECONDS);
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    clearInterval(watcher);
    const atEnd = await auditHead();
    const permitCatchUp = await catchUp();
    const after = await auditHead();
    const projected = after.seq - before.seq;
    const serverRss = server.peakRssMiB();

    const ratio = (value: number) => ({ to: "ceiling A", value: value / ceilingMax.rps });
    return [
      { name: `${name}: POST /actions policy-only: saturation`, value: policyMax.rps, unit: "req/s", ratio: ratio(policyMax.rps), note: checked(policyMax) },
      { name: `${name}: POST /actions fresh permit per request: saturation`, value: permitMax.rps, unit: "req/s", ratio: ratio(permitMax.rps), note: checked(permitMax) },
      ...latency(`${name}: policy-only`, policyFixed),
      ...latency(`${name}: permit`, permitFixed),
      { name: `${name}: permit at saturation: p99`, value: permitMax.p99, unit: "ms" },
      {
        name: `${name}: audit projection during permit saturation`,
        value: projected / (loadSeconds + permitCatchUp),
        unit: "records/s",
        note: `${projected} records for ${Math.round(permitMax.rps * loadSeconds)} decisions; lag at most ${maxLag} events, ${atEnd.lag} at the end, caught up ${permitCatchUp.toFixed(1)} s after`,
      },
      { name: `${name}: audit projection catch-up after policy-only saturation`, value: policyCatchUp, unit: "s" },
      { name: `${name}: control plane peak RSS (after the load)`, value: serverRss, unit: "MiB" },
    ];
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// --- the phases ---------------------------------------------------------------------
const rows: BenchRow[] = [];
try {
  const fixedBody = () => policyBody;
  const agentOfCeiling = { authorization: "Bearer ceiling", "content-type": "application/json" };
  await saturate(ceilingUrl, agentOfCeiling, fixedBody, 3); // warm-up
  const ceilingFixed = await paced(ceilingUrl, agentOfCeiling, fixedBody, RATE, SECONDS);
  const ceilingMax = await saturate(ceilingUrl, agentOfCeiling, fixedBody, SECONDS);
  await stopChild(ceiling);
  rows.push({ name: "ceiling A (bare Hono, same JSON body): saturation", value: ceilingMax.rps, unit: "req/s", note: checked(ceilingMax) }, ...latency("ceiling A", ceilingFixed));
  for (const runtime of RUNTIMES) rows.push(...(await measureControlPlane(runtime, ceilingMax)));
} finally {
  await stopChild(ceiling);
}

finishSection({
  section: "http",
  method: `servers in their own processes on 127.0.0.1, load from the bench process; ${SECONDS} s per phase after a 3 s warm-up; saturation: autocannon ${autocannonVersion()} with ${CONNECTIONS.saturation} connections; fixed ${RATE} req/s: an open-loop paced client (each request sent when due on a keep-alive pool, latency from send to response); the control plane as \`npm start\` (Node) and \`deno task start\` (Deno) run it, on embedded defaults (SQLite WAL, every commit synced before its answer, JSON info logs, audit projection on, ZT_CHAIN=off)${profiling ? ", Node with --cpu-prof" : ""}`,
  rows,
});

function autocannonVersion(): string {
  return JSON.parse(readFileSync(join(ROOT, "node_modules", "autocannon", "package.json"), "utf8")).version;
}
