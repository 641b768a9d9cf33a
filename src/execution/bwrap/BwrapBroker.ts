/**
 * The bubblewrap adapter of the Broker port: runs the argv in fresh namespaces with a
 * read-only system, a tmpfs /tmp, no capabilities and only the allowlisted environment.
 * The wall-clock timeout kills bwrap's process group; `--die-with-parent` and the new
 * PID namespace then take every process inside down with it.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, lstatSync, readlinkSync } from "node:fs";
import { delimiter, join } from "node:path";
import { Effect } from "effect";
import { Brokers, BrokerError, type BrokerShape, type CommandSpec, type ExecutionOutcome } from "../Broker.ts";
import { cappedBuffer } from "../capOutput.ts";
import { bwrapArgv, type HostEntry } from "./bwrapArgv.ts";

export const BWRAP = "bwrap";

/** The first executable `bwrap` on PATH, or undefined. */
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

function hostEntry(path: string): HostEntry {
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return { kind: "symlink", target: readlinkSync(path) };
    return stat.isDirectory() ? { kind: "dir" } : { kind: "missing" };
  } catch {
    return { kind: "missing" };
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

function runBwrap(executable: string, spec: CommandSpec): Effect.Effect<ExecutionOutcome, BrokerError> {
  return Effect.async<ExecutionOutcome, BrokerError>((resume) => {
    const started = performance.now();
    const stdout = cappedBuffer(spec.outputCapBytes);
    const stderr = cappedBuffer(spec.outputCapBytes);
    let timedOut = false;
    let settled = false;
    // detached: bwrap leads its own process group, so a kill reaches everything it forked.
    const child = spawn(executable, [...bwrapArgv(spec, hostEntry)], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: {} });
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
            ? new BrokerError({ reason: "unavailable", message: `${BWRAP} is not installed on this host` })
            : new BrokerError({ reason: "failed", message: `${BWRAP} could not start (${error.code ?? "unknown error"})` }),
        ),
      );
    });
    child.once("close", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const duration_ms = Math.round(performance.now() - started);
      if (!timedOut && signal !== null) {
        resume(Effect.fail(new BrokerError({ reason: "killed", message: `${BWRAP} was killed by ${signal}` })));
        return;
      }
      resume(
        Effect.succeed({
          status: timedOut ? "timeout" : "completed",
          exit_code: timedOut ? null : code,
          stdout: stdout.bytes(),
          stderr: stderr.bytes(),
          truncated: stdout.truncated() || stderr.truncated(),
          duration_ms,
        }),
      );
    });
    // Interrupted (the request was abandoned or the runtime is closing): nothing outlives it.
    return Effect.sync(() => {
      clearTimeout(timer);
      killGroup(child.pid);
    });
  });
}

export function makeBwrapBroker(options: { readonly path?: string } = {}): BrokerShape {
  return {
    name: "bwrap",
    run: (spec) =>
      Effect.suspend(() => {
        const executable = findOnPath(BWRAP, options.path);
        if (executable === undefined) {
          return Effect.fail(new BrokerError({ reason: "unavailable", message: `${BWRAP} is not on PATH on this host` }));
        }
        return runBwrap(executable, spec);
      }),
  };
}

export const BwrapBroker = {
  /** The Brokers registry holding bwrap alone (the only broker of this build). */
  layer: (options: { readonly path?: string } = {}) => Brokers.layer(makeBwrapBroker(options)),
} as const;
