/**
 * The processes a benchmark runs against, on loopback: the control plane (`src/main.ts`
 * on a data directory of the benchmark's) and helpers to wait for it, ask it, measure it
 * and stop it. Every child is killed when the benchmark exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));

const children = new Set<ChildProcess>();
process.on("exit", () => children.forEach((child) => child.kill("SIGKILL")));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Starts `node ARGS` in the repository; its stdout is piped (and must be read or resumed). */
export function startNode(args: ReadonlyArray<string>, env: Record<string, string> = {}): ChildProcess {
  return startProcess(process.execPath, args, env);
}

function startProcess(file: string, args: ReadonlyArray<string>, env: Record<string, string>): ChildProcess {
  const child = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  return child;
}

export type Runtime = "node" | "deno";

/**
 * How `npm start` (package.json) and `deno task start` (deno.json) run the control plane:
 * the benchmark runs exactly that command, runtime flags included, so what it measures is
 * what an operator runs.
 */
export function startCommand(runtime: Runtime): { readonly file: string; readonly args: ReadonlyArray<string> } {
  const script =
    runtime === "node"
      ? (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["start"]!
      : (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { tasks: Record<string, string> }).tasks["start"]!;
  const [program, ...rest] = script.split(/\s+/);
  if (program === undefined || !rest.includes("src/main.ts")) throw new Error(`the ${runtime} start command is not "<runtime> ... src/main.ts": ${script}`);
  const args = rest.map((arg) => (arg === "src/main.ts" ? join(ROOT, "src", "main.ts") : arg));
  return runtime === "node" ? { file: process.execPath, args } : { file: join(ROOT, program), args };
}

/** SIGTERM, then SIGKILL after 10 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    child.kill("SIGKILL");
  }
  children.delete(child);
}

export async function until<A>(what: string, probe: () => Promise<A | undefined>, timeoutMs = 60_000, intervalMs = 100): Promise<A> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Peak resident set (VmHWM) of a process, in MiB. */
export function peakRssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return Number(line?.replace(/\D+/g, "") ?? 0) / 1024;
}

export interface ControlPlane {
  readonly url: string;
  readonly child: ChildProcess;
  /** The development credentials the control plane bootstrapped in its data directory. */
  readonly credentials: { readonly operator_token: string; readonly agents: Readonly<Record<string, string>> };
  /** GET as the operator, the body parsed as JSON. */
  readonly get: (path: string) => Promise<unknown>;
  readonly peakRssMiB: () => number;
  readonly stop: () => Promise<void>;
}

/**
 * The control plane on `dataDir` as `npm start` (or `deno task start`) runs it, anchoring
 * off, JSON logs read and dropped as a log shipper would; resolves once `/readyz`
 * answers. `nodeFlags` (Node only) go before the start command's own.
 */
export async function controlPlane(dataDir: string, env: Record<string, string> = {}, nodeFlags: ReadonlyArray<string> = [], runtime: Runtime = "node"): Promise<ControlPlane> {
  const port = await freePort();
  const start = startCommand(runtime);
  const args = runtime === "node" ? [...nodeFlags, ...start.args] : start.args;
  const child = startProcess(start.file, args, { ZT_DATA_DIR: dataDir, ZT_HOST: "127.0.0.1", ZT_PORT: String(port), ZT_CHAIN: "off", ZT_LOG_LEVEL: "info", ...env });
  child.stdout!.resume();
  const url = `http://127.0.0.1:${port}`;
  await until("the control plane to be ready", async () => ((await fetch(`${url}/readyz`)).ok ? true : undefined), 120_000);
  const credentials = JSON.parse(readFileSync(join(dataDir, "dev-credentials.json"), "utf8"));
  const operator = { authorization: `Bearer ${credentials.operator_token}` };
  return {
    url,
    child,
    credentials,
    get: async (path) => (await fetch(`${url}${path}`, { headers: operator })).json(),
    peakRssMiB: () => peakRssMiB(child.pid!),
    stop: () => stopChild(child),
  };
}
