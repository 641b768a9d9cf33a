#!/usr/bin/env node
/**
 * The `zt` command line (contract section 6). Exit codes: 0 success, 1 verification
 * failed, 2 bad usage or configuration.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Effect, Either } from "effect";
import { ConfigError, loadConfig, type ServiceConfig } from "../config.ts";
import { randomSeed, readSigningKey, signingKeyFromSeed, writeKeyPair, KeyFileError } from "../identity/KeyFile.ts";
import { ulid, uuidV4, ULID_RANDOM_LENGTH, UUID_RANDOM_LENGTH } from "../kernel/ids.ts";
import { checkPermitRequest, signPermit } from "../permits/issuePermit.ts";
import { loadPolicyBundle } from "../policy/ActivePolicy.ts";
import { number, parse, required, text, UsageError } from "./args.ts";

const USAGE = `usage: zt <command> [options]

commands:
  serve [--host H] [--port P] [--data-dir DIR] [--policy-dir DIR]
        run the control plane (configuration from ZT_* environment variables; flags override);
        SIGHUP reloads the policy bundle
  project [--data-dir DIR]
        run only the audit projection writer (for several instances sharing one store)
  keys generate --out DIR [--use permit|audit] [--name NAME]
        write an Ed25519 key pair: DIR/NAME.key.json (mode 0600) and DIR/NAME.pub.json
  permit issue --key FILE --subject S --scope A [--resource R] [--max-notional-usd N] [--max-slippage-bps N]
        [--protocols a,b] [--ttl SECONDS] [--policy-dir DIR]
        sign a permit offline with a permit-issuer key file and print it as JSON
  anchor deploy
        deploy DAAL through thirdweb (settings: ZT_DEPLOY_CHAIN, ZT_DEPLOY_RPC_URL, ZT_DEPLOY_PRIVATE_KEY,
        ZT_DEPLOY_SUBMITTER, ZT_DEPLOYMENTS_DIR, THIRDWEB_SECRET_KEY) and record it under deployments/
  audit verify [--store URL] [--keys FILE] [--max-lag SECONDS] [--rpc URL --contract ADDR] [--json]
        replay every event: event hashes, the record chain and signatures, checkpoint roots
        and consistency, receipt hashes, and that no event waits for its record longer than
        --max-lag (default 60); exit 0 only if all hold, else name the first bad position
  audit verify --bundle FILE [--keys FILE] [--json]
        verify an audit bundle offline (no store, no network): every record, event,
        checkpoint, key and anchor receipt in it; on failure name the part, line and seq
  audit export --out FILE [--store URL] [--keys FILE] [--from-seq N] [--to-seq M]
        write an audit bundle of records N..M (default: all sealed ones), widened to the
        checkpoint that seals M, with their events, checkpoints, keys and anchor receipts
  audit proof DECISION_ID [--store URL]
        print the inclusion proof of a decision against the latest sealed checkpoint
  audit check-proof FILE [--keys FILE] [--rpc URL [--contract ADDR]] [--json]
        verify an inclusion proof offline (RFC 9162), and its checkpoint's signature
  approvals list [--status pending|granted|rejected|expired|consumed] [--limit N] [--json] [--url URL] [--token-file FILE]
        the approvals of a running control plane, newest first (token: --token-file or ZT_TOKEN)
  approvals approve|reject APPROVAL_ID [--note TEXT] [--url URL] [--token-file FILE]
        grant or reject as the operator the token names (exit 1 when the server refuses the vote)
  policy diff [--store URL] [--candidate HASH | --candidate-dir DIR] [--json]
        summarise where the candidate policy bundle would have answered otherwise: by check, action
        and both answers (default candidate: ZT_POLICY_CANDIDATE_DIR, else the last activation's)
  mcp connect --url URL --token-file FILE
        a stdio MCP server that relays to the gateway endpoint URL (/mcp or /mcp/<server_id>)
        with the agent token in FILE, for MCP clients that only launch local servers

exit codes: 0 success, 1 verification failed, 2 bad usage or configuration`;

/** `zt project`: the data directory is opened (and checked, in production) as `zt serve` would, then the writer runs on its own. */
async function startProjectorProcess(config: ServiceConfig) {
  const { openDataDirectory } = await import("../identity/DataDirectory.ts");
  const { projectorSettings, startupFailure } = await import("../layers.ts");
  try {
    openDataDirectory(config.dataDir, { production: config.production });
  } catch (error) {
    throw startupFailure(error);
  }
  return (await import("../projector.ts")).startProjector(projectorSettings(config));
}

