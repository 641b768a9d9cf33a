/**
 * `zt audit verify | proof | check-proof | export`: the auditor's tools. They read the
 * store and the audit records directly (never the running service) and need only public
 * keys; `verify --bundle` reads nothing but the bundle.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Effect, Either, Layer, ManagedRuntime, Schema } from "effect";
import { readDeploymentRecord, type DeploymentRecord } from "../anchoring/deploy/deploymentRecord.ts";
import { anchorTargetCollector, auditAgainstChain, chainAnchors, ledgerAt, proofAgainstChain, type ChainAuditReport } from "../anchoring/onChainAudit.ts";
import { AuditTrail } from "../audit/AuditTrail.ts";
import { auditKeysFrom, checkInclusionProof } from "../audit/checkEvidence.ts";
import { inclusionProofFor } from "../audit/proofs.ts";
import { DEFAULT_MAX_LAG_MS, verifyAudit, type VerifyReport } from "../audit/verifyAudit.ts";
import { loadConfig, type ServiceConfig } from "../config.ts";
import { exportBundle } from "../export/exportBundle.ts";
import { verifyBundle } from "../export/verifyBundle.ts";
import { DECISION_ID } from "../vocabulary/DecisionId.ts";
import { readVerifyingKey } from "../identity/KeyFile.ts";
import { makeWebCryptoVerifier } from "../kernel/ed25519.ts";
import { bytesToHex, hexToBytes } from "../kernel/hashing.ts";
import { MerkleTree, verifyConsistency } from "../kernel/merkle.ts";
import { auditLogLayer, storeLayer } from "../layers.ts";
import { number, parse, required, text, UsageError, type ParsedArgs } from "./args.ts";

/** The store and data directory of the configuration; the commands that read the store never touch a chain, so its settings are not required. */
export function configFor(store: string | undefined): ServiceConfig {
  return loadConfig({ ...process.env, ZT_CHAIN: "off", ...(store === undefined ? {} : { ZT_STORE: store }) });
}

/** Audit public keys from a key file, or from a `GET /keys` document (entries with use "audit"). */
export function readAuditKeys(path: string): Map<string, Uint8Array> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw new UsageError(`${path}: cannot read a JSON key file`);
  }
  let keys = new Map<string, Uint8Array>();
  if (Array.isArray((json as { keys?: unknown } | null)?.keys)) {
    keys = auditKeysFrom(json);
  } else {
    const key = readVerifyingKey(path);
    if (key.use !== "audit") throw new UsageError(`${path} is a ${key.use} key, not an audit key`);
    keys.set(key.keyId, key.publicKey);
  }
  if (keys.size === 0) throw new UsageError(`${path}: holds no audit public key`);
  return keys;
}

function defaultKeysPath(config: ServiceConfig): string {
  return join(config.dataDir, "keys", "audit.pub.json");
}

function storeRuntime(config: ServiceConfig) {
  if (config.store.kind === "sqlite" && !existsSync(config.store.path)) throw new UsageError(`no event store at ${config.store.path}`);
  const base = Layer.mergeAll(storeLayer(config.store), auditLogLayer(config.store, config.dataDir));
  return ManagedRuntime.make(AuditTrail.layer.pipe(Layer.provideMerge(base)));
}

function printReport(report: VerifyReport, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const summary = `${report.events} events, ${report.records} records, ${report.checkpoints} checkpoints, ${report.decisions} decisions`;
  if (report.ok) {
    const last = report.lastCheckpoint ? `; last checkpoint: tree size ${report.lastCheckpoint.tree_size}, root ${report.lastCheckpoint.root}` : "";
    const tail = report.unprojected > 0 ? `; ${report.unprojected} newest events not yet projected (not covered yet, within --max-lag)` : "";
    console.log(`zt audit verify: OK (${summary}${last}${tail})`);
  } else if (report.failure) {
    const where = [report.failure.position === null ? undefined : `position ${report.failure.position}`, report.failure.seq === null ? undefined : `record seq ${report.failure.seq}`]
      .filter(Boolean)
      .join(", ");
    console.log(`zt audit verify: FAILED at ${where || "the end of the log"}: ${report.failure.kind}: ${report.failure.message}`);
    console.log(`  verified before the failure: ${summary}`);
  }
}

