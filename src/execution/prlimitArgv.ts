/**
 * The util-linux `prlimit` prefix that puts a CommandSpec's limits on a command, for the
 * brokers that run it as a plain process (bwrap, nono) and so have no cgroup of their
 * own. Pure. The CPU share becomes CPU seconds: `cpus` cores for the whole timeout,
 * rounded up, at least one second.
 *
 * RLIMIT_NPROC counts every process of the command's real user on the host and does not
 * bind root: it contains a fork bomb only where the control plane runs as a dedicated
 * non-root user. The Docker broker's pids cgroup is the hard limit.
 */
import type { CommandSpec } from "./Broker.ts";

export function cpuSeconds(spec: Pick<CommandSpec, "cpus" | "timeoutMs">): number {
  return Math.max(1, Math.ceil((spec.cpus * spec.timeoutMs) / 1000));
}

export function prlimitArgv(spec: Pick<CommandSpec, "cpus" | "memoryBytes" | "pids" | "timeoutMs">): ReadonlyArray<string> {
  return ["prlimit", `--as=${spec.memoryBytes}`, `--cpu=${cpuSeconds(spec)}`, `--nproc=${spec.pids}`, "--"];
}
