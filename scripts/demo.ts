/**
 * `npm run demo`: a guided walk through the protected decision path against a running
 * control plane (`npm start` in another terminal), executions through Docker, a swap
 * that waits for an operator's approval, and a real MCP client through the gateway
 * (reading a file it may, refused one it may not and a write) included.
 * Each step says what the agent asks,
 * what the control plane answered, and why. Exits 1 if any answer is not the expected one.
 *
 * Settings: ZT_URL (default http://127.0.0.1:8787) and ZT_DATA_DIR (default ./data, for
 * the development credentials and the issuer key used to sign a few permits offline).
 */
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { randomSeed, readSigningKey, signingKeyFromSeed, type SigningKey } from "../src/identity/KeyFile.ts";
import { uuidV4 } from "../src/kernel/ids.ts";
import { signPermit } from "../src/permits/issuePermit.ts";
import type { Permit } from "../src/vocabulary/Permit.ts";

const url = (process.env["ZT_URL"] ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const dataDir = resolve(process.env["ZT_DATA_DIR"] ?? "./data");
const tty = process.stdout.isTTY;
const paint = (code: string, text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = (t: string) => paint("1", t);
const green = (t: string) => paint("32", t);
const red = (t: string) => paint("31", t);
const dim = (t: string) => paint("2", t);
const yellow = (t: string) => paint("33", t);

let credentials: { operator_token: string; agents: Record<string, string> };
try {
  credentials = JSON.parse(readFileSync(join(dataDir, "dev-credentials.json"), "utf8"));
} catch {
  console.error(`demo: cannot read ${join(dataDir, "dev-credentials.json")}. Start the server first (npm start) with the same ZT_DATA_DIR.`);
  process.exit(2);
}
const operator = credentials.operator_token;
const desk7 = credentials.agents["agent:desk-7"] ?? "";
const ops1 = credentials.agents["agent:ops-1"] ?? "";
const issuerKey = readSigningKey(join(dataDir, "keys", "issuer.key.json"));

async function call(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: any }> {
  let response: Response;
  try {
    response = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
  } catch {
    console.error(`demo: no control plane at ${url}. Start it with \`npm start\` (or set ZT_URL).`);
    process.exit(2);
  }
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

const outcomes: Array<{ step: string; expected: string; got: string; ok: boolean }> = [];

async function step(title: string, why: string, expected: string, run: () => Promise<{ status: number; json: any }>) {
  console.log(`\n${bold(`▶ ${title}`)}`);
  const { status, json } = await run();
  const got = json?.status === "allowed" ? "allowed" : (json?.reason ?? json?.error ?? `http ${status}`);
  const ok = got === expected;
  outcomes.push({ step: title, expected, got, ok });
  const verdict =
    json?.status === "allowed" ? green(`ALLOWED (${status})`)
    : json?.status === "pending_approval" ? yellow(`PENDING APPROVAL ${json.approval_id} (${status})`)
    : red(`DENIED ${got} (${status})`);
  console.log(`  answer: ${verdict}${ok ? "" : red(`  <- expected ${expected}`)}`);
  if (json?.detail) console.log(`  detail: ${json.detail}`);
  if (json?.invariant_checks) {
    console.log(`  checks: ${json.invariant_checks.map((c: { name: string; ok: boolean }) => (c.ok ? dim(c.name) : red(`${c.name}✗`))).join(" ")}`);
  }
  if (json?.receipt_hash) console.log(`  receipt_hash: ${json.receipt_hash}${json.notional_usd ? `   notional_usd: ${json.notional_usd}` : ""}`);
  const execution = json?.execution;
  if (execution) {
    const how = execution.status === "completed" ? green(`completed, exit ${execution.exit_code}`) : red(`${execution.status}: ${execution.error?.message} (${execution.error?.reason})`);
    console.log(`  execution: ${execution.broker} ${how} in ${execution.duration_ms} ms${execution.image_id ? ` (image ${execution.image_id.slice(0, 19)}…)` : ""}`);
    if (execution.stdout) console.log(`  stdout: ${JSON.stringify(execution.stdout)}${execution.truncated ? " (truncated)" : ""}`);
    if (execution.stdout_sha256) console.log(`  recorded: stdout_sha256 ${execution.stdout_sha256} (the output itself is in no event)`);
  }
  console.log(`  why: ${why}`);
  return json;
}

const swap = (permit?: unknown, intent: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  actor: "agent:desk-7",
  action: "swap.execute",
  resource: "solana:mainnet/jupiter",
  intent: { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30, ...intent },
  ...(permit === undefined ? {} : { permit }),
  ...extra,
});

const CONSTRAINTS = { max_notional_usd: 10000, max_slippage_bps: 40, protocol_allowlist: ["jupiter", "orca", "raydium"] };
const issue = async (subject = "agent:desk-7") => (await call("POST", "/permits", operator, { subject, scope: "swap.execute", constraints: CONSTRAINTS, ttl_seconds: 60 })).json as Permit;
const offline = (overrides: { key?: SigningKey; now?: number; ttl?: number; scope?: string; policyId?: string }) =>
  signPermit({
    subject: "agent:desk-7",
    scope: overrides.scope ?? "swap.execute",
    policyId: overrides.policyId ?? "policy_mainnet_v1",
    constraints: CONSTRAINTS,
    now: overrides.now ?? Date.now(),
    ttlSeconds: overrides.ttl ?? 60,
    permitId: `permit_demo_${Date.now()}`,
    nonce: uuidV4(crypto.getRandomValues(new Uint8Array(16))),
    key: overrides.key ?? issuerKey,
  });

const ready = await call("GET", "/readyz", undefined);
console.log(bold(`ZT-Infra demo against ${url}`));
console.log(`policy ${ready.json?.policy_id} (policy_hash ${ready.json?.policy_hash}), store ${ready.json?.store}`);

console.log(`\n${bold("Operator:")} publish the trusted market snapshot (SOL = 142.1 USD). Agents never supply prices.`);
await call("PUT", "/market/snapshot", operator, { as_of: new Date().toISOString(), prices: { SOL: 142.1, USDC: 1 } });

await step("desk-7 reads a quote (policy-only path)", "Cedar permits quote.read on solana:mainnet/* for desk-7; no permit is needed for a read.", "allowed", () =>
  call("POST", "/actions", desk7, { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" }),
);
await step("desk-7 swaps 12.5 SOL without a permit", "swap.execute is a permit-required scope in policy.json.", "permit_required", () => call("POST", "/actions", desk7, swap()));

const permit = await issue();
console.log(`\n${bold("Operator:")} issue a 60 s single-use permit ${permit.permit_id} (max 10000 USD, 40 bps, jupiter/orca/raydium).`);
const allowed = await step("desk-7 swaps 12.5 SOL on Jupiter with the permit", "Signature, subject, scope, policy, time window, nonce, allowlist and limits all hold: 12.5 x 142.1 = 1776.25 USD.", "allowed", () =>
  call("POST", "/actions", desk7, swap(permit)),
);
await step("the same permit again (replay)", "The nonce was consumed atomically by the first use; a permit is single-use, even across restarts.", "nonce_replay_detected", () =>
  call("POST", "/actions", desk7, swap(permit)),
);
const large = (await call("POST", "/permits", operator, { subject: "agent:desk-7", scope: "swap.execute", constraints: { ...CONSTRAINTS, max_notional_usd: 50000 }, ttl_seconds: 300 })).json as Permit;
console.log(`\n${bold("Operator:")} issue a permit ${large.permit_id} for swaps up to 50000 USD.`);
const bigSwap = swap(large, { amount: "100" });
const pending = await step(
  "desk-7 swaps 100 SOL (14210 USD) with it",
  "Every check passes, and the bundle's approval rule holds desk-7 swaps over 10000 USD for an operator: recorded, answered 202, nothing runs and the permit's nonce is not spent.",
  "approval_required",
  () => call("POST", "/actions", desk7, bigSwap),
);
console.log(`  request_digest: ${pending?.request_digest} (sha256 of the JCS of the call: the approval is for exactly this call), expires_at ${pending?.expires_at}`);
const granted = await call("POST", `/approvals/${pending?.approval_id}/approve`, operator, { note: "within the desk's daily plan" });
console.log(`\n${bold("Operator:")} operator:alice approves ${pending?.approval_id} (npx zt approvals approve ${pending?.approval_id}): ${granted.json?.status}, granted by ${granted.json?.granted_by?.join(", ")}.`);
await step("desk-7 repeats the identical swap with the approval_id", "The digest matches, the approval is granted, unexpired and unused: it is consumed exactly once (like a nonce), then the permit's nonce.", "allowed", () =>
  call("POST", "/actions", desk7, { ...bigSwap, approval_id: pending?.approval_id }),
);
await step("the same approval again", "An approval allows exactly one action.", "approval_consumed", async () =>
  call("POST", "/actions", desk7, { ...swap(await call("POST", "/permits", operator, { subject: "agent:desk-7", scope: "swap.execute", constraints: { ...CONSTRAINTS, max_notional_usd: 50000 }, ttl_seconds: 60 }).then((r) => r.json), { amount: "100" }), approval_id: pending?.approval_id }),
);
await step("a swap on Uniswap", "The intent's protocol is not in the permit's protocol_allowlist.", "protocol_not_allowed", async () => call("POST", "/actions", desk7, swap(await issue(), { protocol: "uniswap" })));
await step("a swap of 1000 SOL", "1000 x 142.1 = 142100 USD, over the permit's max_notional_usd of 10000.", "max_notional_exceeded", async () => call("POST", "/actions", desk7, swap(await issue(), { amount: "1000" })));
await step("a swap with 80 bps slippage", "80 bps is over the permit's max_slippage_bps of 40.", "max_slippage_exceeded", async () => call("POST", "/actions", desk7, swap(await issue(), { slippage_bps: 80 })));
await step("a swap of an asset with no trusted price", "BONK is not in the snapshot, so the notional cannot be computed: fail closed.", "market_price_unknown", async () => call("POST", "/actions", desk7, swap(await issue(), { asset: "BONK" })));
await step("a permit whose limit the agent raised", "Any edit breaks the ed25519 signature over the permit's canonical JSON.", "invalid_signature", async () => {
  const tampered = await issue();
  return call("POST", "/actions", desk7, swap({ ...tampered, constraints: { ...tampered.constraints, max_notional_usd: 1e9 } }, { amount: "1000" }));
});
await step("a permit signed by a key the control plane does not trust", "Its key_id is not a trusted permit issuer.", "unknown_issuer", () =>
  call("POST", "/actions", desk7, swap(offline({ key: signingKeyFromSeed(randomSeed(), "permit") }))),
);
await step("desk-7 uses a permit issued to ops-1", "The permit's subject must be the authenticated actor.", "subject_mismatch", async () => call("POST", "/actions", desk7, swap(await issue("agent:ops-1"))));
await step("a permit for quote.read used to swap", "The permit's scope must be the requested action.", "scope_mismatch", () => call("POST", "/actions", desk7, swap(offline({ scope: "quote.read" }))));
await step("a permit for another policy", "The permit names policy_staging, not the active policy_mainnet_v1.", "policy_mismatch", () => call("POST", "/actions", desk7, swap(offline({ policyId: "policy_staging" }))));
await step("a permit issued 10 minutes from now", "issued_at is beyond the policy's clock skew.", "permit_not_yet_valid", () => call("POST", "/actions", desk7, swap(offline({ now: Date.now() + 600_000 }))));
await step("a permit that expired 9 minutes ago", "expires_at has passed.", "permit_expired", () => call("POST", "/actions", desk7, swap(offline({ now: Date.now() - 600_000 }))));
await step("a permit valid for an hour", "Its lifetime exceeds the policy's max_ttl_seconds (300).", "permit_ttl_too_long", () => call("POST", "/actions", desk7, swap(offline({ ttl: 3600 }))));
await step("desk-7's token posting an action as ops-1", "A token is bound to exactly one actor.", "actor_mismatch", () => call("POST", "/actions", desk7, { ...swap(), actor: "agent:ops-1" }));
await step("desk-7 swaps on Ethereum", "No Cedar policy permits desk-7 outside solana:mainnet/*; everything not permitted is denied.", "policy_denied", () =>
  call("POST", "/actions", desk7, swap(undefined, {}, { resource: "ethereum:mainnet/uniswap" })),
);
await step("a body that is not JSON", "Malformed input is refused and still recorded (its bytes hashed only).", "malformed_request", () => call("POST", "/actions", desk7, "{not json"));
const shellExec = (execute: Record<string, unknown>) => ({ actor: "agent:ops-1", action: "shell.exec", resource: "host:sandbox", execute });
const dockerRun = await step(
  "ops-1 runs `uname -s; id -u` in the zt-busybox:local image through Docker",
  "policy.json lets ops-1 use the docker broker with that image. The decision is recorded first; then the container runs with no network, a read-only root, no capabilities, as uid 65534, within memory, CPU and pids limits, and is removed.",
  "allowed",
  () => call("POST", "/actions", ops1, shellExec({ broker: "docker", image: "zt-busybox:local", command: ["sh", "-c", "uname -s; id -u"] })),
);
/** Records whether an allowed step's execution ended as expected (status, and what it printed). */
function expectExecution(step: string, json: any, status: string, stdout?: RegExp): void {
  const execution = json?.execution;
  const ok = execution?.status === status && (stdout === undefined || stdout.test(execution?.stdout ?? ""));
  outcomes.push({ step, expected: `execution ${status}`, got: `execution ${execution?.status ?? "none"}`, ok });
  if (execution?.error?.reason === "unavailable" || execution?.error?.reason === "failed") console.log(red("  (is dockerd running, and zt-busybox:local built? npm run sandbox:image)"));
}
expectExecution("the Docker run", dockerRun, "completed", /^Linux\n65534\n$/);
const unplugged = await step("ops-1 tries to reach the network from the container", "The command is allowed, but the container has no network: the connect fails inside the sandbox.", "allowed", () =>
  call("POST", "/actions", ops1, shellExec({ broker: "docker", image: "zt-busybox:local", command: ["sh", "-c", "nc -w 2 1.1.1.1 80 </dev/null || echo no network"] })),
);
expectExecution("the network probe", unplugged, "completed", /no network/);
const slow = await step("ops-1 runs `sleep 30` with a 500 ms timeout", "Past its timeout the container is killed and removed; the execution is reported as timeout.", "allowed", () =>
  call("POST", "/actions", ops1, shellExec({ broker: "docker", image: "zt-busybox:local", command: ["sleep", "30"], timeout_ms: 500 })),
);
expectExecution("the sleep past its timeout", slow, "timeout");
await step("ops-1 asks for the alpine image", "Only zt-busybox:local is on the image allowlist; denied, so nothing reaches Docker.", "image_not_allowed", () =>
  call("POST", "/actions", ops1, shellExec({ broker: "docker", image: "alpine:latest", command: ["sh"] })),
);
await step("ops-1 asks for network access", "No broker rule grants network access.", "broker_not_allowed", () =>
  call("POST", "/actions", ops1, shellExec({ broker: "bwrap", command: ["wget", "example.com"], network: true })),
);
await step("ops-1 runs a command on the production host", "Cedar permits shell.exec on host:sandbox only; denied before any broker is asked.", "policy_denied", () =>
  call("POST", "/actions", ops1, { ...shellExec({ broker: "docker", image: "zt-busybox:local", command: ["echo", "hi"] }), resource: "host:prod" }),
);
console.log(`\n${bold("Operator:")} publish a snapshot dated 10 minutes ago.`);
await call("PUT", "/market/snapshot", operator, { as_of: new Date(Date.now() - 600_000).toISOString(), prices: { SOL: 142.1 } });
await step("a swap against a stale snapshot", "Prices older than the policy's max_age_seconds (60) are not trusted.", "market_snapshot_stale", async () => call("POST", "/actions", desk7, swap(await issue())));
await call("PUT", "/market/snapshot", operator, { as_of: new Date().toISOString(), prices: { SOL: 142.1, USDC: 1 } });

// --- MCP: a real MCP client through the gateway --------------------------------------
// The example bundle's fs server serves $ZT_DATA_DIR/mcp/fs; desk-7 may read under
// public/ only, with read tools only. The files are put there for the demo.
const fsDir = join(dataDir, "mcp", "fs");
mkdirSync(join(fsDir, "public"), { recursive: true });
mkdirSync(join(fsDir, "private"), { recursive: true });
writeFileSync(join(fsDir, "public", "desk-notes.txt"), "Rebalance SOL exposure before the Friday close.\n");
writeFileSync(join(fsDir, "private", "payroll.csv"), "name,salary\n");
console.log(`\n${bold("MCP:")} desk-7's MCP client (the official TypeScript SDK) connects to ${url}/mcp/fs with its token.`);
const mcp = new Client({ name: "zt-infra-demo", version: "1.0.0" });
await mcp.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp/fs`), { requestInit: { headers: { authorization: `Bearer ${desk7}` } } }));
const tools = (await mcp.listTools()).tools.map((tool) => tool.name);
console.log(`  tools/list shows desk-7: ${tools.join(", ")}`);
console.log(`  ${dim("no write_file, edit_file, create_directory or move_file: the policy could never allow desk-7 those.")}`);
outcomes.push({ step: "MCP tools/list without write tools", expected: "no write tool", got: tools.some((name) => /write|edit|create|move/.test(name)) ? "a write tool" : "no write tool", ok: !tools.some((name) => /write|edit|create|move/.test(name)) });

async function mcpStep(title: string, why: string, expected: string, name: string, args: Record<string, unknown>) {
  console.log(`\n${bold(`▶ ${title}`)}`);
  // A raw tools/call: the SDK's callTool checks a denial's structuredContent against the tool's output schema (SDK issue #1943).
  const result: CallToolResult = await mcp.request({ method: "tools/call", params: { name, arguments: args } }, CallToolResultSchema);
  const decision = result.structuredContent as { decision_id?: string; reason?: string } | undefined;
  const got = result.isError ? (decision?.reason ?? "error") : "allowed";
  outcomes.push({ step: title, expected, got, ok: got === expected });
  const text = (result.content as Array<{ type: string; text?: string }>).find((block) => block.type === "text")?.text ?? "";
  console.log(`  tools/call ${name} ${JSON.stringify(args)}`);
  console.log(`  answer: ${result.isError ? red(`DENIED ${got}, decision ${decision?.decision_id}`) : green("ALLOWED")}${got === expected ? "" : red(`  <- expected ${expected}`)}`);
  console.log(`  ${result.isError ? "the model reads" : "content"}: ${JSON.stringify(text.trim())}`);
  console.log(`  why: ${why}`);
}
await mcpStep("desk-7 reads a file under public/ through MCP", "read_text_file under public/ is what the policy allows desk-7; the call is recorded, the file's bytes only as a hash of the answer.", "allowed", "read_text_file", {
  path: join(fsDir, "public", "desk-notes.txt"),
});
await mcpStep("desk-7 reads a file under private/", "The path resolves under private/, outside what desk-7 may read: the server never sees the call.", "policy_denied", "read_text_file", { path: join(fsDir, "private", "payroll.csv") });
await mcpStep("desk-7 reaches private/ with ../", "The gateway resolves the path as the server would (here to private/payroll.csv) before Cedar decides.", "policy_denied", "read_text_file", {
  path: `${fsDir}/public/../private/payroll.csv`,
});
await mcpStep("desk-7 writes a file", "No policy lets desk-7 write; the disk is untouched.", "policy_denied", "write_file", { path: join(fsDir, "public", "injected.txt"), content: "ignore previous instructions" });
await mcp.close();

const recorded = await call("GET", `/decisions/${allowed?.decision_id}`, desk7);
console.log(`\n${bold("The allowed swap, read back from the event store:")} GET /decisions/${allowed?.decision_id}`);
console.log(`  ${recorded.json?.status} at ${recorded.json?.decided_at}, recorded at global position ${recorded.json?.audit?.position}, receipt ${recorded.json?.receipt_hash}`);

console.log(`\n${bold("The audit trail:")} every event above is a signed, hash-chained record; checkpoints seal Merkle roots.`);
await new Promise((resolve) => setTimeout(resolve, 1500));
const batches = await call("GET", "/audit/batches", operator);
const lastBatch = batches.json?.batches?.at(-1);
if (lastBatch) {
  const anchor = lastBatch.anchor ? `anchor ${lastBatch.anchor.status}${lastBatch.anchor.tx_hash ? ` in ${lastBatch.anchor.tx_hash}` : ""} on chain ${lastBatch.anchor.chain_id}` : "anchoring off";
  console.log(`  latest checkpoint ${lastBatch.batch_id}: ${lastBatch.tree_size} records, root ${lastBatch.root} (${anchor})`);
}
console.log(`\n${bold("An auditor replays the store independently:")} zt audit verify --store sqlite:${join(dataDir, "events.db")}`);
const verified = spawnSync(process.execPath, [fileURLToPath(new URL("../src/cli/zt.ts", import.meta.url)), "audit", "verify", "--store", `sqlite:${join(dataDir, "events.db")}`, "--keys", join(dataDir, "keys", "audit.pub.json")], { encoding: "utf8" });
console.log(`  ${(verified.stdout || verified.stderr).trim().split("\n").join("\n  ")}`);
outcomes.push({ step: "zt audit verify", expected: "exit 0", got: `exit ${verified.status}`, ok: verified.status === 0 });

const failures = outcomes.filter((o) => !o.ok);
console.log(`\n${bold("Summary")}: ${outcomes.length} steps, ${outcomes.length - failures.length} as expected${failures.length ? red(`, ${failures.length} not`) : ""}.`);
for (const f of failures) console.log(red(`  ${f.step}: expected ${f.expected}, got ${f.got}`));
process.exit(failures.length === 0 ? 0 : 1);
