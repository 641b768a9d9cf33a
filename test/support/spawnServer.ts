/**
 * Child processes for process-level tests: the control plane under Node or Deno on a
 * loopback port chosen by the OS (`ZT_PORT=0`, the URL parsed from the "zt-infra
 * listening" log line), and one-shot commands with their exit code and output.
 * Every wait is bounded, and every child is tracked so an `after` hook can end it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, type Reply, type RequestOptions } from "./harness.ts";

export const DENO_BINARY = join(REPO_ROOT, "node_modules", "deno", "deno");
/** The same permissions as deno.json's `start` task. */
export const DENO_RUN_FLAGS = ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-net", "--allow-sys", "--allow-run"] as const;
export const MAIN_TS = join(REPO_ROOT, "src", "main.ts");
export const ZT_TS = join(REPO_ROOT, "src", "cli", "zt.ts");

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

const live = new Set<ChildProcess>();

/** Throws (never skips) when the Deno binary that `npm install` provides is missing. */
export function requireDeno(): string {
  if (!existsSync(DENO_BINARY)) {
    throw new Error(`the Deno binary is missing at ${DENO_BINARY}; run \`npm install\` (the "deno" devDependency provides it)`);
  }
  return DENO_BINARY;
}

/** The environment of a child: this process's, minus every ZT_* variable, plus `env` (an undefined value removes a variable). */
export function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("ZT_")));
  return { ...base, NO_COLOR: "1", ...env };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolveExit) => child.once("exit", (code, signal) => resolveExit({ code, signal })));
}

function timeout<A>(promise: Promise<A>, ms: number, what: string): Promise<A> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Ends a child: `signal` first, SIGKILL if it is still there after a grace period. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<Exit> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  try {
    return await timeout(exitOf(child), STOP_TIMEOUT_MS, `pid ${child.pid} to exit on ${signal}`);
  } catch {
    child.kill("SIGKILL");
    return await exitOf(child);
  } finally {
    live.delete(child);
  }
}

/** For `after` hooks: SIGKILLs every child this module started that is still running. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...live].map((child) => stopChild(child, "SIGKILL")));
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** One HTTP call to the child, bounded by a timeout; the reply body parsed as JSON when it is JSON. */
  readonly request: (method: string, path: string, options?: RequestOptions) => Promise<Reply>;
  /** SIGTERM (graceful), SIGKILL after a grace period. */
  readonly stop: () => Promise<Exit>;
  /** SIGKILL now; resolves once the process is gone. */
  readonly kill: () => Promise<Exit>;
}

export interface SpawnServerOptions {
  readonly runtime?: "node" | "deno";
  readonly dataDir: string;
  /** Extra environment (ZT_PORT=0, ZT_HOST=127.0.0.1, ZT_CHAIN=off and ZT_LOG_LEVEL=info are set unless overridden). */
  readonly env?: Record<string, string>;
  readonly startupTimeoutMs?: number;
}

function command(runtime: "node" | "deno", script: string): { file: string; args: string[] } {
  return runtime === "node" ? { file: process.execPath, args: [script] } : { file: requireDeno(), args: [...DENO_RUN_FLAGS, script] };
}

/** Starts `src/main.ts` and resolves once it logs the URL it listens on; rejects (with its stderr) if it exits or stalls first. */
export async function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const runtime = options.runtime ?? "node";
  const { file, args } = command(runtime, MAIN_TS);
  const child = spawn(file, args, {
    cwd: REPO_ROOT,
    env: childEnv({ ZT_HOST: "127.0.0.1", ZT_PORT: "0", ZT_CHAIN: "off", ZT_LOG_LEVEL: "info", ZT_DATA_DIR: options.dataDir, ...options.env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));

  const listening = new Promise<string>((resolveUrl, reject) => {
    const look = () => {
      for (const line of out.split("\n")) {
        if (!line.includes('"zt-infra listening"')) continue;
        try {
          const url: unknown = JSON.parse(line).url;
          if (typeof url === "string") return resolveUrl(url);
        } catch {
          // An incomplete line: wait for the rest.
        }
      }
    };
    child.stdout!.on("data", look);
    child.once("error", (error) => reject(new Error(`${runtime} ${args.join(" ")} did not start: ${error.message}`)));
    child.once("exit", (code, signal) =>
      reject(new Error(`${runtime} src/main.ts exited (code ${code}, signal ${signal}) before listening\nstderr:\n${err}\nstdout:\n${out}`)),
    );
  });
  let url: string;
  try {
    url = await timeout(listening, options.startupTimeoutMs ?? STARTUP_TIMEOUT_MS, `${runtime} src/main.ts to log "zt-infra listening"\nstderr:\n${err}`);
  } catch (error) {
    await stopChild(child, "SIGKILL");
    throw error;
  }

  const request = async (method: string, path: string, opts: RequestOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers["authorization"] = `Bearer ${opts.token}`;
    let body: BodyInit | undefined = opts.body as BodyInit | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  };

  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    request,
    stop: () => stopChild(child, "SIGTERM"),
    kill: () => stopChild(child, "SIGKILL"),
  };
}

export interface Completed extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /**
   * Lines typed at the command's prompts, in order, as a person would: each is written
   * to stdin once the output since the previous one ends with a prompt (": "); stdin
   * closes after the last. Without answers, stdin is closed from the start.
   */
  readonly answers?: ReadonlyArray<string>;
}

// ECMA-48 CSI sequences (colours, cursor moves), which prompts may carry.
const ANSI_ESCAPE = /\u001b\[[0-9;]*[A-Za-z]/g;

/** Runs a command to completion (SIGKILLed and rejected after `timeoutMs`), collecting its output. */
export async function runToExit(file: string, args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Completed> {
  const answers = [...(options.answers ?? [])];
  const child = spawn(file, [...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: childEnv(options.env ?? {}),
    stdio: [answers.length > 0 ? "pipe" : "ignore", "pipe", "pipe"],
  });
  live.add(child);
  let stdout = "";
  let stderr = "";
  let answeredAt = 0;
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (answers.length > 0 && stdout.slice(answeredAt).replace(ANSI_ESCAPE, "").endsWith(": ")) {
      answeredAt = stdout.length;
      child.stdin!.write(`${answers.shift()}\n`);
      if (answers.length === 0) child.stdin!.end();
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  // `close` (not `exit`) so that both pipes are drained.
  const closed = new Promise<Exit>((resolveExit, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolveExit({ code, signal }));
  });
  const what = `${file} ${args.join(" ")}`;
  try {
    const exit = await timeout(closed, options.timeoutMs ?? STARTUP_TIMEOUT_MS, `${what} to exit\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    return { ...exit, stdout, stderr };
  } catch (error) {
    await stopChild(child, "SIGKILL");
    throw error;
  } finally {
    live.delete(child);
  }
}

/** `node src/main.ts` with this environment, to completion (for startups expected to fail). */
export function runMain(env: Record<string, string>, timeoutMs = STARTUP_TIMEOUT_MS): Promise<Completed> {
  return runToExit(process.execPath, [MAIN_TS], { env: { ZT_HOST: "127.0.0.1", ZT_PORT: "0", ZT_CHAIN: "off", ...env }, timeoutMs });
}

/** `node src/cli/zt.ts ARGS...` to completion. */
export function runZt(args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Completed> {
  return runToExit(process.execPath, [ZT_TS, ...args], options);
}
