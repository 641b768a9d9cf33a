/**
 * The `zt` CLI as a child process (contract section 6): key generation, offline permit
 * issuance whose signature verifies with node:crypto alone and which a server accepts
 * once the issuer is trusted, and exit code 2 with a message on stderr for bad usage.
 * No output of any run may carry private key material.
 */
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import canonicalize from "canonicalize";
import { examplePolicyWith, makeHarness, SEED_CONSTRAINTS, swapRequest, tempDir } from "../support/harness.ts";
import { killAllChildren, runZt, type Completed } from "../support/spawnServer.ts";

const root = tempDir("zt-cli-");
after(async () => {
  await killAllChildren();
  rmSync(root, { recursive: true, force: true });
});

/** Every private key file under `dir`, recursively. */
function privateKeyFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".key.json"))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The encodings in which a leaked seed could show up. */
function seedEncodings(file: string): string[] {
  const seed = Buffer.from(JSON.parse(readFileSync(file, "utf8")).private_key as string, "base64url");
  assert.equal(seed.length, 32, `${file} holds a 32-byte seed`);
  return [seed.toString("base64url"), seed.toString("base64").replace(/=+$/, ""), seed.toString("hex")];
}

/** Runs `zt ARGS` (cwd: the repository) and checks that no private key under `root` appears in its output. */
async function zt(...args: string[]): Promise<Completed> {
  const run = await runZt(args);
  assert.equal(run.signal, null, `zt ${args.join(" ")} was killed by ${run.signal}`);
  for (const file of privateKeyFiles(root)) {
    for (const secret of seedEncodings(file)) {
      assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), `zt ${args.join(" ")} printed the private key of ${file}`);
    }
  }
  return run;
}

