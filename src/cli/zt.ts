#!/usr/bin/env node
/**
 * The `zt` command line (contract section 6). Exit codes: 0 success, 1 verification
 * failed, 2 bad usage or configuration.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { Effect, Either } from "effect";
import { ConfigError, loadConfig } from "../config.ts";
import { randomSeed, readSigningKey, signingKeyFromSeed, writeKeyPair, KeyFileError } from "../identity/KeyFile.ts";
import { ulid, uuidV4, ULID_RANDOM_LENGTH, UUID_RANDOM_LENGTH } from "../kernel/ids.ts";
import { checkPermitRequest, signPermit } from "../permits/issuePermit.ts";
import { loadPolicyBundle } from "../policy/ActivePolicy.ts";
import { startServer, StartupError } from "../server.ts";

const USAGE = `usage: zt <command> [options]

commands:
  serve [--host H] [--port P] [--data-dir DIR] [--policy-dir DIR]
        run the control plane (configuration from ZT_* environment variables; flags override)
  keys generate --out DIR [--use permit|audit] [--name NAME]
        write an Ed25519 key pair: DIR/NAME.key.json (mode 0600) and DIR/NAME.pub.json
  permit issue --key FILE --subject S --scope A [--max-notional-usd N] [--max-slippage-bps N]
        [--protocols a,b] [--ttl SECONDS] [--policy-dir DIR]
        sign a permit offline with a permit-issuer key file and print it as JSON

exit codes: 0 success, 1 verification failed, 2 bad usage or configuration`;

class UsageError extends Error {
  override readonly name = "UsageError";
}

function parse(args: string[], options: ParseArgsOptionsConfig): Record<string, string | undefined> {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true }).values as Record<string, string | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function required(values: Record<string, string | undefined>, name: string): string {
  const value = values[name];
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

function number(values: Record<string, string | undefined>, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got "${text}"`);
  return value;
}

async function serve(args: string[]): Promise<void> {
  const values = parse(args, { host: { type: "string" }, port: { type: "string" }, "data-dir": { type: "string" }, "policy-dir": { type: "string" } });
  const env = { ...process.env };
  if (values["host"] !== undefined) env["ZT_HOST"] = values["host"];
  if (values["port"] !== undefined) env["ZT_PORT"] = values["port"];
  if (values["data-dir"] !== undefined) env["ZT_DATA_DIR"] = values["data-dir"];
  if (values["policy-dir"] !== undefined) env["ZT_POLICY_DIR"] = values["policy-dir"];
  const server = await startServer(loadConfig(env));
  const stop = () => void server.close().then(() => process.exit(0), () => process.exit(1));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function keysGenerate(args: string[]): void {
  const values = parse(args, { out: { type: "string" }, use: { type: "string" }, name: { type: "string" } });
  const out = resolve(required(values, "out"));
  const use = values["use"] ?? "permit";
  if (use !== "permit" && use !== "audit") throw new UsageError(`--use must be permit or audit`);
  const name = values["name"] ?? (use === "permit" ? "issuer" : "audit");
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new UsageError(`--name must be a plain file name`);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const key = signingKeyFromSeed(randomSeed(), use);
  const files = writeKeyPair(join(out, name), key);
  console.log(JSON.stringify({ key_id: key.keyId, use, private_key_file: files.privateFile, public_key_file: files.publicFile }, null, 2));
}

async function permitIssue(args: string[]): Promise<void> {
  const values = parse(args, {
    key: { type: "string" },
    subject: { type: "string" },
    scope: { type: "string" },
    "max-notional-usd": { type: "string" },
    "max-slippage-bps": { type: "string" },
    protocols: { type: "string" },
    ttl: { type: "string" },
    "policy-dir": { type: "string" },
  });
  const key = readSigningKey(resolve(required(values, "key")));
  if (key.use !== "permit") throw new UsageError(`${values["key"]} is an ${key.use} key, not a permit-issuer key`);
  const policyDir = resolve(values["policy-dir"] ?? process.env["ZT_POLICY_DIR"] ?? "./policies");
  // Effect.runPromise would reject with a FiberFailure wrapper, not the error itself.
  const loaded = await Effect.runPromise(Effect.either(loadPolicyBundle(policyDir)));
  if (Either.isLeft(loaded)) throw new ConfigError(loaded.left.message);
  const bundle = loaded.right;
  const constraints: Record<string, unknown> = {};
  const maxNotional = number(values, "max-notional-usd");
  const maxSlippage = number(values, "max-slippage-bps");
  if (maxNotional !== undefined) constraints["max_notional_usd"] = maxNotional;
  if (maxSlippage !== undefined) constraints["max_slippage_bps"] = maxSlippage;
  if (values["protocols"] !== undefined) constraints["protocol_allowlist"] = values["protocols"].split(",").map((p) => p.trim()).filter(Boolean);
  const ttl = number(values, "ttl");
  const checked = checkPermitRequest(bundle.manifest, {
    subject: required(values, "subject"),
    scope: required(values, "scope"),
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

export async function runCli(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    if (command === "serve") {
      await serve(sub === undefined ? [] : [sub, ...rest]);
      return -1;
    }
    if (command === "keys" && sub === "generate") keysGenerate(rest);
    else if (command === "permit" && sub === "issue") await permitIssue(rest);
    else if (command === undefined || command === "help" || command === "--help" || command === "-h") console.log(USAGE);
    else throw new UsageError(`unknown command: ${[command, sub].filter(Boolean).join(" ")}`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError || error instanceof StartupError || error instanceof KeyFileError) {
      console.error(`zt: ${error.message}`);
      if (error instanceof UsageError) console.error(`\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}

const code = await runCli(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
