/**
 * The contract deployer's path end to end on a real anvil, every step a real command as
 * a deployer types it (docs/deployers.md): the owner's key goes into the
 * Hardhat keystore (typed at the prompt, as is the keystore password);
 * `hardhat run scripts/deploy-daal.ts --network localhost` deploys DAAL through thirdweb
 * and writes the deployment record; the `daal` tasks allow the service's submitter,
 * retire the deployer as a submitter and hand ownership over in two steps (the new owner
 * with a keystore of its own); the service started on that address anchors a checkpoint,
 * `daal latest-checkpoint` reads it back and `zt audit verify --rpc --contract` passes;
 * `daal verify` verifies the source through Hardhat's verify plugin against a Sourcify
 * stand-in (the only stand-in: the remote API at its HTTP boundary). Last, no private key
 * appears in any output or in any file written on the way, the keystores aside.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPublicClient, createTestClient, getAddress, type Hex, http, parseEther, zeroAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { rpcChain } from "../../src/anchoring/adapters/rpc/rpcPublicClient.ts";
import { ANVIL_CHAIN_ID, type Anvil, setAnvilChainId, startAnvil } from "../support/anvil.ts";
import { REPO_ROOT, tempDir } from "../support/harness.ts";
import { type Completed, killAllChildren, runToExit, runZt, type ServerProcess, spawnServer } from "../support/spawnServer.ts";
import { type SourcifyStandIn, startSourcifyStandIn } from "../support/sourcifyStandIn.ts";
import { waitFor } from "../support/waitFor.ts";

const require = createRequire(import.meta.url);
const HARDHAT_CLI = join(dirname(require.resolve("hardhat/package.json")), "dist", "src", "cli.js");
const COMMAND_TIMEOUT_MS = 120_000;
/** Base Sepolia's chain id: the chain the verification rehearses. */
const BASE_SEPOLIA_CHAIN_ID = 84532;

/** Hardhat ignores the keystore when it sees one of these (a CI run); these commands stand for a deployer at a terminal. */
const CI_MARKERS = ["CI", "CONTINUOUS_INTEGRATION", "GITHUB_ACTIONS", "BUILD_NUMBER", "RUN_ID", "NOW", "DEPLOYMENT_ID", "CODEBUILD_BUILD_NUMBER"];

type Person = { readonly key: Hex; readonly address: Hex; readonly home: string; readonly password: string };

