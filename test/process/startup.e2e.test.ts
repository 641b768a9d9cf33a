/**
 * How `node src/main.ts` starts, and how it refuses to: a policy bundle that does not
 * parse or validate, production without keys, and bad configuration all exit 2 with a
 * message naming the cause (contract sections 1-3); the development bootstrap writes its
 * credentials once, with only token hashes outside dev-credentials.json.
 */
import assert from "node:assert/strict";
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { tokenHash } from "../../src/identity/Credentials.ts";
import { randomSeed, signingKeyFromSeed, writeKeyPair } from "../../src/identity/KeyFile.ts";
import { EXAMPLE_POLICY_DIR, readDevCredentials, tempDir } from "../support/harness.ts";
import { killAllChildren, runMain, spawnServer, type Completed } from "../support/spawnServer.ts";

const scratch: string[] = [];
function scratchDir(prefix: string): string {
  const dir = tempDir(prefix);
  scratch.push(dir);
  return dir;
}
after(async () => {
  await killAllChildren();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the example bundle with one file's line `line` (1-based) replaced. */
function brokenBundle(file: string, line: number, replacement: string): string {
  const dir = scratchDir("zt-policy-");
  cpSync(EXAMPLE_POLICY_DIR, dir, { recursive: true });
  const lines = readFileSync(join(dir, file), "utf8").split("\n");
  assert.ok(line <= lines.length, `${file} has no line ${line}`);
  lines[line - 1] = replacement;
  writeFileSync(join(dir, file), lines.join("\n"));
  return dir;
}

function assertRefused(run: Completed, pattern: RegExp): void {
  assert.equal(run.signal, null, `exited by itself, not by ${run.signal}`);
  assert.equal(run.code, 2, `exit code 2 expected\nstderr:\n${run.stderr}\nstdout:\n${run.stdout}`);
  assert.match(run.stderr, pattern);
  assert.doesNotMatch(run.stdout, /zt-infra listening/);
}

/** Runs main against a broken bundle on an empty data dir: exit 2 naming file and line, nothing written. */
async function assertBundleRefused(policyDir: string, where: RegExp): Promise<Completed> {
  const dataDir = scratchDir("zt-data-");
  const run = await runMain({ ZT_DATA_DIR: dataDir, ZT_POLICY_DIR: policyDir });
  assertRefused(run, where);
  assert.match(run.stderr, /does not load/);
  assert.deepEqual(readdirSync(dataDir), [], "a bundle that does not load writes nothing to the data dir");
  return run;
}

describe("a policy bundle that does not load stops startup with exit 2, naming file and line", () => {
  test("a Cedar syntax error", async () => {
    const dir = brokenBundle("desk-7.cedar", 4, '@id("desk7-swap-solana-mainnet") permit ( principal === oops');
    await assertBundleRefused(dir, /desk-7\.cedar:4:\d+: .*unexpected token/);
  });

  test("invalid JSON in policy.json", async () => {
    const dir = brokenBundle("policy.json", 7, '  "permits": {,');
    await assertBundleRefused(dir, /policy\.json:7:\d+: invalid JSON/);
  });

  test("a Cedar policy reading an attribute the schema lacks", async () => {
    const dir = brokenBundle("desk-7.cedar", 10, 'when { resource.owner == "desk-7" };');
    await assertBundleRefused(dir, /desk-7\.cedar:10:\d+: .*attribute `owner`/);
  });

  test("a manifest field of the wrong type", async () => {
    const dir = brokenBundle("policy.json", 6, '    "max_ttl_seconds": "300",');
    await assertBundleRefused(dir, /policy\.json: \$\.permits\.max_ttl_seconds/);
  });

  test("a missing policy directory", async () => {
    await assertBundleRefused(join(scratchDir("zt-policy-"), "absent"), /cannot read the bundle directory/);
  });
});

describe("configuration that cannot work exits 2 naming the variable", () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ["ZT_PORT=abc", { ZT_PORT: "abc" }, /ZT_PORT must be an integer/],
    ["ZT_PORT=70000", { ZT_PORT: "70000" }, /ZT_PORT must be an integer in \[0, 65535\]/],
    ["ZT_STORE=ftp://x", { ZT_STORE: "ftp://x" }, /ZT_STORE must be sqlite:PATH or esdb:/],
    ["ZT_ENV=staging", { ZT_ENV: "staging" }, /ZT_ENV must be development or production/],
    ["ZT_CHAIN=mars", { ZT_CHAIN: "mars" }, /ZT_CHAIN must be local, off or an http\(s\) RPC URL/],
  ];
  for (const [name, env, pattern] of cases) {
    test(name, async () => {
      const dataDir = scratchDir("zt-data-");
      const run = await runMain({ ZT_DATA_DIR: dataDir, ...env });
      assertRefused(run, pattern);
      assert.deepEqual(readdirSync(dataDir), [], "bad configuration writes nothing");
    });
  }
});