/** Reads `--deployment FILE` (a deployment record); undefined without the flag. */
function deploymentFrom(path: string | undefined): DeploymentRecord | undefined {
  if (path === undefined) return undefined;
  try {
    return readDeploymentRecord(resolve(path));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const CHAIN_FLAGS = {
  rpc: { type: "string" },
  contract: { type: "string" },
  deployment: { type: "string" },
  "from-block": { type: "string" },
  confirmations: { type: "string" },
} as const;

/**
 * The DAAL and history range the chain flags name; undefined without `--rpc`. `fallback`
 * is a contract named by the service (a proof's `anchor.contract`), used only when the
 * auditor pinned none: trusting it is trusting the operator.
 */
function chainTarget(values: ParsedArgs["values"], fallback?: string) {
  const rpcUrl = text(values, "rpc");
  const deployment = deploymentFrom(text(values, "deployment"));
  const contract = text(values, "contract") ?? deployment?.daal_address ?? (rpcUrl === undefined ? undefined : fallback);
  if (rpcUrl === undefined) {
    if (contract !== undefined) throw new UsageError("--contract and --deployment need --rpc");
    return undefined;
  }
  if (contract === undefined) throw new UsageError("--rpc needs the DAAL: --contract ADDR or --deployment FILE");
  if (!/^0x[0-9a-fA-F]{40}$/.test(contract)) throw new UsageError("--contract must be a 0x address");
  const fromBlock = number(values, "from-block");
  if (fromBlock !== undefined && !(Number.isSafeInteger(fromBlock) && fromBlock >= 0)) throw new UsageError("--from-block must be a block number");
  const confirmations = number(values, "confirmations") ?? 1;
  if (!(Number.isSafeInteger(confirmations) && confirmations >= 1)) throw new UsageError("--confirmations must be an integer >= 1");
  return { rpcUrl, contract, confirmations, ...(deployment === undefined ? {} : { deployment }), ...(fromBlock === undefined ? {} : { fromBlock }) };
}

function printChainReport(chain: ChainAuditReport): void {
  const deployed = chain.deployed_at === null ? `logs read from block ${chain.from_block} (${chain.from_block_source})` : `deployed in block ${chain.from_block} at ${chain.deployed_at} (${chain.from_block_source})`;
  console.log(`zt audit verify: on-chain: DAAL ${chain.contract} on chain ${chain.chain_id}, ${deployed}, owner ${chain.owner ?? "unknown"}`);
  const anchors = chain.anchors === 0 ? "no anchors" : `${chain.anchors} anchors (${chain.confirmations} confirmation(s)) from ${chain.first_anchor_at} to ${chain.last_anchor_at}, up to tree size ${chain.anchored_size}`;
  console.log(`  ${anchors}; ${chain.unanchored_records} records not anchored yet`);
  if (chain.failure === null) console.log("zt audit verify: on-chain OK: every anchor is this log's root at its size");
  else console.log(`zt audit verify: on-chain FAILED${chain.failure.treeSize === null ? "" : ` at tree size ${chain.failure.treeSize}`}: ${chain.failure.kind}: ${chain.failure.message}`);
}

async function verify(args: string[]): Promise<number> {
  const { values } = parse(args, {
    bundle: { type: "string" },
    store: { type: "string" },
    keys: { type: "string" },
    json: { type: "boolean" },
    "max-lag": { type: "string" },
    "max-unanchored": { type: "string" },
    "max-anchor-age": { type: "string" },
    ...CHAIN_FLAGS,
  });
  const bundle = text(values, "bundle");
  if (bundle !== undefined) {
    const others = Object.keys(values).filter((flag) => !["bundle", "keys", "json"].includes(flag));
    if (others.length > 0) throw new UsageError(`--bundle is verified offline: --${others[0]} does not apply`);
    return verifyBundleFile(bundle, text(values, "keys"), values["json"] === true);
  }
  const maxLagSeconds = number(values, "max-lag") ?? DEFAULT_MAX_LAG_MS / 1000;
  if (!(maxLagSeconds >= 0)) throw new UsageError("--max-lag must be a number of seconds >= 0");
  const maxUnanchored = number(values, "max-unanchored");
  const maxAnchorAge = number(values, "max-anchor-age");
  for (const [flag, value] of [["max-unanchored", maxUnanchored], ["max-anchor-age", maxAnchorAge]] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) throw new UsageError(`--${flag} must be an integer >= 0`);
  }
  const target = chainTarget(values);
  if (target === undefined && (maxUnanchored !== undefined || maxAnchorAge !== undefined)) throw new UsageError("--max-unanchored and --max-anchor-age need --rpc");
  const config = configFor(text(values, "store"));
  const keysPath = resolve(text(values, "keys") ?? defaultKeysPath(config));
  const auditKeys = readAuditKeys(keysPath);
  const runtime = storeRuntime(config);
  try {
    const tree = new MerkleTree();
    const recorded = anchorTargetCollector();
    const report = await runtime.runPromise(Effect.either(verifyAudit({ auditKeys, maxLagMs: maxLagSeconds * 1000, tree, onEvent: recorded.onEvent })));
    if (Either.isLeft(report)) {
      console.error(`zt audit verify: cannot read the store: ${report.left.message}`);
      return 2;
    }
    let chain: ChainAuditReport | undefined;
    if (report.right.ok && target !== undefined) {
      const audited = await Effect.runPromise(
        ledgerAt(target.rpcUrl, target.contract).pipe(
          Effect.flatMap((ledger) =>
            auditAgainstChain({
              ledger,
              log: { size: tree.size, rootAt: (size) => { const root = tree.root(size); return root === undefined ? undefined : bytesToHex(root); } },
              recordedTargets: recorded.targets(),
              ...target,
              ...(maxUnanchored === undefined ? {} : { maxUnanchored }),
              ...(maxAnchorAge === undefined ? {} : { maxAnchorAgeSeconds: maxAnchorAge }),
            }),
          ),
          Effect.either,
        ),
      );
      if (Either.isLeft(audited)) {
        console.error(`zt audit verify: cannot read the chain: ${typeof audited.left === "string" ? audited.left : audited.left.message}`);
        return 2;
      }
      chain = audited.right;
    }
    const ok = report.right.ok && (chain === undefined || chain.ok);
    if (values["json"] === true) {
      console.log(JSON.stringify({ ...report.right, ok, ...(chain === undefined ? {} : { chain }) }, null, 2));
    } else {
      printReport(report.right, false);
      if (chain !== undefined) printChainReport(chain);
    }
    return ok ? 0 : 1;
  } finally {
    await runtime.dispose();
  }
}

async function proof(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { store: { type: "string" } }, 1);
  const decisionId = positionals[0];
  if (decisionId === undefined || !DECISION_ID.test(decisionId)) throw new UsageError("zt audit proof needs a decision id (dec_...)");
  const runtime = storeRuntime(configFor(text(values, "store")));
  try {
    const result = await runtime.runPromise(Effect.either(inclusionProofFor(decisionId)));
    if (Either.isLeft(result)) {
      console.error(`zt audit proof: cannot read the store: ${result.left.message}`);
      return 2;
    }
    if (Either.isLeft(result.right)) {
      console.error(`zt audit proof: ${result.right.left.message}`);
      return result.right.left.kind === "not_found" ? 2 : 1;
    }
    console.log(JSON.stringify(result.right.right.proof, null, 2));
    return 0;
  } finally {
    await runtime.dispose();
  }
}

