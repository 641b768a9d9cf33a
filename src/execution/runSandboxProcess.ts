/**
 * Runs a local sandbox tool (bwrap, nono) as a child process for the brokers that wrap
 * one: output capped per stream, the wall-clock timeout enforced by killing the tool's
 * whole process group, and nothing left running when the run is interrupted.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { Effect } from "effect";
import { BrokerError, type CommandSpec, type ExecutionOutcome } from "./Broker.ts";
import { cappedBuffer } from "./capOutput.ts";

/** The first executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env["PATH"] ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs `use` with the tool's executable, or fails `unavailable` when the tool is not on PATH (`path` overrides $PATH). */
export function withTool<A>(tool: string, path: string | undefined, use: (executable: string) => Effect.Effect<A, BrokerError>): Effect.Effect<A, BrokerError> {
  return Effect.suspend(() => {
    const executable = findOnPath(tool, path);
    return executable === undefined ? Effect.fail(new BrokerError({ reason: "unavailable", message: `${tool} is not on PATH on this host` })) : use(executable);
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export interface SandboxProcess {
  /** The tool's name, for messages (`bwrap`). */
  readonly tool: string;
  readonly executable: string;
  readonly args: ReadonlyArray<string>;
  /** The tool's own environment (bwrap clears it again inside; nono passes it through). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export function runSandboxProcess(sandbox: SandboxProcess, spec: Pick<CommandSpec, "timeoutMs" | "outputCapBytes">): Effect.Effect<ExecutionOutcome, BrokerError> {
  const { tool } = sandbox;
  return Effect.async<ExecutionOutcome, BrokerError>((resume) => {
    const started = performance.now();
    const stdout = cappedBuffer(spec.outputCapBytes);
    const stderr = cappedBuffer(spec.outputCapBytes);
    let timedOut = false;
    let settled = false;
    // detached: the tool leads its own process group, so a kill reaches everything it forked.
    const child = spawn(sandbox.executable, [...sandbox.args], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...sandbox.env },
      ...(sandbox.cwd === undefined ? {} : { cwd: sandbox.cwd }),
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, spec.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.once("error", (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resume(
        Effect.fail(
          error.code === "ENOENT"
            ? new BrokerError({ reason: "unavailable", message: `${tool} is not installed on this host` })
            : new BrokerError({ reason: "failed", message: `${tool} could not start (${error.code ?? "unknown error"})` }),
        ),
      );
    });
    child.once("close", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const outcome = {
        stdout: stdout.bytes(),
        stderr: stderr.bytes(),
        truncated: stdout.truncated() || stderr.truncated(),
        duration_ms: Math.round(performance.now() - started),
      };
      if (timedOut) resume(Effect.succeed({ status: "timeout", exit_code: null, ...outcome }));
      else if (signal !== null) resume(Effect.succeed({ status: "killed", exit_code: null, detail: `${tool} was killed by ${signal}`, ...outcome }));
      else resume(Effect.succeed({ status: "completed", exit_code: code, ...outcome }));
    });
    // Interrupted (the request was abandoned or the runtime is closing): nothing outlives it.
    return Effect.sync(() => {
      clearTimeout(timer);
      killGroup(child.pid);
    });
  });
}
