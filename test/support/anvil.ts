/**
 * A real anvil (from the @foundry-rs/anvil devDependency) for chain tests: on a loopback
 * port found free by binding port 0 first, ready once it answers eth_chainId, stopped
 * with its whole process group (the npm wrapper and the native binary). A missing anvil
 * fails the test: skipping would make a green build prove nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { REPO_ROOT } from "./harness.ts";

export const ANVIL_BINARY = join(REPO_ROOT, "node_modules", ".bin", "anvil");
export const ANVIL_CHAIN_ID = 31337;
/** anvil's first default account ("test test ... junk" mnemonic), public knowledge and funded with 10000 ETH. */
export const ANVIL_ACCOUNT_0 = {
  address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  privateKey: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
} as const;
export const ANVIL_ACCOUNT_1 = {
  address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  privateKey: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
} as const;

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

export interface Anvil {
  readonly rpcUrl: string;
  readonly port: number;
  readonly output: () => string;
  readonly stop: () => Promise<void>;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolveListen());
  });
  const address = server.address();
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  if (address === null || typeof address === "string") throw new Error("could not read the port bound by the OS");
  return address.port;
}

async function chainIdAt(rpcUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(1_000),
    });
    const body = (await response.json()) as { result?: string };
    return body.result === undefined ? undefined : Number.parseInt(body.result, 16);
  } catch {
    return undefined;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Signals anvil's process group (the wrapper and the native binary), if any of it is left. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Starts anvil and resolves once it serves JSON-RPC; throws with its output if it cannot. */
export async function startAnvil(): Promise<Anvil> {
  if (!existsSync(ANVIL_BINARY)) {
    throw new Error(`anvil is missing at ${ANVIL_BINARY}; run \`npm install\` (the "@foundry-rs/anvil" devDependency provides it)`);
  }
  const port = await freePort();
  const rpcUrl = `http://127.0.0.1:${port}`;
  // detached: its own process group, so stop() reaches the native binary behind the wrapper.
  const child = spawn(ANVIL_BINARY, ["--host", "127.0.0.1", "--port", String(port), "--chain-id", String(ANVIL_CHAIN_ID)], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  let spawnError: Error | undefined;
  child.once("error", (error) => (spawnError = error));

  const stop = async (): Promise<void> => {
    if (exited(child)) return signalGroup(child, "SIGKILL");
    const gone = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
    signalGroup(child, "SIGTERM");
    const timer = setTimeout(() => signalGroup(child, "SIGKILL"), STOP_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
    // The wrapper is gone; make sure the native binary of its group is too.
    signalGroup(child, "SIGKILL");
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError !== undefined) throw new Error(`anvil did not start (${ANVIL_BINARY}): ${spawnError.message}`);
    if (exited(child)) throw new Error(`anvil exited (code ${child.exitCode}, signal ${child.signalCode}) before serving ${rpcUrl}\n${output}`);
    const chainId = await chainIdAt(rpcUrl);
    if (chainId === ANVIL_CHAIN_ID) return { rpcUrl, port, output: () => output, stop };
    if (chainId !== undefined) {
      await stop();
      throw new Error(`${rpcUrl} answers chain id ${chainId}, not anvil's ${ANVIL_CHAIN_ID}: another node took the port`);
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
  await stop();
  throw new Error(`anvil did not answer eth_chainId at ${rpcUrl} within ${STARTUP_TIMEOUT_MS} ms\n${output}`);
}