const Hex32 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));

/** An RFC 9162 consistency proof (GET /audit/consistency's answer): from `--consistency FILE`, else the proof file's `consistency` member. */
const ConsistencyFile = Schema.Struct({ from: Schema.Int, to: Schema.Int, proof: Schema.Array(Hex32) });

function consistencyFrom(path: string | undefined, proofFile: unknown) {
  let json: unknown = (proofFile as { consistency?: unknown } | null)?.consistency;
  if (path !== undefined) {
    try {
      json = JSON.parse(readFileSync(resolve(path), "utf8"));
    } catch {
      throw new UsageError(`${path}: cannot read a JSON consistency proof`);
    }
  }
  if (json === undefined) return undefined;
  const decoded = Schema.decodeUnknownEither(ConsistencyFile)(json, { onExcessProperty: "ignore" });
  if (Either.isLeft(decoded)) throw new UsageError("not a consistency proof {from, to, proof: [hex...]}");
  return decoded.right;
}

async function checkProof(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { keys: { type: "string" }, json: { type: "boolean" }, consistency: { type: "string" }, ...CHAIN_FLAGS }, 1);

  const file = positionals[0];
  if (file === undefined) throw new UsageError("zt audit check-proof needs a proof file");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(resolve(file), "utf8"));
  } catch {
    throw new UsageError(`${file}: cannot read a JSON proof`);
  }
  const named = (raw as { anchor?: { contract?: unknown } | null } | null)?.anchor?.contract;
  const target = chainTarget(values, typeof named === "string" ? named : undefined);
  const keysPath = text(values, "keys") ?? defaultKeysPath(configFor(undefined));
  const hasCheckpoint = typeof (raw as { checkpoint?: unknown } | null)?.checkpoint === "string";
  const keys = hasCheckpoint && (text(values, "keys") !== undefined || existsSync(keysPath)) ? readAuditKeys(resolve(keysPath)) : null;
  const offline = await checkInclusionProof(raw, keys, makeWebCryptoVerifier());
  const checks: Array<{ name: string; ok: boolean; detail?: string }> = [...offline.checks];
  // A proof that is well-formed names its checkpoint: that is what the chain must hold.
  const checkpoint = offline.checkpoint;
  if (checkpoint !== null && target !== undefined) {
    const bytes = (hex: string) => hexToBytes(hex) ?? new Uint8Array(0);
    const consistency = consistencyFrom(text(values, "consistency"), raw);
    const onChain = await Effect.runPromise(
      ledgerAt(target.rpcUrl, target.contract).pipe(
        Effect.flatMap((ledger) => chainAnchors(ledger, target)),
        Effect.map(({ anchors }) =>
          proofAgainstChain(
            anchors,
            { treeSize: checkpoint.tree_size, root: checkpoint.root },
            consistency === undefined
              ? undefined
              : (to) =>
                  consistency.from === checkpoint.tree_size &&
                  consistency.to === to.treeSize &&
                  verifyConsistency(checkpoint.tree_size, to.treeSize, bytes(checkpoint.root), bytes(to.root), consistency.proof.map(bytes)).ok,
          ),
        ),
        Effect.catchAll((error) => Effect.succeed({ ok: false, detail: typeof error === "string" ? error : `cannot read the chain (${error.reason})` })),
      ),
    );
    checks.push({ name: "anchored_on_chain", ok: onChain.ok, detail: onChain.detail });
  }
  const ok = checks.every((c) => c.ok);
  if (values["json"] === true) console.log(JSON.stringify({ ok, checks }, null, 2));
  else {
    console.log(`zt audit check-proof: ${ok ? "OK" : "FAILED"}`);
    for (const c of checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
  }
  return ok ? 0 : 1;
}

