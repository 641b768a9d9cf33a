/**
 * Micro benchmarks of the decision path's pure parts, medians over repeated rounds in
 * one run: ed25519 verify (@noble/ed25519 vs WebCrypto), Cedar evaluation against the
 * preparsed example bundle, JCS + sha256 of a typical receipt. `npm run bench`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Either } from "effect";
import { makeWebCryptoVerifier, publicKeyFromSeed, sign, verify } from "../src/kernel/ed25519.ts";
import { receiptHash } from "../src/decisions/receipt.ts";
import { compilePolicyBundle } from "../src/policy/PolicyBundle.ts";

const ROUNDS = 7;

async function measure(name: string, perRound: number, body: () => unknown | Promise<unknown>): Promise<{ name: string; opsPerSecond: number }> {
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    for (let i = 0; i < perRound; i++) await body();
    rates.push(perRound / ((performance.now() - started) / 1000));
  }
  rates.sort((a, b) => a - b);
  return { name, opsPerSecond: rates[Math.floor(ROUNDS / 2)] ?? 0 };
}

const seed = crypto.getRandomValues(new Uint8Array(32));
const publicKey = publicKeyFromSeed(seed);
const message = new TextEncoder().encode(JSON.stringify({ permit_id: "permit_x", nonce: crypto.randomUUID(), constraints: { max_notional_usd: 10000 } }));
const signature = sign(message, seed);
const webCryptoVerify = makeWebCryptoVerifier();

const policyDir = fileURLToPath(new URL("../policies/", import.meta.url));
const bundle = compilePolicyBundle(readdirSync(policyDir).map((path) => ({ path, bytes: new Uint8Array(readFileSync(join(policyDir, path))) })));
if (Either.isLeft(bundle)) throw new Error("example bundle does not compile");

const results = [
  await measure("ed25519 verify, @noble/ed25519 (zip215: false)", 300, () => verify(signature, message, publicKey)),
  await measure("ed25519 verify, WebCrypto", 3000, () => webCryptoVerify(signature, message, publicKey)),
  await measure("Cedar isAuthorized, preparsed example bundle", 3000, () =>
    bundle.right.authorize({ actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", context: {} }),
  ),
  await measure("receipt_hash (JCS + sha256)", 20000, () =>
    receiptHash({
      policy_id: "policy_mainnet_v1",
      permit_id: "permit_01J9QJ",
      intent_hash: "a".repeat(64),
      decision: "allowed",
      invariant_checks: Array.from({ length: 17 }, (_, i) => ({ name: `check_${i}`, ok: true })),
      timestamp: "2026-02-23T18:40:00.123Z",
    }),
  ),
];

console.log(`| benchmark (median of ${ROUNDS} rounds, ${process.version}) | ops/s |`);
console.log("|---|---:|");
for (const r of results) console.log(`| ${r.name} | ${Math.round(r.opsPerSecond).toLocaleString("en-US")} |`);
const [noble, webcrypto] = results;
if (noble && webcrypto) console.log(`\nWebCrypto / noble verify ratio: ${(webcrypto.opsPerSecond / noble.opsPerSecond).toFixed(1)}x`);