function person(password: string): Person {
  const key = generatePrivateKey();
  return { key, address: privateKeyToAccount(key).address, home: tempDir("zt-deployer-home-"), password };
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

describe("the contract deployer's path through Hardhat, on anvil", { timeout: 15 * COMMAND_TIMEOUT_MS }, () => {
  let anvil: Anvil;
  let chain: ReturnType<typeof createPublicClient>;
  let server: ServerProcess | undefined;
  let sourcify: SourcifyStandIn | undefined;
  const owner = person("owner keystore password");
  const newOwner = person("new owner keystore password");
  const submitterKey = generatePrivateKey();
  const submitter = privateKeyToAccount(submitterKey).address;
  const deploymentsDir = tempDir("zt-deployments-");
  const dataDir = tempDir("zt-deployed-service-");
  const outputs: string[] = [];
  let daal: Hex;
  let deployTxHash: Hex;

  /** `npx hardhat ARGS` as `who`, at a terminal: their Hardhat home (keystore), prompts answered in order. */
  async function hardhat(who: Person, args: ReadonlyArray<string>, answers: ReadonlyArray<string> = [], env: Record<string, string> = {}): Promise<Completed> {
    const run = await runToExit(process.execPath, [HARDHAT_CLI, ...args], {
      env: {
        ...Object.fromEntries(CI_MARKERS.map((name) => [name, undefined])),
        XDG_CONFIG_HOME: join(who.home, "config"),
        XDG_CACHE_HOME: join(who.home, "cache"),
        XDG_DATA_HOME: join(who.home, "data"),
        DAAL_OWNER_PRIVATE_KEY: undefined,
        LOCALHOST_RPC_URL: anvil.rpcUrl,
        ZT_DEPLOYMENTS_DIR: deploymentsDir,
        ...env,
      },
      answers,
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    outputs.push(run.stdout, run.stderr);
    return run;
  }

  const read = <const F extends "owner" | "pendingOwner">(functionName: F) => chain.readContract({ address: daal, abi: DAAL_ABI, functionName });
  const isSubmitter = (address: Hex) => chain.readContract({ address: daal, abi: DAAL_ABI, functionName: "isSubmitter", args: [address] });

  /** The transaction a task printed, checked on chain: mined, successful, sent by `from` to the DAAL. */
  async function printedTransaction(run: Completed, from: Hex) {
    const hash = /daal: transaction (0x[0-9a-f]{64})/.exec(run.stdout)?.[1] as Hex | undefined;
    assert.ok(hash !== undefined, `no transaction printed:\n${run.stdout}`);
    const receipt = await chain.getTransactionReceipt({ hash });
    assert.equal(receipt.status, "success");
    assert.equal(getAddress(receipt.from), from);
    assert.equal(getAddress(receipt.to!), daal);
    assert.match(run.stdout, new RegExp(`daal: confirmed in block ${receipt.blockNumber} `));
  }

  before(async () => {
    anvil = await startAnvil();
    chain = createPublicClient({ chain: rpcChain(ANVIL_CHAIN_ID), transport: http(anvil.rpcUrl) });
    const funder = createTestClient({ mode: "anvil", transport: http(anvil.rpcUrl) });
    for (const address of [owner.address, newOwner.address, submitter]) await funder.setBalance({ address, value: parseEther("100") });
  });

  after(async () => {
    await server?.kill();
    await sourcify?.close();
    await killAllChildren();
    await anvil?.stop();
    for (const dir of [owner.home, newOwner.home, deploymentsDir, dataDir]) rmSync(dir, { recursive: true, force: true });
  });

  test("keystore set: the owner types the key into an encrypted keystore of their own", async () => {
    const run = await hardhat(owner, ["keystore", "set", "DAAL_OWNER_PRIVATE_KEY"], [owner.password, owner.password, owner.key]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const keystore = filesUnder(join(owner.home, "config")).find((path) => path.endsWith("keystore.json"));
    assert.ok(keystore !== undefined, "no keystore.json written");
    assert.ok(!readFileSync(keystore, "utf8").toLowerCase().includes(owner.key.slice(2)), "the keystore holds the key in clear");
  });

  test("hardhat run scripts/deploy-daal.ts deploys DAAL through thirdweb and writes deployments/<chain id>.json", async () => {
    const run = await hardhat(owner, ["run", "scripts/deploy-daal.ts", "--network", "localhost"], [owner.password]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stderr, /deploy: DAAL to local at http:\/\/127\.0\.0\.1:\d+ \(thirdweb client: placeholder\)/);
    const record = JSON.parse(readFileSync(join(deploymentsDir, `${ANVIL_CHAIN_ID}.json`), "utf8")) as Record<string, unknown>;
    assert.equal(record["chain_id"], ANVIL_CHAIN_ID);
    assert.equal(record["owner"], owner.address);
    assert.deepEqual(record["submitters"], [owner.address]);
    daal = record["daal_address"] as Hex;
    deployTxHash = record["tx_hash"] as Hex;
    const receipt = await chain.getTransactionReceipt({ hash: deployTxHash });
    assert.equal(getAddress(receipt.contractAddress!), daal);
    assert.equal(getAddress(receipt.from), owner.address);
    assert.equal(await read("owner"), owner.address);
    assert.equal(await isSubmitter(owner.address), true);
  });

  test("daal add-submitter allows the service's submitter, printing the transaction and waiting for its receipt", async () => {
    const run = await hardhat(owner, ["daal", "add-submitter", "--network", "localhost", "--address", submitter], [owner.password]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    await printedTransaction(run, owner.address);
    assert.equal(await isSubmitter(submitter), true);
  });

  test("daal remove-submitter retires the deployer as a submitter", async () => {
    const run = await hardhat(owner, ["daal", "remove-submitter", "--network", "localhost", "--address", owner.address], [owner.password]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    await printedTransaction(run, owner.address);
    assert.equal(await isSubmitter(owner.address), false);
    assert.equal(await isSubmitter(submitter), true);
  });

  test("two-step ownership: transfer-ownership names the new owner, who alone can accept-ownership from a keystore of their own", async () => {
    const transfer = await hardhat(owner, ["daal", "transfer-ownership", "--network", "localhost", "--to", newOwner.address], [owner.password]);
    assert.equal(transfer.code, 0, transfer.stdout + transfer.stderr);
    await printedTransaction(transfer, owner.address);
    assert.equal(await read("owner"), owner.address);
    assert.equal(await read("pendingOwner"), newOwner.address);

    const stolen = await hardhat(owner, ["daal", "accept-ownership", "--network", "localhost"], [owner.password]);
    assert.equal(stolen.code, 1, stolen.stdout + stolen.stderr);
    assert.match(stolen.stderr, new RegExp(`daal: refused, nothing sent: OwnableUnauthorizedAccount\\(${owner.address}\\)`));
    assert.doesNotMatch(stolen.stdout, /daal: transaction/);

    const stored = await hardhat(newOwner, ["keystore", "set", "DAAL_OWNER_PRIVATE_KEY"], [newOwner.password, newOwner.password, newOwner.key]);
    assert.equal(stored.code, 0, stored.stdout + stored.stderr);
    const accept = await hardhat(newOwner, ["daal", "accept-ownership", "--network", "localhost"], [newOwner.password]);
    assert.equal(accept.code, 0, accept.stdout + accept.stderr);
    await printedTransaction(accept, newOwner.address);
    assert.equal(await read("owner"), newOwner.address);
    assert.equal(await read("pendingOwner"), zeroAddress);
  });

  test("the service started on that address anchors a checkpoint; daal latest-checkpoint reads it; zt audit verify --rpc --contract passes", async () => {
    server = await spawnServer({
      dataDir,
      env: {
        ZT_CHAIN: anvil.rpcUrl,
        ZT_CHAIN_ID: String(ANVIL_CHAIN_ID),
        ZT_DAAL_ADDRESS: daal,
        ZT_SUBMITTER: "direct",
        ZT_SUBMITTER_PRIVATE_KEY: submitterKey,
        ZT_CHECKPOINT_RECORDS: "1",
        ZT_ANCHOR_POLL_MS: "50",
      },
    });
    const tokens = JSON.parse(readFileSync(join(dataDir, "dev-credentials.json"), "utf8")) as { operator_token: string; agents: Record<string, string> };
    const decided = await server.request("POST", "/actions", {
      token: tokens.agents["agent:desk-7"]!,
      json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" },
    });
    assert.equal(decided.status, 200, decided.text);
    const batch = await waitFor(
      "a confirmed anchor",
      async () => {
        const reply = await server!.request("GET", "/audit/batches", { token: tokens.operator_token });
        return (reply.json.batches as Array<{ root: string; tree_size: number; anchor: { status: string; contract: string } | null }>).find(
          (b) => b.anchor?.status === "confirmed",
        );
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.equal(getAddress(batch.anchor!.contract), daal);

    // Reading needs no key: no prompt is answered.
    const latest = await hardhat(newOwner, ["daal", "latest-checkpoint", "--network", "localhost"]);
    assert.equal(latest.code, 0, latest.stdout + latest.stderr);
    const status = JSON.parse(latest.stdout) as { latest_checkpoint: { root: string; tree_size: number; submitter: string }; checkpoint_count: number; owner: string };
    const anchoredCount = Number(await chain.readContract({ address: daal, abi: DAAL_ABI, functionName: "checkpointCount" }));
    assert.ok(anchoredCount >= 1);
    assert.equal(status.checkpoint_count, anchoredCount);
    assert.equal(getAddress(status.latest_checkpoint.submitter), submitter);
    assert.equal(status.owner, newOwner.address);
    const latestRoot = await chain.readContract({ address: daal, abi: DAAL_ABI, functionName: "latestRoot" });
    assert.equal(status.latest_checkpoint.root, latestRoot);

    outputs.push(server.stdout(), server.stderr());
    await server.stop();
    server = undefined;
    const verify = await runZt(
      ["audit", "verify", "--store", `sqlite:${join(dataDir, "events.db")}`, "--keys", join(dataDir, "keys", "audit.pub.json"), "--rpc", anvil.rpcUrl, "--contract", daal, "--json"],
      { timeoutMs: COMMAND_TIMEOUT_MS },
    );
    outputs.push(verify.stdout, verify.stderr);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.equal(JSON.parse(verify.stdout).ok, true);
  });

  test("daal verify verifies the source through Hardhat's verify plugin (Sourcify stand-in), with the deployment transaction", async () => {
    // hardhat-verify refuses the development chain ids (31337, 1337) and thirdweb looks every
    // other chain id up on its own API, so the contract was deployed under 31337; anvil now
    // serves the same chain as Base Sepolia, and the deployment record moves with it.
    await setAnvilChainId(anvil.rpcUrl, BASE_SEPOLIA_CHAIN_ID);
    const record = JSON.parse(readFileSync(join(deploymentsDir, `${ANVIL_CHAIN_ID}.json`), "utf8")) as Record<string, unknown>;
    writeFileSync(join(deploymentsDir, `${BASE_SEPOLIA_CHAIN_ID}.json`), JSON.stringify({ ...record, chain_id: BASE_SEPOLIA_CHAIN_ID }));
    sourcify = await startSourcifyStandIn({ rpcUrl: anvil.rpcUrl });

    const stale = await hardhat(newOwner, ["daal", "verify", "--network", "localhost", "--deployment", join(deploymentsDir, `${ANVIL_CHAIN_ID}.json`)], [newOwner.password], {
      ZT_SOURCIFY_API_URL: sourcify.url,
    });
    assert.equal(stale.code, 1, stale.stdout + stale.stderr);
    assert.match(stale.stderr, new RegExp(`daal: .*${ANVIL_CHAIN_ID}\\.json records chain ${ANVIL_CHAIN_ID}, but the network serves chain ${BASE_SEPOLIA_CHAIN_ID}`));
    assert.equal(sourcify.requests.length, 0, "nothing reached the explorer");

    const run = await hardhat(newOwner, ["daal", "verify", "--network", "localhost"], [newOwner.password], { ZT_SOURCIFY_API_URL: sourcify.url });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /Contract verified successfully on Sourcify/);
    assert.deepEqual(sourcify.verified, [{ chainId: String(BASE_SEPOLIA_CHAIN_ID), address: daal, creationMatch: "exact_match" }]);
    const submitted = sourcify.requests.find((r) => r.method === "POST");
    assert.ok(submitted !== undefined);
    assert.equal(submitted.path, `/v2/verify/${BASE_SEPOLIA_CHAIN_ID}/${daal}`);
    const body = submitted.body as { contractIdentifier: string; creationTransactionHash: string; compilerVersion: string };
    // Hardhat 3 names project sources "project/<path>" in the compiler input.
    assert.equal(body.contractIdentifier, "project/contracts/DAAL.sol:DAAL");
    assert.equal(body.creationTransactionHash, deployTxHash);

    const again = await hardhat(newOwner, ["daal", "verify", "--network", "localhost"], [newOwner.password], { ZT_SOURCIFY_API_URL: sourcify.url });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /has already been verified on Sourcify/);
  });

  test("no private key appears in any output, nor in any file written on the way but the encrypted keystores", () => {
    const written = [deploymentsDir, dataDir, owner.home, newOwner.home, join(REPO_ROOT, "cache")].flatMap(filesUnder);
    assert.ok(written.some((path) => path.endsWith("keystore.json")));
    const texts = [...outputs, ...written.map((path) => readFileSync(path, "latin1"))];
    for (const key of [owner.key, newOwner.key, submitterKey]) {
      const hex = key.slice(2).toLowerCase();
      for (const text of texts) assert.ok(!text.toLowerCase().includes(hex), `a private key appears in:\n${text.slice(0, 300)}`);
    }
  });
});