/** `zt audit verify --bundle FILE`: nothing but the file, and the auditor's keys when given. */
async function verifyBundleFile(path: string, keysPath: string | undefined, json: boolean): Promise<number> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(resolve(path));
  } catch {
    throw new UsageError(`${path}: cannot read the bundle`);
  }
  const trustedKeys = keysPath === undefined ? undefined : readAuditKeys(resolve(keysPath));
  const report = await verifyBundle(bytes, trustedKeys === undefined ? {} : { trustedKeys });
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }
  const range = report.from_seq === null ? "" : ` records ${report.from_seq}..${report.to_seq}`;
  if (report.failure === null) {
    console.log(`zt audit verify --bundle: OK (${report.records} records and events${range}, ${report.decisions} decisions, ${report.checkpoints} checkpoints)`);
    const last = report.last_checkpoint;
    if (last !== null) console.log(`  last checkpoint: ${last.batch_id}, tree size ${last.tree_size}, root ${last.root}`);
  } else {
    const { part, kind, line, seq, message } = report.failure;
    const where = [line === null ? undefined : `line ${line}`, seq === null ? undefined : `record seq ${seq}`].filter(Boolean).join(", ");
    console.log(`zt audit verify --bundle: FAILED in part "${part}"${where ? ` (${where})` : ""}: ${kind}: ${message}`);
  }
  for (const key of report.keys) {
    console.log(`  audit key ${key.key_id} (public key ${key.public_key}): ${key.pinned ? "one of the keys given (--keys)" : "taken from the bundle; pin it with --keys to trust no one"}`);
  }
  for (const anchor of report.anchors) {
    const tx = anchor.tx_hash === null ? "" : `, tx ${anchor.tx_hash}${anchor.block_number === null ? "" : ` in block ${anchor.block_number}`}`;
    console.log(`  anchor of ${anchor.batch_id}: ${anchor.status}${anchor.chain_id === null ? "" : ` on chain ${anchor.chain_id}, DAAL ${anchor.contract}`}${tx} (as the audit key recorded it; check the chain with zt audit check-proof --rpc)`);
  }
  return report.ok ? 0 : 1;
}