function assertUsageError(run: Completed, pattern: RegExp): void {
  assert.equal(run.code, 2, `exit code 2 expected\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  assert.match(run.stderr, pattern);
  assert.equal(run.stdout, "", "nothing on stdout when refusing");
  assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
}

/** Runs independent refusals concurrently (each is a ~0.5 s process start), then checks each. */
async function assertUsageErrors(cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]>): Promise<void> {
  const runs = await Promise.all(cases.map(([args]) => zt(...args)));
  runs.forEach((run, index) => assertUsageError(run, cases[index]![1]));
}

function readJson(path: string): any {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** key_id as KeyFile.ts documents it: `zt-` + the first 16 hex of sha256(public key). */
function expectedKeyId(publicKeyBase64Url: string): string {
  return `zt-${createHash("sha256").update(Buffer.from(publicKeyBase64Url, "base64url")).digest("hex").slice(0, 16)}`;
}

function verifyPermitSignature(permit: Record<string, unknown>, publicKeyBase64Url: string): boolean {
  const { signature, ...unsigned } = permit;
  assert.equal(typeof signature, "string");
  assert.match(signature as string, /^ed25519:[A-Za-z0-9_-]{86}$/);
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKeyBase64Url }, format: "jwk" });
  const message = Buffer.from(canonicalize(unsigned)!, "utf8");
  return verify(null, message, key, Buffer.from((signature as string).slice("ed25519:".length), "base64url"));
}

const keysDir = join(root, "keys");
const issueArgs = (key: string, ...extra: string[]) => [
  "permit", "issue", "--key", key, "--subject", "agent:desk-7", "--scope", "swap.execute",
  "--max-notional-usd", "10000", "--max-slippage-bps", "40", "--protocols", "jupiter,orca", "--ttl", "60", ...extra,
];

describe("zt keys generate", () => {
  test("writes a permit-issuer pair: the private file mode 0600, matching key ids, no secret printed", async () => {
    const run = await zt("keys", "generate", "--out", keysDir);
    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout);
    const privateFile = join(keysDir, "issuer.key.json");
    const publicFile = join(keysDir, "issuer.pub.json");
    assert.deepEqual(printed, { key_id: printed.key_id, use: "permit", private_key_file: privateFile, public_key_file: publicFile });
    assert.equal(statSync(privateFile).mode & 0o777, 0o600, "the private key file is mode 0600");
    assert.equal(statSync(publicFile).mode & 0o077 & 0o022, 0, "the public key file is not group/other writable");

    const secret = readJson(privateFile);
    const pub = readJson(publicFile);
    assert.deepEqual(Object.keys(pub).sort(), ["alg", "key_id", "public_key", "use"], "the public file holds no private half");
    assert.equal(pub.alg, "Ed25519");
    assert.equal(pub.use, "permit");
    assert.equal(secret.key_id, pub.key_id);
    assert.equal(secret.public_key, pub.public_key);
    assert.equal(printed.key_id, pub.key_id);
    assert.equal(pub.key_id, expectedKeyId(pub.public_key));
    // The private half really is the seed of that public key.
    const jwk = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: pub.public_key }, format: "jwk" }).export({ format: "jwk" });
    assert.equal(jwk.x, pub.public_key);
  });

  test("--use audit writes an audit pair", async () => {
    const run = await zt("keys", "generate", "--out", keysDir, "--use", "audit");
    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout);
    assert.equal(printed.use, "audit");
    const pub = readJson(join(keysDir, "audit.pub.json"));
    assert.equal(pub.use, "audit");
    assert.equal(pub.key_id, printed.key_id);
    assert.equal(readJson(join(keysDir, "audit.key.json")).key_id, printed.key_id);
    assert.equal(statSync(join(keysDir, "audit.key.json")).mode & 0o777, 0o600);
  });

  test("refuses to overwrite an existing key file, and leaves no half pair", async () => {
    const before = readFileSync(join(keysDir, "issuer.key.json"), "utf8");
    assertUsageError(await zt("keys", "generate", "--out", keysDir), /issuer\.key\.json already exists; refusing to overwrite/);
    assert.equal(readFileSync(join(keysDir, "issuer.key.json"), "utf8"), before, "the existing key is untouched");

    // Only the public half present: still refused, and no private file appears beside it.
    const lone = join(root, "lone");
    mkdirSync(lone);
    copyFileSync(join(keysDir, "issuer.pub.json"), join(lone, "other.pub.json"));
    assertUsageError(await zt("keys", "generate", "--out", lone, "--name", "other"), /other\.pub\.json already exists/);
    assert.deepEqual(readdirSync(lone), ["other.pub.json"]);
  });

  test("bad usage exits 2", async () => {
    await assertUsageErrors([
      [["keys", "generate"], /--out is required/],
      [["keys", "generate", "--out", join(root, "x"), "--use", "signing"], /--use must be permit or audit/],
      [["keys", "generate", "--out", join(root, "x"), "--name", "../escape"], /--name must be a plain file name/],
    ]);
  });
});

describe("zt permit issue", () => {
  test("prints a permit whose Ed25519 signature verifies over the JCS of the permit without signature", async () => {
    const run = await zt(...issueArgs(join(keysDir, "issuer.key.json")));
    assert.equal(run.code, 0, run.stderr);
    const permit = JSON.parse(run.stdout);
    const pub = readJson(join(keysDir, "issuer.pub.json"));
    assert.deepEqual(Object.keys(permit).sort(), [
      "constraints", "expires_at", "issued_at", "key_id", "nonce", "permit_id", "policy_id", "scope", "signature", "subject",
    ]);
    assert.equal(permit.subject, "agent:desk-7");
    assert.equal(permit.scope, "swap.execute");
    assert.equal(permit.policy_id, "policy_mainnet_v1");
    assert.equal(permit.key_id, pub.key_id);
    assert.deepEqual(permit.constraints, { max_notional_usd: 10000, max_slippage_bps: 40, protocol_allowlist: ["jupiter", "orca"] });
    assert.match(permit.permit_id, /^permit_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.match(permit.nonce, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(Date.parse(permit.expires_at) - Date.parse(permit.issued_at), 60_000);
    assert.ok(Math.abs(Date.parse(permit.issued_at) - Date.now()) < 10_000, "issued now");

    assert.equal(verifyPermitSignature(permit, pub.public_key), true, "the signature verifies");
    // The check is not vacuous: one changed field or another key breaks it.
    assert.equal(verifyPermitSignature({ ...permit, subject: "agent:ops-1" }, pub.public_key), false);
    assert.equal(verifyPermitSignature(permit, readJson(join(keysDir, "audit.pub.json")).public_key), false);
  });

  test("the permit is refused as unknown_issuer, then accepted once its public key is in keys/trusted-issuers/", async () => {
    const run = await zt(...issueArgs(join(keysDir, "issuer.key.json")));
    assert.equal(run.code, 0, run.stderr);
    const permit = JSON.parse(run.stdout);
    const dataDir = join(root, "server");

    const untrusting = await makeHarness({ dataDir });
    try {
      assert.equal((await untrusting.putSnapshot({ SOL: 142.1 })).status, 200);
      const refused = await untrusting.request("POST", "/actions", { token: untrusting.tokens.desk7, json: swapRequest({ permit }) });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.json.reason, "unknown_issuer");
    } finally {
      await untrusting.close({ keepData: true });
    }

    mkdirSync(join(dataDir, "keys", "trusted-issuers"), { recursive: true });
    copyFileSync(join(keysDir, "issuer.pub.json"), join(dataDir, "keys", "trusted-issuers", "desk-issuer.pub.json"));
    const trusting = await makeHarness({ dataDir });
    try {
      const keys = await trusting.request("GET", "/keys");
      assert.ok(
        keys.json.keys.some((k: { key_id: string; use: string }) => k.key_id === permit.key_id && k.use === "permit"),
        `GET /keys lists the trusted issuer: ${keys.text}`,
      );
      assert.equal((await trusting.putSnapshot({ SOL: 142.1 })).status, 200);
      const allowed = await trusting.request("POST", "/actions", { token: trusting.tokens.desk7, json: swapRequest({ permit }) });
      assert.equal(allowed.status, 200, allowed.text);
      assert.equal(allowed.json.status, "allowed");
      assert.equal(allowed.json.permit_id, permit.permit_id);
      // Constraints signed offline are enforced: orca is allowed, raydium is not.
      const second = JSON.parse((await zt(...issueArgs(join(keysDir, "issuer.key.json")))).stdout);
      const raydium = await trusting.request("POST", "/actions", {
        token: trusting.tokens.desk7,
        json: swapRequest({ resource: "solana:mainnet/raydium", intent: { protocol: "raydium", asset: "SOL", amount: "1", slippage_bps: 10 }, permit: second }),
      });
      assert.equal(raydium.status, 403, raydium.text);
      assert.equal(raydium.json.reason, "protocol_not_allowed");
    } finally {
      await trusting.close({ keepData: true });
    }
  });

  test("--policy-dir names the bundle whose policy_id and limits apply", async () => {
    const bundle = examplePolicyWith((manifest) => {
      manifest.policy_id = "policy_cli_test";
      manifest.permits.max_ttl_seconds = 30;
    }, join(root, "bundle"));
    const key = join(keysDir, "issuer.key.json");
    const ok = await zt(...issueArgs(key).slice(0, -2), "--ttl", "30", "--policy-dir", bundle);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).policy_id, "policy_cli_test");
    assertUsageError(await zt(...issueArgs(key), "--policy-dir", bundle), /permit_ttl_too_long/);
    // The bundle requires every swap constraint: a permit without them would allow any size.
    assertUsageError(
      await zt("permit", "issue", "--key", key, "--subject", "agent:desk-7", "--scope", "swap.execute", "--ttl", "30", "--policy-dir", bundle),
      /permit_constraint_missing: the policy requires max_notional_usd, max_slippage_bps, protocol_allowlist/,
    );
    assertUsageError(
      await zt("permit", "issue", "--key", key, "--subject", "agent:desk-7", "--scope", "swap.execute", "--policy-dir", join(root, "no-such-bundle")),
      /policy bundle .*no-such-bundle does not load/,
    );
  });

  test("bad usage exits 2 with a message on stderr", async () => {
    const key = join(keysDir, "issuer.key.json");
    const notAKey = join(root, "not-a-key.json");
    writeFileSync(notAKey, JSON.stringify({ key_id: 1 }));
    await assertUsageErrors([
      [["permit", "issue", "--key", key, "--scope", "swap.execute"], /--subject is required/],
      [["permit", "issue", "--key", key, "--subject", "agent:desk-7"], /--scope is required/],
      [["permit", "issue", "--subject", "agent:desk-7", "--scope", "swap.execute"], /--key is required/],
      [[...issueArgs(key).slice(0, -2), "--ttl", "3000"], /permit_ttl_too_long: .*maximum 300/],
      [[...issueArgs(key).slice(0, -2), "--ttl", "soon"], /--ttl must be a number/],
      [[...issueArgs(key), "--max-notional-usd", "lots"], /--max-notional-usd must be a number/],
      [["permit", "issue", "--key", key, "--subject", "agent:desk-7", "--scope", "fly.plane"], /unknown_scope/],
      [[...issueArgs(key), "--bogus", "1"], /Unknown option '--bogus'/],
      [issueArgs(join(keysDir, "audit.key.json")), /is an audit key, not a permit-issuer key/],
      [issueArgs(join(keysDir, "issuer.pub.json")), /private_key is missing/],
      [issueArgs(join(root, "missing.key.json")), /cannot read key file \(ENOENT\)/],
      [issueArgs(notAKey), /not an Ed25519 key file/],
    ]);
  });
});

describe("zt", () => {
  test("help exits 0 and lists the commands", async () => {
    for (const run of await Promise.all([zt("help"), zt("--help"), zt()])) {
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /usage: zt <command>/);
      assert.match(run.stdout, /keys generate --out DIR/);
      assert.match(run.stdout, /permit issue --key FILE/);
      assert.match(run.stdout, /mcp connect --url URL --token-file FILE/);
      assert.equal(run.stderr, "");
    }
  });

  test("an unknown command, or zt serve with bad configuration, exits 2 with a message on stderr", async () => {
    const frob = await zt("frob");
    assertUsageError(frob, /zt: unknown command: frob/);
    assert.match(frob.stderr, /usage: zt <command>/);
    await assertUsageErrors([
      [["keys"], /unknown command: keys/],
      [["permit", "revoke"], /unknown command: permit revoke/],
      [["serve", "--port", "abc", "--data-dir", join(root, "serve")], /ZT_PORT must be an integer/],
      [["serve", "--nope"], /Unknown option '--nope'/],
    ]);
  });

  test("zt mcp connect: bad usage exits 2 with a message on stderr, never echoing the token file's content", async () => {
    const tokenFile = join(root, "agent.token");
    const notAToken = join(root, "not-a-token");
    writeFileSync(tokenFile, "zt_secret-token-value\n", { mode: 0o600 });
    writeFileSync(notAToken, "two words\nand-a-secret-value\n", { mode: 0o600 });
    await assertUsageErrors([
      [["mcp", "connect", "--token-file", tokenFile], /--url is required/],
      [["mcp", "connect", "--url", "http://127.0.0.1:8787/mcp"], /--token-file is required/],
      [["mcp", "connect", "--url", "not a url", "--token-file", tokenFile], /--url must be the URL of a gateway endpoint/],
      [["mcp", "connect", "--url", "ftp://127.0.0.1/mcp", "--token-file", tokenFile], /--url must be an http\(s\) URL/],
      [["mcp", "connect", "--url", "http://127.0.0.1:8787/mcp", "--token-file", join(root, "missing")], /cannot be read/],
      [["mcp", "connect", "--url", "http://127.0.0.1:8787/mcp", "--token-file", notAToken], /does not hold a bearer token/],
    ]);
    const run = await zt("mcp", "connect", "--url", "http://127.0.0.1:8787/mcp", "--token-file", notAToken);
    assert.doesNotMatch(run.stderr, /secret-value/);
  });

  test("the key files written above are the ones whose secrets were checked", () => {
    // Guards the leak check itself: it scanned real seeds, not an empty list.
    assert.ok(privateKeyFiles(root).length >= 2, `private key files under ${root}: ${privateKeyFiles(root).join(", ")}`);
  });
});
