/**
 * `ZT_CHAIN=local`: a development chain run by the service itself. Spawns anvil (the
 * `@foundry-rs/anvil` devDependency's platform binary, resolved through the package,
 * never through PATH) on a free loopback port, waits for eth_chainId, deploys the DAAL
 * through the one DAAL deployer (deployDaal.ts, thirdweb) with anvil's first well-known
 * development account as owner, authorises the second as the submitter, and writes `$ZT_DATA_DIR/chain.json` (contract section 5:
 * `{"rpc_url", "chain_id", "daal_address", "deployment_block"}`). The chain state is kept
 * in `$ZT_DATA_DIR/anvil-state.json` (anvil `--state`), so a restart finds its anchors
 * and its contract again. Anvil stops with the layer's scope.
 *
 * The keys below are anvil's published default development keys (derived from the
 * mnemonic "test test ... junk"); every anvil and Hardhat node funds them. They protect
 * nothing and are used for local chains only: a real chain needs ZT_SUBMITTER_* settings.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { Data, Effect, type Scope } from "effect";
import { createPublicClient, getAddress, http, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Address } from "../ports/AnchorSubmitter.ts";
import { DAAL_ABI } from "../generated/daalArtifact.ts";
import { DaalDeployError, deployDaal } from "../deploy/deployDaal.ts";
import { rpcChain } from "../adapters/rpc/rpcPublicClient.ts";

/** anvil's default account 0 (0xf39F…2266): deploys and owns the local DAAL. */
export const ANVIL_DEPLOYER_KEY: Hex = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/** anvil's default account 1 (0x7099…79C8): the local submitter. */
export const ANVIL_SUBMITTER_KEY: Hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
export const ANVIL_CHAIN_ID = 31337;

export const CHAIN_FILE = "chain.json";
export const ANVIL_STATE_FILE = "anvil-state.json";

export class LocalChainError extends Data.TaggedError("LocalChainError")<{
  readonly reason: "spawn" | "unreachable" | "deploy";
  readonly message: string;
}> {}

/** The contents of `$ZT_DATA_DIR/chain.json`. */
export interface ChainFile {
  readonly rpc_url: string;
  readonly chain_id: number;
  readonly daal_address: string;
  readonly deployment_block: number;
}

export interface LocalChain extends ChainFile {
  readonly submitterKey: Hex;
  /** The anvil process id (tests pause it with SIGSTOP). */
  readonly pid: number;
}

// --- anvil ------------------------------------------------------------------------------

const ARCH: Readonly<Record<string, string>> = { x64: "amd64", arm64: "arm64" };

/**
 * The anvil executable: the platform package's binary (`@foundry-rs/anvil-<os>-<arch>/bin/anvil`),
 * or, when that cannot be resolved, the package's `bin.mjs` launcher run by this runtime.
 * The binary is preferred so that signals reach anvil itself, not a wrapper.
 */
