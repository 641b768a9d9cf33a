/**
 * Which control-plane processes on this host are alive, so that a broker reaps only the
 * runs of processes that are gone. Several instances may share one data directory (and
 * so one `zt.owner` label): a process must never end another live one's executions.
 *
 * Each process writes `<data dir>/run/<process id>.lease` when it starts, touches it every
 * HEARTBEAT_MS and removes it when it stops. Another process counts as gone when its pid
 * no longer exists, when its lease file is missing, or when the lease has not been touched
 * for STALE_MS (its pid was reused by something else after it died).
 */
import { existsSync, mkdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { Effect, type Scope } from "effect";

export const HEARTBEAT_MS = 10_000;
export const STALE_MS = 60_000;

/** A process as a broker labels its runs with: its random id and its pid (absent on runs of older builds). */
export interface ProcessRef {
  readonly id: string;
  readonly pid: number | undefined;
}

export interface ProcessLease {
  /** This process. */
  readonly self: ProcessRef & { readonly pid: number };
  /** Whether the process that labelled a run is gone (never true for this process). */
  readonly isGone: (process: ProcessRef) => boolean;
}

/** Whether a pid names a live process on this host (EPERM: alive, another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const leaseFile = (dir: string, id: string) => join(dir, `${id}.lease`);

/** Judges liveness from a lease directory; pure apart from the file system and the pid table. */
export function leaseLiveness(dir: string, self: ProcessRef, now: () => number = Date.now): (process: ProcessRef) => boolean {
  return (process) => {
    if (process.id === self.id) return false;
    if (process.pid !== undefined && !pidAlive(process.pid)) return true;
    const file = leaseFile(dir, process.id);
    if (!existsSync(file)) return true;
    try {
      return now() - statSync(file).mtimeMs > STALE_MS;
    } catch {
      return true;
    }
  };
}

/** Takes this process's lease for the scope's lifetime (heartbeat included). */
export function acquireProcessLease(dataDir: string): Effect.Effect<ProcessLease, never, Scope.Scope> {
  const dir = join(dataDir, "run");
  const self = { id: crypto.randomUUID(), pid: process.pid };
  const file = leaseFile(dir, self.id);
  return Effect.acquireRelease(
    Effect.sync(() => {
      // A data directory that cannot hold the lease only costs reaping: other processes
      // then see this one as gone once its pid is, which is when its runs are orphans.
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        writeFileSync(file, `${JSON.stringify({ pid: self.pid, host: hostname(), started_at: new Date().toISOString() })}\n`, { mode: 0o600 });
      } catch {
        // See above.
      }
      const heartbeat = setInterval(() => {
        try {
          const now = new Date();
          utimesSync(file, now, now);
        } catch {
          // Missing file: the next start of this process writes a new one; until then it reads as gone.
        }
      }, HEARTBEAT_MS);
      heartbeat.unref();
      return { lease: { self, isGone: leaseLiveness(dir, self) }, heartbeat };
    }),
    ({ heartbeat }) =>
      Effect.sync(() => {
        clearInterval(heartbeat);
        rmSync(file, { force: true });
      }),
  ).pipe(Effect.map(({ lease }) => lease));
}