/** `zt serve` and `zt project` run until SIGINT/SIGTERM; the server code loads only then. */
async function runUntilSignal(command: "serve" | "project", args: string[]): Promise<void> {
  const { values } = parse(args, { host: { type: "string" }, port: { type: "string" }, "data-dir": { type: "string" }, "policy-dir": { type: "string" } });
  const env = { ...process.env };
  for (const [flag, variable] of [["host", "ZT_HOST"], ["port", "ZT_PORT"], ["data-dir", "ZT_DATA_DIR"], ["policy-dir", "ZT_POLICY_DIR"]] as const) {
    const value = text(values, flag);
    if (value !== undefined) env[variable] = value;
  }
  const config = loadConfig(env);
  let running: { readonly close: () => Promise<void> };
  if (command === "serve") {
    const server = await (await import("../server.ts")).startServer(config);
    // As `npm start`: SIGHUP reloads the policy bundles.
    process.on("SIGHUP", () => void server.reloadPolicy());
    running = server;
  } else {
    running = await startProjectorProcess(config);
  }
  const stop = () => void running.close().then(() => process.exit(0), () => process.exit(1));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function keysGenerate(args: string[]): void {
  const { values } = parse(args, { out: { type: "string" }, use: { type: "string" }, name: { type: "string" } });
  const out = resolve(required(values, "out"));
  const use = text(values, "use") ?? "permit";
  if (use !== "permit" && use !== "audit") throw new UsageError(`--use must be permit or audit`);
  const name = text(values, "name") ?? (use === "permit" ? "issuer" : "audit");
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError(`--name must be a plain file name`);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const key = signingKeyFromSeed(randomSeed(), use);
  const files = writeKeyPair(join(out, name), key);
  console.log(JSON.stringify({ key_id: key.keyId, use, private_key_file: files.privateFile, public_key_file: files.publicFile }, null, 2));
}

async function permitIssue(args: string[]): Promise<void> {
  const { values } = parse(args, {
    key: { type: "string" },
    subject: { type: "string" },
    scope: { type: "string" },
    resource: { type: "string" },
    "max-notional-usd": { type: "string" },
    "max-slippage-bps": { type: "string" },
    protocols: { type: "string" },
    ttl: { type: "string" },
    "policy-dir": { type: "string" },
  });
  const key = readSigningKey(resolve(required(values, "key")));
  if (key.use !== "permit") throw new UsageError(`${text(values, "key")} is an ${key.use} key, not a permit-issuer key`);
  const policyDir = resolve(text(values, "policy-dir") ?? process.env["ZT_POLICY_DIR"] ?? "./policies");
  // Effect.runPromise would reject with a FiberFailure wrapper, not the error itself.
  const loaded = await Effect.runPromise(Effect.either(loadPolicyBundle(policyDir)));
  if (Either.isLeft(loaded)) throw new ConfigError(loaded.left.message);
  const bundle = loaded.right;
  const constraints: Record<string, unknown> = {};
  const maxNotional = number(values, "max-notional-usd");
  const maxSlippage = number(values, "max-slippage-bps");
  if (maxNotional !== undefined) constraints["max_notional_usd"] = maxNotional;
  if (maxSlippage !== undefined) constraints["max_slippage_bps"] = maxSlippage;
  const protocols = text(values, "protocols");
  if (protocols !== undefined) constraints["protocol_allowlist"] = protocols.split(",").map((p) => p.trim()).filter(Boolean);
  const ttl = number(values, "ttl");
  const resource = text(values, "resource");
  const checked = checkPermitRequest(bundle.manifest, {
    subject: required(values, "subject"),
    scope: required(values, "scope"),
    ...(resource === undefined ? {} : { resource }),
    constraints,
    ...(ttl === undefined ? {} : { ttl_seconds: ttl }),
  });
  if (Either.isLeft(checked)) throw new UsageError(`${checked.left.reason}: ${checked.left.message}`);
  const now = Date.now();
  const permit = signPermit({
    ...checked.right,
    policyId: bundle.policyId,
    now,
    permitId: `permit_${ulid(now, crypto.getRandomValues(new Uint8Array(ULID_RANDOM_LENGTH)))}`,
    nonce: uuidV4(crypto.getRandomValues(new Uint8Array(UUID_RANDOM_LENGTH))),
    key,
  });
  console.log(JSON.stringify(permit, null, 2));
}

/** `zt mcp connect`: relays stdio to a gateway endpoint until the client or the gateway ends it. */
async function mcpConnect(args: string[]): Promise<void> {
  const { values } = parse(args, { url: { type: "string" }, "token-file": { type: "string" } });
  let url: URL;
  try {
    url = new URL(required(values, "url"));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError("--url must be the URL of a gateway endpoint, such as http://127.0.0.1:8787/mcp");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError("--url must be an http(s) URL");
  const file = resolve(required(values, "token-file"));
  let token: string;
  try {
    token = readFileSync(file, "utf8").trim();
  } catch {
    throw new UsageError(`--token-file: ${file} cannot be read`);
  }
  if (!/^[\x21-\x7e]{1,512}$/.test(token)) throw new UsageError(`--token-file: ${file} does not hold a bearer token (one line)`);
  const { runStdioBridge } = await import("../mcp/stdioBridge.ts");
  await runStdioBridge({ url, token, report: (line) => console.error(line) });
}

export async function runCli(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    if (command === "serve" || command === "project") {
      await runUntilSignal(command, sub === undefined ? [] : [sub, ...rest]);
      return -1;
    }
    if (command === "audit" && (sub === "verify" || sub === "proof" || sub === "check-proof" || sub === "export")) {
      const { runAuditCommand } = await import("./auditCommands.ts");
      return await runAuditCommand(sub, rest);
    }
    if (command === "approvals" && (sub === "list" || sub === "approve" || sub === "reject")) {
      const { runApprovalCommand } = await import("./approvalCommands.ts");
      return await runApprovalCommand(sub, rest);
    }
    if (command === "policy" && sub === "diff") {
      const { runPolicyCommand } = await import("./policyCommands.ts");
      return await runPolicyCommand(rest);
    }
    if (command === "anchor" && sub === "deploy") {
      if (rest.length > 0) throw new UsageError("zt anchor deploy takes its settings from the environment (ZT_DEPLOY_*), not flags");
      const { runDeployCommand } = await import("../anchoring/deploy/deployCommand.ts");
      return await runDeployCommand(process.env);
    }
    if (command === "mcp" && sub === "connect") {
      await mcpConnect(rest);
      return 0;
    }
    if (command === "keys" && sub === "generate") keysGenerate(rest);
    else if (command === "permit" && sub === "issue") await permitIssue(rest);
    else if (command === undefined || command === "help" || command === "--help" || command === "-h") console.log(USAGE);
    else throw new UsageError(`unknown command: ${[command, sub].filter(Boolean).join(" ")}`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof KeyFileError || (error instanceof Error && error.name === "StartupError")) {
      console.error(`zt: ${error.message}`);
      if (error instanceof UsageError) console.error(`\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

const code = await runCli(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