/** `zt audit export`: a bundle of the store's log, from the store itself. */
async function exportCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: "string" }, store: { type: "string" }, keys: { type: "string" }, "from-seq": { type: "string" }, "to-seq": { type: "string" } });
  const out = resolve(required(values, "out"));
  if (existsSync(out)) throw new UsageError(`${out} exists; the export never overwrites a file`);
  const fromSeq = number(values, "from-seq");
  const toSeq = number(values, "to-seq");
  const config = configFor(text(values, "store"));
  const auditKeys = readAuditKeys(resolve(text(values, "keys") ?? defaultKeysPath(config)));
  const runtime = storeRuntime(config);
  try {
    const exported = await runtime.runPromise(Effect.either(exportBundle({ auditKeys, ...(fromSeq === undefined ? {} : { fromSeq }), ...(toSeq === undefined ? {} : { toSeq }) })));
    if (Either.isLeft(exported)) {
      console.error(`zt audit export: cannot read the store: ${exported.left.message}`);
      return 2;
    }
    if (Either.isLeft(exported.right)) throw new UsageError(exported.right.left.message);
    const bundle = exported.right.right;
    // Written whole or not at all: a partial bundle never sits under the name asked for.
    const partial = `${out}.partial-${process.pid}`;
    writeFileSync(partial, bundle.bytes, { flag: "wx", mode: 0o644 });
    renameSync(partial, out);
    console.log(
      `zt audit export: wrote ${out}: records ${bundle.fromSeq}..${bundle.toSeq} (${bundle.events} events), ${bundle.checkpoints} checkpoints, ${bundle.anchorEvents} anchoring events, ${bundle.bytes.length} bytes`,
    );
    return 0;
  } finally {
    await runtime.dispose();
  }
}

export async function runAuditCommand(command: "verify" | "proof" | "check-proof" | "export", args: string[]): Promise<number> {
  if (command === "verify") return verify(args);
  if (command === "proof") return proof(args);
  if (command === "export") return exportCommand(args);
  return checkProof(args);
}