export function anvilCommand(): { readonly file: string; readonly args: ReadonlyArray<string> } {
  const require = createRequire(import.meta.url);
  const arch = ARCH[process.arch];
  const binary = process.platform === "win32" ? "anvil.exe" : "anvil";
  if (arch !== undefined) {
    try {
      const file = require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/bin/${binary}`);
      if (existsSync(file)) return { file, args: [] };
    } catch {
      // Not installed for this platform: fall back to the launcher.
    }
  }
  const launcher = join(dirname(require.resolve("@foundry-rs/anvil/package.json")), "bin.mjs");
  return { file: process.execPath, args: [launcher] };
}

/** A free loopback port: bind port 0, read what the OS chose, release it. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error("no port"))));
    });
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** If this process exits without closing its scopes, no anvil outlives it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

export interface AnvilProcess {
  readonly rpcUrl: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** SIGTERM (after SIGCONT, in case it is paused), SIGKILL after `graceMs`; resolves once it is gone. */
  readonly stop: (graceMs?: number) => Promise<void>;
}

export interface StartAnvilOptions {
  readonly port?: number;
  readonly chainId?: number;
  /** anvil `--state PATH`: load the chain from PATH if it exists, dump it there on exit. */
  readonly statePath?: string;
  readonly startupTimeoutMs?: number;
}

async function rpcAnswers(url: string, method: string): Promise<unknown> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: [] }),
    signal: AbortSignal.timeout(1000),
  });
  const body = (await response.json()) as { result?: unknown };
  return body.result;
}

/** Spawns anvil on 127.0.0.1 and resolves once it answers eth_chainId. */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilProcess> {
  const port = options.port ?? (await freePort());
  const { file, args } = anvilCommand();
  const anvilArgs = ["--host", "127.0.0.1", "--port", String(port), "--chain-id", String(options.chainId ?? ANVIL_CHAIN_ID)];
  if (options.statePath !== undefined) anvilArgs.push("--state", options.statePath);
  const child = spawn(file, [...args, ...anvilArgs], { stdio: ["ignore", "ignore", "pipe"] });
  installExitHook();
  running.add(child);
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    if (stderr.length < 4000) stderr += chunk;
  });
  const exited = new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once("exit", () => done());
  });
  exited.then(() => running.delete(child));
  const rpcUrl = `http://127.0.0.1:${port}`;

  const stop = async (graceMs = 3000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      child.kill("SIGCONT");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise<void>((done) => (timer = setTimeout(done, graceMs)))]);
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    await exited;
  };

  const deadline = Date.now() + (options.startupTimeoutMs ?? 15_000);
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));
  for (;;) {
    if (spawnError !== undefined) throw new Error(`anvil cannot start: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`anvil exited (code ${child.exitCode}, signal ${child.signalCode}) before answering: ${stderr.trim().slice(0, 500)}`);
    try {
      if (typeof (await rpcAnswers(rpcUrl, "eth_chainId")) === "string") return { rpcUrl, port, child, stop };
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop(0);
      throw new Error(`anvil did not answer eth_chainId on ${rpcUrl} in time`);
    }
    await new Promise((wait) => setTimeout(wait, 50));
  }
}

// --- the DAAL on a development chain ----------------------------------------------------

function readChainFile(path: string): ChainFile | undefined {
  try {
    const file = JSON.parse(readFileSync(path, "utf8")) as Partial<ChainFile>;
    if (typeof file.daal_address === "string" && /^0x[0-9a-fA-F]{40}$/.test(file.daal_address) && Number.isSafeInteger(file.deployment_block) && Number.isSafeInteger(file.chain_id)) {
      return file as ChainFile;
    }
  } catch {
    // Absent or unreadable: deploy afresh.
  }
  return undefined;
}

function writeChainFile(path: string, file: ChainFile): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(temporary, path);
}

/** Whether the DAAL from an earlier run is on this chain with `submitter` still authorised. */
async function reusable(rpcUrl: string, chainId: number, previous: ChainFile, submitter: Address): Promise<boolean> {
  if (previous.chain_id !== chainId) return false;
  const reader = createPublicClient({ chain: rpcChain(chainId), transport: http(rpcUrl, { timeout: 10_000, retryCount: 0 }) });
  const address = getAddress(previous.daal_address);
  const code = await reader.getCode({ address });
  if (code === undefined || code === "0x") return false;
  return await reader.readContract({ address, abi: DAAL_ABI, functionName: "isSubmitter", args: [submitter] });
}

/**
 * Starts anvil with its state in `dataDir`, reuses the DAAL recorded in `chain.json` when
 * the chain still holds it (else deploys one), writes `chain.json`, and stops anvil when
 * the scope closes.
 */
export function startLocalChain(options: { readonly dataDir: string }): Effect.Effect<LocalChain, LocalChainError, Scope.Scope> {
  return Effect.gen(function* () {
    const anvil = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => {
          mkdirSync(options.dataDir, { recursive: true });
          return startAnvil({ statePath: join(options.dataDir, ANVIL_STATE_FILE) });
        },
        catch: (error) => new LocalChainError({ reason: "spawn", message: (error as Error).message }),
      }),
      (process) => Effect.promise(() => process.stop()),
    );
    const submitter = privateKeyToAccount(ANVIL_SUBMITTER_KEY).address;
    const chainPath = join(options.dataDir, CHAIN_FILE);
    const previous = readChainFile(chainPath);
    const again =
      previous === undefined
        ? false
        : yield* Effect.tryPromise({
            try: () => reusable(anvil.rpcUrl, ANVIL_CHAIN_ID, previous, submitter),
            catch: (error) => new LocalChainError({ reason: "unreachable", message: `anvil: ${(error as Error).name}` }),
          });
    const daal =
      again && previous !== undefined
        ? { address: getAddress(previous.daal_address), deploymentBlock: previous.deployment_block }
        : yield* Effect.tryPromise({
            try: () => deployDaal({ chain: "local", rpcUrl: anvil.rpcUrl, privateKey: ANVIL_DEPLOYER_KEY, submitter }),
            catch: (error) =>
              new LocalChainError({
                reason: "deploy",
                message: `deploying the DAAL on anvil failed: ${error instanceof DaalDeployError ? `${error.reason}: ${error.message}` : (error as Error).name}`,
              }),
          });
    const file: ChainFile = { rpc_url: anvil.rpcUrl, chain_id: ANVIL_CHAIN_ID, daal_address: daal.address, deployment_block: daal.deploymentBlock };
    writeChainFile(chainPath, file);
    return { ...file, submitterKey: ANVIL_SUBMITTER_KEY, pid: anvil.child.pid ?? 0 };
  });
}