test("ZT_STORE=esdb://... with no server there exits 2 naming EventStoreDB unavailable, and there is no silent fallback to SQLite", async () => {
  // A loopback port nothing listens on (2113 may be a developer's real EventStoreDB).
  const probe = createServer();
  await new Promise<void>((listening) => probe.listen(0, "127.0.0.1", listening));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((closed) => probe.close(closed));
  const dataDir = scratchDir("zt-data-");
  const run = await runMain({ ZT_DATA_DIR: dataDir, ZT_STORE: `esdb://127.0.0.1:${port}?tls=false` });
  assertRefused(run, /EventStoreDB ping failed: the server is unavailable/);
  assert.equal(existsSync(join(dataDir, "events.db")), false);
});

test("a port already in use exits 2 naming the address", async () => {
  const blocker = createServer();
  await new Promise<void>((listening) => blocker.listen(0, "127.0.0.1", listening));
  try {
    const port = (blocker.address() as AddressInfo).port;
    const run = await runMain({ ZT_DATA_DIR: scratchDir("zt-data-"), ZT_PORT: String(port) });
    assertRefused(run, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
  } finally {
    await new Promise((closed) => blocker.close(closed));
  }
});

test("ZT_ENV=production on an empty data dir exits 2 naming the missing files and writes nothing", async () => {
  const parent = scratchDir("zt-prod-");
  const dataDir = join(parent, "data");
  const run = await runMain({ ZT_DATA_DIR: dataDir, ZT_ENV: "production" });
  assertRefused(run, /ZT_ENV=production never generates keys or tokens/);
  for (const missing of ["keys/issuer.key.json", "keys/audit.key.json", "tokens.json"]) {
    assert.ok(run.stderr.includes(join(dataDir, missing)), `stderr names ${missing}:\n${run.stderr}`);
  }
  assert.equal(existsSync(dataDir), false, `production created ${dataDir}: ${existsSync(dataDir) ? readdirSync(dataDir).join(", ") : ""}`);
});

test("development bootstrap writes credentials once (0600, hashes only in tokens.json), and a restart reuses them", async () => {
  const dataDir = scratchDir("zt-dev-");
  const first = await spawnServer({ dataDir });
  let credentials: string;
  try {
    credentials = join(dataDir, "dev-credentials.json");
    assert.equal(statSync(credentials).mode & 0o777, 0o600, "dev-credentials.json is mode 0600");
    const file = JSON.parse(readFileSync(credentials, "utf8"));
    assert.deepEqual(Object.keys(file).sort(), ["agents", "operator_token", "operators"]);
    assert.deepEqual(Object.keys(file.agents).sort(), ["agent:desk-7", "agent:ops-1"]);
    assert.deepEqual(Object.keys(file.operators), ["operator:alice", "operator:bob"]);
    const tokens = readDevCredentials(dataDir);
    assert.equal(tokens.operator, tokens.alice, "the v1 operator_token is the first named operator's");
    for (const token of [tokens.operator, tokens.bob, tokens.desk7, tokens.ops1]) assert.match(token, /^\S{32,}$/);
    assert.equal(new Set([tokens.operator, tokens.bob, tokens.desk7, tokens.ops1]).size, 4, "four distinct tokens");

    const hashes = readFileSync(join(dataDir, "tokens.json"), "utf8");
    assert.equal(statSync(join(dataDir, "tokens.json")).mode & 0o777, 0o600, "tokens.json is mode 0600");
    assert.deepEqual(JSON.parse(hashes), {
      operators: { "operator:alice": [tokenHash(tokens.alice)], "operator:bob": [tokenHash(tokens.bob)] },
      agents: { "agent:desk-7": [tokenHash(tokens.desk7)], "agent:ops-1": [tokenHash(tokens.ops1)] },
    });
    for (const token of [tokens.operator, tokens.bob, tokens.desk7, tokens.ops1]) {
      assert.ok(!hashes.includes(token), "tokens.json holds no token in clear");
      assert.ok(!first.stdout().includes(token) && !first.stderr().includes(token), "no token is logged");
    }
    for (const key of ["issuer", "audit"]) {
      assert.equal(statSync(join(dataDir, "keys", `${key}.key.json`)).mode & 0o777, 0o600, `keys/${key}.key.json is mode 0600`);
      const privateKey = JSON.parse(readFileSync(join(dataDir, "keys", `${key}.key.json`), "utf8")).private_key as string;
      assert.ok(!first.stdout().includes(privateKey) && !first.stderr().includes(privateKey), "no private key is logged");
    }
    assert.match(first.stdout(), /development bootstrap wrote a credential file.*dev-credentials\.json/, "the bootstrap says where it wrote");

    const ops = await first.request("POST", "/actions", { token: tokens.ops1, json: { actor: "agent:ops-1", action: "quote.read", resource: "solana:mainnet/x" } });
    assert.equal(ops.status, 403, ops.text);
    assert.equal(ops.json.reason, "policy_denied");
    const exit = await first.stop();
    assert.equal(exit.code, 0, first.stderr());
  } finally {
    await first.kill();
  }

  const before = readFileSync(credentials, "utf8");
  const keysBefore = readFileSync(join(dataDir, "keys", "issuer.key.json"), "utf8");
  const second = await spawnServer({ dataDir });
  try {
    assert.equal(readFileSync(credentials, "utf8"), before, "a second start leaves dev-credentials.json alone");
    assert.equal(readFileSync(join(dataDir, "keys", "issuer.key.json"), "utf8"), keysBefore, "and the issuer key");
    assert.doesNotMatch(second.stdout(), /development bootstrap wrote/);
    const tokens = readDevCredentials(dataDir);
    const quote = await second.request("POST", "/actions", {
      token: tokens.desk7,
      json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca" },
    });
    assert.equal(quote.status, 200, quote.text);
    assert.equal(quote.json.status, "allowed");
    const metrics = await second.request("GET", "/metrics", { token: tokens.operator });
    assert.equal(metrics.status, 200, metrics.text);
    const unknown = await second.request("GET", "/metrics", { token: "zt_not-a-token" });
    assert.equal(unknown.status, 401);
  } finally {
    await second.stop();
  }
});

describe("production key hygiene (contract section 7): refuse to start, exit 2, naming the problem", () => {
  /** A production data dir: separate issuer and audit keys, tokens.json, all 0600. */
  function productionDataDir(options: { readonly sameKey?: boolean } = {}): string {
    const dataDir = join(scratchDir("zt-prod-"), "data");
    const issuer = signingKeyFromSeed(randomSeed(), "permit");
    writeKeyPair(join(dataDir, "keys", "issuer"), issuer);
    writeKeyPair(join(dataDir, "keys", "audit"), signingKeyFromSeed(options.sameKey ? issuer.seed : randomSeed(), "audit"));
    writeFileSync(join(dataDir, "tokens.json"), JSON.stringify({ operator: [tokenHash("op-token")], agents: { "agent:desk-7": [tokenHash("desk-token")] } }), { mode: 0o600 });
    return dataDir;
  }

  test("the audit key is the permit-issuer key", async () => {
    const run = await runMain({ ZT_DATA_DIR: productionDataDir({ sameKey: true }), ZT_ENV: "production", ZT_CHAIN: "off" });
    assertRefused(run, /ZT_ENV=production refuses to start: the audit key \(zt-[0-9a-f]{16}\) is also a trusted permit-issuer key/);
  });

  for (const file of ["keys/issuer.key.json", "keys/audit.key.json", "tokens.json"]) {
    test(`${file} is readable by others (0644)`, async () => {
      const dataDir = productionDataDir();
      chmodSync(join(dataDir, file), 0o644);
      const run = await runMain({ ZT_DATA_DIR: dataDir, ZT_ENV: "production", ZT_CHAIN: "off" });
      assertRefused(run, new RegExp(`${join(dataDir, file).replace(/[.]/g, "\\.")} is readable or writable by group or others \\(mode 0644\\); chmod 600 it`));
      assert.equal(existsSync(join(dataDir, "events.db")), false, "nothing is created");
    });
  }

  test("a clean production data dir starts; the event store is created 0600 in a 0700 directory", async () => {
    const dataDir = productionDataDir();
    const storeDir = join(scratchDir("zt-store-"), "fresh");
    const server = await spawnServer({ dataDir, env: { ZT_ENV: "production", ZT_CHAIN: "off", ZT_STORE: `sqlite:${join(storeDir, "events.db")}` } });
    try {
      const quote = await server.request("POST", "/actions", { token: "desk-token", json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x" } });
      assert.equal(quote.status, 200, quote.text);
      assert.equal(statSync(storeDir).mode & 0o777, 0o700, "the store's directory is 0700");
      for (const name of readdirSync(storeDir)) assert.equal(statSync(join(storeDir, name)).mode & 0o777, 0o600, `${name} is 0600`);
      assert.ok(readdirSync(storeDir).includes("events.db-wal"), "the WAL exists and was checked");
    } finally {
      await server.stop();
    }
  });
});
